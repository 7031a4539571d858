/**
 * The IOVA domain of `drivers/iommu/iova.c` (Linux 6.12, equal to mainline 6.13-7.0 for everything here):
 * `init_iova_domain` + `iova_domain_init_rcaches`, `alloc_iova`, `__free_iova`, `free_iova`, `find_iova`,
 * `reserve_iova`, `alloc_iova_fast`, `free_iova_fast`, the per-CPU range caches, the depot and its trim
 * job. Behaviour is the kernel's, result for result (kernel-model.md section 4; the conformance vectors
 * under `../shared/vectors/iova/`); how it is represented and why that is equivalent is in docs/IOVA.md.
 *
 * Two forms of every operation:
 * - the bigint API (`allocIova`, `freeIova`, ...): pfns and sizes as `bigint`, results as plain objects;
 * - the number API (`allocIovaN`, `freeIovaN`, ...): the same operations on exact JavaScript numbers, no
 *   result objects (what a hot loop uses); details of the last call are in {@link IovaDomain.lastOp}.
 *
 * Units: pfns and sizes are in IOVA granules ("pages"); `limitPfn` is inclusive, as in the kernel API.
 * Virtual time is in ns ({@link IovaDomain.advanceTo}).
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import { alignDown, alignUp, orderBase2, roundupPowOfTwo, sizeAlignment } from './iova-math.ts';
import { IOVA_DEPOT_DELAY_NS, IOVA_MAG_SIZE, IOVA_RANGE_CACHE_MAX_SIZE, IovaRcaches } from './iova-rcache.ts';
import {
  IOVA_STEP_ANCHOR,
  type IovaAllocSource,
  type IovaFreeDestination,
  type IovaFreeStep,
  type IovaStep,
} from './iova-steps.ts';
import { ANCHOR_PFN, IovaTree, NIL } from './iova-tree.ts';

export type {
  IovaAllocSource,
  IovaAllocStep,
  IovaDepotStep,
  IovaFlushStep,
  IovaFreeDestination,
  IovaFreeStep,
  IovaReserveStep,
  IovaStep,
} from './iova-steps.ts';

/** `IOVA_ANCHOR`: pfn of the anchor node that sits above every usable pfn (`~0UL`). */
export const IOVA_ANCHOR = (1n << 64n) - 1n;

/** Literal walk steps the indexed search takes before it uses the index. */
const LITERAL_STEPS = 8;
const WALK_UNFINISHED = -2;

/** Largest pfn (and limit) the number representation accepts, whatever the granule: 2^53 - 2. */
const NUMBER_PFN_MAX = 2 ** 53 - 2;
/** Most pages one call may name (2^53 - 1), as a bigint for the checks of the bigint API. */
const MAX_SAFE_PAGES = BigInt(Number.MAX_SAFE_INTEGER);

/** An inclusive range of pfns, `[pfnLo, pfnHi]`. */
export interface IovaRange {
  readonly pfnLo: bigint;
  readonly pfnHi: bigint;
}

/** Options of {@link IovaDomain}. Every field has a default; see each. */
export interface IovaDomainOptions {
  /**
   * IOVA granule in bytes: a power of two from 1 to 2^30. @defaultValue 4096n. (The kernel also requires
   * granule <= PAGE_SIZE; that is the caller's check.)
   */
  granule?: bigint;
  /** Lowest pfn ever handed out, >= 1 (iommu-dma uses `max(1, aperture_start >> shift)`). @defaultValue 1n */
  startPfn?: bigint;
  /** Simulated CPUs (`num_online_cpus()`), 1..1024. @defaultValue 1 */
  cpus?: number;
  /**
   * Run the depot trim job (100 ms after a magazine goes to the depot) as virtual time passes.
   * @defaultValue true. Conformance vectors were recorded with it off.
   */
  depotTrim?: boolean;
  /** Delay of the depot trim job in ns (`IOVA_DEPOT_DELAY`; 100 ms at any HZ that divides it). @defaultValue 100_000_000 */
  depotDelayNs?: number;
  /**
   * How the first-fit search is done. 'indexed' (default) finds the kernel's answer through the augmented
   * tree in amortised O(log n); 'linear' walks node by node exactly as the kernel's loop does (for
   * verification and for measuring the kernel's algorithm). Results, costs and steps are identical.
   * @defaultValue 'indexed'
   */
  search?: 'indexed' | 'linear';
  /** Receives every state-changing step, in kernel order. */
  onStep?: (step: IovaStep) => void;
  /**
   * {@link onStep} as an object's method (takes precedence): what an owner with many domains passes
   * (the IOMMU domain passes itself). A closure per domain made the allocator's step calls see a new call
   * target with every domain, and V8 deoptimised `flushRcaches` on nearly every call for it.
   */
  stepSink?: IovaStepSink;
}

/** Receives the steps of an {@link IovaDomain} (see {@link IovaDomainOptions.stepSink}). */
export interface IovaStepSink {
  iovaStep(step: IovaStep): void;
}

/** What a tree allocation cost the kernel: iterations of its first-fit walk and passes made. */
export interface IovaCost {
  /** Loop iterations of the kernel's first-fit walk (each reads one node), all passes. */
  readonly nodesVisited: number;
  /**
   * Passes of the walk: 0 when refused at once or answered by the range cache, 1, or 2 with the second
   * pass; summed over both tree attempts of an `alloc_iova_fast` that flushed the caches.
   */
  readonly passes: number;
}

/** Result of {@link IovaDomain.allocIova} (`alloc_iova`). */
export interface AllocResult {
  /** The node inserted, or null when the kernel returns NULL. */
  readonly range: IovaRange | null;
  /** The node's handle (see {@link IovaOpInfo.node}), or -1. */
  readonly handle: number;
  readonly cost: IovaCost;
  /** The walk made the second pass (between the cached node and the limit). */
  readonly secondPass: boolean;
  /** Refused at once: limit at or below 4 GiB and size >= max32_alloc_size. */
  readonly fastFail: boolean;
  /** `max32_alloc_size` before and after, pages. */
  readonly max32Before: bigint;
  readonly max32After: bigint;
  /** pfn_lo of the node `cached_node` moved to ({@link IOVA_ANCHOR} for the anchor), or null if it did not move. */
  readonly cachedMovedTo: bigint | null;
  /** Same for `cached32_node`. */
  readonly cached32MovedTo: bigint | null;
}

/** Result of {@link IovaDomain.allocIovaFast} (`alloc_iova_fast`). */
export interface FastAllocResult {
  /** The pfn returned; 0n means failure (as in the kernel). */
  readonly pfn: bigint;
  /** The tree node holding `pfn` right after the call (`find_iova`), or null. */
  readonly range: IovaRange | null;
  readonly source: IovaAllocSource;
  /** rcache bin used (`order_base_2(pagesEffective)`), or null for sizes that are not cached. */
  readonly bin: number | null;
  /** Pages after rounding (sizes below 32 pages are rounded up to a power of two). */
  readonly pagesEffective: bigint;
  /** Cost of the tree attempts (both, when the caches were flushed and the allocation retried). */
  readonly cost: IovaCost;
  readonly secondPass: boolean;
  readonly fastFail: boolean;
  /** All range caches were flushed back to the tree and the allocation retried. */
  readonly flushed: boolean;
  /** The cache handed out pfn 0 (a phantom), which the kernel treats as a miss. */
  readonly phantom: boolean;
  readonly max32Before: bigint;
  readonly max32After: bigint;
  readonly cachedMovedTo: bigint | null;
  readonly cached32MovedTo: bigint | null;
}

/** Result of a release: `free_iova`, `__free_iova`, `free_iova_fast`. */
export interface FreeResult {
  readonly destination: IovaFreeDestination;
  /** rcache bin for destination 'rcache', else null. */
  readonly bin: number | null;
  /** The tree node removed (destination 'tree'), else null. */
  readonly removed: IovaRange | null;
  readonly cachedMovedTo: bigint | null;
  readonly cached32MovedTo: bigint | null;
  /** `max32_alloc_size` was reset to `dma_32bit_pfn` (the node started below 4 GiB). */
  readonly max32Reset: boolean;
  /** A full magazine was pushed to the depot to make room. */
  readonly depotPush: boolean;
}

/**
 * Canonical plain-data form of the whole state of a domain. Two domains in the same state give
 * deep-equal snapshots, whatever operations led there.
 */
export interface IovaDomainSnapshot {
  readonly granule: bigint;
  readonly startPfn: bigint;
  readonly cpus: number;
  /** Every node `[pfnLo, pfnHi]` in ascending order, the anchor last. */
  readonly nodes: readonly (readonly bigint[])[];
  /** rbtree shape: per node in ascending order, `depth * 2 + (black ? 1 : 0)`. */
  readonly shape: readonly number[];
  /** pfn_lo of `cached_node` and `cached32_node`. */
  readonly cached: bigint;
  readonly cached32: bigint;
  readonly max32AllocSize: bigint;
  /** `[bin][cpu]`: the pfns of `loaded` and `prev`, bottom first. */
  readonly magazines: readonly (readonly { readonly loaded: readonly bigint[]; readonly prev: readonly bigint[] }[])[];
  /** `[bin]`: depot magazines, bottom of the stack first, each bottom slot first. */
  readonly depots: readonly (readonly (readonly bigint[])[])[];
  /** `[bin]`: due time (ns) of the pending trim job, or null. */
  readonly trimJobs: readonly (number | null)[];
}

/**
 * Details of the last operation, for the number API. Overwritten by every operation; read it right after
 * the call.
 */
export interface IovaOpInfo {
  readonly nodesVisited: number;
  readonly passes: number;
  readonly secondPass: boolean;
  readonly fastFail: boolean;
  readonly flushed: boolean;
  readonly phantom: boolean;
  readonly source: IovaAllocSource;
  readonly destination: IovaFreeDestination;
  readonly bin: number;
  readonly pagesEffective: number;
  readonly max32Before: number;
  readonly max32Reset: boolean;
  readonly cachedMoved: boolean;
  readonly cached32Moved: boolean;
  readonly depotPush: boolean;
  /** Range of the node inserted, removed or returned, or -1 and -1. */
  readonly pfnLo: number;
  readonly pfnHi: number;
  /**
   * Handle of the node inserted or returned (`alloc_iova`, `reserve_iova`), or -1: its identity, like the
   * kernel's `struct iova *`, valid until the node is freed ({@link IovaDomain.freeIovaHandleN}).
   */
  readonly node: number;
}

class OpInfo implements IovaOpInfo {
  nodesVisited = 0;
  passes = 0;
  secondPass = false;
  fastFail = false;
  flushed = false;
  phantom = false;
  source: IovaAllocSource = 'fail';
  destination: IovaFreeDestination = 'not_found';
  bin = -1;
  pagesEffective = 0;
  max32Before = 0;
  max32Reset = false;
  cachedMoved = false;
  cached32Moved = false;
  depotPush = false;
  pfnLo = -1;
  pfnHi = -1;
  node = -1;
  magSwap = false;
  depotPop = false;
  popIndex = -1;

  reset(max32: number): void {
    this.nodesVisited = 0;
    this.passes = 0;
    this.secondPass = false;
    this.fastFail = false;
    this.flushed = false;
    this.phantom = false;
    this.source = 'fail';
    this.destination = 'not_found';
    this.bin = -1;
    this.pagesEffective = 0;
    this.max32Before = max32;
    this.max32Reset = false;
    this.cachedMoved = false;
    this.cached32Moved = false;
    this.depotPush = false;
    this.pfnLo = -1;
    this.pfnHi = -1;
    this.node = -1;
    this.magSwap = false;
    this.depotPop = false;
    this.popIndex = -1;
  }
}

function invalid(message: string, details?: Record<string, unknown>): DmasimError {
  return new DmasimError(ErrorCode.INVALID_ARGUMENT, message, details);
}

/** The kernel IOVA domain, with simulated CPUs and virtual time. */
export class IovaDomain {
  /** Granule in bytes. */
  readonly granule: bigint;
  /** `iova_shift`: log2(granule). */
  readonly shift: number;
  readonly startPfn: bigint;
  /** `dma_32bit_pfn = 1 << (32 - shift)`: the first pfn at or above 4 GiB. */
  readonly dma32bitPfn: bigint;
  /** Number of simulated CPUs. */
  readonly cpus: number;
  /** Largest pfn or limit accepted: `min(ULLONG_MAX >> shift, 2^53 - 2)`. */
  readonly maxPfn: bigint;

  /** The node tree (internal; shared with the reducer). */
  readonly tree: IovaTree;
  /** The range caches (internal; shared with the reducer). */
  readonly rcaches: IovaRcaches;

  private readonly startPfnN: number;
  private readonly dma32: number;
  private readonly maxPfnN: number;
  /** `ULLONG_MAX >> shift` as a bigint: reserve_iova refuses pfns above it. */
  private readonly kernelMaxPfn: bigint;
  private readonly anchor: number;
  private cached: number;
  private cached32: number;
  private max32: number;
  private used = 0;
  private now = 0;
  private readonly depotTrim: boolean;
  private readonly depotDelay: number;
  private readonly linear: boolean;
  private readonly sink: IovaStepSink | undefined;
  private readonly info = new OpInfo();
  /** Neighbours of the node a successful walk places (its pred and succ). */
  private above = NIL;
  private below = NIL;
  /** Where an unfinished literal walk stopped. */
  private resume = NIL;

  constructor(opts: IovaDomainOptions = {}) {
    const granule = opts.granule ?? 4096n;
    if (typeof granule !== 'bigint' || granule < 1n || granule > 1n << 30n || (granule & (granule - 1n)) !== 0n) {
      throw invalid(`IOVA granule must be a power of two from 1 to 2^30 bytes, got ${String(granule)}`);
    }
    this.granule = granule;
    this.shift = granule.toString(2).length - 1;
    this.kernelMaxPfn = IOVA_ANCHOR >> BigInt(this.shift);
    this.maxPfnN = Math.min(Number(this.kernelMaxPfn), NUMBER_PFN_MAX);
    this.maxPfn = BigInt(this.maxPfnN);
    const startPfn = opts.startPfn ?? 1n;
    if (typeof startPfn !== 'bigint' || startPfn < 1n || startPfn > this.maxPfn) {
      throw invalid(`IOVA start pfn must be 1..${this.maxPfn}, got ${String(startPfn)} (pfn 0 would read as failure)`);
    }
    this.startPfn = startPfn;
    this.startPfnN = Number(startPfn);
    const cpus = opts.cpus ?? 1;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > 1024) {
      throw invalid(`IOVA domain cpus must be an integer from 1 to 1024, got ${String(cpus)}`);
    }
    this.cpus = cpus;
    this.dma32 = 2 ** (32 - this.shift);
    this.dma32bitPfn = BigInt(this.dma32);
    this.max32 = this.dma32;
    this.depotTrim = opts.depotTrim ?? true;
    this.depotDelay = opts.depotDelayNs ?? IOVA_DEPOT_DELAY_NS;
    if (!(this.depotDelay > 0)) throw invalid(`depotDelayNs must be > 0, got ${String(opts.depotDelayNs)}`);
    const search = opts.search ?? 'indexed';
    if (search !== 'indexed' && search !== 'linear') {
      throw invalid(`IOVA search must be 'indexed' or 'linear', got ${String(search)}`);
    }
    this.linear = search === 'linear';
    const onStep = opts.onStep;
    this.sink = opts.stepSink ?? (onStep ? { iovaStep: onStep } : undefined);
    this.tree = new IovaTree();
    this.anchor = this.tree.insert(ANCHOR_PFN, ANCHOR_PFN);
    this.cached = this.anchor;
    this.cached32 = this.anchor;
    this.rcaches = new IovaRcaches(cpus);
  }

  /** `max32_alloc_size`: a request of this many pages or more with a limit at or below 4 GiB fails at once. */
  get max32AllocSize(): bigint {
    return BigInt(this.max32);
  }

  /** Details of the last operation (number API). */
  get lastOp(): IovaOpInfo {
    return this.info;
  }

  /** Current virtual time, ns. */
  get nowNs(): number {
    return this.now;
  }

  // ---------------------------------------------------------------- argument checks

  private pfnArg(x: bigint, what: string): number {
    if (typeof x !== 'bigint') throw invalid(`${what} must be a bigint, got ${typeof x}`);
    if (x < 0n || x > this.maxPfn) {
      throw new DmasimError(
        ErrorCode.IOVA_OUT_OF_RANGE,
        `${what} ${x} is outside 0..${this.maxPfn} (the pfns a ${this.granule}-byte-granule domain represents exactly)`,
        { what, value: x.toString(), max: this.maxPfn.toString() },
      );
    }
    return Number(x);
  }

  private pagesArg(x: bigint, min: bigint): number {
    if (typeof x !== 'bigint') throw invalid(`pages must be a bigint, got ${typeof x}`);
    if (x < min || x > MAX_SAFE_PAGES) {
      throw new DmasimError(ErrorCode.IOVA_OUT_OF_RANGE, `pages ${x} is outside ${min}..2^53-1`, {
        value: x.toString(),
      });
    }
    return Number(x);
  }

  private checkPfnN(x: number, what: string): void {
    if (!(x >= 0 && x <= this.maxPfnN && Number.isInteger(x))) {
      throw new DmasimError(ErrorCode.IOVA_OUT_OF_RANGE, `${what} ${x} is not an integer in 0..${this.maxPfnN}`, {
        what,
        value: x,
      });
    }
  }

  private checkPagesN(x: number, min: number): void {
    if (!(x >= min && x <= Number.MAX_SAFE_INTEGER && Number.isInteger(x))) {
      throw new DmasimError(ErrorCode.IOVA_OUT_OF_RANGE, `pages ${x} is not an integer in ${min}..2^53-1`, {
        value: x,
      });
    }
  }

  private checkCpu(cpu: number): void {
    if (!(Number.isInteger(cpu) && cpu >= 0 && cpu < this.cpus)) {
      throw invalid(`cpu ${cpu} is not one of the domain's CPUs 0..${this.cpus - 1}`);
    }
  }

  // ---------------------------------------------------------------- conversions

  private big(n: number): bigint {
    return n === ANCHOR_PFN ? IOVA_ANCHOR : BigInt(n);
  }

  private rangeOf(lo: number, hi: number): IovaRange | null {
    return lo < 0 ? null : { pfnLo: this.big(lo), pfnHi: this.big(hi) };
  }

  private stepLo(n: number): number {
    return n === this.anchor ? IOVA_STEP_ANCHOR : this.tree.F[n]!;
  }

  private movedTo(moved: boolean, n: number): bigint | null {
    return moved ? this.big(this.tree.F[n]!) : null;
  }

  private setCached(n: number): void {
    if (n !== this.cached) {
      this.cached = n;
      this.info.cachedMoved = true;
    }
  }

  private setCached32(n: number): void {
    if (n !== this.cached32) {
      this.cached32 = n;
      this.info.cached32Moved = true;
    }
  }

  // ---------------------------------------------------------------- the tree allocator

  /**
   * `__alloc_and_insert_iova_range(size, limit + 1, size_aligned)`: returns the new node's pfn_lo or -1.
   * Adds its walk cost to the op info.
   */
  private treeAlloc(size: number, limitPfn: number, aligned: boolean): number {
    const info = this.info;
    const limit = limitPfn + 1;
    const dma32 = this.dma32;
    if (limit <= dma32 && size >= this.max32) {
      info.fastFail = true;
      return -1;
    }
    const t = this.tree;
    const align = aligned ? sizeAlignment(size) : 1;
    const start = limit <= dma32 ? this.cached32 : this.cached;
    const retryPfn = t.F[start + 1]!;
    info.passes++;
    let pfn = this.walk(start, limit, this.startPfnN, size, align);
    if (pfn < 0) {
      if (retryPfn < limit) {
        info.secondPass = true;
        info.passes++;
        const from = limit > dma32 ? this.anchor : t.findLimit(limit);
        pfn = this.walk(from, limit, retryPfn + 1, size, align);
      }
      if (pfn < 0) {
        this.max32 = size;
        return -1;
      }
    }
    const hi = pfn + size - 1;
    const n = t.insertBetween(pfn, hi, this.below, this.above);
    info.node = n;
    this.used += size;
    if (hi < dma32) this.setCached32(n);
    else this.setCached(n);
    return pfn;
  }

  /**
   * One pass of the walk from `from`: returns the candidate pfn, or -1 when the pass fails; on success
   * {@link above} and {@link below} are the new node's neighbours. The indexed search first takes a few
   * literal steps (most walks end within them), then continues through the index.
   */
  private walk(from: number, limit: number, low: number, size: number, align: number): number {
    if (this.linear) return this.walkLinear(from, limit, low, size, align, Number.POSITIVE_INFINITY);
    const r = this.walkLinear(from, limit, low, size, align, LITERAL_STEPS);
    return r !== WALK_UNFINISHED ? r : this.walkIndexed(this.resume, limit, low, size, align);
  }

  /**
   * One pass of the kernel's walk, literally: from `curr`, `high = min(high, curr.pfn_lo)`, candidate
   * `(high - size) & align_mask`, step to the predecessor while the candidate collides with it and is not
   * below `low`. Returns the candidate, or -1 when the pass fails, or {@link WALK_UNFINISHED} after
   * `maxSteps` iterations (then {@link resume} is the node the next iteration reads: since `high` is
   * `min(limit, pfn_lo)` of the node being read, the walk's state is just that node).
   */
  private walkLinear(curr: number, limit: number, low: number, size: number, align: number, maxSteps: number): number {
    const t = this.tree;
    const F = t.F;
    let high = limit;
    let candidate = 0;
    let k = 0;
    let prev = curr;
    for (;;) {
      if (k === maxSteps) {
        this.info.nodesVisited += k;
        this.resume = curr;
        return WALK_UNFINISHED;
      }
      k++;
      if (F[curr]! < high) high = F[curr]!;
      // (high - size) wraps around in the kernel when high < size: a huge value that ends the loop.
      candidate = high < size ? Number.POSITIVE_INFINITY : alignDown(high - size, align);
      prev = curr;
      curr = t.prev(curr);
      if (!(curr !== NIL && candidate <= F[curr + 1]! && candidate >= low)) break;
    }
    this.info.nodesVisited += k;
    if (high < size || candidate < low) return -1;
    this.above = prev;
    this.below = curr;
    return candidate;
  }

  /**
   * The same pass, answered through the augmented tree (docs/IOVA.md, "Why the indexed search is the
   * kernel's walk"). Nodes from `s0` down fall in two runs: those with `pfn_lo >= limit` (the walk passes
   * them with `high = limit`; only the last can fit, against the first node below the limit), then nodes
   * with `pfn_lo < limit`, where node k fits iff `align_down(k.pfn_lo - size) > pred(k).pfn_hi` (found by
   * {@link IovaTree.prevFit}), and the walk fails at the first node with `pfn_lo < align_up(low) + size`.
   */
  private walkIndexed(s0: number, limit: number, low: number, size: number, align: number): number {
    const t = this.tree;
    const F = t.F;
    const info = this.info;
    const failBelow = alignUp(low, align) + size;
    let y = s0;
    if (F[s0]! >= limit) {
      if (limit < failBelow) {
        info.nodesVisited += 1;
        return -1;
      }
      const x = t.highestLoBelow(limit);
      const candidate = alignDown(limit - size, align);
      if (x === NIL || candidate > F[x + 1]!) {
        info.nodesVisited += t.rank(s0) - (x === NIL ? -1 : t.rank(x));
        this.above = x === NIL ? t.first() : t.next(x);
        this.below = x;
        return candidate;
      }
      y = x;
    }
    if (F[y]! < failBelow) {
      info.nodesVisited += t.rank(s0) - t.rank(y) + 1;
      return -1;
    }
    const z = t.prevFit(y, size, align, true, failBelow);
    if (z === NIL) {
      const f = t.highestLoBelow(failBelow);
      info.nodesVisited += t.rank(s0) - t.rank(f) + 1;
      return -1;
    }
    info.nodesVisited += t.rank(s0) - t.rank(z) + 1;
    this.above = z;
    this.below = t.prev(z);
    return alignDown(F[z]! - size, align);
  }

  /** `remove_iova`: cached-node updates (`__cached_rbnode_delete_update`), then erase. */
  private removeNode(n: number): void {
    const t = this.tree;
    const F = t.F;
    const succ = t.next(n);
    const dma32 = this.dma32;
    const c32 = this.cached32;
    if (n === c32 || (F[n + 1]! < dma32 && F[n]! >= F[c32]!)) this.setCached32(succ);
    if (F[n]! < dma32) {
      this.max32 = dma32;
      this.info.max32Reset = true;
    }
    if (F[n]! >= F[this.cached]!) this.setCached(succ);
    this.used -= F[n + 1]! - F[n]! + 1;
    t.erase(n, -1, succ);
  }

  // ---------------------------------------------------------------- alloc_iova / free / find / reserve

  /** `alloc_iova(pages, limit_pfn, size_aligned)`, number form: pfn_lo of the new node, or -1. */
  allocIovaN(pages: number, limitPfn: number, sizeAligned: boolean): number {
    this.checkPagesN(pages, 1);
    this.checkPfnN(limitPfn, 'limit_pfn');
    const info = this.info;
    info.reset(this.max32);
    info.pagesEffective = pages;
    const pfn = this.treeAlloc(pages, limitPfn, sizeAligned);
    info.source = pfn < 0 ? 'fail' : 'tree';
    if (pfn >= 0) {
      info.pfnLo = pfn;
      info.pfnHi = pfn + pages - 1;
    }
    if (this.sink) this.emitAlloc('alloc_iova', 0, pages, limitPfn, sizeAligned, false, pfn >= 0);
    return pfn;
  }

  /**
   * `alloc_iova(iovad, pages, limit_pfn, size_aligned)`: a new node of `pages` pages at or below
   * `limitPfn` (inclusive), top-down from the cached node; `pfnLo` a multiple of
   * `roundup_pow_of_two(pages)` when `sizeAligned`. Throws IOVA_OUT_OF_RANGE for pages < 1 or a limit
   * above {@link maxPfn}. A failed allocation is a result (`range: null`), not an error.
   */
  allocIova(pages: bigint, limitPfn: bigint, sizeAligned: boolean): AllocResult {
    const pfn = this.allocIovaN(this.pagesArg(pages, 1n), this.pfnArg(limitPfn, 'limit_pfn'), sizeAligned);
    const info = this.info;
    return {
      range: pfn < 0 ? null : this.rangeOf(info.pfnLo, info.pfnHi),
      handle: info.node,
      cost: { nodesVisited: info.nodesVisited, passes: info.passes },
      secondPass: info.secondPass,
      fastFail: info.fastFail,
      max32Before: BigInt(info.max32Before),
      max32After: BigInt(this.max32),
      cachedMovedTo: this.movedTo(info.cachedMoved, this.cached),
      cached32MovedTo: this.movedTo(info.cached32Moved, this.cached32),
    };
  }

  /** `free_iova(pfn)`, number form: removes the node containing `pfn`; returns whether one was found. */
  freeIovaN(pfn: number): boolean {
    this.checkPfnN(pfn, 'pfn');
    this.info.reset(this.max32);
    return this.freeContaining(pfn, 'free_iova', 0, -1);
  }

  private freeContaining(pfn: number, api: IovaFreeStep['api'], cpu: number, pages: number): boolean {
    const t = this.tree;
    const n = t.find(pfn);
    const info = this.info;
    if (n === NIL || n === this.anchor) {
      info.destination = 'not_found';
      if (this.sink) this.emitFree(api, cpu, pfn, pages);
      return false;
    }
    info.destination = 'tree';
    info.pfnLo = t.F[n]!;
    info.pfnHi = t.F[n + 1]!;
    this.removeNode(n);
    if (this.sink) this.emitFree(api, cpu, pfn, pages);
    return true;
  }

  /**
   * `free_iova(iovad, pfn)`: finds the node containing `pfn` and removes it (moving the cached nodes as
   * the kernel does); does nothing when there is none (destination 'not_found').
   */
  freeIova(pfn: bigint): FreeResult {
    this.freeIovaN(this.pfnArg(pfn, 'pfn'));
    return this.freeResult();
  }

  /**
   * `__free_iova(iovad, iova)`, number form: removes the node `iova` points to. The node is named by its
   * `pfnHi` (a node's pfn_hi never changes; `reserve_iova` can lower its pfn_lo, as vector 06 shows) and
   * must still hold `pfnLo`. Throws IOVA_NOT_FOUND if there is no such node (in the kernel: a use after free).
   */
  freeIovaNodeN(pfnLo: number, pfnHi: number): void {
    this.checkPfnN(pfnLo, 'pfn_lo');
    this.checkPfnN(pfnHi, 'pfn_hi');
    const t = this.tree;
    const n = t.find(pfnHi);
    if (n === NIL || n === this.anchor || t.F[n + 1] !== pfnHi || t.F[n]! > pfnLo) {
      throw new DmasimError(ErrorCode.IOVA_NOT_FOUND, `no IOVA node [${pfnLo}, ${pfnHi}] to free`, { pfnLo, pfnHi });
    }
    const info = this.info;
    info.reset(this.max32);
    info.destination = 'tree';
    info.pfnLo = t.F[n]!;
    info.pfnHi = pfnHi;
    this.removeNode(n);
    if (this.sink) this.emitFree('__free_iova', 0, info.pfnLo, -1);
  }

  /**
   * `__free_iova(iovad, iova)` with the node's handle (`lastOp.node` after `alloc_iova`/`reserve_iova`),
   * as the kernel passes the `struct iova *`: no lookup. Throws IOVA_NOT_FOUND for a handle that does not
   * name a live node; a handle whose node was freed and whose slot was reused names the new node (in the
   * kernel, a use after free).
   */
  freeIovaHandleN(node: number): void {
    const t = this.tree;
    if (!t.isLive(node) || node === this.anchor) {
      throw new DmasimError(ErrorCode.IOVA_NOT_FOUND, `no live IOVA node with handle ${node} to free`, { node });
    }
    const info = this.info;
    info.reset(this.max32);
    info.destination = 'tree';
    info.pfnLo = t.F[node]!;
    info.pfnHi = t.F[node + 1]!;
    this.removeNode(node);
    if (this.sink) this.emitFree('__free_iova', 0, info.pfnLo, -1);
  }

  /** `__free_iova(iovad, iova)`: removes the node of a range returned earlier (see {@link freeIovaNodeN}). */
  freeIovaNode(range: IovaRange): FreeResult {
    this.freeIovaNodeN(this.pfnArg(range.pfnLo, 'pfn_lo'), this.pfnArg(range.pfnHi, 'pfn_hi'));
    return this.freeResult();
  }

  private freeResult(): FreeResult {
    const info = this.info;
    return {
      destination: info.destination,
      bin: info.bin < 0 ? null : info.bin,
      removed: info.destination === 'tree' ? this.rangeOf(info.pfnLo, info.pfnHi) : null,
      cachedMovedTo: this.movedTo(info.cachedMoved, this.cached),
      cached32MovedTo: this.movedTo(info.cached32Moved, this.cached32),
      max32Reset: info.max32Reset,
      depotPush: info.depotPush,
    };
  }

  /** `find_iova(pfn)`, number form: `[lo, hi]` of the node containing pfn, in `out`; false if none. */
  findIovaN(pfn: number, out?: { lo: number; hi: number }): boolean {
    this.checkPfnN(pfn, 'pfn');
    const n = this.tree.find(pfn);
    if (n === NIL) return false;
    if (out) {
      out.lo = this.tree.F[n]!;
      out.hi = this.tree.F[n + 1]!;
    }
    return true;
  }

  /** `find_iova(iovad, pfn)`: the node containing `pfn`, or null. */
  findIova(pfn: bigint): IovaRange | null {
    const n = this.tree.find(this.pfnArg(pfn, 'pfn'));
    return n === NIL ? null : this.rangeOf(this.tree.F[n]!, this.tree.F[n + 1]!);
  }

  /**
   * `reserve_iova(iovad, pfnLo, pfnHi)`: makes `[pfnLo, pfnHi]` unavailable. Overlapped nodes are
   * stretched down and the request shrunk above them (kernel-model.md 4.1); returns the node covering the
   * rest, or the new node, or null when a pfn exceeds `ULLONG_MAX >> shift` (the kernel WARNs). Throws
   * INVALID_ARGUMENT for pfnLo > pfnHi (the kernel would insert a corrupt node) and IOVA_OUT_OF_RANGE for
   * pfns the number representation cannot hold (only possible for granules below 2 KiB).
   */
  reserveIova(pfnLo: bigint, pfnHi: bigint): IovaRange | null {
    if (typeof pfnLo !== 'bigint' || typeof pfnHi !== 'bigint') throw invalid('reserve_iova pfns must be bigints');
    if (pfnLo > this.kernelMaxPfn || pfnHi > this.kernelMaxPfn) {
      if (this.sink) {
        this.sink.iovaStep({
          kind: 'iova.reserve',
          pfnLo: Number(pfnLo),
          pfnHi: Number(pfnHi),
          outcome: 'rejected',
          stretched: [],
          nodeLo: -1,
          nodeHi: -1,
        });
      }
      return null;
    }
    const n = this.reserveIovaN(this.pfnArg(pfnLo, 'pfn_lo'), this.pfnArg(pfnHi, 'pfn_hi'));
    return n < 0 ? null : this.rangeOf(this.info.pfnLo, this.info.pfnHi);
  }

  /** `reserve_iova`, number form: pfn_lo of the node returned (see {@link reserveIova}); range in lastOp. */
  reserveIovaN(pfnLo: number, pfnHi: number): number {
    this.checkPfnN(pfnLo, 'pfn_lo');
    this.checkPfnN(pfnHi, 'pfn_hi');
    if (pfnLo > pfnHi) throw invalid(`reserve_iova: pfn_lo ${pfnLo} is above pfn_hi ${pfnHi}`);
    const reqLo = pfnLo;
    const info = this.info;
    info.reset(this.max32);
    const t = this.tree;
    const stretched: number[] | null = this.sink ? [] : null;
    let n = t.lowestHiAtLeast(pfnLo);
    let result = NIL;
    let covered = false;
    while (n !== NIL && pfnLo <= t.F[n + 1]! && pfnHi >= t.F[n]!) {
      if (pfnLo < t.F[n]!) {
        stretched?.push(t.F[n]!, pfnLo);
        this.used += t.F[n]! - pfnLo;
        t.setLo(n, pfnLo);
      }
      if (pfnHi > t.F[n + 1]!) pfnLo = t.F[n + 1]! + 1;
      if (pfnLo >= t.F[n]! && pfnHi <= t.F[n + 1]!) {
        result = n;
        covered = true;
        break;
      }
      n = t.next(n);
    }
    if (!covered) {
      result = t.insert(pfnLo, pfnHi);
      this.used += pfnHi - pfnLo + 1;
    }
    info.pfnLo = t.F[result]!;
    info.pfnHi = t.F[result + 1]!;
    info.node = result;
    if (this.sink) {
      this.sink.iovaStep({
        kind: 'iova.reserve',
        pfnLo: reqLo,
        pfnHi,
        outcome: covered ? 'covered' : 'inserted',
        stretched: stretched ?? [],
        nodeLo: info.pfnLo,
        nodeHi: info.pfnHi,
      });
    }
    return info.pfnLo;
  }

  // ---------------------------------------------------------------- the fast path

  /**
   * `alloc_iova_fast(pages, limit_pfn, flush_rcache)` on `cpu`, number form: the pfn, or 0 on failure.
   * Details in {@link lastOp}.
   */
  allocIovaFastN(pages: number, limitPfn: number, flush: boolean, cpu = 0): number {
    this.checkPagesN(pages, 1);
    this.checkPfnN(limitPfn, 'limit_pfn');
    this.checkCpu(cpu);
    const info = this.info;
    info.reset(this.max32);
    const size = pages < 1 << (IOVA_RANGE_CACHE_MAX_SIZE - 1) ? roundupPowOfTwo(pages) : pages;
    info.pagesEffective = size;
    const bin = orderBase2(size);
    let pfn = 0;
    if (bin < IOVA_RANGE_CACHE_MAX_SIZE) {
      info.bin = bin;
      // iova_rcache_get(size, limit_pfn + 1) scans for pfn <= limit_pfn + 1 - size, in unsigned arithmetic:
      // when size > limit_pfn + 1 the bound wraps around and every cached pfn is accepted.
      const bound = size > limitPfn + 1 ? Number.POSITIVE_INFINITY : limitPfn + 1 - size;
      pfn = this.rcacheGet(bin, cpu, bound);
      if (pfn !== 0) {
        info.source = 'rcache';
        const n = this.tree.find(pfn);
        if (n !== NIL) {
          info.pfnLo = this.tree.F[n]!;
          info.pfnHi = this.tree.F[n + 1]!;
        }
        if (this.sink) this.emitAlloc('alloc_iova_fast', cpu, pages, limitPfn, true, flush, false, pfn);
        return pfn;
      }
      if (info.popIndex >= 0) info.phantom = true;
    }
    let lo = this.treeAlloc(size, limitPfn, true);
    if (lo < 0 && flush) {
      this.flushRcaches(cpu);
      info.flushed = true;
      lo = this.treeAlloc(size, limitPfn, true);
    }
    if (lo < 0) {
      info.source = 'fail';
    } else {
      info.source = info.flushed ? 'tree_after_flush' : 'tree';
      info.pfnLo = lo;
      info.pfnHi = lo + size - 1;
    }
    const pfnOut = Math.max(lo, 0);
    if (this.sink) this.emitAlloc('alloc_iova_fast', cpu, pages, limitPfn, true, flush, lo >= 0, pfnOut);
    return pfnOut;
  }

  /**
   * `alloc_iova_fast(iovad, pages, limit_pfn, flush_rcache)` on `cpu` (default 0): sizes below 32 pages
   * are rounded up to a power of two; up to 32 pages the CPU's range cache is tried first; then
   * `alloc_iova(..., size_aligned = true)`; on failure with `flush`, every range cache of the domain is
   * returned to the tree and the allocation retried once. `pfn` 0n means failure.
   */
  allocIovaFast(pages: bigint, limitPfn: bigint, flush: boolean, cpu = 0): FastAllocResult {
    const pfn = this.allocIovaFastPfn(pages, limitPfn, flush, cpu);
    const info = this.info;
    return {
      pfn,
      range: this.rangeOf(info.pfnLo, info.pfnHi),
      source: info.source,
      bin: info.bin < 0 ? null : info.bin,
      pagesEffective: BigInt(info.pagesEffective),
      cost: { nodesVisited: info.nodesVisited, passes: info.passes },
      secondPass: info.secondPass,
      fastFail: info.fastFail,
      flushed: info.flushed,
      phantom: info.phantom,
      max32Before: BigInt(info.max32Before),
      max32After: BigInt(this.max32),
      cachedMovedTo: this.movedTo(info.cachedMoved, this.cached),
      cached32MovedTo: this.movedTo(info.cached32Moved, this.cached32),
    };
  }

  /**
   * {@link allocIovaFast} for callers that need only the pfn (0n: failure), without the result object: the
   * IOMMU-DMA layer, on every mapping.
   */
  allocIovaFastPfn(pages: bigint, limitPfn: bigint, flush: boolean, cpu = 0): bigint {
    return BigInt(this.allocIovaFastN(this.pagesArg(pages, 1n), this.pfnArg(limitPfn, 'limit_pfn'), flush, cpu));
  }

  /**
   * `free_iova_fast(pfn, pages)` on `cpu`, number form: into the CPU's range cache of bin
   * `order_base_2(pages)` when below 6 (pages 0 counts as bin 0), else `free_iova(pfn)`. Returns the
   * destination.
   */
  freeIovaFastN(pfn: number, pages: number, cpu = 0): IovaFreeDestination {
    this.checkPfnN(pfn, 'pfn');
    this.checkPagesN(pages, 0);
    this.checkCpu(cpu);
    const info = this.info;
    info.reset(this.max32);
    const bin = orderBase2(pages);
    if (bin < IOVA_RANGE_CACHE_MAX_SIZE) {
      info.bin = bin;
      info.destination = 'rcache';
      this.rcacheInsert(bin, cpu, pfn);
      if (this.sink) this.emitFree('free_iova_fast', cpu, pfn, pages);
      return 'rcache';
    }
    this.freeContaining(pfn, 'free_iova_fast', cpu, pages);
    return info.destination;
  }

  /** `free_iova_fast(iovad, pfn, pages)` on `cpu` (default 0); see {@link freeIovaFastN}. */
  freeIovaFast(pfn: bigint, pages: bigint, cpu = 0): FreeResult {
    this.freeIovaFastPfn(pfn, pages, cpu);
    return this.freeResult();
  }

  /** {@link freeIovaFast} without the result object (the IOMMU-DMA layer and its flush queue). */
  freeIovaFastPfn(pfn: bigint, pages: bigint, cpu = 0): IovaFreeDestination {
    return this.freeIovaFastN(this.pfnArg(pfn, 'pfn'), this.pagesArg(pages, 0n), cpu);
  }

  /** `__iova_rcache_get`: a pfn <= bound from the CPU's magazines of `bin`, or 0 (also for a phantom 0). */
  private rcacheGet(bin: number, cpu: number, bound: number): number {
    const rc = this.rcaches;
    const info = this.info;
    const k = bin * this.cpus + cpu;
    let m = rc.loaded[k]!;
    if (m.size === 0) {
      if (rc.prev[k]!.size !== 0) {
        rc.swap(bin, cpu);
        info.magSwap = true;
      } else if (rc.depot[bin]!.length !== 0) {
        rc.depotPopToLoaded(bin, cpu);
        info.depotPop = true;
      } else return 0;
      m = rc.loaded[k]!;
    }
    const pfns = m.pfns;
    for (let i = m.size - 1; i >= 0; i--) {
      if (pfns[i]! <= bound) {
        info.popIndex = i;
        return rc.takeAt(bin, cpu, i);
      }
    }
    return 0;
  }

  /** `__iova_rcache_insert`: onto `loaded`, swapping with `prev` or pushing `loaded` to the depot when full. */
  private rcacheInsert(bin: number, cpu: number, pfn: number): void {
    const rc = this.rcaches;
    const k = bin * this.cpus + cpu;
    if (rc.loaded[k]!.size === IOVA_MAG_SIZE) {
      if (rc.prev[k]!.size !== IOVA_MAG_SIZE) {
        rc.swap(bin, cpu);
        this.info.magSwap = true;
      } else {
        const depotSize = rc.depotPush(bin, cpu);
        this.info.depotPush = true;
        let trimAt = -1;
        if (this.depotTrim && rc.trimAt[bin]! < 0) {
          trimAt = this.now + this.depotDelay;
          rc.setTrimAt(bin, trimAt);
        }
        if (this.sink) {
          this.sink.iovaStep({
            kind: 'iova.depot',
            action: 'push',
            bin,
            cpu,
            depotSize,
            trimAt,
            popped: false,
            pfnsReturned: 0,
            nodesRemoved: 0,
            notFound: 0,
            cachedLo: this.stepLo(this.cached),
            cached32Lo: this.stepLo(this.cached32),
            max32After: this.max32,
          });
        }
      }
    }
    rc.push(bin, cpu, pfn);
  }

  /** `iova_magazine_free_pfns`: `free_iova` of every pfn, bottom slot first. Returns nodes removed. */
  private freeMagazinePfns(pfns: Float64Array, size: number, out: number[] | null): number {
    let removed = 0;
    const t = this.tree;
    for (let i = 0; i < size; i++) {
      const pfn = pfns[i]!;
      out?.push(pfn);
      const n = t.find(pfn);
      if (n === NIL || n === this.anchor) continue;
      this.removeNode(n);
      removed++;
    }
    return removed;
  }

  /** `free_cpu_cached_iovas` for every CPU, then `free_global_cached_iovas`. */
  private flushRcaches(cpu: number): void {
    const rc = this.rcaches;
    const out: number[] | null = this.sink ? [] : null;
    const perBin = [0, 0, 0, 0, 0, 0];
    let returned = 0;
    let removed = 0;
    let magazinesFreed = 0;
    // Most of the 2 x 6 magazines of each CPU are empty (a 64-CPU machine has 768): skip the CPUs whose
    // magazines never got a pfn since they were last emptied, and the empty magazines of the others.
    for (let c = 0; c < this.cpus; c++) {
      if (rc.cpuUsed[c] === 0) continue;
      rc.cpuUsed[c] = 0;
      for (let b = 0; b < IOVA_RANGE_CACHE_MAX_SIZE; b++) {
        const k = b * this.cpus + c;
        for (let j = 0; j < 2; j++) {
          const m = (j === 0 ? rc.loaded[k] : rc.prev[k])!;
          if (m.size === 0) continue;
          removed += this.freeMagazinePfns(m.pfns, m.size, out);
          perBin[b]! += m.size;
          returned += m.size;
          m.size = 0;
        }
      }
    }
    for (let b = 0; b < IOVA_RANGE_CACHE_MAX_SIZE; b++) {
      while (rc.depot[b]!.length !== 0) {
        const m = rc.depotPop(b);
        removed += this.freeMagazinePfns(m.pfns, m.size, out);
        perBin[b]! += m.size;
        returned += m.size;
        magazinesFreed++;
        rc.release(m);
      }
    }
    if (this.sink) {
      this.sink.iovaStep({
        kind: 'iova.rcache_flush',
        cpu,
        pfnsPerBin: perBin,
        magazinesFreed,
        pfns: out ?? [],
        nodesRemoved: removed,
        notFound: returned - removed,
        cachedLo: this.stepLo(this.cached),
        cached32Lo: this.stepLo(this.cached32),
        max32After: this.max32,
      });
    }
  }

  // ---------------------------------------------------------------- virtual time and the depot trim job

  /** Due time (ns) of the earliest pending depot trim job, or undefined. */
  nextTimerAt(): number | undefined {
    const t = this.rcaches.nextTrimAt;
    return t < 0 ? undefined : t;
  }

  /**
   * Moves virtual time to `tNs`, running every depot trim job that falls due on the way, in time order
   * (bins in ascending order at equal times), each at its own due time. Throws INVALID_ARGUMENT when time
   * would go backwards.
   */
  advanceTo(tNs: number): void {
    if (!(tNs >= this.now)) throw invalid(`virtual time cannot go back from ${this.now} ns to ${tNs} ns`);
    const rc = this.rcaches;
    // Nothing due (the common case: the clock advances before every operation).
    if (rc.nextTrimAt < 0 || rc.nextTrimAt > tNs) {
      this.now = tNs;
      return;
    }
    for (;;) {
      let bin = -1;
      for (let b = 0; b < IOVA_RANGE_CACHE_MAX_SIZE; b++) {
        const t = rc.trimAt[b]!;
        if (t >= 0 && t <= tNs && (bin < 0 || t < rc.trimAt[bin]!)) bin = b;
      }
      if (bin < 0) break;
      this.now = rc.trimAt[bin]!;
      this.runDepotTrim(bin);
    }
    this.now = tNs;
  }

  /** `iova_depot_work_func` for `bin`, at the current time. */
  private runDepotTrim(bin: number): void {
    const rc = this.rcaches;
    this.info.reset(this.max32);
    let popped = false;
    let returned = 0;
    let removed = 0;
    if (rc.depot[bin]!.length > this.cpus) {
      const m = rc.depotPop(bin);
      popped = true;
      returned = m.size;
      removed = this.freeMagazinePfns(m.pfns, m.size, null);
      rc.release(m);
      rc.setTrimAt(bin, this.now + this.depotDelay);
    } else rc.setTrimAt(bin, -1);
    if (this.sink) {
      this.sink.iovaStep({
        kind: 'iova.depot',
        action: 'trim',
        bin,
        cpu: -1,
        depotSize: rc.depot[bin]!.length,
        trimAt: rc.trimAt[bin]!,
        popped,
        pfnsReturned: returned,
        nodesRemoved: removed,
        notFound: returned - removed,
        cachedLo: this.stepLo(this.cached),
        cached32Lo: this.stepLo(this.cached32),
        max32After: this.max32,
      });
    }
  }

  // ---------------------------------------------------------------- steps

  private emitAlloc(
    api: 'alloc_iova' | 'alloc_iova_fast',
    cpu: number,
    pages: number,
    limitPfn: number,
    sizeAligned: boolean,
    flush: boolean,
    inserted: boolean,
    pfn = 0,
  ): void {
    const info = this.info;
    const ok = info.source !== 'fail';
    this.sink!.iovaStep({
      kind: 'iova.alloc',
      api,
      cpu,
      pagesRequested: pages,
      pagesEffective: info.pagesEffective,
      limitPfn,
      sizeAligned,
      flush,
      source: info.source,
      bin: info.bin,
      pfnLo: ok ? (info.source === 'rcache' ? pfn : info.pfnLo) : -1,
      pfnHi: ok ? (info.source === 'rcache' ? pfn + info.pagesEffective - 1 : info.pfnHi) : -1,
      magSwap: info.magSwap,
      depotPop: info.depotPop,
      popIndex: info.popIndex,
      phantom: info.phantom,
      flushed: info.flushed,
      inserted,
      fastFail: info.fastFail,
      secondPass: info.secondPass,
      nodesVisited: info.nodesVisited,
      passes: info.passes,
      max32Before: info.max32Before,
      max32After: this.max32,
      cachedLo: this.stepLo(this.cached),
      cached32Lo: this.stepLo(this.cached32),
      cachedMoved: info.cachedMoved,
      cached32Moved: info.cached32Moved,
    });
  }

  private emitFree(api: IovaFreeStep['api'], cpu: number, pfn: number, pages: number): void {
    const info = this.info;
    const tree = info.destination === 'tree';
    this.sink!.iovaStep({
      kind: 'iova.free',
      api,
      cpu,
      pfn,
      pages,
      destination: info.destination,
      bin: info.destination === 'rcache' ? info.bin : -1,
      magSwap: info.magSwap,
      pfnLo: tree ? info.pfnLo : -1,
      pfnHi: tree ? info.pfnHi : -1,
      cachedLo: this.stepLo(this.cached),
      cached32Lo: this.stepLo(this.cached32),
      cachedMoved: info.cachedMoved,
      cached32Moved: info.cached32Moved,
      max32Reset: info.max32Reset,
      max32After: this.max32,
    });
  }

  // ---------------------------------------------------------------- reducer primitives (iova-reducer.ts)

  /** @internal Inserts a node (a fact of an `iova.alloc` or `iova.reserve` step). */
  applyInsert(lo: number, hi: number): void {
    this.tree.insert(lo, hi);
    this.used += hi - lo + 1;
  }

  /** @internal Removes the node holding `pfn` without cached-node rules; returns whether there was one. */
  applyRemove(pfn: number): boolean {
    const n = this.tree.find(pfn);
    if (n === NIL || n === this.anchor) return false;
    this.used -= this.tree.F[n + 1]! - this.tree.F[n]! + 1;
    this.tree.erase(n);
    return true;
  }

  /** @internal Lowers pfn_lo of the node starting at `oldLo` (reserve stretching). */
  applyStretch(oldLo: number, newLo: number): void {
    const n = this.tree.find(oldLo);
    if (n === NIL || this.tree.F[n] !== oldLo) throw this.factError(`no node starts at pfn ${oldLo}`);
    this.used += oldLo - newLo;
    this.tree.setLo(n, newLo);
  }

  /** @internal Sets cached_node, cached32_node (by pfn_lo, or IOVA_STEP_ANCHOR) and max32_alloc_size. */
  applyCached(cachedLo: number, cached32Lo: number, max32: number): void {
    this.cached = this.nodeByLo(cachedLo);
    this.cached32 = this.nodeByLo(cached32Lo);
    this.max32 = max32;
  }

  /** @internal Sets the due time of a bin's trim job (-1: none). */
  applyTrimAt(bin: number, at: number): void {
    this.rcaches.setTrimAt(bin, at);
  }

  private nodeByLo(lo: number): number {
    if (lo === IOVA_STEP_ANCHOR) return this.anchor;
    const n = this.tree.find(lo);
    if (n === NIL || this.tree.F[n] !== lo) throw this.factError(`no node starts at pfn ${lo}`);
    return n;
  }

  private factError(problem: string): DmasimError {
    return new DmasimError(ErrorCode.STATE_HASH_MISMATCH, `IOVA step does not fit the domain state: ${problem}`);
  }

  // ---------------------------------------------------------------- inspection

  /** Number of live nodes (allocations and reservations), not counting the anchor. */
  liveNodes(): number {
    return this.tree.count - 1;
  }

  /** Pages covered by live nodes (allocations and reservations). */
  usedPages(): bigint {
    return BigInt(this.used);
  }

  /** {@link usedPages} as a number (exact: pfns, hence page counts, stay below 2^53). */
  get usedPageCount(): number {
    return this.used;
  }

  /** pfns held in range caches (all CPUs, bins and depots). */
  cachedPfns(): number {
    return this.rcaches.cachedPfns();
  }

  /** Bytes held by the node arrays (capacity, grows by doubling). */
  treeBytes(): number {
    return this.tree.bytes;
  }

  /**
   * Bytes the domain's data structures hold: the node arrays (their capacity) and the magazines. The
   * figure behind "memory per live allocation" (`dmasim iova bench`), without a garbage collector's noise.
   */
  heapBytes(): number {
    return this.tree.bytes + this.rcaches.bytes();
  }

  /** Every live node in ascending order (not the anchor). */
  ranges(): IovaRange[] {
    const t = this.tree;
    const out: IovaRange[] = [];
    for (let n = t.first(); n !== NIL && n !== this.anchor; n = t.next(n)) {
      out.push({ pfnLo: BigInt(t.F[n]!), pfnHi: BigInt(t.F[n + 1]!) });
    }
    return out;
  }

  /**
   * Appends the pfn of every range held in the range caches to `out` (in no particular order): what
   * {@link snapshot}'s `magazines` and `depots` list, without building the snapshot.
   */
  collectCachedPfns(out: number[]): void {
    this.rcaches.collectPfns(out);
  }

  /** The canonical snapshot of the whole state (see {@link IovaDomainSnapshot}). */
  snapshot(): IovaDomainSnapshot {
    const t = this.tree;
    const rc = this.rcaches;
    const nodes: bigint[][] = [];
    for (let n = t.first(); n !== NIL; n = t.next(n)) nodes.push([this.big(t.F[n]!), this.big(t.F[n + 1]!)]);
    const bigs = (a: number[]) => a.map((x) => BigInt(x));
    const magazines: { loaded: bigint[]; prev: bigint[] }[][] = [];
    const depots: bigint[][][] = [];
    for (let b = 0; b < IOVA_RANGE_CACHE_MAX_SIZE; b++) {
      const row: { loaded: bigint[]; prev: bigint[] }[] = [];
      for (let c = 0; c < this.cpus; c++) {
        const k = b * this.cpus + c;
        row.push({ loaded: bigs(rc.loaded[k]!.toArray()), prev: bigs(rc.prev[k]!.toArray()) });
      }
      magazines.push(row);
      depots.push(rc.depot[b]!.map((m) => bigs(m.toArray())));
    }
    return {
      granule: this.granule,
      startPfn: this.startPfn,
      cpus: this.cpus,
      nodes,
      shape: t.shape(),
      cached: this.big(t.F[this.cached]!),
      cached32: this.big(t.F[this.cached32]!),
      max32AllocSize: BigInt(this.max32),
      magazines,
      depots,
      trimJobs: rc.trimAt.map((x) => (x < 0 ? null : x)),
    };
  }
}
