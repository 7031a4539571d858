/**
 * The IOMMU page tables of one domain, as the DMA API sees them: which IOVA ranges translate to which
 * physical addresses with which protection. Stored as a sorted list of disjoint byte intervals (not per
 * page: buffers are GiBs), so map, unmap and lookup cost O(log n) to find plus O(k) for the k intervals
 * touched (and an array splice). kernel-model.md 3.4.2, 3.4.7, 3.8-1.
 *
 * What the driver does when asked to map over live entries is the {@link LinkCollisionPolicy}
 * (kernel-model.md 7.5-1). Page sizes (2 MiB / 1 GiB IOPTEs) are not modelled (7.5-11): an unmap of part
 * of a mapping unmaps exactly that part.
 */

import { maxU, minU } from './u64.ts';

/** What the IOMMU driver does when a map request covers IOVA that is already mapped. */
export type LinkCollisionPolicy = 'overwrite' | 'keep' | 'fail';

/** One mapped interval. `iova` and `size` in bytes; `size > 0`. */
export interface IoMapping {
  readonly iova: bigint;
  readonly size: bigint;
  readonly paddr: bigint;
  readonly prot: number;
}

/** The outcome of {@link IoPageTable.map}. */
export interface IoMapOutcome {
  /**
   * `none`: nothing was mapped there before. `overwrite`: the new entries replaced live ones. `keep`: live
   * entries were kept and only the holes were filled. `fail`: nothing changed; the driver refuses
   * (-EADDRINUSE in the caller).
   */
  readonly collision: 'none' | 'overwrite' | 'keep' | 'fail';
  /** Lowest IOVA of the request that was already mapped, or null. */
  readonly firstCollision: bigint | null;
  /**
   * `fail` only: bytes at the start of the request that lay before the first live entry. The driver maps
   * them before it meets the collision; the core then unmaps them again (iommu_map's unroll), so the table
   * ends up unchanged. The caller reports that unroll.
   */
  readonly mappedBeforeFailure: bigint;
}

interface Entry {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  paddr: bigint;
  prot: number;
}

/** Mapping state of one IOMMU domain. */
export class IoPageTable {
  private readonly entries: Entry[] = [];
  private bytes = 0n;

  /** Number of disjoint intervals. */
  get intervalCount(): number {
    return this.entries.length;
  }

  /** Total mapped bytes. */
  get mappedBytes(): bigint {
    return this.bytes;
  }

  /** Index of the first entry whose end is above `addr` (entries.length if none). */
  private firstEndingAbove(addr: bigint): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.end > addr) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** True if any byte of `[iova, iova + size)` is mapped. */
  overlaps(iova: bigint, size: bigint): boolean {
    if (size <= 0n) return false;
    const i = this.firstEndingAbove(iova);
    const e = this.entries[i];
    return e !== undefined && e.start < iova + size;
  }

  /**
   * Maps `[iova, iova + size)` to `[paddr, paddr + size)` with `prot` under `policy`. Alignment and
   * aperture checks are the caller's (iommu core); a zero size maps nothing.
   */
  map(iova: bigint, paddr: bigint, size: bigint, prot: number, policy: LinkCollisionPolicy): IoMapOutcome {
    if (size <= 0n) return { collision: 'none', firstCollision: null, mappedBeforeFailure: 0n };
    const end = iova + size;
    const i = this.firstEndingAbove(iova);
    let j = i;
    while (j < this.entries.length && this.entries[j]!.start < end) j++;
    if (j === i) {
      this.entries.splice(i, 0, { start: iova, end, paddr, prot });
      this.bytes += size;
      return { collision: 'none', firstCollision: null, mappedBeforeFailure: 0n };
    }
    const first = this.entries[i]!;
    const firstCollision = first.start > iova ? first.start : iova;
    if (policy === 'fail') {
      return { collision: 'fail', firstCollision, mappedBeforeFailure: firstCollision - iova };
    }
    if (policy === 'overwrite') {
      const replaced: Entry[] = [];
      const last = this.entries[j - 1]!;
      if (first.start < iova) replaced.push({ start: first.start, end: iova, paddr: first.paddr, prot: first.prot });
      replaced.push({ start: iova, end, paddr, prot });
      if (last.end > end) {
        replaced.push({ start: end, end: last.end, paddr: last.paddr + (end - last.start), prot: last.prot });
      }
      let removed = 0n;
      for (let k = i; k < j; k++) {
        const e = this.entries[k]!;
        removed += minU(e.end, end) - maxU(e.start, iova);
      }
      this.entries.splice(i, j - i, ...replaced);
      this.bytes += size - removed;
      return { collision: 'overwrite', firstCollision, mappedBeforeFailure: 0n };
    }
    // keep: fill only the holes between live entries.
    const merged: Entry[] = [];
    let cursor = iova;
    for (let k = i; k < j; k++) {
      const e = this.entries[k]!;
      if (e.start > cursor) {
        merged.push({ start: cursor, end: e.start, paddr: paddr + (cursor - iova), prot });
        this.bytes += e.start - cursor;
      }
      merged.push(e);
      if (e.end > cursor) cursor = e.end;
    }
    if (cursor < end) {
      merged.push({ start: cursor, end, paddr: paddr + (cursor - iova), prot });
      this.bytes += end - cursor;
    }
    this.entries.splice(i, j - i, ...merged);
    return { collision: 'keep', firstCollision, mappedBeforeFailure: 0n };
  }

  /**
   * Unmaps from `iova` for at most `size` bytes, stopping at the first hole, as `iommu_unmap` does page by
   * page. Returns the bytes actually unmapped (0 if `iova` itself is not mapped).
   */
  unmap(iova: bigint, size: bigint): bigint {
    if (size <= 0n) return 0n;
    const limit = iova + size;
    const i = this.firstEndingAbove(iova);
    const first = this.entries[i];
    if (first === undefined || first.start > iova) return 0n;
    let cursor = iova;
    let j = i;
    while (j < this.entries.length && cursor < limit) {
      const e = this.entries[j]!;
      if (e.start > cursor) break;
      cursor = minU(e.end, limit);
      j++;
    }
    const last = this.entries[j - 1]!;
    // What stays of the first and last entries, spliced in without a list (no pieces, one or two).
    const head: Entry | null =
      first.start < iova ? { start: first.start, end: iova, paddr: first.paddr, prot: first.prot } : null;
    const tail: Entry | null =
      last.end > cursor
        ? { start: cursor, end: last.end, paddr: last.paddr + (cursor - last.start), prot: last.prot }
        : null;
    if (head !== null && tail !== null) this.entries.splice(i, j - i, head, tail);
    else if (head !== null) this.entries.splice(i, j - i, head);
    else if (tail !== null) this.entries.splice(i, j - i, tail);
    else this.entries.splice(i, j - i);
    const unmapped = cursor - iova;
    this.bytes -= unmapped;
    return unmapped;
  }

  /** Translation of one IOVA (`iommu_iova_to_phys`), or null: an access there faults. */
  translate(iova: bigint): { paddr: bigint; prot: number } | null {
    const e = this.entries[this.firstEndingAbove(iova)];
    if (e === undefined || e.start > iova) return null;
    return { paddr: e.paddr + (iova - e.start), prot: e.prot };
  }

  /** The mapped intervals overlapping `[iova, iova + size)`, clipped to it, in IOVA order. */
  lookup(iova: bigint, size: bigint): IoMapping[] {
    const out: IoMapping[] = [];
    const end = iova + size;
    for (let k = this.firstEndingAbove(iova); k < this.entries.length; k++) {
      const e = this.entries[k]!;
      if (e.start >= end) break;
      const s = maxU(e.start, iova);
      const t = minU(e.end, end);
      out.push({ iova: s, size: t - s, paddr: e.paddr + (s - e.start), prot: e.prot });
    }
    return out;
  }

  /**
   * End of the run of mapped bytes that starts at `iova`, clipped to `iova + size` (`iova` itself when it
   * is not mapped): where an access walking up from `iova` first faults. What {@link lookup} gives, without
   * making its list.
   */
  mappedRunEnd(iova: bigint, size: bigint): bigint {
    const end = iova + size;
    let cursor = iova;
    for (let k = this.firstEndingAbove(iova); k < this.entries.length; k++) {
      const e = this.entries[k]!;
      if (e.start >= end || e.start > cursor) break;
      cursor = minU(e.end, end);
    }
    return cursor;
  }

  /** Bytes of `[iova, iova + size)` that are mapped (the sum of {@link lookup}'s sizes, without the list). */
  mappedBytesIn(iova: bigint, size: bigint): bigint {
    const end = iova + size;
    let bytes = 0n;
    for (let k = this.firstEndingAbove(iova); k < this.entries.length; k++) {
      const e = this.entries[k]!;
      if (e.start >= end) break;
      bytes += minU(e.end, end) - maxU(e.start, iova);
    }
    return bytes;
  }

  /** All intervals in IOVA order (canonical plain data, for snapshots). */
  snapshot(): IoMapping[] {
    return this.entries.map((e) => ({ iova: e.start, size: e.end - e.start, paddr: e.paddr, prot: e.prot }));
  }

  /** Replaces the contents with `mappings` (as produced by {@link snapshot}). */
  static fromSnapshot(mappings: readonly IoMapping[]): IoPageTable {
    const t = new IoPageTable();
    let prevEnd = -1n;
    for (const m of mappings) {
      if (m.size <= 0n || m.iova < prevEnd)
        throw new RangeError('IoPageTable.fromSnapshot: intervals must be sorted, disjoint and non-empty');
      t.entries.push({ start: m.iova, end: m.iova + m.size, paddr: m.paddr, prot: m.prot });
      t.bytes += m.size;
      prevEnd = m.iova + m.size;
    }
    return t;
  }
}
