/**
 * The DMA API entry points used for MMIO (peer-to-peer) mappings, exactly with their failure conditions
 * and return values (kernel-model.md 3.4): the IOVA API (`dma_iova_try_alloc`, `dma_iova_link`,
 * `dma_iova_sync`, `dma_iova_destroy`, `dma_iova_free`, `dma_iova_unlink`) and the per-range API
 * (`dma_map_phys`, `dma_unmap_phys`, `dma_mapping_error`), with dma-direct (no IOMMU, identity domains)
 * and IOMMU-DMA paths.
 *
 * Units: addresses, sizes, offsets and masks are bytes (bigint); pfns and page counts are in IOVA granules.
 * Every call runs on a CPU (`opts.cpu`, default 0: it selects the per-CPU IOVA caches and flush queue) and
 * reports what it did as step records (iommu-steps.ts) to `opts.onStep`, or else to the kernel's sink.
 *
 * Failures the kernel reports are results, never exceptions: `{ ok: false, errno, code, reason }` with a
 * negative errno as the kernel returns it and a stable {@link ErrorCode}. Exceptions
 * ({@link DmasimError}) are reserved for calls the kernel would BUG or oops on (`DMA_API_MISUSE`: an
 * invalid direction, an IOVA call on a device without IOMMU-DMA, a zero-size IOMMU map) and for what
 * dmasim does not model (non-MMIO attributes: `INVALID_ARGUMENT`).
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import type { DmaDevice } from './dma-device.ts';
import { iommuDmaAllocIova, iommuDmaFreeIova, iommuDmaFreePfns } from './dma-iommu.ts';
import {
  DMA_IOVA_USE_SWIOTLB,
  DMA_MAPPING_ERROR,
  DmaAttr,
  type DmaDirection,
  dmaInfoToProt,
  isValidDmaDirection,
} from './dma-mapping.ts';
import { Errno } from './errno.ts';
import { iommuMap, iommuMapNosync, iommuSyncMap, iommuUnmapFast } from './iommu-core.ts';
import type { IommuDomain } from './iommu-domain.ts';
import {
  type DmaIovaDestroyStep,
  type DmaIovaLinkStep,
  type DmaIovaSyncStep,
  type DmaIovaTryAllocStep,
  type DmaMapPhysStep,
  type DmaUnmapPhysStep,
  dmaDirectionName,
  type LinkFailure,
  type MapPhysFailure,
  type TryAllocResultKind,
} from './iommu-steps.ts';
import type { StepSink } from './kernel-context.ts';
import { alignUp, hex16, hexBare, minNotZero, U64_MAX, u64 } from './u64.ts';

/** Per-call options of every entry point. */
export interface DmaCallOptions {
  /** CPU the call runs on (0..cpus-1): per-CPU IOVA caches and flush queue. @defaultValue 0 */
  readonly cpu?: number;
  /** Receives this call's step records instead of the kernel's default sink. */
  readonly onStep?: StepSink;
}

/** `struct dma_iova_state`: `addr` (bytes) and `__size` (bytes asked for; bit 63 = swiotlb used). */
export interface DmaIovaState {
  readonly addr: bigint;
  readonly size: bigint;
}

/** The zeroed state (`memset(state, 0)`): not using IOVA. */
export const DMA_IOVA_STATE_NONE: DmaIovaState = Object.freeze({ addr: 0n, size: 0n });

/** `dma_use_iova(state)`: the IOVA API is in use (`__size != 0`). */
export function dmaUseIova(state: DmaIovaState): boolean {
  return state.size !== 0n;
}

/** `dma_iova_size(state)`: `__size` without the swiotlb bit. */
export function dmaIovaSize(state: DmaIovaState): bigint {
  return state.size & ~DMA_IOVA_USE_SWIOTLB;
}

/** Success or a kernel error. */
export type DmaStatus<R extends string = string> =
  | { readonly ok: true; readonly errno: 0; readonly code: null; readonly reason: null }
  | { readonly ok: false; readonly errno: number; readonly code: ErrorCode; readonly reason: R };

/** Result of {@link dmaIovaTryAlloc}. */
export interface DmaIovaTryAllocResult {
  /** What the kernel function returns. */
  readonly ok: boolean;
  /** The state after the call: zeroed unless `ok`. */
  readonly state: DmaIovaState;
  readonly reason: TryAllocResultKind;
  /** Bytes asked of the allocator, `align_up(size + pad, granule)` (0n when it was not asked). */
  readonly alignedSize: bigint;
  /** Stable code of a failure (`DMA_NO_IOMMU`, `IOVA_EXHAUSTED`, ...), null on success. */
  readonly code: ErrorCode | null;
}

/** Result of {@link dmaMapPhys}. */
export interface DmaMapPhysResult {
  /** The DMA address, or DMA_MAPPING_ERROR. */
  readonly dmaAddr: bigint;
  readonly ok: boolean;
  /** Why it failed (`no_dma_mask` when the device has no dma_mask: that failure is not traced). */
  readonly reason: MapPhysFailure | 'no_dma_mask' | null;
  readonly code: ErrorCode | null;
  readonly path: 'direct' | 'iommu';
}

/** Result of the unmapping calls: what the IOMMU reported and what was released. */
export interface DmaUnmapResult {
  readonly path: 'direct' | 'iommu';
  /** Bytes asked of `iommu_unmap_fast` (0n on dma-direct). */
  readonly unmapSize: bigint;
  /** Bytes it unmapped (less than `unmapSize` when it met a hole). */
  readonly unmappedSize: bigint;
  /** The IOVA released (pfn and pages in granules), or null (dma-direct, unlink). */
  readonly released: { readonly pfn: bigint; readonly pages: bigint } | null;
  /** The release went to the flush queue. */
  readonly queued: boolean;
}

const OK = Object.freeze({ ok: true, errno: 0, code: null, reason: null }) as DmaStatus<never>;

function fail<R extends string>(errno: number, code: ErrorCode, reason: R): DmaStatus<R> {
  return { ok: false, errno, code, reason };
}

function checkDir(dev: DmaDevice, dir: number, fn: string): asserts dir is 0 | 1 | 2 {
  if (!isValidDmaDirection(dir)) {
    throw new DmasimError(
      ErrorCode.DMA_API_MISUSE,
      `${fn}(${dev.name}): invalid DMA direction ${dir} (expected 0 BIDIRECTIONAL, 1 TO_DEVICE or 2 FROM_DEVICE); the kernel BUGs`,
      { device: dev.name, dir },
    );
  }
}

function checkMmio(dev: DmaDevice, attrs: number, fn: string): void {
  if ((attrs & DmaAttr.MMIO) === 0) {
    throw new DmasimError(
      ErrorCode.INVALID_ARGUMENT,
      `${fn}(${dev.name}): attrs 0x${attrs.toString(16)} lack DMA_ATTR_MMIO (0x400); dmasim models MMIO mappings only`,
      { device: dev.name, attrs },
    );
  }
}

function iommuDomainOf(dev: DmaDevice, fn: string): IommuDomain {
  if (!dev.dmaIommu || dev.domain === null) {
    throw new DmasimError(
      ErrorCode.DMA_API_MISUSE,
      `${fn}(${dev.name}): the device does not use IOMMU-DMA (call dma_iova_try_alloc first and use this only when it succeeded)`,
      { device: dev.name },
    );
  }
  return dev.domain;
}

/** Throws INVALID_ARGUMENT unless `v`, the argument `name` of `fn`, is a u64 bigint. */
function checkU64(dev: DmaDevice, fn: string, name: string, v: bigint): void {
  if (typeof v === 'bigint' && v >= 0n && v <= U64_MAX) return;
  throw new DmasimError(
    ErrorCode.INVALID_ARGUMENT,
    `${fn}(${dev.name}): ${name} must be a u64 bigint, found ${String(v)}`,
    {
      device: dev.name,
      [name]: String(v),
    },
  );
}

/**
 * Enters a DMA API call on `opts.cpu` (checked): the call's own sink, if it has one, receives its records
 * until {@link leaveCall}, which the caller runs in a `finally`. Returns the CPU.
 */
function enterCall(dev: DmaDevice, opts: DmaCallOptions | undefined): number {
  const cpu = opts?.cpu ?? 0;
  dev.kernel.checkCpu(cpu);
  if (opts?.onStep !== undefined) dev.kernel.pushSink(opts.onStep);
  return cpu;
}

/** Leaves a call entered with {@link enterCall}. */
function leaveCall(dev: DmaDevice, opts: DmaCallOptions | undefined): void {
  if (opts?.onStep !== undefined) dev.kernel.popSink();
}

function warnText(fn: string, cond: string): string {
  return `WARNING: ${fn}: ${cond}`;
}

/**
 * `dma_iova_try_alloc(dev, state, phys, size)` (3.4.1): allocates one IOVA block of
 * `align_up(size + (phys & (granule - 1)), granule)` bytes under `dma_get_mask(dev)` if the device uses
 * IOMMU-DMA. Never fails with an error: `ok: false` with a zeroed state means "use dma_map_phys per range"
 * (`no_dma_iommu`, `deferred_attach_failed`, `size_zero`, `size_too_big` (bit 63 set), `no_iova`).
 */
export function dmaIovaTryAlloc(
  dev: DmaDevice,
  phys: bigint,
  size: bigint,
  opts?: DmaCallOptions,
): DmaIovaTryAllocResult {
  checkU64(dev, 'dma_iova_try_alloc', 'phys', phys);
  checkU64(dev, 'dma_iova_try_alloc', 'size', size);
  const cpu = enterCall(dev, opts);
  try {
    const kernel = dev.kernel;
    const domain = dev.domain;
    const dmaMask = dev.dmaGetMask();
    if (!dev.dmaIommu || domain === null) {
      return tryAllocDone(dev, phys, size, dmaMask, 'no_dma_iommu', 0n, DMA_IOVA_STATE_NONE, ErrorCode.DMA_NO_IOMMU);
    }
    if (kernel.kdump && dev.deferredAttachFails) {
      const code = ErrorCode.DMA_DEFERRED_ATTACH;
      return tryAllocDone(dev, phys, size, dmaMask, 'deferred_attach_failed', 0n, DMA_IOVA_STATE_NONE, code);
    }
    if (size === 0n) {
      const r = tryAllocDone(
        dev,
        phys,
        size,
        dmaMask,
        'size_zero',
        0n,
        DMA_IOVA_STATE_NONE,
        ErrorCode.INVALID_ARGUMENT,
      );
      domain.log(
        dev.name,
        'warn',
        'dma_iommu.try_alloc_size_zero',
        warnText('dma_iova_try_alloc', '!size'),
        'dma_iova_try_alloc.size_zero',
      );
      return r;
    }
    if (size >= DMA_IOVA_USE_SWIOTLB) {
      // `size & DMA_IOVA_USE_SWIOTLB` (bit 63) of a u64, as a comparison: no bigint is made.
      const code = ErrorCode.INVALID_ARGUMENT;
      const r = tryAllocDone(dev, phys, size, dmaMask, 'size_too_big', 0n, DMA_IOVA_STATE_NONE, code);
      domain.log(
        dev.name,
        'warn',
        'dma_iommu.try_alloc_size_too_big',
        warnText('dma_iova_try_alloc', 'size & DMA_IOVA_USE_SWIOTLB'),
        'dma_iova_try_alloc.size_too_big',
      );
      return r;
    }
    const pad = phys & domain.granuleMask;
    const alignedSize = alignUp(size + pad, domain.granule);
    const { value, steps } = kernel.capture(() =>
      iommuDmaAllocIova(domain, alignedSize, dmaMask, dev, 'try_alloc', cpu),
    );
    const r =
      value.iova === 0n
        ? tryAllocDone(dev, phys, size, dmaMask, 'no_iova', alignedSize, DMA_IOVA_STATE_NONE, ErrorCode.IOVA_EXHAUSTED)
        : tryAllocDone(dev, phys, size, dmaMask, 'ok', alignedSize, { addr: value.iova + pad, size }, null);
    kernel.emitAll(steps);
    return r;
  } finally {
    leaveCall(dev, opts);
  }
}

/** Traces a `dma_iova_try_alloc` call (`dma.iova_try_alloc`) and returns its result. */
function tryAllocDone(
  dev: DmaDevice,
  phys: bigint,
  size: bigint,
  dmaMask: bigint,
  reason: TryAllocResultKind,
  alignedSize: bigint,
  state: DmaIovaState,
  code: ErrorCode | null,
): DmaIovaTryAllocResult {
  const domain = dev.domain;
  const step: DmaIovaTryAllocStep = {
    kind: 'dma.iova_try_alloc',
    device: dev.name,
    domainId: dev.dmaIommu && domain !== null ? domain.id : null,
    phys,
    size,
    dmaMask,
    alignedSize,
    result: reason,
    addr: state.addr,
  };
  dev.kernel.emit(step);
  return { ok: reason === 'ok', state, reason, alignedSize, code };
}

/**
 * `dma_iova_link(dev, state, phys, offset, size, dir, attrs)` (3.4.2): maps `[phys, phys + size)` at
 * `state.addr + offset` (both widened to the granule) without syncing the IOTLB. Errors: -EIO
 * (`pad_offset`: unaligned `phys` at a non-zero offset), -EPERM (`swiotlb`: an untrusted device and an
 * unaligned range), or the IOMMU map's error (`iommu_map`: -EINVAL unaligned, -EADDRINUSE over live
 * entries under the `fail` policy, -EFAULT outside the aperture, an injected driver error).
 */
export function dmaIovaLink(
  dev: DmaDevice,
  state: DmaIovaState,
  phys: bigint,
  offset: bigint,
  size: bigint,
  dir: DmaDirection | number,
  attrs: number = DmaAttr.MMIO,
  opts?: DmaCallOptions,
): DmaStatus<LinkFailure> {
  checkDir(dev, dir, 'dma_iova_link');
  checkMmio(dev, attrs, 'dma_iova_link');
  checkU64(dev, 'dma_iova_link', 'phys', phys);
  checkU64(dev, 'dma_iova_link', 'offset', offset);
  checkU64(dev, 'dma_iova_link', 'size', size);
  checkU64(dev, 'dma_iova_link', 'addr', state.addr);
  const domain = iommuDomainOf(dev, 'dma_iova_link');
  enterCall(dev, opts);
  try {
    const kernel = dev.kernel;
    const mask = domain.granuleMask;
    const pad = phys & mask;
    const base = {
      kind: 'dma.iova_link' as const,
      device: dev.name,
      domainId: domain.id,
      stateAddr: state.addr,
      offset,
      phys,
      size,
      dir: dmaDirectionName(dir),
      attrs,
    };
    if (pad !== 0n && offset > 0n) {
      const step: DmaIovaLinkStep = {
        ...base,
        iova: 0n,
        mapSize: 0n,
        result: -Errno.EIO,
        reason: 'pad_offset',
        overlap: false,
      };
      kernel.emit(step);
      domain.log(
        dev.name,
        'warn',
        'dma_iommu.link_pad_offset',
        warnText('dma_iova_link', 'iova_start_pad && offset > 0'),
        'dma_iova_link.pad_offset',
      );
      return fail(-Errno.EIO, ErrorCode.DMA_IOVA_PAD_OFFSET, 'pad_offset');
    }
    if (dev.untrusted && ((phys | size) & mask) !== 0n) {
      const step: DmaIovaLinkStep = {
        ...base,
        iova: 0n,
        mapSize: 0n,
        result: -Errno.EPERM,
        reason: 'swiotlb',
        overlap: false,
      };
      kernel.emit(step);
      return fail(-Errno.EPERM, ErrorCode.DMA_SWIOTLB_MMIO, 'swiotlb');
    }
    const iova = u64(state.addr + offset - pad);
    const mapSize = alignUp(size + pad, domain.granule);
    const { value, steps } = kernel.capture(() =>
      iommuMapNosync(domain, iova, phys - pad, mapSize, dmaInfoToProt(dir, attrs)),
    );
    const step: DmaIovaLinkStep = {
      ...base,
      iova,
      mapSize,
      result: value.errno,
      reason: value.errno === 0 ? null : 'iommu_map',
      overlap: value.overlap,
    };
    kernel.emit(step);
    kernel.emitAll(steps);
    return value.errno === 0 ? OK : fail(value.errno, ErrorCode.IOMMU_MAP_FAILED, 'iommu_map');
  } finally {
    leaveCall(dev, opts);
  }
}

/**
 * `dma_iova_sync(dev, state, offset, size)` (3.4.4): the driver's sync-after-map hook for
 * `[state.addr + offset - pad, + align_up(size + pad))`. 0 unless a `sync_map` fault is injected.
 */
export function dmaIovaSync(
  dev: DmaDevice,
  state: DmaIovaState,
  offset: bigint,
  size: bigint,
  opts?: DmaCallOptions,
): DmaStatus<'sync'> {
  const domain = iommuDomainOf(dev, 'dma_iova_sync');
  checkU64(dev, 'dma_iova_sync', 'offset', offset);
  checkU64(dev, 'dma_iova_sync', 'size', size);
  checkU64(dev, 'dma_iova_sync', 'addr', state.addr);
  enterCall(dev, opts);
  try {
    const addr = u64(state.addr + offset);
    const pad = addr & domain.granuleMask;
    const start = addr - pad;
    const len = alignUp(size + pad, domain.granule);
    const result = iommuSyncMap(domain, start, len);
    const step: DmaIovaSyncStep = {
      kind: 'dma.iova_sync',
      device: dev.name,
      domainId: domain.id,
      addr: start,
      size: len,
      result,
    };
    dev.kernel.emit(step);
    return result === 0 ? OK : fail(result, ErrorCode.IOMMU_SYNC_FAILED, 'sync');
  } finally {
    leaveCall(dev, opts);
  }
}

/** `__iommu_dma_iova_unlink`: unmap `[state.addr + offset, + size)` widened, then release if `free`. */
function iovaUnlink(
  dev: DmaDevice,
  domain: IommuDomain,
  state: DmaIovaState,
  offset: bigint,
  size: bigint,
  free: boolean,
  op: 'destroy' | 'unlink',
  cpu: number,
): DmaUnmapResult {
  const shift = domain.pfnShift;
  const addr0 = u64(state.addr + offset);
  const pad = addr0 & domain.granuleMask;
  const queued = free && domain.flushQueue !== null;
  const len = alignUp(size + pad, domain.granule);
  const addr = addr0 - pad;
  const released = free ? { pfn: addr >> shift, pages: len >> shift } : null;
  if (dev.kernel.tracing) {
    const step: DmaIovaDestroyStep = {
      kind: 'dma.iova_destroy',
      device: dev.name,
      domainId: domain.id,
      op,
      stateAddr: state.addr,
      mappedLen: size,
      released,
      queued,
    };
    dev.kernel.emit(step);
  }
  const unmapped = iommuUnmapFast(domain, addr, len);
  if (unmapped !== len) {
    domain.log(
      dev.name,
      'warn',
      'dma_iommu.unmapped_mismatch',
      warnText('__iommu_dma_iova_unlink', `unmapped != size (unmapped 0x${hexBare(unmapped)}, size 0x${hexBare(len)})`),
    );
  }
  if (released !== null) iommuDmaFreePfns(domain, released.pfn, released.pages, queued, cpu); // free
  return { path: 'iommu', unmapSize: len, unmappedSize: unmapped, released, queued };
}

/**
 * `dma_iova_destroy(dev, state, mapped_len, dir, attrs)` (3.4.8): with `mappedLen > 0`, unmap
 * `align_up(mappedLen + pad)` bytes from the block start and release **that** many pages there (through the
 * flush queue in a DMA_FQ domain); with `mappedLen = 0`, {@link dmaIovaFree}. Returns what was unmapped and
 * released; the kernel returns nothing.
 */
export function dmaIovaDestroy(
  dev: DmaDevice,
  state: DmaIovaState,
  mappedLen: bigint,
  _dir: DmaDirection | number = 0,
  attrs: number = DmaAttr.MMIO,
  opts?: DmaCallOptions,
): DmaUnmapResult {
  checkMmio(dev, attrs, 'dma_iova_destroy');
  checkU64(dev, 'dma_iova_destroy', 'mappedLen', mappedLen);
  checkU64(dev, 'dma_iova_destroy', 'addr', state.addr);
  if (mappedLen === 0n) return dmaIovaFree(dev, state, opts);
  const domain = iommuDomainOf(dev, 'dma_iova_destroy');
  const cpu = enterCall(dev, opts);
  try {
    return iovaUnlink(dev, domain, state, 0n, mappedLen, true, 'destroy', cpu);
  } finally {
    leaveCall(dev, opts);
  }
}

/**
 * `dma_iova_unlink(dev, state, offset, size, dir, attrs)` (3.4.8): unmap only; the IOVA stays allocated and
 * nothing is queued.
 */
export function dmaIovaUnlink(
  dev: DmaDevice,
  state: DmaIovaState,
  offset: bigint,
  size: bigint,
  _dir: DmaDirection | number = 0,
  attrs: number = DmaAttr.MMIO,
  opts?: DmaCallOptions,
): DmaUnmapResult {
  checkMmio(dev, attrs, 'dma_iova_unlink');
  checkU64(dev, 'dma_iova_unlink', 'offset', offset);
  checkU64(dev, 'dma_iova_unlink', 'size', size);
  checkU64(dev, 'dma_iova_unlink', 'addr', state.addr);
  const domain = iommuDomainOf(dev, 'dma_iova_unlink');
  const cpu = enterCall(dev, opts);
  try {
    return iovaUnlink(dev, domain, state, offset, size, false, 'unlink', cpu);
  } finally {
    leaveCall(dev, opts);
  }
}

/**
 * `dma_iova_free(dev, state)` (3.4.8): releases `(pfn(state.addr - pad), align_up(dma_iova_size + pad)
 * >> shift)` with `free_iova_fast` at once: never queued, no unmap, no tracepoint.
 */
export function dmaIovaFree(dev: DmaDevice, state: DmaIovaState, opts?: DmaCallOptions): DmaUnmapResult {
  const domain = iommuDomainOf(dev, 'dma_iova_free');
  const cpu = enterCall(dev, opts);
  try {
    const shift = domain.pfnShift;
    const pad = state.addr & domain.granuleMask;
    const len = alignUp(dmaIovaSize(state) + pad, domain.granule);
    const addr = state.addr - pad;
    const released = { pfn: addr >> shift, pages: len >> shift };
    const step: DmaIovaDestroyStep = {
      kind: 'dma.iova_destroy',
      device: dev.name,
      domainId: domain.id,
      op: 'free',
      stateAddr: state.addr,
      mappedLen: 0n,
      released,
      queued: false,
    };
    dev.kernel.emit(step);
    iommuDmaFreePfns(domain, released.pfn, released.pages, false, cpu);
    return { path: 'iommu', unmapSize: 0n, unmappedSize: 0n, released, queued: false };
  } finally {
    leaveCall(dev, opts);
  }
}

/** `dma_capable(dev, addr, size, false)` with the raw `*dev->dma_mask` (0 when unset). */
function dmaCapable(dev: DmaDevice, addr: bigint, size: bigint): boolean {
  if (addr === DMA_MAPPING_ERROR) return false;
  const end = u64(addr + size - 1n);
  return end <= minNotZero(dev.dmaMask, dev.busDmaLimit);
}

/**
 * `dma_map_phys(dev, phys, size, dir, attrs)` (3.4.6). dma-direct: the DMA address is `phys`, refused
 * under forced swiotlb or when `phys + size - 1 > min_not_zero(*dma_mask, bus_dma_limit)`. IOMMU-DMA:
 * allocates `align_up(size + off)` bytes of IOVA and maps it. Returns the DMA address (`iova + off`) or
 * DMA_MAPPING_ERROR with the reason; `dma.map_phys` is traced in both cases, except for a device without a
 * `dma_mask` pointer. Throws DMA_API_MISUSE for an invalid direction or a zero size under IOMMU-DMA.
 */
export function dmaMapPhys(
  dev: DmaDevice,
  phys: bigint,
  size: bigint,
  dir: DmaDirection | number,
  attrs: number = DmaAttr.MMIO,
  opts?: DmaCallOptions,
): DmaMapPhysResult {
  checkDir(dev, dir, 'dma_map_phys');
  checkMmio(dev, attrs, 'dma_map_phys');
  checkU64(dev, 'dma_map_phys', 'phys', phys);
  checkU64(dev, 'dma_map_phys', 'size', size);
  const cpu = enterCall(dev, opts);
  try {
    const kernel = dev.kernel;
    const domain = dev.dmaIommu ? dev.domain : null;
    const path = domain !== null ? ('iommu' as const) : ('direct' as const);
    if (!dev.hasDmaMask) {
      if (kernel.once('dma_map_phys.no_dma_mask')) {
        const text = warnText('dma_map_phys', '!dev->dma_mask');
        kernel.emit({
          kind: 'kernel.log',
          device: dev.name,
          level: 'warn',
          text,
          msg: 'dma_mapping.no_dma_mask',
          once: 'dma_map_phys.no_dma_mask',
        });
      }
      return { dmaAddr: DMA_MAPPING_ERROR, ok: false, reason: 'no_dma_mask', code: ErrorCode.DMA_NO_MASK, path };
    }
    let dmaAddr: bigint = DMA_MAPPING_ERROR;
    let reason: MapPhysFailure | null = null;
    if (domain === null) {
      const overflow = (addr: bigint) => {
        if (!kernel.once('dma_direct_map_phys.overflow')) return;
        kernel.emit({
          kind: 'kernel.log',
          device: dev.name,
          level: 'warn',
          text: `DMA addr ${hex16(addr)}+${size} overflow (mask ${hexBare(dev.dmaMask)}, bus limit ${hexBare(dev.busDmaLimit)}).`,
          msg: 'dma_direct.overflow',
          once: 'dma_direct_map_phys.overflow',
        });
      };
      if (dev.swiotlbForce) {
        overflow(phys);
        reason = 'swiotlb_force';
      } else if (!dmaCapable(dev, phys, size)) {
        overflow(phys);
        reason = 'mask';
      } else {
        dmaAddr = phys;
      }
    } else {
      const r = iommuMapPhys(dev, domain, phys, size, dir, attrs, cpu);
      dmaAddr = r.dmaAddr;
      reason = r.reason;
    }
    if (kernel.tracing) {
      const step: DmaMapPhysStep = {
        kind: 'dma.map_phys',
        device: dev.name,
        domainId: domain?.id ?? null,
        physAddr: phys,
        size,
        dir: dmaDirectionName(dir),
        attrs,
        path,
        dmaAddr,
        reason,
      };
      kernel.emit(step);
    }
    return { dmaAddr, ok: reason === null, reason, code: reason === null ? null : mapPhysCode(reason), path };
  } finally {
    leaveCall(dev, opts);
  }
}

function mapPhysCode(reason: MapPhysFailure): ErrorCode {
  switch (reason) {
    case 'mask':
      return ErrorCode.DMA_MASK_UNREACHABLE;
    case 'swiotlb_force':
    case 'swiotlb_untrusted':
      return ErrorCode.DMA_SWIOTLB_MMIO;
    case 'min_align':
      return ErrorCode.DMA_ALIGN_UNSUPPORTED;
    case 'no_iova':
      return ErrorCode.IOVA_EXHAUSTED;
    case 'iommu_map':
      return ErrorCode.IOMMU_MAP_FAILED;
    case 'deferred_attach_failed':
      return ErrorCode.DMA_DEFERRED_ATTACH;
  }
}

/** `iommu_dma_map_phys` + `__iommu_dma_map` for MMIO. */
function iommuMapPhys(
  dev: DmaDevice,
  domain: IommuDomain,
  phys: bigint,
  size: bigint,
  dir: 0 | 1 | 2,
  attrs: number,
  cpu: number,
): { dmaAddr: bigint; reason: MapPhysFailure | null } {
  const mask = domain.granuleMask;
  if (dev.untrusted && ((phys | size) & mask) !== 0n)
    return { dmaAddr: DMA_MAPPING_ERROR, reason: 'swiotlb_untrusted' };
  if (dev.kernel.kdump && dev.deferredAttachFails) {
    return { dmaAddr: DMA_MAPPING_ERROR, reason: 'deferred_attach_failed' };
  }
  if (dev.minAlignMask > mask) {
    domain.log(
      dev.name,
      'warn',
      'dma_iommu.min_align',
      'Unsupported alignment constraint',
      '__iommu_dma_map.min_align',
    );
    return { dmaAddr: DMA_MAPPING_ERROR, reason: 'min_align' };
  }
  const off = phys & mask;
  const len = alignUp(size + off, domain.granule);
  if (len === 0n) {
    throw new DmasimError(
      ErrorCode.DMA_API_MISUSE,
      `dma_map_phys(${dev.name}): zero-size mapping under IOMMU-DMA (the kernel allocates with an undefined page count)`,
      { device: dev.name },
    );
  }
  const a = iommuDmaAllocIova(domain, len, dev.dmaGetMask(), dev, 'map_phys', cpu);
  if (a.iova === 0n) return { dmaAddr: DMA_MAPPING_ERROR, reason: 'no_iova' };
  const m = iommuMap(domain, a.iova, phys - off, len, dmaInfoToProt(dir, attrs));
  if (m.errno !== 0) {
    iommuDmaFreeIova(domain, a.iova, len, false, cpu);
    return { dmaAddr: DMA_MAPPING_ERROR, reason: 'iommu_map' };
  }
  return { dmaAddr: a.iova + off, reason: null };
}

/**
 * `dma_unmap_phys(dev, addr, size, dir, attrs)` (3.4.7). dma-direct: nothing. IOMMU-DMA:
 * `__iommu_dma_unmap`: unmap `align_up(size + off)` bytes at `addr - off` (stopping at the first hole, with
 * a warning if short), then release `(pfn, pages)` of that range (flush queue in DMA_FQ domains, else
 * `free_iova_fast`), whatever was allocated there. `dma.unmap_phys` is always traced, last.
 */
export function dmaUnmapPhys(
  dev: DmaDevice,
  addr: bigint,
  size: bigint,
  dir: DmaDirection | number,
  attrs: number = DmaAttr.MMIO,
  opts?: DmaCallOptions,
): DmaUnmapResult {
  checkDir(dev, dir, 'dma_unmap_phys');
  checkMmio(dev, attrs, 'dma_unmap_phys');
  checkU64(dev, 'dma_unmap_phys', 'addr', addr);
  checkU64(dev, 'dma_unmap_phys', 'size', size);
  const cpu = enterCall(dev, opts);
  try {
    const domain = dev.dmaIommu ? dev.domain : null;
    let result: DmaUnmapResult = { path: 'direct', unmapSize: 0n, unmappedSize: 0n, released: null, queued: false };
    if (domain !== null) {
      const shift = domain.pfnShift;
      const off = addr & domain.granuleMask;
      const base = addr - off;
      const len = alignUp(size + off, domain.granule);
      const queued = domain.flushQueue !== null;
      const unmapped = iommuUnmapFast(domain, base, len);
      if (unmapped !== len) {
        domain.log(
          dev.name,
          'warn',
          'dma_iommu.unmapped_mismatch',
          warnText('__iommu_dma_unmap', `unmapped != size (unmapped 0x${hexBare(unmapped)}, size 0x${hexBare(len)})`),
        );
      }
      const released = { pfn: base >> shift, pages: len >> shift };
      iommuDmaFreePfns(domain, released.pfn, released.pages, queued, cpu);
      result = { path: 'iommu', unmapSize: len, unmappedSize: unmapped, released, queued };
    }
    if (dev.kernel.tracing) {
      const step: DmaUnmapPhysStep = {
        kind: 'dma.unmap_phys',
        device: dev.name,
        domainId: domain?.id ?? null,
        dmaAddr: addr,
        size,
        dir: dmaDirectionName(dir),
        attrs,
        path: result.path,
      };
      dev.kernel.emit(step);
    }
    return result;
  } finally {
    leaveCall(dev, opts);
  }
}

/** `dma_mapping_error(dev, addr)`: -ENOMEM for DMA_MAPPING_ERROR, else 0. */
export function dmaMappingError(_dev: DmaDevice, addr: bigint): number {
  return addr === DMA_MAPPING_ERROR ? -Errno.ENOMEM : 0;
}
