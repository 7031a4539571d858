/**
 * An IOMMU domain: the default domain of one IOMMU group, shared by every device of the group
 * (kernel-model.md 1.6, 4.1). It holds what drivers/iommu/dma-iommu.c keeps in the domain and its DMA
 * cookie: the type (IDENTITY, DMA, DMA_FQ, ...), the page sizes (granule and shift), the aperture, the
 * reserved regions the IOMMU driver reports, the IOVA allocator, the flush queue of DMA_FQ domains and the
 * page tables.
 *
 * `iommu_dma_init_domain` runs when a device of the group is set up ({@link IommuDomain.initForDevice},
 * called by the {@link DmaDevice} constructor): the first device initialises the IOVA domain and makes
 * the reservations (its host bridge's memory windows by bus range, the inbound-range gaps, the driver's
 * reserved regions); later devices only check that granule and start pfn agree.
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import { IovaDomain, type IovaDomainSnapshot, type IovaStepSink } from '../iova/iova-domain.ts';
import type { IovaStep } from '../iova/iova-steps.ts';
import type { HostBridgeWindow } from '../topology/topology.ts';
import type { IommuDomainType } from '../topology/topology-spec.ts';
import { FlushQueue, type FlushQueueSnapshot, flushQueueOptions } from './flush-queue.ts';
import { type IoMapping, IoPageTable, type LinkCollisionPolicy } from './io-page-table.ts';
import type {
  IommuDomainInitStep,
  IovaAllocCaller,
  IovaAllocPhase,
  IovaPassStep,
  KernelLogStep,
} from './iommu-steps.ts';
import type { KernelContext, TimerOwner } from './kernel-context.ts';
import { ffs0, hex16, U64_MAX, u64 } from './u64.ts';

/**
 * Default domain types. `identity` (passthrough), `blocked` and `unmanaged` (owned by VFIO/iommufd) use
 * dma-direct; `dma` (strict) and `dma_fq` (lazy, the x86 default) use IOMMU-DMA. A device without an
 * IOMMU has no domain at all (`domain: null`).
 */
export type IommuDomainKind = 'identity' | 'dma' | 'dma_fq' | 'blocked' | 'unmanaged';

/** The kind of a topology file's default-domain type (`DMA_FQ` -> `dma_fq`). */
export function iommuDomainKindOf(t: IommuDomainType): IommuDomainKind {
  switch (t) {
    case 'DMA':
      return 'dma';
    case 'DMA_FQ':
      return 'dma_fq';
    case 'IDENTITY':
      return 'identity';
    case 'BLOCKED':
      return 'blocked';
  }
}

/** `domain->geometry`. Addresses inclusive, in bytes. */
export interface IommuGeometry {
  readonly apertureStart: bigint;
  readonly apertureEnd: bigint;
  readonly forceAperture: boolean;
}

/** `enum iommu_resv_type`; every type but `sw_msi` is reserved in the IOVA space (4.1 step 3c). */
export type ReservedRegionType = 'direct' | 'direct_relaxable' | 'reserved' | 'msi' | 'sw_msi';

/** A reserved region reported by the IOMMU driver (`struct iommu_resv_region`). Bytes. */
export interface IommuReservedRegion {
  readonly start: bigint;
  readonly length: bigint;
  readonly type: ReservedRegionType;
}

/** The x86 interrupt (MSI) window 0xFEE00000-0xFEEFFFFF that Intel and AMD drivers report. */
export const X86_MSI_REGION: IommuReservedRegion = { start: 0xfee00000n, length: 0x100000n, type: 'msi' };

/** AMD's HyperTransport hole 0xFD_0000_0000-0xFF_FFFF_FFFF (inferred platform input, 1.6). */
export const AMD_HT_REGION: IommuReservedRegion = { start: 0xfd00000000n, length: 0x300000000n, type: 'reserved' };

/** What `iova_reserve_pci_windows` reads from a PCI device's host bridge. */
export interface HostBridgeDma {
  /** `bridge->windows` (CPU range, offset = CPU - bus address): memory windows are reserved by bus range. */
  readonly windows: readonly HostBridgeWindow[];
  /** `bridge->dma_ranges` (inbound; device-tree platforms only, x86 has none): the gaps are reserved. */
  readonly dmaRanges?: readonly HostBridgeWindow[];
}

/** One `struct bus_dma_region` of a device's `dma_range_map`. */
export interface BusDmaRegion {
  readonly cpuStart: bigint;
  readonly dmaStart: bigint;
  readonly size: bigint;
}

/** The facts about a device that `iommu_dma_init_domain` reads (a {@link DmaDevice} provides them). */
export interface DomainInitDevice {
  readonly name: string;
  readonly isPci: boolean;
  readonly hostBridge: HostBridgeDma | null;
  readonly dmaRangeMap: readonly BusDmaRegion[] | null;
  /** Device-specific reserved regions (RMRR, IVMD), reported before the driver-wide ones. */
  readonly resvRegions: readonly IommuReservedRegion[];
}

/** Outcome of `iommu_dma_init_domain` for one device. */
export type DomainInitResult =
  | { readonly ok: true; readonly initialised: 'first' | 'already' }
  | {
      readonly ok: false;
      readonly errno: number;
      readonly reason: 'dma_range_outside' | 'incompatible_range' | 'reserve_failed';
    };

/** One-shot fault to inject into the IOMMU driver (for error-path tests and scenarios). */
export interface IommuFault {
  /** `map`: the driver's map_pages fails; `sync_map`: its iotlb_sync_map (dma_iova_sync, iommu_map) fails. */
  readonly op: 'map' | 'sync_map';
  /** Negative errno to return. */
  readonly errno: number;
  /** `map` only: bytes the driver mapped before failing (unrolled by the core). @defaultValue 0n */
  readonly mappedBeforeFailure?: bigint;
}

/** Options of {@link IommuDomain}. Every default is the x86 one. */
export interface IommuDomainOptions {
  /** Stable numeric id of the domain (e.g. the IOMMU group number), used in step records. */
  readonly id: number;
  readonly type: IommuDomainKind;
  /**
   * Page sizes the IOMMU maps; the lowest set bit is the IOVA granule.
   * @defaultValue 0x40201000n (4 KiB, 2 MiB, 1 GiB)
   */
  readonly pgsizeBitmap?: bigint;
  /** PAGE_SIZE; the granule may not exceed it. @defaultValue 4096n */
  readonly pageSize?: bigint;
  /**
   * Aperture and whether the driver forces it.
   * @defaultValue `{ apertureStart: 0n, apertureEnd: 2n ** 48n - 1n, forceAperture: true }` (VT-d, 4-level)
   */
  readonly geometry?: Partial<IommuGeometry>;
  /** Driver-wide reserved regions. @defaultValue [X86_MSI_REGION] */
  readonly reservedRegions?: readonly IommuReservedRegion[];
  /** `IOMMU_CAP_DEFERRED_FLUSH`: without it a DMA_FQ domain is downgraded to DMA. @defaultValue true */
  readonly deferredFlush?: boolean;
  /** `shadow_on_flush` (virtualised IOMMUs): one 32768-slot queue, 1000 ms. @defaultValue false */
  readonly shadowOnFlush?: boolean;
  /** The flush-queue allocation fails ("iova flush queue initialization failed"; downgrade). @defaultValue false */
  readonly flushQueueInitFails?: boolean;
  /** What the page tables do on a map over live entries (7.5-1). @defaultValue 'fail' (generic page tables) */
  readonly linkCollision?: LinkCollisionPolicy;
  /** Run the IOVA depot trimming job (100 ms). @defaultValue true */
  readonly depotTrim?: boolean;
}

/** Canonical plain state of a domain (for state hashing and the reducer). */
export interface IommuDomainSnapshot {
  readonly id: number;
  readonly type: IommuDomainKind;
  readonly initialised: boolean;
  readonly pageTable: readonly IoMapping[];
  readonly flushQueue: FlushQueueSnapshot | null;
  readonly iova: IovaDomainSnapshot | null;
}

/** Context of the allocator call in progress, for annotating its records. */
interface IovaCallContext {
  device: string | null;
  caller: IovaAllocCaller | null;
  phase: IovaAllocPhase | null;
  fqQueue: number | null;
}

const DEFAULT_PGSIZE_BITMAP = 0x40201000n;
const DEFAULT_APERTURE_END = (1n << 48n) - 1n;

/** The default domain of one IOMMU group. */
export class IommuDomain implements TimerOwner, IovaStepSink {
  readonly kernel: KernelContext;
  readonly id: number;
  /** Current type; DMA_FQ can be downgraded to DMA at init. */
  type: IommuDomainKind;
  readonly pgsizeBitmap: bigint;
  readonly pageSize: bigint;
  /** IOVA granule in bytes (lowest page size). */
  readonly granule: bigint;
  /** `granule - 1`: the offset bits of an address within its granule (made once, not on every call). */
  readonly granuleMask: bigint;
  /** log2(granule). */
  readonly shift: number;
  /** {@link shift} as a bigint, for pfn arithmetic on byte addresses (made once, not on every call). */
  readonly pfnShift: bigint;
  readonly geometry: IommuGeometry;
  readonly reservedRegions: readonly IommuReservedRegion[];
  readonly deferredFlush: boolean;
  readonly shadowOnFlush: boolean;
  readonly flushQueueInitFails: boolean;
  readonly linkCollision: LinkCollisionPolicy;
  readonly depotTrim: boolean;
  /** The page tables. */
  readonly pageTable = new IoPageTable();
  private iovad: IovaDomain | null = null;
  private fqueue: FlushQueue | null = null;
  private readonly faults: IommuFault[] = [];
  private readonly ctx: IovaCallContext = { device: null, caller: null, phase: null, fqQueue: null };

  constructor(kernel: KernelContext, opts: IommuDomainOptions) {
    this.kernel = kernel;
    this.id = opts.id;
    this.type = opts.type;
    this.pgsizeBitmap = opts.pgsizeBitmap ?? DEFAULT_PGSIZE_BITMAP;
    this.pageSize = opts.pageSize ?? 4096n;
    if (!Number.isInteger(opts.id) || opts.id < 0 || opts.id > 0xffffffff) {
      throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `IOMMU domain id must be a u32, found ${opts.id}`);
    }
    if (this.pgsizeBitmap <= 0n || this.pgsizeBitmap > U64_MAX) {
      throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `domain ${opts.id}: pgsize_bitmap must be a non-zero u64`);
    }
    this.shift = ffs0(this.pgsizeBitmap);
    this.pfnShift = BigInt(this.shift);
    this.granule = 1n << this.pfnShift;
    this.granuleMask = this.granule - 1n;
    if (this.granule > this.pageSize) {
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `domain ${opts.id}: IOVA granule ${this.granule} exceeds PAGE_SIZE ${this.pageSize}`,
      );
    }
    this.geometry = {
      apertureStart: opts.geometry?.apertureStart ?? 0n,
      apertureEnd: opts.geometry?.apertureEnd ?? DEFAULT_APERTURE_END,
      forceAperture: opts.geometry?.forceAperture ?? true,
    };
    this.reservedRegions = opts.reservedRegions ?? [X86_MSI_REGION];
    this.deferredFlush = opts.deferredFlush ?? true;
    this.shadowOnFlush = opts.shadowOnFlush ?? false;
    this.flushQueueInitFails = opts.flushQueueInitFails ?? false;
    this.linkCollision = opts.linkCollision ?? 'fail';
    this.depotTrim = opts.depotTrim ?? true;
    kernel.addTimerOwner(this);
  }

  /** `iommu_is_dma_domain`: DMA or DMA_FQ (the DMA API then uses IOMMU-DMA). */
  get isDmaDomain(): boolean {
    return this.type === 'dma' || this.type === 'dma_fq';
  }

  /** A paging domain (the IOMMU core maps and unmaps only in these). */
  get isPaging(): boolean {
    return this.type === 'dma' || this.type === 'dma_fq' || this.type === 'unmanaged';
  }

  /** The IOVA allocator, once a device has initialised the domain. */
  get iova(): IovaDomain | null {
    return this.iovad;
  }

  /** The flush queue of a DMA_FQ domain (null for DMA domains and before init). */
  get flushQueue(): FlushQueue | null {
    return this.fqueue;
  }

  /** The allocator; throws INTERNAL if the domain was never initialised (a dmasim bug). */
  requireIova(): IovaDomain {
    if (this.iovad === null) {
      throw new DmasimError(ErrorCode.INTERNAL, `domain ${this.id}: IOVA domain used before iommu_dma_init_domain`);
    }
    return this.iovad;
  }

  /** Queues a one-shot driver fault, consumed by the next operation of its kind. */
  injectFault(fault: IommuFault): void {
    this.faults.push(fault);
  }

  /** Takes the next queued fault of `op`, if any. */
  takeFault(op: IommuFault['op']): IommuFault | undefined {
    if (this.faults.length === 0) return undefined; // the common case: asked on every map and sync
    const i = this.faults.findIndex((f) => f.op === op);
    if (i < 0) return undefined;
    return this.faults.splice(i, 1)[0];
  }

  /** Prints a kernel line through the kernel's sink. */
  log(
    device: string | null,
    level: KernelLogStep['level'],
    msg: KernelLogStep['msg'],
    text: string,
    once: string | null = null,
  ): void {
    if (once !== null && !this.kernel.once(once)) return;
    const step: KernelLogStep = { kind: 'kernel.log', device, level, text, msg, once };
    this.kernel.emit(step);
  }

  /**
   * `iommu_dma_init_domain(domain, dev)` (4.1): on the first device of the group, initialise the IOVA
   * domain, choose the flush-queue options (downgrading DMA_FQ to DMA if needed) and make the reservations;
   * on later devices, only check compatibility. Returns what happened; failures are printed too.
   */
  initForDevice(dev: DomainInitDevice): DomainInitResult {
    const shift = BigInt(this.shift);
    let basePfn = 1n;
    const map = dev.dmaRangeMap;
    if (map !== null && map.length > 0) {
      let min = U64_MAX;
      let max = 0n;
      for (const r of map) {
        if (r.dmaStart < min) min = r.dmaStart;
        const end = u64(r.dmaStart + r.size - 1n);
        if (end > max) max = end;
      }
      if (min > this.geometry.apertureEnd || max < this.geometry.apertureStart) {
        this.log(null, 'warn', 'dma_iommu.dma_range_outside', 'specified DMA range outside IOMMU capability');
        return { ok: false, errno: -14, reason: 'dma_range_outside' };
      }
    }
    const apertureBase = this.geometry.apertureStart >> shift;
    if (apertureBase > basePfn) basePfn = apertureBase;

    if (this.iovad !== null) {
      if (this.iovad.granule !== this.granule || this.iovad.startPfn !== basePfn) {
        this.log(null, 'warn', 'dma_iommu.incompatible_range', 'Incompatible range for DMA domain');
        return { ok: false, errno: -14, reason: 'incompatible_range' };
      }
      return { ok: true, initialised: 'already' };
    }

    this.iovad = new IovaDomain({
      granule: this.granule,
      startPfn: basePfn,
      cpus: this.kernel.cpus,
      depotTrim: this.depotTrim,
      stepSink: this,
    });
    if (this.type === 'dma_fq') {
      if (!this.deferredFlush) {
        this.type = 'dma';
      } else if (this.flushQueueInitFails) {
        this.log(null, 'warn', 'dma_iommu.fq_init_failed', 'iova flush queue initialization failed');
        this.type = 'dma';
      } else {
        this.fqueue = new FlushQueue(
          this.kernel,
          this.id,
          flushQueueOptions(this.shadowOnFlush),
          (pfn, pages, cpu, q) => this.releaseFromQueue(pfn, pages, cpu, q),
        );
      }
    }
    const fq = this.fqueue?.options ?? null;
    const init: IommuDomainInitStep = {
      kind: 'iommu.domain_init',
      domainId: this.id,
      device: dev.name,
      type: this.type === 'dma_fq' ? 'dma_fq' : 'dma',
      granule: this.granule,
      startPfn: basePfn,
      cpus: this.kernel.cpus,
      linkCollision: this.linkCollision,
      flushQueue: fq === null ? null : { kind: fq.kind, size: fq.size, timeoutMs: fq.timeoutMs },
    };
    this.kernel.emit(init);
    if (!this.reserveRegions(dev)) return { ok: false, errno: -22, reason: 'reserve_failed' };
    return { ok: true, initialised: 'first' };
  }

  /** `iova_reserve_iommu_regions`: host-bridge windows and gaps (PCI), then the driver's regions. */
  private reserveRegions(dev: DomainInitDevice): boolean {
    const iovad = this.iovad!;
    const shift = BigInt(this.shift);
    const pfn = (a: bigint) => a >> shift;
    if (dev.isPci && dev.hostBridge !== null) {
      for (const w of dev.hostBridge.windows) {
        if (w.type !== 'mem') continue;
        iovad.reserveIova(pfn(u64(w.cpuStart - w.offset)), pfn(u64(w.cpuEnd - w.offset)));
      }
      const ranges = [...(dev.hostBridge.dmaRanges ?? [])].sort((a, b) =>
        a.cpuStart < b.cpuStart ? -1 : a.cpuStart > b.cpuStart ? 1 : 0,
      );
      let start = 0n;
      for (let i = 0; i < ranges.length; i++) {
        const w = ranges[i]!;
        let end = u64(w.cpuStart - w.offset);
        for (;;) {
          if (end > start) {
            iovad.reserveIova(pfn(start), pfn(end));
          } else if (end < start) {
            this.log(
              dev.name,
              'err',
              'dma_iommu.reserve_failed',
              `Failed to reserve IOVA [${hex16(start)}-${hex16(end)}]`,
            );
            return false;
          }
          start = u64(w.cpuEnd - w.offset + 1n);
          if (i === ranges.length - 1 && end !== U64_MAX) {
            end = U64_MAX;
            continue;
          }
          break;
        }
      }
    }
    for (const r of [...dev.resvRegions, ...this.reservedRegions]) {
      if (r.type === 'sw_msi') continue;
      iovad.reserveIova(pfn(r.start), pfn(u64(r.start + r.length - 1n)));
    }
    return true;
  }

  /**
   * `alloc_iova_fast(pages, limitPfn, flush)` on `cpu`, its record annotated as coming from `device`'s
   * `caller` in `phase`. Returns the pfn, 0n on failure.
   */
  allocIovaFast(
    device: string,
    caller: IovaAllocCaller,
    phase: IovaAllocPhase,
    pages: bigint,
    limitPfn: bigint,
    flush: boolean,
    cpu: number,
  ): bigint {
    const iovad = this.requireIova();
    const c = this.ctx;
    const d0 = c.device;
    const c0 = c.caller;
    const p0 = c.phase;
    c.device = device;
    c.caller = caller;
    c.phase = phase;
    try {
      return iovad.allocIovaFastPfn(pages, limitPfn, flush, cpu);
    } finally {
      c.device = d0;
      c.caller = c0;
      c.phase = p0;
    }
  }

  /** Flush-queue release: `free_iova_fast` on `cpu`, its record naming the queue it left. */
  private releaseFromQueue(pfn: bigint, pages: bigint, cpu: number, queue: number): void {
    this.ctx.fqQueue = queue;
    try {
      this.requireIova().freeIovaFastPfn(pfn, pages, cpu);
    } finally {
      this.ctx.fqQueue = null;
    }
  }

  /** Annotates and forwards one record of the IOVA allocator (this domain is its allocator's step sink). */
  iovaStep(s: IovaStep): void {
    if (!this.kernel.tracing) {
      this.ctx.fqQueue = null;
      return;
    }
    // One copy of the record with the annotations (not one per annotation).
    const c = this.ctx;
    let out: IovaPassStep;
    if (s.kind === 'iova.alloc') {
      out = { ...s, domainId: this.id, device: c.device, caller: c.caller, phase: c.phase };
    } else if (s.kind === 'iova.free' && c.fqQueue !== null) {
      out = { ...s, domainId: this.id, fqQueue: c.fqQueue };
      c.fqQueue = null;
    } else {
      out = { ...s, domainId: this.id } as IovaPassStep;
    }
    this.kernel.emit(out);
  }

  /** TimerOwner: the earliest of the flush-queue timer and the allocator's depot jobs. */
  nextTimerAt(): number | undefined {
    const a = this.fqueue?.nextTimerAt();
    const b = this.iovad?.nextTimerAt();
    if (a === undefined) return b;
    if (b === undefined) return a;
    return Math.min(a, b);
  }

  /**
   * TimerOwner: fires due timers in time order up to `tNs` (at equal times the allocator's depot jobs run
   * before the flush-queue timer).
   */
  advanceTo(tNs: number): void {
    for (;;) {
      const fq = this.fqueue?.nextTimerAt();
      const dep = this.iovad?.nextTimerAt();
      if (dep !== undefined && dep <= tNs && (fq === undefined || dep <= fq)) {
        this.iovad!.advanceTo(dep);
        continue;
      }
      if (fq !== undefined && fq <= tNs) {
        this.iovad?.advanceTo(fq);
        this.fqueue!.advanceTo(fq);
        continue;
      }
      break;
    }
    this.iovad?.advanceTo(tNs);
  }

  /** Canonical plain state. */
  snapshot(): IommuDomainSnapshot {
    return {
      id: this.id,
      type: this.type,
      initialised: this.iovad !== null,
      pageTable: this.pageTable.snapshot(),
      flushQueue: this.fqueue?.snapshot() ?? null,
      iova: this.iovad?.snapshot() ?? null,
    };
  }
}
