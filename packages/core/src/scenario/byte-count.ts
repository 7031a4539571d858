/** Byte counts in scenario files: `4096`, `"0x200000"`, `"2MiB"`, `"1.5GiB"`. */

const UNITS: Record<string, bigint> = {
  '': 1n,
  B: 1n,
  KiB: 1n << 10n,
  MiB: 1n << 20n,
  GiB: 1n << 30n,
  TiB: 1n << 40n,
};
const TEXT = /^([0-9]+)(?:\.([0-9]+))?\s*(B|KiB|MiB|GiB|TiB)?$/;

/**
 * The number of bytes a scenario byte count stands for.
 * @throws Error (with a message for the scenario error) for a negative, fractional or malformed count.
 */
export function parseByteCount(v: number | string): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`expected a whole number of bytes, found ${v}`);
    return BigInt(v);
  }
  if (/^0x[0-9a-fA-F]+$/.test(v)) return BigInt(v);
  const m = TEXT.exec(v);
  if (!m) throw new Error(`expected a byte count such as 4096, "0x200000" or "2MiB", found ${JSON.stringify(v)}`);
  const unit = UNITS[m[3] ?? '']!;
  const frac = m[2] ?? '';
  const scale = 10n ** BigInt(frac.length);
  const scaled = (BigInt(m[1]!) * scale + BigInt(frac === '' ? '0' : frac)) * unit;
  if (scaled % scale !== 0n) throw new Error(`${JSON.stringify(v)} is not a whole number of bytes`);
  return scaled / scale;
}
