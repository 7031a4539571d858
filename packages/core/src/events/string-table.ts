/**
 * The encoder's per-frame string table: string -> 1-based index in the order of first use (the frame
 * format's string references, `frame-codec.ts`).
 *
 * Short strings (device names, message ids: mostly literals, whose hash V8 keeps) are found through a
 * Map. Long ones are mostly built per event (hazard and kernel-log texts with addresses in them), and a
 * Map lookup of a freshly built string makes V8 flatten and hash all of it: about 300 ns for an 80-character
 * text, several times the cost of encoding the rest of the event. They are found instead by a signature
 * of their length and four of their characters, then compared in full with the few candidates; a
 * mismatching comparison usually stops at the first differing character. Which strings are found is
 * exactly the same either way: only the lookup differs, so frames are byte for byte the same.
 */

/** Strings up to this length go through the Map (message ids, up to about 30 characters, are literals). */
const SHORT = 32;

/** The signature of a long string: its length and four characters spread over it. */
function signature(s: string): number {
  const n = s.length;
  return (
    Math.imul(n, 0x9e3779b1) ^
    s.charCodeAt(0) ^
    Math.imul(s.charCodeAt(n >> 2), 31) ^
    Math.imul(s.charCodeAt(n >> 1), 961) ^
    Math.imul(s.charCodeAt(n - 1), 29791)
  );
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
