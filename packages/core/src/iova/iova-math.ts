/**
 * Integer helpers of `include/linux/log2.h` and `include/linux/iova.h`, on JavaScript numbers that hold
 * exact integers (every value here is below 2^53; see docs/IOVA.md, "Representation").
 */

const TWO32 = 4294967296;

/** 2^k for k = 0..53. */
const POW2 = Array.from({ length: 54 }, (_, k) => 2 ** k);

/** `fls(x)`: 1-based index of the most significant set bit; `fls(0) = 0`. Exact for integers < 2^53. */
export function fls(x: number): number {
  if (x < TWO32) return 32 - Math.clz32(x);
  return 64 - Math.clz32(Math.floor(x / TWO32));
}

/** `order_base_2(n)`: the smallest k with 2^k >= n; `order_base_2(0) = order_base_2(1) = 0`. */
export function orderBase2(n: number): number {
  return n <= 1 ? 0 : fls(n - 1);
}

/** `roundup_pow_of_two(n)` for n >= 1. */
export function roundupPowOfTwo(n: number): number {
  return POW2[orderBase2(n)]!;
}

/**
 * Rounds `x >= 0` down to a multiple of the power of two `p` (what `x & ~(p - 1)` does in C). For
 * p <= 2^30 the remainder is in the low 32 bits, which `>>> 0` yields exactly for any integer.
 */
export function alignDown(x: number, p: number): number {
  if (p === 1) return x;
  return p <= 0x40000000 ? x - ((x >>> 0) & (p - 1)) : x - (x % p);
}

/** Rounds `x >= 0` up to a multiple of the power of two `p`. */
export function alignUp(x: number, p: number): number {
  return p === 1 ? x : Math.ceil(x / p) * p;
}

/**
 * The alignment a size-aligned request of `size` pages gets: `1 << fls_long(size - 1)`, i.e.
 * `roundup_pow_of_two(size)` (1 for size 1).
 */
export function sizeAlignment(size: number): number {
  return POW2[fls(size - 1)]!;
}
