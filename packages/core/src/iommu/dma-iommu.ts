/**
 * The IOVA policy of drivers/iommu/dma-iommu.c: `iommu_dma_alloc_iova` (DMA limit from the mask, the bus
 * limit and the aperture; the sticky 32-bit-first attempt for PCI devices and its "Using N-bit DMA
 * addresses" notice) and `iommu_dma_free_iova` (flush queue in lazy domains, `free_iova_fast` otherwise).
 * kernel-model.md 4.2, 4.6.3, 3.4.7-3.4.8.
 */
import type { DmaDevice } from './dma-device.ts';
import { dmaBitMask } from './dma-mapping.ts';
import type { IommuDomain } from './iommu-domain.ts';
import type { IovaAllocCaller, IovaDacSwitchStep } from './iommu-steps.ts';
import { fls64, minNotZero } from './u64.ts';

const MASK32 = dmaBitMask(32);

/** Outcome of {@link iommuDmaAllocIova}. */
export interface IommuDmaAllocResult {
  /** Start of the IOVA range in bytes, or 0n on failure. */
  readonly iova: bigint;
  /** The effective DMA limit (bytes, inclusive) after the bus limit and aperture clamps. */
  readonly dmaLimit: bigint;
  /** The device's 32-bit-first flag was cleared by this call. */
  readonly dacSwitched: boolean;
}

/**
 * `iommu_dma_alloc_iova(domain, size, dma_limit, dev)` on `cpu` (4.2). `sizeBytes` must be a non-zero
 * multiple of the granule; `dmaLimit` is `dma_get_mask(dev)`. Returns the IOVA (0n: failure).
 */
export function iommuDmaAllocIova(
  domain: IommuDomain,
  sizeBytes: bigint,
  dmaLimit: bigint,
  dev: DmaDevice,
  caller: IovaAllocCaller,
  cpu: number,
): IommuDmaAllocResult {
  const shift = domain.pfnShift;
  const pages = sizeBytes >> shift;
  let limit = minNotZero(dmaLimit, dev.busDmaLimit);
  if (domain.geometry.forceAperture && domain.geometry.apertureEnd < limit) limit = domain.geometry.apertureEnd;

  let dacSwitched = false;
  if (limit > MASK32 && dev.pci32bitWorkaround) {
    const pfn = domain.allocIovaFast(dev.name, caller, '32bit', pages, MASK32 >> shift, false, cpu);
    if (pfn !== 0n) return { iova: pfn << shift, dmaLimit: limit, dacSwitched };
    dev.pci32bitWorkaround = false;
    dacSwitched = true;
    const bits = fls64(limit);
    const step: IovaDacSwitchStep = { kind: 'iova.dac_switch', device: dev.name, domainId: domain.id, bits };
    domain.kernel.emit(step);
    domain.log(dev.name, 'notice', 'dma_iommu.dac_notice', `Using ${bits}-bit DMA addresses`);
  }
  const pfn = domain.allocIovaFast(dev.name, caller, 'full', pages, limit >> shift, true, cpu);
  return { iova: pfn << shift, dmaLimit: limit, dacSwitched };
}

/**
 * `iommu_dma_free_iova(domain, iova, size, gather)` on `cpu`: with `queued` (a lazy domain's unmap) the
 * range goes to the flush queue, else straight to `free_iova_fast`. `iova` and `size` in bytes; the
 * release is `(iova >> shift, size >> shift)` as given, whatever was allocated there.
 */
export function iommuDmaFreeIova(domain: IommuDomain, iova: bigint, size: bigint, queued: boolean, cpu: number): void {
  iommuDmaFreePfns(domain, iova >> domain.pfnShift, size >> domain.pfnShift, queued, cpu);
}

/** {@link iommuDmaFreeIova} of `(pfn, pages)` for callers that have computed them already. */
export function iommuDmaFreePfns(domain: IommuDomain, pfn: bigint, pages: bigint, queued: boolean, cpu: number): void {
  const fq = domain.flushQueue;
  if (queued && fq !== null) fq.queueIova(pfn, pages, cpu, domain.kernel.now);
  else domain.requireIova().freeIovaFastPfn(pfn, pages, cpu);
}
