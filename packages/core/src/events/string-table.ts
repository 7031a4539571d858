/**
 * The encoder's per-frame string table: string -> 1-based index in the order of first use (the frame
 * format's string references, `frame-codec.ts`).
 *
 * Short strings (device names, message ids: mostly literals, whose hash V8 keeps) are found through a
 * Map. Long ones are mostly built per event (hazard and kernel-log texts with addresses in them), and a
 * Map lookup of a freshly built string makes V8 flatten and hash all of it, slowly. They are found instead
 * by a hash of their UTF-8 bytes, which `TextEncoder.encodeInto` writes into a scratch buffer faster than
 * JavaScript can read the characters (`npm run bench -- codec-strings` compares the two). Every byte
 * counts: texts built from one template differ only in the numbers in them, anywhere in the string
 * (hundreds of `DMA PTE for vPFN 0x... already set` lines share their length and most characters, so a
 * hash of a few sampled characters put them all in one bucket, scanned in full on every lookup).
 * The few candidates of a hash are compared in full, so which strings are found is exactly the same
 * either way: only the lookup differs, and frames are byte for byte the same.
 */
import { murmur3x86View } from './bytes.ts';

/** Strings up to this length go through the Map (message ids, up to about 30 characters, are literals). */
const SHORT = 32;

const utf8 = new TextEncoder();

/** Scratch for the UTF-8 bytes of one long string (one per thread: the table is not re-entered meanwhile). */
let scratch = new Uint8Array(1024);
let scratchView = new DataView(scratch.buffer);

/** The hash of a long string: MurmurHash3 x86_32 of its UTF-8 bytes. */
function signature(s: string): number {
  if (s.length * 3 > scratch.length) {
    let size = scratch.length * 2;
    while (size < s.length * 3) size *= 2;
    scratch = new Uint8Array(size);
    scratchView = new DataView(scratch.buffer);
  }
  return murmur3x86View(scratchView, scratch, 0, utf8.encodeInto(s, scratch).written);
}

export class FrameStrings {
  private readonly short = new Map<string, number>();
  /** signature -> [string, index, string, index, ...] */
  private readonly long = new Map<number, (string | number)[]>();
  /** The strings in index order (index i + 1 at position i). */
  private readonly order: string[] = [];

  /** Number of strings in the table. */
  get size(): number {
    return this.order.length;
  }

  /** The index of `s`, or undefined. */
  get(s: string): number | undefined {
    const r = this.lookup(s, false);
    return r > 0 ? r : undefined;
  }

  /** Adds `s` (not in the table) and returns its index. */
  add(s: string): number {
    return -this.lookup(s, true);
  }

  /**
   * The encoder's one call per string: the index of `s` if it is in the table (> 0), else `s` is added
   * and minus its new index is returned. One Map lookup or one signature, not one for the search and
   * another for the insertion.
   */
  ref(s: string): number {
    return this.lookup(s, true);
  }

  /** Index of `s` (> 0); when absent, -(its new index) after adding it if `insert`, else 0. */
  private lookup(s: string, insert: boolean): number {
    if (s.length <= SHORT) {
      const i = this.short.get(s);
      if (i !== undefined) return i;
      if (!insert) return 0;
      const index = this.order.push(s);
      this.short.set(s, index);
      return -index;
    }
    const sig = signature(s);
    const bucket = this.long.get(sig);
    if (bucket !== undefined) {
      for (let i = 0; i < bucket.length; i += 2) if (bucket[i] === s) return bucket[i + 1] as number;
    }
    if (!insert) return 0;
    const index = this.order.push(s);
    if (bucket === undefined) this.long.set(sig, [s, index]);
    else bucket.push(s, index);
    return -index;
  }

  /** Forgets the strings added after the first `n` (undoing a partly encoded event). */
  truncate(n: number): void {
    while (this.order.length > n) {
      const s = this.order.pop()!;
      if (s.length <= SHORT) {
        this.short.delete(s);
        continue;
      }
      const sig = signature(s);
      const bucket = this.long.get(sig)!;
      // The last string added is the last entry of its bucket.
      bucket.length -= 2;
      if (bucket.length === 0) this.long.delete(sig);
    }
  }

  /** Empties the table (a new frame). */
  clear(): void {
    this.short.clear();
    this.long.clear();
    this.order.length = 0;
  }
}
