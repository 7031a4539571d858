/**
 * Benchmark traces for the IOVA allocator, and a compiled form of vector files for timing the allocator
 * alone (no JSON, no maps, no result objects in the replay loop).
 *
 * The standard traces ({@link generateIovaTrace}, seed {@link IOVA_TRACE_SEED}): on a fresh domain
 * (4 KiB granule, start pfn 1, one CPU), allocations of a size drawn uniformly from 1..64 pages until
 * 65,536 are live, then pairs "free one live allocation, allocate one" until 2,000,000 operations. Four
 * variants: `slow-*` use `alloc_iova(size, 0xFFFFFFFFF, size_aligned = true)` and `__free_iova`; `fast-*`
 * use `alloc_iova_fast(size, 0xFFFFFFFFF, flush = true)` and `free_iova_fast(pfn, size)`; `*-oldest` free
 * the oldest live allocation, `*-random` one chosen uniformly among the live ones. Random numbers:
 * pure-rand xoroshiro128+ seeded with the seed, `uniformInt(rng, 1, 64)` for each size, then (random
 * variants) `uniformInt(rng, 0, live - 1)` for each victim, in operation order.
 */
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { DmasimError, ErrorCode } from '../errors.ts';
import type { IovaDomain } from './iova-domain.ts';
import type { IovaVectorFile, IovaVectorHeader, IovaVectorOp } from './iova-vectors.ts';

/** Seed of the standard traces. */
export const IOVA_TRACE_SEED = 0x10_03;

/** The four standard trace variants. */
export const IOVA_TRACE_VARIANTS = ['slow-oldest', 'slow-random', 'fast-oldest', 'fast-random'] as const;
export type IovaTraceVariant = (typeof IOVA_TRACE_VARIANTS)[number];

/**
 * The kernel's own rate on the standard traces, operations per second: Linux 6.12 `iova.c` compiled for
 * userspace with -O2 and replaying exactly these traces on the machine class dmasim is benchmarked on
 * (figures given with issue 3). Random-order frees are slow in the kernel because its first-fit walk passes
 * every live range below the cached node.
 */
export const IOVA_KERNEL_OPS_PER_S: Readonly<Record<IovaTraceVariant, number>> = {
  'slow-oldest': 5_900_000,
  'slow-random': 7_800,
  'fast-oldest': 2_600_000,
  'fast-random': 27_000,
};

/** Target of dmasim's rate as a multiple of the kernel's: half for oldest-first, ten times for random. */
export const IOVA_TARGET_RATIO: Readonly<Record<IovaTraceVariant, number>> = {
  'slow-oldest': 0.5,
  'slow-random': 10,
  'fast-oldest': 0.5,
  'fast-random': 10,
};

/** Parameters of {@link generateIovaTrace}; defaults give the standard traces. */
export interface IovaTraceOptions {
  /** Total operations. @defaultValue 2_000_000 */
  ops?: number;
  /** Allocations live before the free/allocate pairs start. @defaultValue 65_536 */
  live?: number;
  /** Largest size, pages (sizes are uniform in 1..maxPages). @defaultValue 64 */
  maxPages?: number;
  /** @defaultValue {@link IOVA_TRACE_SEED} */
  seed?: number;
  /** Inclusive limit pfn of every allocation. @defaultValue 0xFFFFFFFFF (48-bit) */
  limitPfn?: number;
}

/** Builds one of the standard traces (pure and deterministic), as a vector file without expectations. */
export function generateIovaTrace(variant: IovaTraceVariant, opts: IovaTraceOptions = {}): IovaVectorFile {
  if (!IOVA_TRACE_VARIANTS.includes(variant)) {
    throw new DmasimError(
      ErrorCode.INVALID_ARGUMENT,
      `unknown IOVA trace variant ${JSON.stringify(variant)}; expected one of ${IOVA_TRACE_VARIANTS.join(', ')}`,
    );
  }
  const total = opts.ops ?? 2_000_000;
  const liveTarget = opts.live ?? 65_536;
  const maxPages = opts.maxPages ?? 64;
  const seed = opts.seed ?? IOVA_TRACE_SEED;
  const limitPfn = opts.limitPfn ?? 0xfffffffff;
  for (const [k, v, min] of [
    ['ops', total, 1],
    ['live', liveTarget, 1],
    ['maxPages', maxPages, 1],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < min) {
      throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `trace ${k} must be an integer >= ${min}, got ${v}`);
    }
  }
  const fast = variant.startsWith('fast');
  const random = variant.endsWith('random');
  const rng = xoroshiro128plus(seed);
  const ops: IovaVectorOp[] = [];
  /** Live allocation ids; oldest first for the oldest-first variants (a ring), any order for random. */
  const live: number[] = [];
  let head = 0;
  let nextId = 0;
  let line = 2;
  const alloc = () => {
    const size = uniformInt(rng, 1, maxPages);
    const id = nextId++;
    ops.push(
      fast
        ? { op: 'alloc_fast', line: line++, id, size, limitPfn, flushRcache: true, cpu: 0 }
        : { op: 'alloc', line: line++, id, size, limitPfn, sizeAligned: true },
    );
    live.push(id);
  };
  while (ops.length < total && live.length - head < liveTarget) alloc();
  while (ops.length < total) {
    let id: number;
    if (random) {
      const i = uniformInt(rng, 0, live.length - 1);
      id = live[i]!;
      live[i] = live[live.length - 1]!;
      live.pop();
    } else {
      id = live[head++]!;
      if (head > 1 << 16 && head * 2 > live.length) {
        live.splice(0, head);
        head = 0;
      }
    }
    ops.push(fast ? { op: 'free_fast', line: line++, id, cpu: 0 } : { op: 'free', line: line++, id });
    if (ops.length < total) alloc();
  }
  const header: IovaVectorHeader = {
    kind: 'iova-vectors',
    version: 1,
    granule: 4096,
    startPfn: 1,
    cpus: 1,
    name: `trace-${variant}`,
    description:
      `dmasim standard IOVA benchmark trace ${variant}: ${total} ops, sizes uniform in 1..${maxPages} pages, ` +
      `${liveTarget} live, then free-one/allocate-one pairs (${random ? 'random' : 'oldest'} victim), seed ${seed}`,
    extra: { generator: 'dmasim generateIovaTrace', variant, seed },
  };
  return { file: `trace-${variant}.ndjson`, header, ops };
}

const OP_ALLOC = 0;
const OP_ALLOC_FAST = 1;
const OP_FREE = 2;
const OP_FREE_FAST = 3;
const OP_RESERVE = 4;

/** A vector file's operations as typed arrays, ids mapped to dense slots. */
export interface CompiledIovaTrace {
  readonly length: number;
  /** Number of distinct ids (slots). */
  readonly slots: number;
  readonly op: Uint8Array;
  readonly slot: Int32Array;
  /** size (alloc ops) or pfn_lo (reserve). */
  readonly a: Float64Array;
  /** limit_pfn (alloc ops) or pfn_hi (reserve). */
  readonly b: Float64Array;
  /** size_aligned or flush_rcache. */
  readonly flag: Uint8Array;
  readonly cpu: Uint16Array;
}

/** Compiles a parsed vector file for {@link replayCompiledIovaTrace}. */
export function compileIovaTrace(vf: IovaVectorFile): CompiledIovaTrace {
  const n = vf.ops.length;
  const t = {
    length: n,
    slots: 0,
    op: new Uint8Array(n),
    slot: new Int32Array(n),
    a: new Float64Array(n),
    b: new Float64Array(n),
    flag: new Uint8Array(n),
    cpu: new Uint16Array(n),
  };
  const slots = new Map<number, number>();
  const slotOf = (id: number) => {
    let s = slots.get(id);
    if (s === undefined) {
      s = slots.size;
      slots.set(id, s);
    }
    return s;
  };
  vf.ops.forEach((o, i) => {
    t.slot[i] = slotOf(o.id);
    switch (o.op) {
      case 'alloc':
        t.op[i] = OP_ALLOC;
        t.a[i] = o.size;
        t.b[i] = o.limitPfn;
        t.flag[i] = o.sizeAligned ? 1 : 0;
        break;
      case 'alloc_fast':
        t.op[i] = OP_ALLOC_FAST;
        t.a[i] = o.size;
        t.b[i] = o.limitPfn;
        t.flag[i] = o.flushRcache ? 1 : 0;
        t.cpu[i] = o.cpu;
        break;
      case 'free':
        t.op[i] = OP_FREE;
        break;
      case 'free_fast':
        t.op[i] = OP_FREE_FAST;
        t.cpu[i] = o.cpu;
        break;
      case 'reserve':
        t.op[i] = OP_RESERVE;
        t.a[i] = o.pfnLo;
        t.b[i] = o.pfnHi;
        break;
    }
  });
  t.slots = slots.size;
  return t;
}

/** Totals of one replay. */
export interface IovaReplayTotals {
  readonly ops: number;
  readonly allocations: number;
  readonly failures: number;
  /** Sum of the kernel walk's node visits (cost model). */
  readonly nodesVisited: number;
  /** Largest number of live nodes seen. */
  readonly peakLive: number;
}

/**
 * Replays a compiled trace through the allocator's number API (the loop a benchmark times). Frees of an
 * `alloc` slot use `__free_iova` with the node's handle (the kernel's caller keeps the `struct iova *`), of
 * an `alloc_fast` slot `free_iova` (`free`) or `free_iova_fast` with the size requested (`free_fast`), as
 * the vector format defines. Frees of failed allocations are skipped.
 */
export function replayCompiledIovaTrace(d: IovaDomain, t: CompiledIovaTrace): IovaReplayTotals {
  const lo = new Float64Array(t.slots).fill(-1);
  /** Node handle of an alloc slot (what the kernel's caller keeps: the struct iova pointer). */
  const node = new Int32Array(t.slots);
  const size = new Float64Array(t.slots);
  const fast = new Uint8Array(t.slots);
  const { op, slot, a, b, flag, cpu } = t;
  let allocations = 0;
  let failures = 0;
  let visited = 0;
  let peak = 0;
  const info = d.lastOp;
  for (let i = 0; i < t.length; i++) {
    const s = slot[i]!;
    switch (op[i]) {
      case OP_ALLOC: {
        const pfn = d.allocIovaN(a[i]!, b[i]!, flag[i] === 1);
        allocations++;
        visited += info.nodesVisited;
        if (pfn < 0) failures++;
        else {
          lo[s] = pfn;
          node[s] = info.node;
          size[s] = a[i]!;
          fast[s] = 0;
        }
        break;
      }
      case OP_ALLOC_FAST: {
        const pfn = d.allocIovaFastN(a[i]!, b[i]!, flag[i] === 1, cpu[i]!);
        allocations++;
        visited += info.nodesVisited;
        if (pfn === 0) failures++;
        else {
          lo[s] = pfn;
          size[s] = a[i]!;
          fast[s] = 1;
        }
        break;
      }
      case OP_FREE:
        if (lo[s]! >= 0) {
          if (fast[s] === 1) d.freeIovaN(lo[s]!);
          else d.freeIovaHandleN(node[s]!);
          lo[s] = -1;
        }
        break;
      case OP_FREE_FAST:
        if (lo[s]! >= 0) {
          d.freeIovaFastN(lo[s]!, size[s]!, cpu[i]!);
          lo[s] = -1;
        }
        break;
      case OP_RESERVE:
        d.reserveIovaN(a[i]!, b[i]!);
        break;
    }
    if ((i & 1023) === 0) {
      const n = d.liveNodes();
      if (n > peak) peak = n;
    }
  }
  return { ops: t.length, allocations, failures, nodesVisited: visited, peakLive: Math.max(peak, d.liveNodes()) };
}
