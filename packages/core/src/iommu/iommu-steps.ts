/**
 * Step records of the IOMMU-DMA layer and the DMA API entry points (kernel-model.md section 5, events 6,
 * 8, 10-13, 17-21, 25), plus the IOVA allocator's own records passed through with the facts only this
 * layer knows (domain, device, caller, phase). The event module wraps them with `seq`, `tNs`, `cpu`,
 * `origin`; they are compact plain objects (bigint, number, string, boolean, null) and carry the facts a
 * reducer needs to rebuild state without re-running any policy (see iommu-reducer.ts).
 *
 * Naming: the fields of section 5's table in camelCase. Records that correspond to a tracepoint
 * (`iommu.map`, `iommu.unmap`, `dma.map_phys`, `dma.unmap_phys`) carry every field the tracepoint prints,
 * under the same meaning (sizes in bytes; `dir` as the tracepoint spells it; `attrs` as the raw bit mask).
 *
 * Order (kernel-model.md 5): the `dma_iova_*` records come before the steps they cause
 * (`dma.iova_link` -> `iommu.map`; `dma.iova_destroy` -> `iommu.unmap` -> `iova.free`); `dma.map_phys` and
 * `dma.unmap_phys` come after theirs (the tracepoint fires at the end of the call).
 */
import type { IovaStep } from '../iova/iova-steps.ts';

/** DMA direction as the `dma` tracepoints print it. */
export type DmaDirectionName = 'BIDIRECTIONAL' | 'TO_DEVICE' | 'FROM_DEVICE';

/** Why `dma_iova_try_alloc` answered as it did (event 6 `result`). */
export type TryAllocResultKind =
  | 'ok'
  | 'no_dma_iommu'
  | 'deferred_attach_failed'
  | 'size_zero'
  | 'size_too_big'
  | 'no_iova';

/**
 * Why `dma_map_phys` returned DMA_MAPPING_ERROR (event 13 `reason`). Section 5 names `mask`,
 * `swiotlb_force`, `min_align`, `no_iova`, `iommu_map`; dmasim adds `swiotlb_untrusted` (IOMMU path,
 * untrusted device, unaligned MMIO: 3.4.6 step 4) and `deferred_attach_failed` (kdump, 3.4.1 step 3).
 * A missing `dma_mask` pointer is not traced at all (3.4.6 step 2), so it has no record.
 */
export type MapPhysFailure =
  | 'mask'
  | 'swiotlb_force'
  | 'swiotlb_untrusted'
  | 'min_align'
  | 'no_iova'
  | 'iommu_map'
  | 'deferred_attach_failed';

/** Why `dma_iova_link` failed (`reason` of event 10; null on success). */
export type LinkFailure = 'pad_offset' | 'swiotlb' | 'iommu_map';

/** Which part of the kernel caused an IOVA allocation (event 7 `caller`). */
export type IovaAllocCaller = 'try_alloc' | 'map_phys';

/** 32-bit-first attempt or full-range attempt (event 7 `phase`). */
export type IovaAllocPhase = '32bit' | 'full';

/**
 * Simulation-only: `iommu_dma_init_domain` initialised a domain for its first device (4.1). What a reducer
 * needs to create the domain's state: the final type (after a DMA_FQ -> DMA downgrade), the IOVA domain's
 * parameters and the flush-queue options. The reservations follow as `iova.reserve` records.
 */
export interface IommuDomainInitStep {
  readonly kind: 'iommu.domain_init';
  readonly domainId: number;
  readonly device: string;
  readonly type: 'dma' | 'dma_fq';
  readonly granule: bigint;
  readonly startPfn: bigint;
  readonly cpus: number;
  readonly linkCollision: 'overwrite' | 'keep' | 'fail';
  /** Flush-queue options of a DMA_FQ domain, else null. */
  readonly flushQueue: {
    readonly kind: 'per_cpu' | 'single';
    readonly size: number;
    readonly timeoutMs: number;
  } | null;
}

/**
 * Simulation-only: `iommu_setup_dma_ops` for a device (probe): which path its DMA API calls take and the
 * initial 32-bit-first flag.
 */
export interface DmaDeviceSetupStep {
  readonly kind: 'dma.device_setup';
  readonly device: string;
  /** The group's default domain, or null without an IOMMU. */
  readonly domainId: number | null;
  readonly domainType: 'identity' | 'dma' | 'dma_fq' | 'blocked' | 'unmanaged' | null;
  /** `dev->dma_iommu` after setup. */
  readonly dmaIommu: boolean;
  readonly pci32bitWorkaround: boolean;
  /** `iommu_dma_init_domain`'s outcome: `first`, `already`, a failure reason, or null (not a DMA domain). */
  readonly init: 'first' | 'already' | 'dma_range_outside' | 'incompatible_range' | 'reserve_failed' | null;
}

/** Event 6: `dma_iova_try_alloc` (3.4.1). Emitted before the `iova.alloc` records of its allocation. */
export interface DmaIovaTryAllocStep {
  readonly kind: 'dma.iova_try_alloc';
  readonly device: string;
  /** null when the device does not use IOMMU-DMA. */
  readonly domainId: number | null;
  readonly phys: bigint;
  /** Bytes asked for. */
  readonly size: bigint;
  /** `align_up(size + pad, granule)`: bytes asked of the allocator (0 when it was not asked). */
  readonly alignedSize: bigint;
  /** `dma_get_mask(dev)`: the streaming mask, or DMA_BIT_MASK(32) when unset. */
  readonly dmaMask: bigint;
  readonly result: TryAllocResultKind;
  /** `state.addr` after the call (0 unless `ok`). */
  readonly addr: bigint;
}

/** Event 8: the 32-bit-first rule gives up for a device for good (4.2 step 4). */
export interface IovaDacSwitchStep {
  readonly kind: 'iova.dac_switch';
  readonly device: string;
  readonly domainId: number;
  /** N of "Using N-bit DMA addresses": `bits_per(dma_limit)`. */
  readonly bits: number;
}

/** Event 10: `dma_iova_link` (3.4.2). Emitted before its `iommu.map` / `iommu.unmap` records. */
export interface DmaIovaLinkStep {
  readonly kind: 'dma.iova_link';
  readonly device: string;
  readonly domainId: number;
  /** `state.addr`. */
  readonly stateAddr: bigint;
  readonly offset: bigint;
  readonly phys: bigint;
  readonly size: bigint;
  readonly dir: DmaDirectionName;
  readonly attrs: number;
  /** IOVA the map was asked for: `state.addr + offset - pad` (0 when the call failed before mapping). */
  readonly iova: bigint;
  /** Bytes the map was asked for: `align_up(size + pad, granule)` (0 when not asked). */
  readonly mapSize: bigint;
  /** 0 or a negative errno. */
  readonly result: number;
  readonly reason: LinkFailure | null;
  /** Part of the target IOVA range was already mapped (hazard 3.8-1). */
  readonly overlap: boolean;
}

/** Event 11: a successful IOMMU map; ftrace `iommu:map` (iova, paddr, size). */
export interface IommuMapStep {
  readonly kind: 'iommu.map';
  readonly domainId: number;
  readonly iova: bigint;
  readonly paddr: bigint;
  readonly size: bigint;
  readonly prot: number;
  /** What happened to live entries under the request (`fail` never gets here: a failed map has no record). */
  readonly collision: 'none' | 'overwrite' | 'keep';
}

/** Event 12: `dma_iova_sync` (3.4.4). No state change. */
export interface DmaIovaSyncStep {
  readonly kind: 'dma.iova_sync';
  readonly device: string;
  readonly domainId: number;
  /** Start of the synced range: `state.addr + offset - pad`. */
  readonly addr: bigint;
  /** `align_up(size + pad, granule)`. */
  readonly size: bigint;
  readonly result: number;
}

/** Event 13: `dma_map_phys` (3.4.6); ftrace `dma:dma_map_phys`. After its `iova.alloc` and `iommu.map`. */
export interface DmaMapPhysStep {
  readonly kind: 'dma.map_phys';
  readonly device: string;
  readonly domainId: number | null;
  readonly physAddr: bigint;
  readonly size: bigint;
  readonly dir: DmaDirectionName;
  readonly attrs: number;
  readonly path: 'direct' | 'iommu';
  /** The returned address; DMA_MAPPING_ERROR (all ones) on failure. */
  readonly dmaAddr: bigint;
  readonly reason: MapPhysFailure | null;
}

/** Event 17: `dma_unmap_phys` (3.4.7); ftrace `dma:dma_unmap_phys`. After its `iommu.unmap` and `iova.free`. */
export interface DmaUnmapPhysStep {
  readonly kind: 'dma.unmap_phys';
  readonly device: string;
  readonly domainId: number | null;
  readonly dmaAddr: bigint;
  readonly size: bigint;
  readonly dir: DmaDirectionName;
  readonly attrs: number;
  readonly path: 'direct' | 'iommu';
}

/** Event 18: an IOMMU unmap; ftrace `iommu:unmap` (iova, size, unmapped_size). */
export interface IommuUnmapStep {
  readonly kind: 'iommu.unmap';
  readonly domainId: number;
  readonly iova: bigint;
  /** Bytes asked for. */
  readonly size: bigint;
  /** Bytes actually unmapped (stops at the first hole). */
  readonly unmappedSize: bigint;
  /** The unroll of a failed map (3.4.2 step 4), not a caller's unmap. */
  readonly unroll: boolean;
}

/** Event 19: `dma_iova_destroy` / `dma_iova_free` / `dma_iova_unlink` (3.4.8). Before its unmap and release. */
export interface DmaIovaDestroyStep {
  readonly kind: 'dma.iova_destroy';
  readonly device: string;
  readonly domainId: number;
  /** `destroy` (mapped_len > 0), `free` (mapped_len = 0: release only), `unlink` (unmap only, IOVA kept). */
  readonly op: 'destroy' | 'free' | 'unlink';
  readonly stateAddr: bigint;
  readonly mappedLen: bigint;
  /** What is released: pfn and page count as the caller computes them (none for `unlink`). */
  readonly released: { readonly pfn: bigint; readonly pages: bigint } | null;
  /** The release goes through the flush queue. */
  readonly queued: boolean;
}

/**
 * Event 20 for `queue_iova` (4.6.3): an IOVA parked in a flush queue. The allocator's own `iova.free`
 * records cover `free_iova_fast` / `free_iova`.
 */
export interface IovaQueueStep {
  readonly kind: 'iova.free';
  readonly destination: 'flush_queue';
  readonly domainId: number;
  readonly cpu: number;
  /** Queue index: the CPU's queue, or 0 for the single queue. */
  readonly queue: number;
  /** pfn and pages as the caller released them (numbers, like the allocator's `iova.free` records). */
  readonly pfn: number;
  readonly pages: number;
  /** `flush_start_cnt` recorded with the entry. */
  readonly counter: number;
  /** The timer was armed by this call, for this virtual time (ns); null if it was already armed. */
  readonly timerArmedFor: number | null;
}

/** Event 21: a flush-queue flush (4.6.3): counters advanced, IOTLB invalidated. Releases follow. */
export interface IovaFqFlushStep {
  readonly kind: 'iova.fq_flush';
  readonly domainId: number;
  readonly reason: 'full' | 'timer';
  /** CPU that runs the flush (the unmapping CPU, or the timer CPU). */
  readonly cpu: number;
  /** Counters after the flush. */
  readonly flushStart: number;
  readonly flushFinish: number;
  /** Entries this flush makes the caller release now (`full`: the full queue; `timer`: every queue). */
  readonly released: number;
}

/** Event 25: a line the kernel prints. */
export interface KernelLogStep {
  readonly kind: 'kernel.log';
  readonly device: string | null;
  readonly level: 'err' | 'warn' | 'notice' | 'info';
  readonly text: string;
  /** Stable identifier of the message (e.g. `dma_iommu.dac_notice`), for tests and filters. */
  readonly msg: KernelLogId;
  /** The `*_ONCE` call-site key when the message is printed only once per boot, else null. */
  readonly once: string | null;
}

/** Stable identifiers of the kernel messages this layer prints. */
export type KernelLogId =
  | 'dma_iommu.dac_notice'
  | 'dma_iommu.dma_range_outside'
  | 'dma_iommu.incompatible_range'
  | 'dma_iommu.reserve_failed'
  | 'dma_iommu.setup_failed'
  | 'dma_iommu.fq_init_failed'
  | 'dma_iommu.try_alloc_size_zero'
  | 'dma_iommu.try_alloc_size_too_big'
  | 'dma_iommu.link_pad_offset'
  | 'dma_iommu.unmapped_mismatch'
  | 'dma_iommu.min_align'
  | 'iommu.unaligned_map'
  | 'iommu.unaligned_unmap'
  | 'intel_iommu.pte_already_set'
  | 'dma_mapping.no_dma_mask'
  | 'dma_direct.overflow';

/**
 * An IOVA allocator record passed through, with `domainId` added, and for `iova.alloc` the `device`,
 * `caller` and `phase` of the request. A release from a flush queue also names the queue it left
 * (`fqQueue`), so a reducer can pop that queue's head.
 */
export type IovaPassStep = IovaStep & {
  readonly domainId: number;
  readonly device?: string | null;
  readonly caller?: IovaAllocCaller | null;
  readonly phase?: IovaAllocPhase | null;
  readonly fqQueue?: number | null;
};

/** Every record this layer emits. */
export type IommuStep =
  | IommuDomainInitStep
  | DmaDeviceSetupStep
  | DmaIovaTryAllocStep
  | IovaDacSwitchStep
  | DmaIovaLinkStep
  | IommuMapStep
  | DmaIovaSyncStep
  | DmaMapPhysStep
  | DmaUnmapPhysStep
  | IommuUnmapStep
  | DmaIovaDestroyStep
  | IovaQueueStep
  | IovaFqFlushStep
  | KernelLogStep
  | IovaPassStep;

/** Direction number to the name the tracepoints print. */
export function dmaDirectionName(dir: 0 | 1 | 2): DmaDirectionName {
  return dir === 0 ? 'BIDIRECTIONAL' : dir === 1 ? 'TO_DEVICE' : 'FROM_DEVICE';
}
