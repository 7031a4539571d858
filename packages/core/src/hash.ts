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
  fnv64Bytes(new TextEncoder().encode(s));
  return fnv64State[0]!.toString(16).padStart(8, '0') + fnv64State[1]!.toString(16).padStart(8, '0');
}

/** The (hi, lo) halves of the last {@link fnv64Bytes}. */
const fnv64State = new Uint32Array(2);

/**
 * The FNV-1a 64 loop. V8 compiles a long loop on stack replacement before the code after it has ever run;
 * that code then has no type feedback and deoptimised on every call (the same cached loop code was
 * re-entered each time). One call on no bytes at load gives the code after the loop its feedback.
 */
function fnv64Bytes(bytes: Uint8Array): void {
  // Work on 32-bit halves with numbers: exact, and ~20x faster than a bigint loop.
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ bytes[i]!) >>> 0;
    // (hi,lo) * 0x100000001b3 = (hi,lo) * 0x1b3 + (lo << 40)
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x100000000);
    const newLo = loMul >>> 0;
    const newHi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0;
    hi = newHi;
    lo = newLo;
  }
  fnv64State[0] = hi;
  fnv64State[1] = lo;
}
fnv64Bytes(new Uint8Array(0));

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
