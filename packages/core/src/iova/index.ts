/** Public API of the iova area of @dmasim/core: the kernel IOVA allocator (drivers/iommu/iova.c). */
export * from './iova-domain.ts';
export * from './iova-math.ts';
export * from './iova-rcache.ts';
export * from './iova-reducer.ts';
export * from './iova-steps.ts';
export * from './iova-trace.ts';
export * from './iova-tree.ts';
export * from './iova-vectors.ts';
