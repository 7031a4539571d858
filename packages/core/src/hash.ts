/**
 * Small, stable, pure hashes for identifiers: FNV-1a 64-bit over the UTF-8 bytes of a string, and a
 * canonical JSON form (object keys sorted) so that equal data give equal hashes on every machine and Node
 * version. Not cryptographic: used for ids and change detection, not for security.
 */

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** FNV-1a 64 of the UTF-8 encoding of `s`, as 16 lowercase hex digits. */
export function fnv1a64Hex(s: string): string {
  const h = new Fnv1a64();
  h.text(s);
  return h.hex();
}

/** A running FNV-1a 64 hash (two 32-bit halves in numbers: exact, and much faster than bigint). */
export class Fnv1a64 {
  private hi = 0xcbf29ce4;
  private lo = 0x84222325;

  /** Feeds one byte. */
  byte(b: number): void {
    const lo = (this.lo ^ b) >>> 0;
    // (hi, lo) * 0x100000001b3 = (hi, lo) * 0x1b3 + (lo << 40), modulo 2^64.
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x100000000);
    this.lo = loMul >>> 0;
    this.hi = (this.hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0;
  }

  /** Feeds the UTF-8 encoding of `s`. */
  text(s: string): void {
    // ASCII (nearly all of a snapshot) with the state in locals: the same steps as byte(), without a field
    // load and store per byte. (m / 2^32) | 0 is the floor: m = lo * 0x1b3 < 2^41.
    let hi = this.hi;
    let lo = this.lo;
    const n = s.length;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      lo = (lo ^ c) >>> 0;
      const m = lo * 0x1b3;
      hi = (hi * 0x1b3 + ((m / 0x100000000) | 0) + ((lo << 8) >>> 0)) >>> 0;
      lo = m >>> 0;
    }
    this.hi = hi;
    this.lo = lo;
    if (i < n) this.textFrom(s, i);
  }

  /** {@link text} from position `i` on, byte by byte (the general path, for text with non-ASCII). */
  private textFrom(s: string, from: number): void {
    for (let i = from; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        this.byte(c);
        continue;
      }
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate: TextEncoder writes U+FFFD
      if (c < 0x800) {
        this.byte(0xc0 | (c >> 6));
        this.byte(0x80 | (c & 0x3f));
      } else if (c < 0x10000) {
        this.byte(0xe0 | (c >> 12));
        this.byte(0x80 | ((c >> 6) & 0x3f));
        this.byte(0x80 | (c & 0x3f));
      } else {
        this.byte(0xf0 | (c >> 18));
        this.byte(0x80 | ((c >> 12) & 0x3f));
        this.byte(0x80 | ((c >> 6) & 0x3f));
        this.byte(0x80 | (c & 0x3f));
      }
    }
  }

  /** The hash as 16 lowercase hex digits. */
  hex(): string {
    return this.hi.toString(16).padStart(8, '0') + this.lo.toString(16).padStart(8, '0');
  }
}

/*
 * V8 compiles a long loop on stack replacement before the code after it has ever run; that code then has
 * no type feedback and deoptimised on every call. One call on empty text at load gives it its feedback.
 */
new Fnv1a64().text('');

/** Reference implementation with bigint, used by tests to check {@link fnv1a64Hex}. */
export function fnv1a64HexReference(s: string): string {
  let h = FNV_OFFSET;
  for (const b of new TextEncoder().encode(s)) {
    h ^= BigInt(b);
    h = (h * FNV_PRIME) & MASK64;
  }
  return h.toString(16).padStart(16, '0');
}

/**
 * Canonical JSON: like JSON.stringify but with object keys sorted at every level and bigint written as a
 * `0x` hex string, so the same data always give the same text.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return JSON.stringify(`0x${v.toString(16)}`);
  if (v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v as object)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: cannot encode ${typeof v}`);
}
