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

const BDF_RE = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;

/**
 * Parses a kernel device name. Returns `null` when `name` is not exactly what `pci_name()` prints
 * (lowercase, 4-digit segment unless it is 0x10000 or more, 2-digit bus and device, device <= 0x1f).
 */
export function parseBdf(name: string): BdfParts | null {
  const m = BDF_RE.exec(name);
  if (!m) return null;
  const segText = m[1] as string;
  const segment = Number.parseInt(segText, 16);
  if (segText.length > 4 && segText.startsWith('0')) return null;
  const bus = Number.parseInt(m[2] as string, 16);
  const slot = Number.parseInt(m[3] as string, 16);
  const func = Number.parseInt(m[4] as string, 16);
  if (slot > 0x1f) return null;
  return { segment, bus, slot, func, devfn: (slot << 3) | func };
}

/** Formats a kernel device name exactly as `pci_name()` does (`%04x:%02x:%02x.%d`). */
export function formatBdf(segment: number, bus: number, devfn: number): Bdf {
  const seg = segment.toString(16).padStart(4, '0');
  const b = bus.toString(16).padStart(2, '0');
  const d = (devfn >> 3).toString(16).padStart(2, '0');
  return `${seg}:${b}:${d}.${devfn & 7}`;
}
