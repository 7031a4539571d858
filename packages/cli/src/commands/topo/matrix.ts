/**
 * `dmasim topo matrix`: for every pair of selected devices, the P2PDMA map type and distance (provider
 * row -> client column, as the kernel decides them) and the nvidia-smi path class, drawn as the matrices
 * `nvidia-smi topo -m` users already read; or as JSON.
 */
import { type DeviceClass, type PairRow, pairMatrix } from '@dmasim/core';
import { InvalidArgumentError } from 'commander';
import type { Machine } from './machine.ts';
import { cpuText } from './show.ts';

/** The classes `--class` accepts. */
export const SELECTABLE_CLASSES: readonly DeviceClass[] = [
  'gpu',
  'nic',
  'nvme',
  'accel',
  'bridge',
  'host_bridge',
  'other',
];

/** Parses `--class gpu,nic` (or `all`). */
export function parseClasses(v: string): DeviceClass[] {
  const parts = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 1 && parts[0] === 'all') return [...SELECTABLE_CLASSES];
  for (const p of parts) {
    if (!SELECTABLE_CLASSES.includes(p as DeviceClass)) {
      throw new InvalidArgumentError(
        `--class ${JSON.stringify(p)}: expected a comma-separated list of ${SELECTABLE_CLASSES.join(', ')}, or all`,
      );
    }
  }
  if (parts.length === 0) throw new InvalidArgumentError('--class: expected at least one class');
  return parts as DeviceClass[];
}

/** A selected device. */
export interface MatrixDevice {
  bdf: string;
  /** Column heading: the label, else the device name without a 0000 domain. */
  name: string;
  label: string | null;
  class: DeviceClass | null;
  vendor: string;
  device: string;
  description: string | null;
}

function labelKey(l: string): [string, number] {
  const m = /^(.*?)(\d+)$/.exec(l);
  return m ? [m[1]!, Number(m[2])] : [l, -1];
}

/** The devices of the given classes: labelled ones first (GPU0, GPU1, ..., NIC0, ...), then in PCI order. */
export function selectDevices(m: Machine, classes: readonly DeviceClass[]): MatrixDevice[] {
  const wide = m.spec.functions.some((f) => !f.bdf.startsWith('0000:'));
  const chosen = m.spec.functions.filter((f) => f.deviceClass !== undefined && classes.includes(f.deviceClass));
  const labelled = chosen
    .filter((f) => f.label)
    .sort((a, b) => {
      const [pa, na] = labelKey(a.label!);
      const [pb, nb] = labelKey(b.label!);
      return pa === pb ? na - nb : pa.localeCompare(pb);
    });
  const rest = chosen.filter((f) => !f.label);
  return [...labelled, ...rest].map((f) => ({
    bdf: f.bdf,
    name: f.label ?? (wide ? f.bdf : f.bdf.slice(5)),
    label: f.label ?? null,
    class: f.deviceClass ?? null,
    vendor: f.vendor,
    device: f.device,
    description: f.name ?? null,
  }));
}

/** All ordered pairs, self included. */
export function computePairs(m: Machine, devices: readonly MatrixDevice[]): PairRow[] {
  return pairMatrix(
    m.topology,
    devices.map((d) => d.bdf),
    { includeSelf: true, ordered: true },
  );
}

/** The `--json` document: `{ devices, pairs }` (pairs of two different devices, both directions). */
export function matrixJson(devices: readonly MatrixDevice[], rows: readonly PairRow[]): unknown {
  return {
    devices: devices.map((d) => ({ bdf: d.bdf, label: d.label, class: d.class, vendor: d.vendor, device: d.device })),
    pairs: rows
      .filter((r) => r.a !== r.b)
      .map((r) => ({ a: r.a, b: r.b, mapType: r.mapType, distance: r.distance, pathClass: r.pathClass })),
  };
}

const SHORT: Readonly<Record<string, string>> = { BUS_ADDR: 'BUS', THRU_HOST_BRIDGE: 'THRU', NOT_SUPPORTED: 'NO' };

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** The text report: path-class matrix, map-type matrix, legend and device list. */
export function matrixText(
  m: Machine,
  devices: readonly MatrixDevice[],
  rows: readonly PairRow[],
  classes: readonly DeviceClass[],
): string {
  const at = new Map(rows.map((r) => [`${r.a} ${r.b}`, r]));
  const names = devices.map((d) => d.name);
  const cell = (a: MatrixDevice, b: MatrixDevice): PairRow => at.get(`${a.bdf} ${b.bdf}`)!;
  let s = `${m.spec.id}: ${devices.length} devices of class ${classes.join(',')}; ${cpuText(m.spec)}\n\n`;
  if (devices.length === 0) return `${s}(no devices of these classes; try --class all)\n`;
  s += 'Path class (nvidia-smi topo -m legend):\n';
  s += `${table(
    ['', ...names],
    devices.map((a) => [a.name, ...devices.map((b) => (a === b ? ' X' : cell(a, b).pathClass))]),
  )}\n\n`;
  s += 'P2PDMA map type and distance, provider (row) -> client (column):\n';
  s += `${table(
    ['', ...names],
    devices.map((a) => [
      a.name,
      ...devices.map((b) => `${SHORT[cell(a, b).mapType] ?? cell(a, b).mapType} ${cell(a, b).distance}`),
    ]),
  )}\n\n`;
  s +=
    'Legend:\n' +
    '  X    = Self\n' +
    '  SYS  = Connection traversing PCIe as well as the SMP interconnect between NUMA nodes\n' +
    '  NODE = Connection traversing PCIe as well as the interconnect between PCIe Host Bridges within a NUMA node\n' +
    '  PHB  = Connection traversing PCIe as well as a PCIe Host Bridge (typically the CPU)\n' +
    '  PXB  = Connection traversing multiple PCIe bridges (without traversing the PCIe Host Bridge)\n' +
    '  PIX  = Connection traversing at most a single PCIe bridge\n' +
    '  BUS  = PCI_P2PDMA_MAP_BUS_ADDR: the device is given PCI bus addresses, the transfer stays below the common bridge\n' +
    '  THRU = PCI_P2PDMA_MAP_THRU_HOST_BRIDGE: a normal DMA mapping (IOVA or physical), the transfer crosses the root complex\n' +
    '  NO   = PCI_P2PDMA_MAP_NOT_SUPPORTED: the DMA-buf mapping fails (-EINVAL)\n' +
    '  the number is the kernel distance (used only for ranking)\n\n';
  s += 'Devices:\n';
  s += `${table(
    ['', 'device', 'class', 'ids', 'name'],
    devices.map((d) => [
      d.name,
      d.bdf,
      d.class ?? '-',
      `${d.vendor.slice(2)}:${d.device.slice(2)}`,
      d.description ?? '',
    ]),
  )
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}\n`;
  return s;
}
