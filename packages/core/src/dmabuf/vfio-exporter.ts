/**
 * The vfio-pci exporter (drivers/vfio/pci/vfio_pci_dmabuf.c, kernel-model.md 3.1): the checks of
 * `VFIO_DEVICE_FEATURE_DMA_BUF` in the kernel's order, and the attach rule. Pure functions over plain
 * inputs; the simulator keeps the dma-buf objects and emits the events.
 */
import { Errno } from '../iommu/errno.ts';
import type { P2pdmaProvider } from '../p2p/p2pdma-state.ts';
import type { BarRange, PhysRange } from './dmabuf-types.ts';

const U64_MAX = (1n << 64n) - 1n;
const BIT63 = 1n << 63n;

/** VFIO_PCI_ROM_REGION_INDEX: region indexes 0..5 are the BARs. */
export const VFIO_PCI_ROM_REGION_INDEX = 6;

/**
 * Size of `struct vfio_device_feature_dma_buf` without its ranges (region_index, open_flags, flags,
 * nr_ranges: four u32): the `minsz` of `vfio_check_feature`.
 */
export const VFIO_DMA_BUF_MINSZ = 16;

/** Names of the checks of kernel-model.md 3.1, as `dmabuf.export` events report the one that refused. */
export type VfioExportCheck =
  | 'p2pdma_disabled'
  | 'no_get_dmabuf_phys'
  | 'feature_not_get'
  | 'argsz_too_small'
  | 'nr_ranges_zero'
  | 'flags_nonzero'
  | 'region_index'
  | 'range_length_zero'
  | 'range_unaligned'
  | 'length_overflow'
  | 'length_bit63'
  | 'no_provider'
  | 'paddr_overflow'
  | 'range_beyond_bar'
  | 'not_registered';

/** A `VFIO_DEVICE_FEATURE_DMA_BUF` request. */
export interface VfioExportRequest {
  /** BAR index (`region_index`). */
  regionIndex: number;
  /** Ranges relative to the BAR start. */
  ranges: readonly BarRange[];
  /** Must be 0. @defaultValue 0 */
  flags?: number;
  /** `open_flags` of the dma-buf file (recorded only). @defaultValue 0 */
  openFlags?: number;
  /** The feature ioctl's operation: only GET creates a dma-buf; PROBE answers 0. @defaultValue 'get' */
  feature?: 'get' | 'set' | 'probe';
  /** `argsz` of the ioctl. @defaultValue the exact size needed */
  argsz?: number;
}

/** What the exporter knows about the device (vfio-pci's `vdev`). */
export interface VfioDeviceView {
  /** CONFIG_PCI_P2PDMA; without it the dma-buf feature is not built (7.3). */
  p2pdmaEnabled: boolean;
  /** The vfio driver offers `get_dmabuf_phys` (vfio-pci and nvgrace-gpu do). */
  getDmabufPhys: boolean;
  /** `pcim_p2pdma_provider(pdev, bar)`. */
  provider(bar: number): P2pdmaProvider | null;
  /** `pci_resource_start` and `pci_resource_len` of a BAR (0n, 0n when absent). */
  bar(bar: number): { start: bigint; len: bigint };
  /** `vfio_device_try_get_registration` succeeds (the device is still registered). */
  registered: boolean;
  /** `__vfio_pci_memory_enabled`: memory decoding is on. */
  memoryEnabled: boolean;
}

/** Outcome of {@link vfioCheckDmabufExport}. */
export type VfioExportOutcome =
  | {
      ok: true;
      /** PROBE: the feature exists; nothing was created. */
      probe: boolean;
      provider: P2pdmaProvider | null;
      physVec: PhysRange[];
      size: bigint;
      /** The dma-buf starts revoked when memory decoding is off. */
      revoked: boolean;
    }
  | { ok: false; errno: number; check: VfioExportCheck };

function refuse(errno: number, check: VfioExportCheck): VfioExportOutcome {
  return { ok: false, errno: -errno, check };
}

/**
 * `vfio_pci_core_feature_dma_buf` up to `dma_buf_export` (kernel-model.md 3.1, rows 1-11 in order):
 * feature present, ioctl arguments, `nr_ranges`/`flags`, region index, per-range length/alignment, length
 * overflow, bit 63, provider, then per range the physical-address overflow (-EOVERFLOW) and the BAR bound
 * (-EINVAL) in range order, and the device registration. Overlap, order, duplicates and total size against
 * the BAR are not checked (as in the kernel).
 *
 * @param pageSize PAGE_SIZE in bytes
 */
export function vfioCheckDmabufExport(
  dev: VfioDeviceView,
  req: VfioExportRequest,
  pageSize: number,
): VfioExportOutcome {
  if (!dev.p2pdmaEnabled) return refuse(Errno.EOPNOTSUPP, 'p2pdma_disabled');
  if (!dev.getDmabufPhys) return refuse(Errno.EOPNOTSUPP, 'no_get_dmabuf_phys');
  const feature = req.feature ?? 'get';
  if (feature === 'set') return refuse(Errno.EINVAL, 'feature_not_get');
  if (feature === 'probe') {
    return { ok: true, probe: true, provider: null, physVec: [], size: 0n, revoked: false };
  }
  if ((req.argsz ?? VFIO_DMA_BUF_MINSZ + 16 * req.ranges.length) < VFIO_DMA_BUF_MINSZ) {
    return refuse(Errno.EINVAL, 'argsz_too_small');
  }
  if (req.ranges.length === 0) return refuse(Errno.EINVAL, 'nr_ranges_zero');
  if ((req.flags ?? 0) !== 0) return refuse(Errno.EINVAL, 'flags_nonzero');
  if (req.regionIndex >= VFIO_PCI_ROM_REGION_INDEX || req.regionIndex < 0) return refuse(Errno.ENODEV, 'region_index');
  const page = BigInt(pageSize) - 1n;
  let length = 0n;
  for (const r of req.ranges) {
    if (r.length === 0n) return refuse(Errno.EINVAL, 'range_length_zero');
    if ((r.offset & page) !== 0n || (r.length & page) !== 0n) return refuse(Errno.EINVAL, 'range_unaligned');
    length += r.length;
    if (length > U64_MAX) return refuse(Errno.EINVAL, 'length_overflow');
  }
  if ((length & BIT63) !== 0n) return refuse(Errno.EINVAL, 'length_bit63');
  const provider = dev.provider(req.regionIndex);
  if (!provider) return refuse(Errno.EINVAL, 'no_provider');
  const bar = dev.bar(req.regionIndex);
  const maxAddr = BigInt.asUintN(64, bar.start + bar.len);
  const physVec: PhysRange[] = [];
  for (const r of req.ranges) {
    const paddr = bar.start + r.offset;
    if (paddr > U64_MAX || paddr + r.length > U64_MAX) return refuse(Errno.EOVERFLOW, 'paddr_overflow');
    if (paddr + r.length > maxAddr) return refuse(Errno.EINVAL, 'range_beyond_bar');
    physVec.push({ paddr, len: r.length });
  }
  if (!dev.registered) return refuse(Errno.ENODEV, 'not_registered');
  return { ok: true, probe: false, provider, physVec: physVec.slice(), size: length, revoked: !dev.memoryEnabled };
}

/**
 * `vfio_pci_dma_buf_attach`: -EOPNOTSUPP without `peer2peer`, -ENODEV while revoked, else 0.
 */
export function vfioAttachResult(peer2peer: boolean, revoked: boolean): number {
  if (!peer2peer) return -Errno.EOPNOTSUPP;
  if (revoked) return -Errno.ENODEV;
  return 0;
}

/**
 * Pinning a vfio-pci dma-buf: the 6.19-era exporter's pin op always fails with -EOPNOTSUPP; the 7.0-era
 * exporter has no pin op, so pinning is a no-op success (`vfioPinAllowed`, kernel-model.md 7.2).
 */
export function vfioPinResult(vfioPinAllowed: boolean): number {
  return vfioPinAllowed ? 0 : -Errno.EOPNOTSUPP;
}
