/**
 * Step records of the IOVA allocator: one per state-changing step of `drivers/iommu/iova.c`, in kernel
 * order, carrying the FACTS a reducer needs to rebuild the domain's state without repeating any search
 * ({@link applyIovaStep} in `iova-reducer.ts`), plus what the events of kernel-model.md section 5 (rows 7,
 * 9, 20, 22) report. The event module wraps them with `seq`, `t_ns`, `cpu`, `origin` and ids.
 *
 * Encoding rules (so that steps stay small and fast to encode): plain objects, number/boolean/string
 * fields only, no nested objects except short number arrays. pfns are JavaScript numbers, exact because the
 * domain only holds pfns below 2^53. "No value" is -1. A cached-node field names the node by its `pfn_lo`
 * at the time of the step, or {@link IOVA_STEP_ANCHOR} for the anchor.
 */

/** Value of a cached-node field (`cachedLo`, `cached32Lo`) that designates the anchor node. */
export const IOVA_STEP_ANCHOR = -1;

/** Where `alloc_iova_fast` got its answer (kernel-model.md 5, event 7 `source`). */
export type IovaAllocSource = 'rcache' | 'tree' | 'tree_after_flush' | 'fail';

/** Where a released range went (kernel-model.md 5, event 20 `destination`, minus the flush queue). */
export type IovaFreeDestination = 'rcache' | 'tree' | 'not_found';

/** Cached nodes and `max32_alloc_size` after a step that may have changed them. */
export interface IovaCachedFacts {
  /** `cached_node` after the step: its pfn_lo, or {@link IOVA_STEP_ANCHOR}. */
  readonly cachedLo: number;
  /** `cached32_node` after the step: its pfn_lo, or {@link IOVA_STEP_ANCHOR}. */
  readonly cached32Lo: number;
  /** `max32_alloc_size` after the step, pages. */
  readonly max32After: number;
}

/**
 * One `alloc_iova` or `alloc_iova_fast` call (event 7). Facts: the rcache lookup (`magSwap`, `depotPop`,
 * `popIndex`; only when `flushed` is false: a flush empties every magazine, so an earlier lookup's effect on
 * them is gone and the flush step that precedes this one carries what happened), the node `inserted`, the
 * cached nodes and `max32_alloc_size` after the call.
 */
export interface IovaAllocStep extends IovaCachedFacts {
  readonly kind: 'iova.alloc';
  readonly api: 'alloc_iova' | 'alloc_iova_fast';
  /** CPU the call ran on (its rcaches were used). */
  readonly cpu: number;
  /** Pages asked for. */
  readonly pagesRequested: number;
  /** Pages after `alloc_iova_fast`'s rounding to a power of two below 32 (= requested for alloc_iova). */
  readonly pagesEffective: number;
  /** Inclusive limit pfn. */
  readonly limitPfn: number;
  readonly sizeAligned: boolean;
  /** `flush_rcache` argument (false for alloc_iova). */
  readonly flush: boolean;
  readonly source: IovaAllocSource;
  /** rcache bin (`order_base_2(pagesEffective)`) when below 6, else -1. */
  readonly bin: number;
  /** The range handed out, or -1 and -1. */
  readonly pfnLo: number;
  readonly pfnHi: number;
  /** The lookup found `loaded` empty and `prev` not, and swapped them. */
  readonly magSwap: boolean;
  /** The lookup found both magazines empty and took the depot's top magazine as `loaded`. */
  readonly depotPop: boolean;
  /** Slot of `loaded` the lookup took a pfn from (the top entry moved into it), or -1. */
  readonly popIndex: number;
  /** The pfn taken from the cache was 0 (a phantom): the kernel treats it as a miss. */
  readonly phantom: boolean;
  /** Whether a flush of all rcaches happened during the call (an `iova.rcache_flush` step precedes this). */
  readonly flushed: boolean;
  /** A node `[pfnLo, pfnHi]` was inserted into the tree. */
  readonly inserted: boolean;
  /** A tree attempt was refused at once by `max32_alloc_size`. */
  readonly fastFail: boolean;
  /** A tree attempt made the second pass (between the cached node and the limit). */
  readonly secondPass: boolean;
  /** Loop iterations of the kernel's first-fit walk, all passes and attempts of this call. */
  readonly nodesVisited: number;
  /** Walk passes made (0 when answered by the rcache or refused at once). */
  readonly passes: number;
  readonly max32Before: number;
  readonly cachedMoved: boolean;
  readonly cached32Moved: boolean;
}

/**
 * One release (event 20): `free_iova` (`api` 'free_iova'), `__free_iova` ('__free_iova') or
 * `free_iova_fast` ('free_iova_fast'). Facts: for `rcache`, the magazine swap and the push of `pfn` onto
 * `loaded` of `cpu`/`bin` (a push of a full magazine to the depot is its own `iova.depot` step, emitted
 * before); for `tree`, the node removed and the cached facts after.
 */
export interface IovaFreeStep extends IovaCachedFacts {
  readonly kind: 'iova.free';
  readonly api: 'free_iova' | '__free_iova' | 'free_iova_fast';
  readonly cpu: number;
  /** pfn released by the caller. */
  readonly pfn: number;
  /** Pages released by the caller (free_iova_fast), or -1. */
  readonly pages: number;
  readonly destination: IovaFreeDestination;
  /** rcache bin for `rcache`, else -1. */
  readonly bin: number;
  /** `loaded` was full and `prev` was not: they were swapped before the push. */
  readonly magSwap: boolean;
  /** The node removed from the tree, or -1 and -1. */
  readonly pfnLo: number;
  readonly pfnHi: number;
  readonly cachedMoved: boolean;
  readonly cached32Moved: boolean;
  /** The free reset `max32_alloc_size` to `dma_32bit_pfn` (the node started below 4 GiB). */
  readonly max32Reset: boolean;
}

/**
 * A flush of every range cache of the domain by a failing `alloc_iova_fast(..., flush_rcache = true)`
 * (event 9): every CPU's `loaded` and `prev` of every bin, then every depot magazine. Facts: all magazines
 * are empty afterwards, the pfns returned to the tree in the order they were returned (`pfns`; each removes
 * the node holding it, if any), and the cached facts after.
 */
export interface IovaFlushStep extends IovaCachedFacts {
  readonly kind: 'iova.rcache_flush';
  readonly cpu: number;
  /** pfns returned per bin (6 entries). */
  readonly pfnsPerBin: readonly number[];
  /** Depot magazines freed. */
  readonly magazinesFreed: number;
  /** Every pfn returned to the tree, in kernel order. */
  readonly pfns: readonly number[];
  /** Nodes removed from the tree. */
  readonly nodesRemoved: number;
  /** pfns for which no node was found (the kernel WARNs). */
  readonly notFound: number;
}

/**
 * The depot of one bin (event 22): `push` (a full `loaded` magazine of `cpu` moved to the depot and a new
 * empty one loaded; the trim job is scheduled at `trimAt` if it was not pending, else `trimAt` is -1) or
 * `trim` (the delayed job ran: if `popped`, the top magazine was taken off the depot and its pfns returned to
 * the tree in slot order; the job is pending again at `trimAt`, or no longer when -1).
 */
export interface IovaDepotStep extends IovaCachedFacts {
  readonly kind: 'iova.depot';
  readonly action: 'push' | 'trim';
  readonly bin: number;
  /** CPU whose magazine was pushed (push), or -1 (trim). */
  readonly cpu: number;
  /** Magazines in the depot after the step. */
  readonly depotSize: number;
  /** Virtual time (ns) the trim job is due at after the step, or -1 (see above). */
  readonly trimAt: number;
  /** trim: a magazine was taken off the depot. */
  readonly popped: boolean;
  /** trim: pfns returned to the tree. */
  readonly pfnsReturned: number;
  /** trim: nodes removed. */
  readonly nodesRemoved: number;
  /** trim: pfns for which no node was found (the kernel WARNs). */
  readonly notFound: number;
}

/**
 * One `reserve_iova(pfnLo, pfnHi)`. Facts: the overlapped nodes stretched down (`stretched`: pairs
 * `oldLo, newLo`, in ascending order) and the node `inserted` (`nodeLo..nodeHi`), or the existing node that
 * covers the rest (`covered`), or nothing (`rejected`: a pfn above `ULLONG_MAX >> shift`).
 */
export interface IovaReserveStep {
  readonly kind: 'iova.reserve';
  /** The pfns asked for (for `rejected`, values above 2^53 are rounded to the nearest number). */
  readonly pfnLo: number;
  readonly pfnHi: number;
  readonly outcome: 'inserted' | 'covered' | 'rejected';
  readonly stretched: readonly number[];
  /** The node returned, or -1 and -1. */
  readonly nodeLo: number;
  readonly nodeHi: number;
}

/** Every step record of the IOVA allocator. */
export type IovaStep = IovaAllocStep | IovaFreeStep | IovaFlushStep | IovaDepotStep | IovaReserveStep;
