/**
 * Kernel PCI device names (`pci_name()`: `ssss:bb:dd.f`, lowercase hex) and the numbers inside them.
 * The segment is printed with `%04x`, so VMD-style domains (0x10000 and up) have five or more digits.
 */
import type { Bdf } from './topology-spec.ts';

/** The numbers of a PCI device name. */
export interface BdfParts {
  /** PCI domain (segment) number, 0..0xffffffff (VMD domains start at 0x10000). */
  readonly segment: number;
  /** Bus number, 0..255. */
  readonly bus: number;
  /** Device (slot) number, 0..31. */
  readonly slot: number;
  /** Function number, 0..7. */
  readonly func: number;
  /** `PCI_DEVFN(slot, func)` = `(slot << 3) | func`, 0..255. */
  readonly devfn: number;
}

/** Value of a lowercase hex digit (char code), or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Parses a kernel device name. Returns `null` when `name` is not exactly what `pci_name()` prints
 * (lowercase, 4-digit segment unless it is 0x10000 or more, 2-digit bus and device, device <= 0x1f).
 * Hand-written rather than a regular expression: it runs once per function of every topology built.
 */
export function parseBdf(name: string): BdfParts | null {
  if (typeof name !== 'string') return null;
  const n = name.length;
  // ssss:bb:dd.f with 4..8 segment digits: 12..16 characters.
  if (n < 12 || n > 16) return null;
  const segLen = n - 8;
  if (segLen > 4 && name.charCodeAt(0) === 48) return null;
  let segment = 0;
  for (let i = 0; i < segLen; i++) {
    const d = hexDigit(name.charCodeAt(i));
    if (d < 0) return null;
    segment = segment * 16 + d;
  }
  if (name.charCodeAt(segLen) !== 58 || name.charCodeAt(segLen + 3) !== 58 || name.charCodeAt(segLen + 6) !== 46)
    return null;
  const b1 = hexDigit(name.charCodeAt(segLen + 1));
  const b2 = hexDigit(name.charCodeAt(segLen + 2));
  const d1 = hexDigit(name.charCodeAt(segLen + 4));
  const d2 = hexDigit(name.charCodeAt(segLen + 5));
  const func = name.charCodeAt(segLen + 7) - 48;
  if (b1 < 0 || b2 < 0 || d1 < 0 || d2 < 0 || func < 0 || func > 7) return null;
  const slot = d1 * 16 + d2;
  if (slot > 0x1f) return null;
  return { segment, bus: b1 * 16 + b2, slot, func, devfn: (slot << 3) | func };
}

/** Formats a kernel device name exactly as `pci_name()` does (`%04x:%02x:%02x.%d`). */
export function formatBdf(segment: number, bus: number, devfn: number): Bdf {
  const seg = segment.toString(16).padStart(4, '0');
  const b = bus.toString(16).padStart(2, '0');
  const d = (devfn >> 3).toString(16).padStart(2, '0');
  return `${seg}:${b}:${d}.${devfn & 7}`;
}
