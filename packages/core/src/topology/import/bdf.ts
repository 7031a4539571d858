/** PCI device names (`ssss:bb:dd.f`) as the kernel writes them, and the forms other tools print. */
import type { Bdf } from '../topology-spec.ts';

/** The parts of a device name. */
export interface BdfParts {
  segment: number;
  bus: number;
  device: number;
  function: number;
}

/** `ssss:bb:dd.f`, lowercase, with a segment of at least 4 digits (VMD domains have 5). */
export function formatBdf(p: BdfParts): Bdf {
  return `${p.segment.toString(16).padStart(4, '0')}:${p.bus.toString(16).padStart(2, '0')}:${p.device
    .toString(16)
    .padStart(2, '0')}.${p.function.toString(16)}`;
}

// [segment:]bus:dev.fn; nvidia-smi prints an 8-digit segment (`00000000:C1:00.0`).
const BDF = /^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/;

/**
 * Parses a device name in any of the forms lspci, sysfs and nvidia-smi print (`c1:00.0`, `0000:c1:00.0`,
 * `00000000:C1:00.0`); `defaultSegment` fills a missing segment. `undefined` when it is not a device name.
 */
export function parseBdf(s: string, defaultSegment = 0): BdfParts | undefined {
  const m = BDF.exec(s.trim());
  if (!m) return undefined;
  const segment = m[1] === undefined ? defaultSegment : Number.parseInt(m[1], 16);
  const device = Number.parseInt(m[3]!, 16);
  if (device > 0x1f || segment > 0xffffff) return undefined;
  return { segment, bus: Number.parseInt(m[2]!, 16), device, function: Number.parseInt(m[4]!, 16) };
}

/** Normalises a device name to the kernel form; `undefined` when it is not one. */
export function normalizeBdf(s: string, defaultSegment = 0): Bdf | undefined {
  const p = parseBdf(s, defaultSegment);
  return p ? formatBdf(p) : undefined;
}

/** The parts of a name already in kernel form (trusted: produced by {@link formatBdf}). */
export function bdfParts(bdf: Bdf): BdfParts {
  const p = parseBdf(bdf);
  if (!p) throw new TypeError(`not a PCI device name: ${bdf}`);
  return p;
}

/** `(device << 3) | function`. */
export function devfnOf(p: BdfParts): number {
  return (p.device << 3) | p.function;
}

/** `ssss:bb` of a bus. */
export function busName(segment: number, bus: number): string {
  return `${segment.toString(16).padStart(4, '0')}:${bus.toString(16).padStart(2, '0')}`;
}

/** The BDF of the function whose routing id is `rid` on `segment` (SR-IOV VF numbering). */
export function bdfFromRid(segment: number, rid: number): Bdf {
  return formatBdf({ segment, bus: (rid >> 8) & 0xff, device: (rid >> 3) & 0x1f, function: rid & 7 });
}

/** The routing id `(bus << 8) | devfn`. */
export function ridOf(p: BdfParts): number {
  return (p.bus << 8) | devfnOf(p);
}
