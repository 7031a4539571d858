/**
 * The scatter-gather side of `dma_buf_phys_vec_to_sgt` (kernel-model.md 3.3, 7.2): the largest entry
 * (`MAX_SG_ENT_SZ`), the entry count `calc_sg_nents`, and `fill_sg_entry`, in the three helper versions
 * selected by `sgChunk`:
 *
 * - `page_aligned` (current; primary): `MAX = align_down(2^32 - 1, PAGE_SIZE)`, 64-bit `mapped_len`,
 *   overflow-checked entry sum (an overflow gives 0 entries, hence -EINVAL).
 * - `uint_max` (first merged helper): `MAX = 2^32 - 1`, so entries after the first of a long range start at
 *   unaligned addresses; 32-bit `mapped_len` (buffers >= 4 GiB in IOVA mode wrap); unchecked entry sum
 *   (wraps modulo 2^32).
 * - `sz_2g` (proposed "page-aligned 2G chunks"): `MAX = 2 GiB`, otherwise as `page_aligned`.
 */
import type { SgEntry } from './dmabuf-types.ts';

/** The SG chunk variant of the helper (kernel-model.md 7.2). */
export type SgChunk = 'page_aligned' | 'uint_max' | 'sz_2g';

/** Every {@link SgChunk}, for validation. */
export const SG_CHUNKS: readonly SgChunk[] = ['page_aligned', 'uint_max', 'sz_2g'];

const U32 = 0xffffffffn;
const TWO_32 = 1n << 32n;

let lastPage = 4096;
let lastPageAligned = 0xfffff000n;

/** `MAX_SG_ENT_SZ` in bytes for a variant and PAGE_SIZE (bytes, a power of two). */
export function maxSgEntrySize(chunk: SgChunk, pageSize: number): bigint {
  switch (chunk) {
    case 'uint_max':
      return U32;
    case 'sz_2g':
      return 0x80000000n;
    default:
      if (pageSize !== lastPage) {
        lastPageAligned = U32 & ~(BigInt(pageSize) - 1n);
        lastPage = pageSize;
      }
      return lastPageAligned;
  }
}

/** Whether the variant keeps `mapped_len` in 32 bits (the first merged helper). */
export function mappedLenIs32(chunk: SgChunk): boolean {
  return chunk === 'uint_max';
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

/**
 * `calc_sg_nents`: the number of SG entries the helper allocates.
 *
 * - `iovaMode` false (BUS_ADDR or per-range): sum over ranges of `ceil(len_i / MAX)`, each truncated to 32
 *   bits; the sum in 32 bits, overflow -> 0 (checked variants) or wrap (`uint_max`).
 * - `iovaMode` true: `ceil(size / MAX)` truncated to 32 bits.
 *
 * @param lengths range lengths in bytes
 * @param size total size in bytes
 */
export function calcSgNents(
  lengths: readonly bigint[],
  size: bigint,
  iovaMode: boolean,
  chunk: SgChunk,
  pageSize: number,
): number {
  const max = maxSgEntrySize(chunk, pageSize);
  if (iovaMode) return Number(ceilDiv(size, max) & U32);
  let nents = 0n;
  for (const len of lengths) {
    nents += ceilDiv(len, max) & U32;
    if (nents > U32) {
      if (chunk !== 'uint_max') return 0;
      nents -= TWO_32;
    }
  }
  return Number(nents);
}

/**
 * `fill_sg_entry`: appends entries for an extent of `length` bytes at `addr` to `table`, each at most
 * MAX bytes, addresses advancing by the entry length (u64 wrap). Stops when the table is full
 * (`capacity` entries): the kernel would write past its table there.
 * @returns false if the extent did not fit (an overrun), true otherwise.
 */
export function fillSgEntries(
  table: SgEntry[],
  capacity: number,
  length: bigint,
  addr: bigint,
  chunk: SgChunk,
  pageSize: number,
): boolean {
  const max = maxSgEntrySize(chunk, pageSize);
  while (length > 0n) {
    if (table.length >= capacity) return false;
    const len = length < max ? length : max;
    table.push({ dmaAddress: addr, dmaLength: Number(len) });
    addr = BigInt.asUintN(64, addr + len);
    length -= len;
  }
  return true;
}

/** The entry count and entries of an extent without a table: for examples and tests. */
export function splitExtent(length: bigint, addr: bigint, chunk: SgChunk, pageSize: number): SgEntry[] {
  const out: SgEntry[] = [];
  fillSgEntries(out, Number.MAX_SAFE_INTEGER, length, addr, chunk, pageSize);
  return out;
}
