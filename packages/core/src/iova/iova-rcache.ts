/**
 * The IOVA range caches of `drivers/iommu/iova.c` (6.7+ layout): for each of
 * {@link IOVA_RANGE_CACHE_MAX_SIZE} size bins, per CPU a `loaded` and a `prev` magazine of up to
 * {@link IOVA_MAG_SIZE} pfns, and a depot (LIFO stack of full magazines) with its delayed trim job.
 *
 * This class holds the data and the primitive moves (push, pop at a slot, swap, depot push and pop) that
 * both the live domain and the step reducer perform; the decisions (which move, when) are the domain's.
 */

/** Number of size bins: bins 0..5 hold ranges of 1, 2, 4, 8, 16, 32 pages (`IOVA_RANGE_CACHE_MAX_SIZE`). */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** pfns per magazine (`IOVA_MAG_SIZE`, 127 since Linux 6.7). */
export const IOVA_MAG_SIZE = 127;
/** Delay of the depot trim job, ns (`IOVA_DEPOT_DELAY` = 100 ms). */
export const IOVA_DEPOT_DELAY_NS = 100_000_000;

/**
 * Bytes a magazine costs besides its 127 pfns: the object, the typed array and its buffer (V8, 64-bit:
 * about 1.4 KB a magazine in all, measured with `--expose-gc` around 20,000 cached pfns; an estimate).
 */
export const MAGAZINE_OVERHEAD_BYTES = 384;

/** Bytes of a magazine whose slots were never allocated: the object alone (header and two fields; an estimate). */
export const EMPTY_MAGAZINE_BYTES = 40;

/**
 * A stack of up to {@link IOVA_MAG_SIZE} pfns; slot 0 is the bottom. The slots are allocated at the first
 * use: a domain has 2 x 6 magazines per CPU, and in a short run most stay empty (on a 64-CPU machine,
 * allocating them all up front and copying them for every state hash was the largest cost of a sweep
 * scenario).
 */
export class IovaMagazine {
  private slots: Float64Array | null = null;
  size = 0;

  /** The slots have been allocated (the magazine has held a pfn). */
  get allocated(): boolean {
    return this.slots !== null;
  }

  /** The pfn slots. */
  get pfns(): Float64Array {
    if (this.slots === null) this.slots = new Float64Array(IOVA_MAG_SIZE);
    return this.slots;
  }

  /** Copy of the pfns, bottom first. */
  toArray(): number[] {
    if (this.size === 0) return [];
    const out = new Array<number>(this.size);
    const p = this.pfns;
    for (let i = 0; i < this.size; i++) out[i] = p[i]!;
    return out;
  }
}

/** All range caches of one domain. */
export class IovaRcaches {
  /** Number of simulated CPUs. */
  readonly cpus: number;
  /** `loaded` magazine of bin b on CPU c at index `b * cpus + c`. */
  readonly loaded: IovaMagazine[];
  /** `prev` magazine, same indexing. */
  readonly prev: IovaMagazine[];
  /** Depot of each bin; the last element is the top (most recently pushed). */
  readonly depot: IovaMagazine[][];
  /** Due time (ns) of each bin's pending trim job, or -1 ({@link setTrimAt} is the only writer). */
  private readonly trims: number[];
  /**
   * Due time of the earliest pending trim job, or -1: kept by {@link setTrimAt}, so that the clock, which
   * asks before every operation, finds "nothing due" without scanning the bins.
   */
  private earliest = -1;
  private readonly pool: IovaMagazine[] = [];
  /**
   * 1 for a CPU whose magazines may hold pfns (set by {@link push} and {@link depotPopToLoaded}, the only
   * ways in), 0 for one whose magazines are all empty: a flush skips those (a 64-CPU machine whose
   * workload runs on a few CPUs has hundreds of empty magazines). Cleared by whoever empties them.
   */
  readonly cpuUsed: Uint8Array;

  constructor(cpus: number) {
    this.cpus = cpus;
    this.cpuUsed = new Uint8Array(cpus);
    const n = IOVA_RANGE_CACHE_MAX_SIZE * cpus;
    this.loaded = Array.from({ length: n }, () => new IovaMagazine());
    this.prev = Array.from({ length: n }, () => new IovaMagazine());
    this.depot = Array.from({ length: IOVA_RANGE_CACHE_MAX_SIZE }, () => []);
    this.trims = new Array<number>(IOVA_RANGE_CACHE_MAX_SIZE).fill(-1);
  }

  /** Due time (ns) of each bin's pending trim job, or -1. */
  get trimAt(): readonly number[] {
    return this.trims;
  }

  /** Due time (ns) of the earliest pending trim job, or -1 when none is pending. */
  get nextTrimAt(): number {
    return this.earliest;
  }

  /** Schedules bin `bin`'s trim job at `at` ns, or cancels it (-1). */
  setTrimAt(bin: number, at: number): void {
    this.trims[bin] = at;
    let best = -1;
    for (let b = 0; b < IOVA_RANGE_CACHE_MAX_SIZE; b++) {
      const t = this.trims[b]!;
      if (t >= 0 && (best < 0 || t < best)) best = t;
    }
    this.earliest = best;
  }

  /** `swap(cpu_rcache->prev, cpu_rcache->loaded)`. */
  swap(bin: number, cpu: number): void {
    const k = bin * this.cpus + cpu;
    const t = this.loaded[k]!;
    this.loaded[k] = this.prev[k]!;
    this.prev[k] = t;
  }

  /** `iova_magazine_push(loaded, pfn)`; `loaded` must not be full. */
  push(bin: number, cpu: number, pfn: number): void {
    const m = this.loaded[bin * this.cpus + cpu]!;
    m.pfns[m.size++] = pfn;
    this.cpuUsed[cpu] = 1;
  }

  /** The pop of `iova_magazine_pop`: takes slot `i` of `loaded` and moves the top entry into it. */
  takeAt(bin: number, cpu: number, i: number): number {
    const m = this.loaded[bin * this.cpus + cpu]!;
    const pfn = m.pfns[i]!;
    m.pfns[i] = m.pfns[--m.size]!;
    return pfn;
  }

  /** `iova_depot_push(loaded)` and a new empty `loaded`. Returns the depot size after. */
  depotPush(bin: number, cpu: number): number {
    const k = bin * this.cpus + cpu;
    const d = this.depot[bin]!;
    d.push(this.loaded[k]!);
    this.loaded[k] = this.newMagazine();
    return d.length;
  }

  /** Frees the (empty) `loaded` and makes the depot's top magazine `loaded`. */
  depotPopToLoaded(bin: number, cpu: number): void {
    const k = bin * this.cpus + cpu;
    this.release(this.loaded[k]!);
    this.loaded[k] = this.depot[bin]!.pop()!;
    this.cpuUsed[cpu] = 1;
  }

  /** Takes the depot's top magazine off the depot (the caller empties it and calls {@link release}). */
  depotPop(bin: number): IovaMagazine {
    return this.depot[bin]!.pop()!;
  }

  /** Returns a magazine that is no longer used to the pool. */
  release(m: IovaMagazine): void {
    m.size = 0;
    this.pool.push(m);
  }

  private newMagazine(): IovaMagazine {
    return this.pool.pop() ?? new IovaMagazine();
  }

  /** Empties every magazine and the depots (what a flush leaves behind). */
  clearAll(): void {
    for (const m of this.loaded) m.size = 0;
    for (const m of this.prev) m.size = 0;
    this.cpuUsed.fill(0);
    for (const d of this.depot) while (d.length !== 0) this.release(d.pop()!);
  }

  /**
   * Bytes held by the magazines (loaded, prev, depot and the free pool), counting each whose slots are
   * allocated as its pfn array plus {@link MAGAZINE_OVERHEAD_BYTES}, and each other one as
   * {@link EMPTY_MAGAZINE_BYTES}.
   */
  bytes(): number {
    let n = 0;
    const add = (m: IovaMagazine) => {
      n += m.allocated ? IOVA_MAG_SIZE * 8 + MAGAZINE_OVERHEAD_BYTES : EMPTY_MAGAZINE_BYTES;
    };
    for (const m of this.loaded) add(m);
    for (const m of this.prev) add(m);
    for (const m of this.pool) add(m);
    for (const d of this.depot) for (const m of d) add(m);
    return n;
  }

  /** Appends every cached pfn (all bins, CPUs and depots, in no particular order) to `out`. */
  collectPfns(out: number[]): void {
    const add = (m: IovaMagazine) => {
      for (let i = 0; i < m.size; i++) out.push(m.pfns[i]!);
    };
    for (const m of this.loaded) add(m);
    for (const m of this.prev) add(m);
    for (const d of this.depot) for (const m of d) add(m);
  }

  /** Number of cached pfns over all bins, CPUs and depots. */
  cachedPfns(): number {
    let n = 0;
    for (const m of this.loaded) n += m.size;
    for (const m of this.prev) n += m.size;
    for (const d of this.depot) n += d.length * IOVA_MAG_SIZE;
    return n;
  }
}
