/**
 * `dma_buf_phys_vec_to_sgt()` and `dma_buf_free_sgt()` (drivers/dma-buf/dma-buf-mapping.c,
 * kernel-model.md 3.2-3.6): from an exporter's physical ranges to the importer's SG table, through the
 * P2PDMA map type and the DMA API, with every error path and its cleanup (and leaks) exactly as the
 * kernel has them. The hazards of 3.8 are reproduced, not fixed, and flagged as `hazard` events.
 *
 * Events: the DMA API records come from the DMA API functions (through the kernel's sink); this file
 * adds `p2p.map_type` (through {@link SgtEnv.mapType}), `kernel.log` for the helper's WARNs, `hazard`,
 * and `dmabuf.map.cleanup` after an error path's own DMA records. The caller emits `dmabuf.map.begin`
 * before and `dmabuf.map.end` after.
 */

import type { EventData, EventType } from '../events/event-schema.ts';
import {
  type DmaIovaState,
  dmaIovaDestroy,
  dmaIovaLink,
  dmaIovaSync,
  dmaIovaTryAlloc,
  dmaMapPhys,
  dmaUnmapPhys,
  dmaUseIova,
} from '../iommu/dma-api.ts';
import type { DmaDevice } from '../iommu/dma-device.ts';
import { DmaAttr } from '../iommu/dma-mapping.ts';
import { Errno } from '../iommu/errno.ts';
import type { MapTypeName } from '../p2p/map-type.ts';
import type { P2pdmaProvider } from '../p2p/p2pdma-state.ts';
import { TextCache } from '../text-cache.ts';
import type { PhysRange, SgEntry } from './dmabuf-types.ts';
import { calcSgNents, fillSgEntries, mappedLenIs32, maxSgEntrySize, type SgChunk } from './sg-table.ts';

/** Emits one event of the run (the simulator adds seq, time, CPU). */
export type Emit = <T extends EventType>(type: T, data: EventData<T>) => void;

/** The helper's surroundings: the importer, the CPU, the kernel version switches, the event sink. */
export interface SgtEnv {
  /** The importer (`attach->dev`). */
  readonly dev: DmaDevice;
  /** CPU the map or unmap runs on. */
  readonly cpu: number;
  readonly sgChunk: SgChunk;
  /** PAGE_SIZE in bytes. */
  readonly pageSize: number;
  /** `pci_p2pdma_map_type(provider, attach->dev)`; emits `p2p.map_type` (and its logs and hazards). */
  readonly mapType: () => MapTypeName;
  readonly emit: Emit;
  /** Ids for events. */
  readonly mappingId: number;
  readonly dmabufId: number;
}

/** The helper's hidden bookkeeping of one mapping (`struct dma_buf_dma`) plus what the importer sees. */
export interface SgtMapping {
  readonly mode: 'bus_addr' | 'iova' | 'per_range';
  /** The IOVA state (IOVA mode; zeroed in per-range mode), null for BUS_ADDR. */
  readonly state: DmaIovaState | null;
  /** The table: `nents` entries, unfilled ones `{0, 0}`. */
  readonly entries: SgEntry[];
  readonly nents: number;
  /** `dma->size`. */
  readonly size: bigint;
  /** Bytes linked (IOVA mode; 32 bits in the first helper version). */
  readonly mappedLen: bigint;
  /** Ranges as mapped (for the split-unmap hazard at free time). */
  readonly ranges: readonly PhysRange[];
  /** DMA direction 0..2. */
  readonly dir: 0 | 1 | 2;
  /** DMA attributes it was mapped with, reused at unmap (`providerDmaAttrs`, kernel-model.md 7.2). */
  readonly attrs: number;
  readonly warnings: SgtWarning[];
}

/** Warnings of `dmabuf.map.end`. */
export type SgtWarning = 'mapped_len_mismatch' | 'unfilled_entries' | 'link_overlap' | 'sg_overrun';

/** Result of {@link dmaBufPhysVecToSgt}. */
export type SgtResult =
  | { readonly ok: true; readonly sgt: SgtMapping }
  | {
      readonly ok: false;
      /** Negative errno the helper returns. */
      readonly errno: number;
      readonly mode: 'bus_addr' | 'iova' | 'per_range' | 'none';
      readonly nents: number;
      /** Entries filled before the failure. */
      readonly entries: SgEntry[];
      readonly mappedLen: bigint;
      readonly state: DmaIovaState | null;
      readonly warnings: SgtWarning[];
    };

const U32 = 0xffffffffn;
/** The range lengths {@link calcSgNents} is given in IOVA mode, where it counts from the size alone. */
const NO_LENGTHS: readonly bigint[] = Object.freeze([]);
/** Shared by every mapping without warnings (most of them): one empty array, never written. */
const NO_WARNINGS: SgtWarning[] = [];

function alignUp(x: bigint, g: bigint): bigint {
  return (x + g - 1n) & -g; // ~(g - 1) is -g
}

/** Pages `alloc_iova_fast` actually takes for a request of `pages`: rounded up to a power of two below 32. */
function iovaNodePages(pages: bigint): bigint {
  if (pages >= 32n) return pages;
  let p = 1n;
  while (p < pages) p <<= 1n;
  return p;
}

/** `warnings` with `w` added (a new array the first time: {@link NO_WARNINGS} is never written). */
function withWarning(warnings: SgtWarning[], w: SgtWarning): SgtWarning[] {
  const out = warnings === NO_WARNINGS ? [] : warnings;
  out.push(w);
  return out;
}

/** `dmabuf.map.cleanup`: what an exit of the helper undid (or did not). */
function cleanup(
  env: SgtEnv,
  kind: EventData<'dmabuf.map.cleanup'>['kind'],
  failedIndex: number,
  mappedLen: bigint,
  leaked: EventData<'dmabuf.map.cleanup'>['leaked'] = null,
  phantomPfns: EventData<'dmabuf.map.cleanup'>['phantomPfns'] = [],
): void {
  env.emit('dmabuf.map.cleanup', { mappingId: env.mappingId, kind, failedIndex, mappedLen, leaked, phantomPfns });
}

/** An exit before anything was mapped: nothing to clean up. */
function refuse(env: SgtEnv, errno: number, warnings: SgtWarning[]): SgtResult {
  cleanup(env, 'none', 0, 0n);
  return { ok: false, errno, mode: 'none', nents: 0, entries: [], mappedLen: 0n, state: null, warnings };
}

/**
 * An exit that frees the IOVA state without releasing its block (`state`: the IOVA-mode state, null
 * otherwise): the node, flagged as leaked.
 */
function leak(
  env: SgtEnv,
  state: DmaIovaState | null,
  granule: bigint,
  shift: bigint,
  why: string,
): EventData<'dmabuf.map.cleanup'>['leaked'] {
  if (state === null) return null;
  const pages = iovaNodePages(alignUp(state.size, granule) >> shift);
  hazard(env, 'iova_leak', why, state.addr, pages << shift);
  return { pfnLo: state.addr >> shift, pfnHi: (state.addr >> shift) + pages - 1n };
}

function warnOnce(env: SgtEnv, key: string, text: string): void {
  if (!env.dev.kernel.once(key)) return;
  env.emit('kernel.log', {
    device: env.dev.name,
    level: 'warn',
    text: `WARNING: ${text}`,
    msg: 'dma_buf.warn_once',
    once: key,
  });
}

function hazard(
  env: SgtEnv,
  kind: EventData<'hazard'>['kind'],
  text: string,
  iova: bigint | null = null,
  size: bigint | null = null,
): void {
  env.emit('hazard', {
    kind,
    device: env.dev.name,
    domainId: env.dev.domain?.id ?? null,
    dmabufId: env.dmabufId,
    mappingId: env.mappingId,
    iova,
    size,
    text,
  });
}

/** The two hazard texts of a multi-range IOVA mapping: the same few buffer sizes and policies recur. */
const overlapTexts = new TextCache<string>();
const tailTexts = new TextCache<bigint>();

function linkOverlapText(range: number, policy: string | undefined): string {
  const key = `${range}:${policy}`;
  return (
    overlapTexts.get(key) ??
    overlapTexts.set(key, `range ${range} linked at offset 0, over range 0 (IOMMU link collision policy: ${policy})`)
  );
}

function unmappedTailText(mapped: bigint, want: bigint): string {
  // Both are below 2^64: one bigint key for the pair.
  const key = (want << 64n) | mapped;
  return (
    tailTexts.get(key) ??
    tailTexts.set(
      key,
      `only 0x${mapped.toString(16)} of 0x${want.toString(16)} bytes of the IOVA block are mapped: device accesses beyond fault`,
    )
  );
}

/**
 * `dma_buf_phys_vec_to_sgt(attach, provider, phys_vec, nr_ranges, size, dir)` (kernel-model.md 3.2).
 *
 * @param provider the exporter's provider (`null`: the helper WARNs and returns -EINVAL)
 * @param physVec the physical ranges, in the exporter's order
 * @param size the dma-buf size in bytes (the sum of the lengths for VFIO)
 * @param dir DMA direction 0 BIDIRECTIONAL, 1 TO_DEVICE, 2 FROM_DEVICE
 * @param attrs DMA attributes of the mapping calls (`DMA_ATTR_MMIO`; `providerDmaAttrs` of 7.2 may add bits)
 */
export function dmaBufPhysVecToSgt(
  env: SgtEnv,
  provider: P2pdmaProvider | null,
  physVec: readonly PhysRange[],
  size: bigint,
  dir: 0 | 1 | 2,
  attrs: number = DmaAttr.MMIO,
): SgtResult {
  // The success path makes no closures: the helpers of the exits are module functions, and `fail` is
  // the only closure (it needs most of the locals).
  const dev = env.dev;
  const opts = { cpu: env.cpu };
  let warnings: SgtWarning[] = NO_WARNINGS;

  if (provider === null) {
    warnOnce(
      env,
      'dma_buf_phys_vec_to_sgt.no_provider',
      'dma_buf_phys_vec_to_sgt: !attach || !attach->dmabuf || !provider',
    );
    return refuse(env, -Errno.EINVAL, warnings);
  }

  // Step 3: the map type decides BUS_ADDR, THRU (IOVA or per-range) or failure.
  const type = env.mapType();
  let state: DmaIovaState | null = null;
  if (type === 'THRU_HOST_BRIDGE') {
    state = dmaIovaTryAlloc(dev, 0n, size, opts).state; // the boolean result is ignored, as in the kernel
  } else if (type !== 'BUS_ADDR') {
    return refuse(env, -Errno.EINVAL, warnings);
  }
  const iovaMode = state !== null && dmaUseIova(state);
  const mode = state === null ? 'bus_addr' : iovaMode ? 'iova' : 'per_range';
  const granule = dev.domain?.granule ?? BigInt(env.pageSize);
  const shift = dev.domain?.pfnShift ?? 12n;

  // Step 4: the table.
  const nents = calcSgNents(
    iovaMode ? NO_LENGTHS : physVec.map((r) => r.len), // IOVA mode counts from the size alone
    size,
    iovaMode,
    env.sgChunk,
    env.pageSize,
  );
  if (nents === 0) {
    // Unreachable with VFIO input (needs more than 2^32 - 1 entries).
    const why = 'the table allocation failed in IOVA mode: the IOVA block is never released';
    cleanup(env, 'none', 0, 0n, leak(env, iovaMode ? state : null, granule, shift, why));
    return { ok: false, errno: -Errno.EINVAL, mode, nents, entries: [], mappedLen: 0n, state, warnings };
  }

  const entries: SgEntry[] = [];
  /** `fill_sg_entry` ran out of table (fillSgEntries returned false). */
  let overrun = false;
  let mappedLen = 0n;
  const len32 = mappedLenIs32(env.sgChunk);

  const fail = (errno: number, i: number): SgtResult => {
    // Error path (3.5), exactly: nothing for i = 0 or BUS_ADDR; destroy in IOVA mode; unmap every entry
    // of the table (filled or not) in per-range mode.
    if (i === 0 || state === null) {
      const why = 'the first link failed: the IOVA block is never released (kernel-model.md 3.8-4)';
      cleanup(env, 'none', i, mappedLen, leak(env, iovaMode ? state : null, granule, shift, why));
    } else if (iovaMode) {
      dmaIovaDestroy(dev, state, mappedLen, dir, attrs, opts);
      const allocated = iovaNodePages(alignUp(state.size, granule) >> shift);
      const released = alignUp(mappedLen, granule) >> shift;
      if (released !== allocated) {
        hazard(
          env,
          'release_size_mismatch',
          `error path released ${released} pages of a ${allocated}-page IOVA block (kernel-model.md 3.8-3)`,
          state.addr,
          released << shift,
        );
      }
      cleanup(env, 'iova_destroy', i, mappedLen);
    } else {
      const phantoms: EventData<'dmabuf.map.cleanup'>['phantomPfns'] = [];
      const onIommu = dev.dmaIommu && dev.domain !== null;
      for (let k = 0; k < nents; k++) {
        const e = entries[k] ?? { dmaAddress: 0n, dmaLength: 0 };
        dmaUnmapPhys(dev, e.dmaAddress, BigInt(e.dmaLength), dir, attrs, opts);
        if (k >= entries.length && onIommu) phantoms.push({ cpu: env.cpu, bin: 0, pfn: 0n });
      }
      if (phantoms.length > 0) {
        hazard(
          env,
          'phantom_pfn0',
          `${phantoms.length} unfilled {0, 0} entries unmapped: pfn 0 released into rcache bin 0 (kernel-model.md 3.8-5)`,
          0n,
          0n,
        );
      }
      splitUnmapHazards(env, physVec.slice(0, i), onIommu);
      cleanup(env, 'unmap_entries', i, mappedLen, null, phantoms);
    }
    return { ok: false, errno, mode, nents, entries, mappedLen, state, warnings };
  };

  // Step 5: every range, in order.
  for (let i = 0; i < physVec.length; i++) {
    const r = physVec[i]!;
    if (state === null) {
      const addr = BigInt.asUintN(64, r.paddr + provider.busOffset);
      if (!fillSgEntries(entries, nents, r.len, addr, env.sgChunk, env.pageSize)) overrun = true;
    } else if (iovaMode) {
      // Every range is linked at offset 0 (the helper's hazard 3.8-1).
      const res = dmaIovaLink(dev, state, r.paddr, 0n, r.len, dir, attrs, opts);
      if (i > 0 && !warnings.includes('link_overlap')) {
        warnings = withWarning(warnings, 'link_overlap');
        hazard(env, 'link_overlap', linkOverlapText(i, dev.domain?.linkCollision), state.addr, r.len);
      }
      if (!res.ok) return fail(res.errno, i);
      mappedLen += r.len;
      if (len32) mappedLen &= U32;
    } else {
      const m = dmaMapPhys(dev, r.paddr, r.len, dir, attrs, opts);
      if (!m.ok) return fail(-Errno.ENOMEM, i);
      if (!fillSgEntries(entries, nents, r.len, m.dmaAddr, env.sgChunk, env.pageSize)) overrun = true;
    }
  }

  // Step 6: IOVA mode sync and the one extent.
  if (state !== null && iovaMode) {
    if (mappedLen !== size) {
      warnings = withWarning(warnings, 'mapped_len_mismatch');
      warnOnce(env, 'dma_buf_phys_vec_to_sgt.mapped_len', 'dma_buf_phys_vec_to_sgt: mapped_len != size');
      hazard(
        env,
        'mapped_len_mismatch',
        `mapped_len 0x${mappedLen.toString(16)} != size 0x${size.toString(16)}`,
        state.addr,
        size,
      );
    }
    const s = dmaIovaSync(dev, state, 0n, mappedLen, opts);
    if (!s.ok) return fail(s.errno, physVec.length);
    if (!fillSgEntries(entries, nents, mappedLen, state.addr, env.sgChunk, env.pageSize)) overrun = true;
    if (physVec.length > 1 && dev.domain !== null) {
      // After `overwrite`/`keep`, only max(len_i) bytes from the block start are mapped (3.8-1).
      const want = alignUp(size, granule);
      const mapped = dev.domain.pageTable.mappedBytesIn(state.addr, want);
      if (mapped < want) {
        hazard(env, 'unmapped_tail', unmappedTailText(mapped, want), state.addr + mapped, want - mapped);
      }
    }
  }

  // Step 7.
  if (overrun) {
    warnings = withWarning(warnings, 'sg_overrun');
    hazard(
      env,
      'sg_overrun',
      `more SG entries were needed than the ${nents} allocated (the kernel would write past its table)`,
    );
  }
  if (entries.length < nents) {
    warnings = withWarning(warnings, 'unfilled_entries');
    warnOnce(env, 'dma_buf_phys_vec_to_sgt.sgl', 'dma_buf_phys_vec_to_sgt: sgl');
    hazard(env, 'unfilled_entries', `${nents - entries.length} of ${nents} SG entries left {0, 0}`);
    while (entries.length < nents) entries.push({ dmaAddress: 0n, dmaLength: 0 });
  }
  // The table at its exact size: an array grown by push keeps 17 slots, most of a small mapping's memory.
  const table = entries.slice();
  return {
    ok: true,
    sgt: { mode, state: state ?? null, entries: table, nents, size, mappedLen, ranges: physVec, dir, attrs, warnings },
  };
}

function splitUnmapHazards(env: SgtEnv, ranges: readonly PhysRange[], onIommu: boolean): void {
  if (!onIommu) return;
  const max = maxSgEntrySize(env.sgChunk, env.pageSize);
  for (const r of ranges) {
    if (r.len > max) {
      hazard(
        env,
        'split_unmap',
        `a range of 0x${r.len.toString(16)} bytes was mapped by one dma_map_phys but is unmapped as ${(r.len + max - 1n) / max} SG entries (kernel-model.md 3.8-2)`,
        null,
        r.len,
      );
    }
  }
}

/**
 * `dma_buf_free_sgt(attach, sgt, dir)` (kernel-model.md 3.6): nothing for BUS_ADDR; `dma_iova_destroy`
 * with the recorded size in IOVA mode; `dma_unmap_phys` for each of the `nents` entries in per-range mode.
 * The attributes are those the mapping was made with.
 */
export function dmaBufFreeSgt(env: SgtEnv, sgt: SgtMapping): void {
  const attrs = sgt.attrs;
  const dev = env.dev;
  const opts = { cpu: env.cpu };
  if (sgt.state === null) return;
  if (dmaUseIova(sgt.state)) {
    dmaIovaDestroy(dev, sgt.state, sgt.size, sgt.dir, attrs, opts);
    return;
  }
  for (let k = 0; k < sgt.nents; k++) {
    const e = sgt.entries[k]!;
    dmaUnmapPhys(dev, e.dmaAddress, BigInt(e.dmaLength), sgt.dir, attrs, opts);
  }
  splitUnmapHazards(env, sgt.ranges, dev.dmaIommu && dev.domain !== null);
}
