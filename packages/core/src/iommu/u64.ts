/** Unsigned 64-bit helpers on bigint, with the kernel's wrap-around (kernel-model.md section 0). */

/** 2^64 - 1: all bits of a u64. */
export const U64_MAX = (1n << 64n) - 1n;

/** Truncates to u64 (wraps modulo 2^64), as C arithmetic on `u64`/`dma_addr_t` does. */
export function u64(x: bigint): bigint {
  return BigInt.asUintN(64, x);
}

/** The smaller of two bigints. */
export function minU(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** The larger of two bigints. */
export function maxU(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** `min_not_zero(a, b)`: the other value when one is 0, else the minimum. */
export function minNotZero(a: bigint, b: bigint): bigint {
  if (a === 0n) return b;
  if (b === 0n) return a;
  return a < b ? a : b;
}

/** `fls64(x)` = `bits_per(x)` for x > 0: 1-based index of the most significant set bit; 0 for 0. */
export function fls64(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

/** Index of the lowest set bit (`__ffs`); `x` must be non-zero. */
export function ffs0(x: bigint): number {
  let n = 0;
  while ((x & 1n) === 0n) {
    x >>= 1n;
    n++;
  }
  return n;
}

/** `align_up(x, g)` for a power-of-two `g`, wrapping at 2^64 as the kernel's ALIGN does. */
export function alignUp(x: bigint, g: bigint): bigint {
  // ~(g - 1) is -g; the u64 sum is below 2^64 already, so the AND with it needs no second mask.
  return BigInt.asUintN(64, x + g - 1n) & -g;
}

/** `%016llx` with a `0x` prefix, as the kernel's `%pa`/`%pad` and the iommu tracepoints print. */
export function hex16(x: bigint): string {
  return `0x${x.toString(16).padStart(16, '0')}`;
}

/** `%llx`/`%lx`: lowercase hex, no prefix, no padding. */
export function hexBare(x: bigint): string {
  return x.toString(16);
}
