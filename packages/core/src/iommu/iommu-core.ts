/**
 * The IOMMU core's map and unmap (drivers/iommu/iommu.c: `iommu_map_nosync`, `iommu_sync_map`,
 * `iommu_map`, `iommu_unmap_fast`) on top of a domain's page tables, with their sanity checks, the
 * unroll of a failed map and the `iommu:map` / `iommu:unmap` tracepoints (kernel-model.md 3.4.2 steps 3-4,
 * 3.4.7, 6.2, 7.5-2).
 *
 * The driver refuses a range outside its aperture (-EFAULT, as VT-d's "iommu width is not sufficient"
 * check does; inferred for other drivers) and applies the domain's `linkCollision` policy to ranges
 * that are already mapped (7.5-1).
 */

import { TextCache } from '../text-cache.ts';
import { Errno } from './errno.ts';
import type { IommuDomain } from './iommu-domain.ts';
import type { IommuMapStep, IommuUnmapStep } from './iommu-steps.ts';
import { hex16, hexBare } from './u64.ts';

/**
 * The driver's `DMA PTE for vPFN ... already set` line by the IOVA of the first collision: overlapping
 * links hit the same pages again and again (a tenth of the standard sweep's events are this line).
 */
const pteTexts = new TextCache<bigint>();

/** Result of a map call. */
export interface IommuMapResult {
  /** 0 or a negative errno. */
  readonly errno: number;
  /** What the page tables did with live entries under the request (null when no mapping was attempted). */
  readonly collision: 'none' | 'overwrite' | 'keep' | 'fail' | null;
  /** Part of the requested range was already mapped. */
  readonly overlap: boolean;
}

/**
 * `iommu_map_nosync(domain, iova, paddr, size, prot)`: checks that the domain pages and that
 * `iova | paddr | size` is granule-aligned ("unaligned: ..." and -EINVAL, no trace), lets the driver map
 * (unrolling any part it mapped before an error: an `iommu:unmap` record, even for 0 bytes) and traces
 * `iommu:map` on success. Bytes.
 */
export function iommuMapNosync(
  domain: IommuDomain,
  iova: bigint,
  paddr: bigint,
  size: bigint,
  prot: number,
): IommuMapResult {
  if (!domain.isPaging) return { errno: -Errno.EINVAL, collision: null, overlap: false };
  const g = domain.granule;
  if (((iova | paddr | size) & domain.granuleMask) !== 0n) {
    domain.log(
      null,
      'err',
      'iommu.unaligned_map',
      `unaligned: iova 0x${hexBare(iova)} pa ${hex16(paddr)} size 0x${hexBare(size)} min_pagesz 0x${hexBare(g)}`,
    );
    return { errno: -Errno.EINVAL, collision: null, overlap: false };
  }
  const table = domain.pageTable;
  const overlap = table.overlaps(iova, size);
  const { apertureStart, apertureEnd } = domain.geometry;
  if (size > 0n && (iova < apertureStart || iova + size - 1n > apertureEnd)) {
    iommuUnmapFast(domain, iova, 0n, true);
    return { errno: -Errno.EFAULT, collision: null, overlap };
  }
  const fault = domain.takeFault('map');
  if (fault !== undefined) {
    let before = fault.mappedBeforeFailure ?? 0n;
    if (before > size) before = size;
    before -= before % g;
    // The driver's partial work is undone at once: map the part, then unroll it.
    if (before > 0n) table.map(iova, paddr, before, prot, domain.linkCollision);
    iommuUnmapFast(domain, iova, before, true);
    return { errno: fault.errno, collision: null, overlap };
  }
  const outcome = table.map(iova, paddr, size, prot, domain.linkCollision);
  if (outcome.collision === 'fail') {
    // The driver mapped the pages before the first live entry, then failed; the core unrolls them.
    const before = outcome.mappedBeforeFailure;
    if (before > 0n) table.map(iova, paddr, before, prot, domain.linkCollision);
    iommuUnmapFast(domain, iova, before, true);
    return { errno: -Errno.EADDRINUSE, collision: 'fail', overlap };
  }
  if (outcome.collision === 'keep' && outcome.firstCollision !== null) {
    const at = outcome.firstCollision;
    const text = pteTexts.get(at) ?? pteTexts.set(at, `ERROR: DMA PTE for vPFN 0x${hexBare(at >> 12n)} already set`);
    domain.log(null, 'err', 'intel_iommu.pte_already_set', text);
  }
  if (domain.kernel.tracing) {
    const step: IommuMapStep = {
      kind: 'iommu.map',
      domainId: domain.id,
      iova,
      paddr,
      size,
      prot,
      collision: outcome.collision,
    };
    domain.kernel.emit(step);
  }
  return { errno: 0, collision: outcome.collision, overlap };
}

/** `iommu_sync_map`: the driver's sync-after-map hook; 0 unless a `sync_map` fault is injected (7.5-10). */
export function iommuSyncMap(domain: IommuDomain, _iova: bigint, _size: bigint): number {
  return domain.takeFault('sync_map')?.errno ?? 0;
}

/** `iommu_map`: map, then sync; a failed sync unmaps the whole range again and returns its error. */
export function iommuMap(domain: IommuDomain, iova: bigint, paddr: bigint, size: bigint, prot: number): IommuMapResult {
  const r = iommuMapNosync(domain, iova, paddr, size, prot);
  if (r.errno !== 0) return r;
  const sync = iommuSyncMap(domain, iova, size);
  if (sync !== 0) {
    iommuUnmapFast(domain, iova, size, true);
    return { errno: sync, collision: r.collision, overlap: r.overlap };
  }
  return r;
}

/**
 * `iommu_unmap_fast(domain, iova, size)`: an unaligned request logs "unaligned: ..." and unmaps nothing
 * (no trace); otherwise unmaps up to the first hole and traces `iommu:unmap` with the bytes asked for and
 * the bytes unmapped. Returns the bytes unmapped.
 */
export function iommuUnmapFast(domain: IommuDomain, iova: bigint, size: bigint, unroll = false): bigint {
  if (!domain.isPaging) return 0n;
  const g = domain.granule;
  if (((iova | size) & domain.granuleMask) !== 0n) {
    domain.log(
      null,
      'err',
      'iommu.unaligned_unmap',
      `unaligned: iova 0x${hexBare(iova)} size 0x${hexBare(size)} min_pagesz 0x${hexBare(g)}`,
    );
    return 0n;
  }
  const unmappedSize = domain.pageTable.unmap(iova, size);
  if (domain.kernel.tracing) {
    const step: IommuUnmapStep = { kind: 'iommu.unmap', domainId: domain.id, iova, size, unmappedSize, unroll };
    domain.kernel.emit(step);
  }
  return unmappedSize;
}
