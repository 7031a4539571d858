/**
 * Public API of the iommu area of @dmasim/core (see docs/ARCHITECTURE.md and docs/IOMMU-DMA.md): the
 * simulated kernel context, IOMMU domains (IOMMU-DMA domain init, reservations, flush queue, page tables),
 * DMA devices, and the DMA API entry points with their step records and reducer.
 */
export * from './dma-api.ts';
export * from './dma-device.ts';
export * from './dma-iommu.ts';
export * from './dma-mapping.ts';
export * from './errno.ts';
export * from './flush-queue.ts';
export * from './io-page-table.ts';
export * from './iommu-core.ts';
export * from './iommu-domain.ts';
export * from './iommu-reducer.ts';
export * from './iommu-steps.ts';
export * from './kernel-context.ts';
