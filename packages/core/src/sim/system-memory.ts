/**
 * System memory for the movable exporter's migrations: a deterministic first-fit allocator of physical
 * ranges above 4 GiB, in chunks of at most 1 GiB (so each fits a 32-bit SG entry length), 2 MiB aligned
 * (huge pages). Not a model of the kernel's page allocator: just stable, plausible physical addresses.
 */
import type { PhysRange } from '../dmabuf/dmabuf-types.ts';

const BASE = 0x1_0000_0000n;
const CHUNK = 1n << 30n;
const ALIGN = 2n << 20n;

/** First-fit allocator of system-memory ranges. */
export class SystemMemory {
  /** Free holes below `top`, sorted by address. */
  private holes: PhysRange[] = [];
  private top = BASE;

  /** Ranges covering `size` bytes (rounded up to 2 MiB), at most 1 GiB each. */
  allocate(size: bigint): PhysRange[] {
    let left = (size + ALIGN - 1n) & ~(ALIGN - 1n);
    const out: PhysRange[] = [];
    while (left > 0n) {
      const want = left < CHUNK ? left : CHUNK;
      const i = this.holes.findIndex((h) => h.len >= want);
      let paddr: bigint;
      if (i >= 0) {
        const h = this.holes[i]!;
        paddr = h.paddr;
        if (h.len === want) this.holes.splice(i, 1);
        else this.holes[i] = { paddr: h.paddr + want, len: h.len - want };
      } else {
        paddr = this.top;
        this.top += want;
      }
      out.push({ paddr, len: want });
      left -= want;
    }
    return out;
  }

  /** Returns ranges from {@link allocate}. */
  free(ranges: readonly PhysRange[]): void {
    for (const r of ranges) this.holes.push({ paddr: r.paddr, len: r.len });
    this.holes.sort((a, b) => (a.paddr < b.paddr ? -1 : a.paddr > b.paddr ? 1 : 0));
    const merged: PhysRange[] = [];
    for (const h of this.holes) {
      const last = merged[merged.length - 1];
      if (last && last.paddr + last.len === h.paddr)
        merged[merged.length - 1] = { paddr: last.paddr, len: last.len + h.len };
      else merged.push(h);
    }
    this.holes = merged;
  }
}
