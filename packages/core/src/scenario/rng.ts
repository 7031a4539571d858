/**
 * The seeded PRNG of workloads: pure-rand's xoroshiro128+ with its unbiased uniform integers, and only
 * integer arithmetic on top (no floating-point functions), so a seed gives the same workload on every
 * machine and Node version.
 */
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** A seeded source of random integers. */
export class Rng {
  private readonly g: ReturnType<typeof xoroshiro128plus>;

  constructor(seed: number) {
    this.g = xoroshiro128plus(seed | 0);
  }

  /** Uniform integer in `[min, max]` (both safe integers). */
  int(min: number, max: number): number {
    return max <= min ? min : uniformInt(this.g, min, max);
  }

  /** True with probability `p` (0..1, resolved to millionths). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.int(0, 999_999) < Math.round(p * 1_000_000);
  }

  /** One element of a non-empty array. */
  pick<T>(a: readonly T[]): T {
    return a[this.int(0, a.length - 1)]!;
  }

  /** Index chosen with probability proportional to `weights` (non-negative, not all 0). */
  weighted(weights: readonly number[]): number {
    // Weights are resolved to integers (millionths) so the choice is exact.
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += Math.round(weights[i]! * 1_000_000);
    let r = this.int(0, total - 1);
    for (let i = 0; i < weights.length; i++) {
      r -= Math.round(weights[i]! * 1_000_000);
      if (r < 0) return i;
    }
    return weights.length - 1;
  }
}

/** A set with O(1) add, delete and uniform random choice (swap-remove). */
export class IndexedSet<T> {
  private readonly items: T[] = [];
  private readonly index = new Map<T, number>();

  get size(): number {
    return this.items.length;
  }

  has(x: T): boolean {
    return this.index.has(x);
  }

  add(x: T): void {
    if (this.index.has(x)) return;
    this.index.set(x, this.items.length);
    this.items.push(x);
  }

  delete(x: T): void {
    const i = this.index.get(x);
    if (i === undefined) return;
    const last = this.items.pop()!;
    if (i < this.items.length) {
      this.items[i] = last;
      this.index.set(last, i);
    }
    this.index.delete(x);
  }

  /** A uniformly chosen element; the set must not be empty. */
  pick(rng: Rng): T {
    return this.items[rng.int(0, this.items.length - 1)]!;
  }

  values(): readonly T[] {
    return this.items;
  }
}

/**
 * A set of small non-negative integer ids (dense, like the simulator's object ids) with O(1) add, delete
 * and uniform random choice, in typed arrays: about 12 bytes per id instead of a Map entry's 40 or more.
 */
export class IdSet {
  private items = new Float64Array(64);
  /** Position + 1 of each id in `items` (0: absent). */
  private pos = new Uint32Array(64);
  private n = 0;

  get size(): number {
    return this.n;
  }

  has(id: number): boolean {
    return id < this.pos.length && this.pos[id]! !== 0;
  }

  add(id: number): void {
    if (id >= this.pos.length) {
      let len = this.pos.length * 2;
      while (len <= id) len *= 2;
      const p = new Uint32Array(len);
      p.set(this.pos);
      this.pos = p;
    }
    if (this.pos[id]! !== 0) return;
    if (this.n === this.items.length) {
      const it = new Float64Array(this.items.length * 2);
      it.set(this.items);
      this.items = it;
    }
    this.items[this.n] = id;
    this.pos[id] = ++this.n;
  }

  delete(id: number): void {
    if (!this.has(id)) return;
    const i = this.pos[id]! - 1;
    const last = this.items[--this.n]!;
    if (i < this.n) {
      this.items[i] = last;
      this.pos[last] = i + 1;
    }
    this.pos[id] = 0;
  }

  /** A uniformly chosen id; the set must not be empty. */
  pick(rng: Rng): number {
    return this.items[rng.int(0, this.n - 1)]!;
  }

  /** The ids, in set order (a copy). */
  values(): number[] {
    return Array.from(this.items.subarray(0, this.n));
  }
}

/** A growable array of numbers indexed by a dense id (0 for ids never set). */
export class IdMap {
  private a = new Float64Array(64);

  get(id: number): number {
    return id < this.a.length ? this.a[id]! : 0;
  }

  set(id: number, v: number): void {
    if (id >= this.a.length) {
      let len = this.a.length * 2;
      while (len <= id) len *= 2;
      const b = new Float64Array(len);
      b.set(this.a);
      this.a = b;
    }
    this.a[id] = v;
  }
}
