/**
 * Hex strings of the dmasim topology format: 64-bit quantities (`"0x380000000000"`) become `bigint`,
 * 16-bit ids (`"0x10de"`) become numbers. Each parser returns `null` on malformed input so that the caller
 * can name the file and field in its error.
 */

/** 2^64 - 1. */
export const U64_MAX = (1n << 64n) - 1n;

/** True for `0x` followed by 1..maxDigits hex digits (either case). */
function isHex(s: string, maxDigits: number): boolean {
  const n = s.length;
  if (n < 3 || n > maxDigits + 2 || s.charCodeAt(0) !== 48 || s.charCodeAt(1) !== 120) return false;
  for (let i = 2; i < n; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}

/** `"0x..."` with 1 to 16 hex digits -> bigint in 0..2^64-1; anything else -> null. */
export function parseHexU64(s: unknown): bigint | null {
  if (typeof s !== 'string' || !isHex(s, 16)) return null;
  return BigInt(s);
}

/** `"0x..."` with 1 to 4 hex digits -> number in 0..0xffff (vendor and device ids); anything else -> null. */
export function parseHexU16(s: unknown): number | null {
  if (typeof s !== 'string' || !isHex(s, 4)) return null;
  return Number.parseInt(s.slice(2), 16);
}

/** `"0x..."` with 1 to 6 hex digits -> number in 0..0xffffff (PCI class codes); anything else -> null. */
export function parseHexU24(s: unknown): number | null {
  if (typeof s !== 'string' || !isHex(s, 6)) return null;
  return Number.parseInt(s.slice(2), 16);
}

/** Formats a u64 as the topology format writes it: `0x` and lowercase hex without padding. */
export function hexU64(v: bigint): string {
  return `0x${BigInt.asUintN(64, v).toString(16)}`;
}

/** Formats a 16-bit id as `0x%04x`. */
export function hexU16(v: number): string {
  return `0x${(v & 0xffff).toString(16).padStart(4, '0')}`;
}
