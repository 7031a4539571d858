/**
 * Little byte writer and reader for the event codec: unsigned LEB128 varints (exact up to 2^64 - 1),
 * zigzag varints for signed values, UTF-8 strings, fixed little-endian u32. The reader throws
 * {@link DmasimError} `EVENT_DECODE` naming the source and byte offset on truncated or malformed input.
 */
import { DmasimError, ErrorCode } from '../errors.ts';

const TWO_32 = 0x100000000;

/*
 * u64 <-> two 32-bit halves through one 8-byte scratch buffer. Storing a bigint into a BigUint64Array and
 * reading its words is several times faster in V8 than Number(v) or shifts and masks, and so is building
 * a bigint by writing the words and reading the 64-bit element back (`BigInt(n)` of a large number is
 * slower still).
 */
const scratch64 = new BigUint64Array(1);
const scratch32 = new Uint32Array(scratch64.buffer);
/** Index of the low word in `scratch32` (the platform's byte order). */
const LO = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;

/**
 * The scratch buffer for generated code: `u64[0] = v` (0 <= v < 2^64, checked first), then `u32[lo]` and
 * `u32[hi]` are its halves.
 */
export const U64_SCRATCH = { u64: scratch64, u32: scratch32, lo: LO, hi: HI } as const;

/** Bigints 0..127 made once: most u64 fields of events are small. */
const SMALL_U64: readonly bigint[] = Array.from({ length: 128 }, (_, i) => BigInt(i));

/*
 * Decoded u64 values repeat (lengths, sizes, the addresses of a mapping in its map and unmap events), so a
 * small direct-mapped cache of (halves -> bigint) spares most allocations. Bigints are immutable, so
 * sharing one between events is safe.
 */
const CACHE_BITS = 10;
const cacheLo = new Int32Array(1 << CACHE_BITS).fill(-1);
const cacheHi = new Int32Array(1 << CACHE_BITS).fill(-1);
/** Every empty slot holds (-1, -1) = 2^64 - 1, so it is a valid entry too. */
const cacheBig: bigint[] = new Array<bigint>(1 << CACHE_BITS).fill(0xffffffffffffffffn);

/** The bigint `hi * 2^32 + lo` (both unsigned 32-bit). */
export function u64FromHalves(lo: number, hi: number): bigint {
  if (hi === 0 && lo < 128) return SMALL_U64[lo]!;
  const slot = (Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) >>> (32 - CACHE_BITS)) & ((1 << CACHE_BITS) - 1);
  if (cacheLo[slot] === (lo | 0) && cacheHi[slot] === (hi | 0)) return cacheBig[slot]!;
  scratch32[LO] = lo;
  scratch32[HI] = hi;
  const v = scratch64[0]!;
  cacheLo[slot] = lo;
  cacheHi[slot] = hi;
  cacheBig[slot] = v;
  return v;
}

/**
 * Writes the unsigned LEB128 varint of the u64 `hi * 2^32 + lo` into `b` at `p` (room checked by the
 * caller: up to 10 bytes); returns the position after it. Integer operations only.
 */
export function writeVarHalves(b: Uint8Array, p: number, lo: number, hi: number): number {
  if (hi === 0) {
    while (lo >= 0x80) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    b[p++] = lo;
    return p;
  }
  // The low 28 bits, 7 at a time, then 4 more bits of lo with the low bits of hi.
  for (let i = 0; i < 4; i++) {
    b[p++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  let rest = lo | ((hi << 4) & 0x7f); // bits 28..34
  hi >>>= 3;
  while (hi !== 0) {
    b[p++] = rest | 0x80;
    rest = hi & 0x7f;
    hi >>>= 7;
  }
  b[p++] = rest;
  return p;
}

/**
 * Writes the unsigned varint of a non-negative safe integer into `b` at `p` (room checked by the caller:
 * up to 8 bytes); returns the position after it.
 */
export function writeVarNum(b: Uint8Array, p: number, v: number): number {
  if (v < TWO_32) {
    let x = v >>> 0;
    while (x >= 0x80) {
      b[p++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    b[p++] = x;
    return p;
  }
  // 2^32 and above (pfns of a 48-bit IOVA space, times): split once into 32-bit halves instead of a
  // floating-point modulo and division per byte.
  const lo = v % TWO_32;
  return writeVarHalves(b, p, lo, (v - lo) / TWO_32);
}

/**
 * Writes the signed varint of a safe integer into `b` at `p` (room checked by the caller: up to 9 bytes):
 * the first byte holds the sign (0x40) and the low 6 bits of the magnitude `m` (`v` for v >= 0,
 * `-v - 1` otherwise), then, if 0x80 is set, `floor(m / 64)` as a varint. Exact over the whole safe
 * range (a zigzag would need 54 bits).
 */
export function writeVarInt(b: Uint8Array, p: number, v: number): number {
  const neg = v < 0;
  const m = neg ? -v - 1 : v;
  const rest = Math.floor(m / 64);
  // m - rest * 64 is m % 64, exact for safe integers, without a floating-point modulo.
  b[p++] = (m - rest * 64) | (neg ? 0x40 : 0) | (rest > 0 ? 0x80 : 0);
  return rest > 0 ? writeVarNum(b, p, rest) : p;
}

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

  /** Unsigned varint of a non-negative safe integer ({@link writeVarNum}). */
  varNum(v: number): void {
    this.ensure(8);
    this.pos = writeVarNum(this.buf, this.pos, v);
  }

  /** Signed varint of a safe integer ({@link writeVarInt}). */
  varInt(v: number): void {
    this.ensure(9);
    this.pos = writeVarInt(this.buf, this.pos, v);
  }

  /** Unsigned varint of a u64 bigint (1 to 10 bytes). */
  varU64(v: bigint): void {
    this.ensure(10);
    scratch64[0] = v;
    this.pos = writeVarHalves(this.buf, this.pos, scratch32[LO]!, scratch32[HI]!);
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
    const b = this.buf;
    const end = this.end;
    let p = at;
    if (p >= end) this.truncated();
    let byte = b[p++]!;
    if (byte < 0x80) {
      this.pos = p;
      return u64FromHalves(byte, 0);
    }
    // Bits 0..27 from four bytes, bits 28..31 and 32..34 from the fifth, then 7 bits of hi per byte.
    let lo = byte & 0x7f;
    let hi = 0;
    for (let shift = 7; shift < 28; shift += 7) {
      if (p >= end) this.truncated();
      byte = b[p++]!;
      lo |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.pos = p;
        return u64FromHalves(lo, 0);
      }
    }
    if (p >= end) this.truncated();
    byte = b[p++]!;
    lo = (lo | (byte << 28)) >>> 0;
    hi = (byte & 0x7f) >>> 4;
    for (let shift = 3; byte >= 0x80; shift += 7) {
      if (shift > 31) return this.fail('varint longer than 10 bytes', at);
      if (p >= end) this.truncated();
      byte = b[p++]!;
      // The tenth byte carries bit 63 only.
      if (shift === 31 && (byte & 0x7f) > 1) this.fail('value larger than 2^64 - 1', at);
      hi = (hi | ((byte & 0x7f) << shift)) >>> 0;
    }
    this.pos = p;
    return u64FromHalves(lo, hi);
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

/**
 * The 4-byte blocks of MurmurHash3 x86_32 over `[start, n4)`. A function of its own that returns as soon
 * as its loop ends: V8 compiles a long loop on stack replacement before the code after it has ever run,
 * and code after the loop then lacked type feedback and deoptimised on every frame ("insufficient type
 * feedback"), re-entering the same cached loop code each time.
 */
function murmur3Blocks(dv: DataView, start: number, n4: number): number {
  let h = 0;
  for (let i = start; i < n4; i += 4) {
    let k = dv.getInt32(i, true);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  return h;
}

/**
 * MurmurHash3 x86_32 (Austin Appleby's public-domain reference) over `bytes[start, end)`, seed 0, as a
 * signed 32-bit integer (`| 0` of the usual unsigned value): the frame checksum of codec version 2. It
 * reads four bytes per step, so it runs several times as fast as the byte-serial FNV-1a of version 1 (the
 * codec figures of `npm run bench -- mapping-codec`, docs/EVENTS.md), and mixes better.
 */
export function murmur3x86(bytes: Uint8Array, start: number, end: number): number {
  return murmur3x86View(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes, start, end);
}

/** {@link murmur3x86} with a DataView `dv` of `bytes` made already (a caller that hashes one buffer often). */
export function murmur3x86View(dv: DataView, bytes: Uint8Array, start: number, end: number): number {
  const n4 = start + ((end - start) & ~3);
  let h = murmur3Blocks(dv, start, n4);
  const i = n4;
  let k = 0;
  const tail = end - i;
  if (tail === 3) k ^= bytes[i + 2]! << 16;
  if (tail >= 2) k ^= bytes[i + 1]! << 8;
  if (tail >= 1) {
    k ^= bytes[i]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= end - start;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/**
 * FNV-1a 32-bit over `bytes[start, end)`, the frame checksum of codec version 1, as a signed 32-bit
 * integer (`| 0` of the usual unsigned value: the same four bytes). Signed on purpose: V8 keeps a number
 * that may exceed 2^31 out of its integer representation, and an unsigned result made the optimised loop
 * deoptimise ("lost precision") on every frame and fall back to code four times slower.
 */
export function fnv1a32(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = start; i < end; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h;
}
