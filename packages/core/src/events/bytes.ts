/**
 * Little byte writer and reader for the event codec: unsigned LEB128 varints (exact up to 2^64 - 1),
 * zigzag varints for signed values, UTF-8 strings, fixed little-endian u32. The reader throws
 * {@link DmasimError} `EVENT_DECODE` naming the source and byte offset on truncated or malformed input.
 */
import { DmasimError, ErrorCode } from '../errors.ts';

const TWO_32 = 0x100000000;
const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

/** A growable output buffer. */
export class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(initial = 4096) {
    this.buf = new Uint8Array(initial);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  reset(): void {
    this.pos = 0;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /** Fixed 4 bytes, little-endian. */
  u32le(v: number): void {
    this.ensure(4);
    const b = this.buf;
    b[this.pos++] = v & 0xff;
    b[this.pos++] = (v >>> 8) & 0xff;
    b[this.pos++] = (v >>> 16) & 0xff;
    b[this.pos++] = (v >>> 24) & 0xff;
  }

  /** Unsigned varint of a non-negative safe integer. */
  varNum(v: number): void {
    this.ensure(8);
    const b = this.buf;
    if (v < TWO_32) {
      let x = v >>> 0;
      while (x >= 0x80) {
        b[this.pos++] = (x & 0x7f) | 0x80;
        x >>>= 7;
      }
      b[this.pos++] = x;
      return;
    }
    while (v >= 0x80) {
      b[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    b[this.pos++] = v;
  }

  /**
   * Signed varint of a safe integer: the first byte holds the sign (0x40) and the low 6 bits of the
   * magnitude `m` (`v` for v >= 0, `-v - 1` otherwise), then, if 0x80 is set, `floor(m / 64)` as a varint.
   * Exact over the whole safe range (a zigzag would need 54 bits).
   */
  varInt(v: number): void {
    const neg = v < 0;
    const m = neg ? -v - 1 : v;
    const rest = Math.floor(m / 64);
    this.u8((m % 64) | (neg ? 0x40 : 0) | (rest > 0 ? 0x80 : 0));
    if (rest > 0) this.varNum(rest);
  }

  /** Unsigned varint of a u64 bigint (1 to 10 bytes). */
  varU64(v: bigint): void {
    // Number() rounds monotonically, so n <= 2^53 - 1 exactly when v is (and n is then exact).
    const n = Number(v);
    if (n <= Number.MAX_SAFE_INTEGER) {
      this.varNum(n);
      return;
    }
    this.ensure(10);
    const b = this.buf;
    while (v >= 0x80n) {
      b[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    b[this.pos++] = Number(v);
  }

  /** Length-prefixed UTF-8. */
  str(s: string): void {
    this.ensure(s.length * 3 + 5);
    // Reserve one length byte for short strings; shift the bytes if the length needs more.
    const start = this.pos + 1;
    const { written } = utf8.encodeInto(s, this.buf.subarray(start));
    if (written < 0x80) {
      this.buf[this.pos] = written;
      this.pos = start + written;
      return;
    }
    const bytes = this.buf.slice(start, start + written);
    this.varNum(written);
    this.ensure(written);
    this.buf.set(bytes, this.pos);
    this.pos += written;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A copy of what was written. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** Reads what {@link ByteWriter} wrote; every read checks the end. */
export class ByteReader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;
  readonly source: string;

  constructor(buf: Uint8Array, source: string, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.source = source;
  }

  fail(problem: string, at = this.pos): never {
    throw new DmasimError(ErrorCode.EVENT_DECODE, `${this.source}: byte ${at}: ${problem}`, {
      source: this.source,
      offset: at,
    });
  }

  truncated(): never {
    return this.fail('truncated input: expected more bytes, found the end');
  }

  u8(): number {
    if (this.pos >= this.end) this.truncated();
    return this.buf[this.pos++]!;
  }

  u32le(): number {
    if (this.pos + 4 > this.end) this.truncated();
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  /** Unsigned varint that must fit a safe integer. */
  varNum(): number {
    const at = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) this.truncated();
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) this.fail('integer larger than 2^53 - 1', at);
        return result;
      }
      mul *= 0x80;
    }
    return this.fail('integer larger than 2^53 - 1', at);
  }

  varInt(): number {
    const at = this.pos;
    const b = this.u8();
    let m = b & 0x3f;
    if (b & 0x80) {
      const rest = this.varNum();
      if (rest === 0) this.fail('non-canonical signed integer', at);
      m += rest * 64;
      if (m > Number.MAX_SAFE_INTEGER) this.fail('integer larger than 2^53 - 1', at);
    }
    return b & 0x40 ? -m - 1 : m;
  }

  varU64(): bigint {
    const at = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) this.truncated();
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) return BigInt(result);
      mul *= 0x80;
    }
    // More than 49 bits: continue in bigint.
    let big = BigInt(result);
    let shift = 49n;
    for (let i = 7; i < 10; i++) {
      if (this.pos >= this.end) this.truncated();
      const byte = this.buf[this.pos++]!;
      big |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) {
        if (big > 0xffffffffffffffffn) this.fail('value larger than 2^64 - 1', at);
        return big;
      }
      shift += 7n;
    }
    return this.fail('varint longer than 10 bytes', at);
  }

  str(): string {
    const n = this.varNum();
    if (this.pos + n > this.end) this.truncated();
    const at = this.pos;
    this.pos += n;
    try {
      return utf8d.decode(this.buf.subarray(at, at + n));
    } catch {
      return this.fail('string is not valid UTF-8', at);
    }
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.end) this.truncated();
    const at = this.pos;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }
}

/** FNV-1a 32-bit over `bytes[start, end)`: the frame checksum. */
export function fnv1a32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
