/**
 * `dmasim topo show`: the PCI tree drawn exactly as `lspci -tv` draws it (pciutils `ls-tree.c`: root
 * buses, bus ranges, `+-`/`\-` lists, one-line chains), with what matters to P2PDMA appended to each line:
 * labels, ACS control bits of functions that have the capability, IOMMU groups, NUMA nodes, and the
 * first function of each root bus (what the host-bridge whitelist reads).
 */
import type { FunctionSpec, TopologySpec } from '@dmasim/core';

const REDIRECT_BITS: readonly [number, string][] = [
  [0x04, 'ReqRedir'],
  [0x08, 'CmpltRedir'],
  [0x20, 'EgressCtrl'],
];

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function busText(segment: number, bus: number): string {
  return `${segment.toString(16).padStart(4, '0')}:${hex2(bus)}`;
}

/** What a function's line says beyond lspci. Empty when there is nothing to add. */
export function annotate(f: FunctionSpec, hbNuma: number | null | undefined): string {
  const parts: string[] = [];
  if (f.label) parts.push(f.label);
  if (f.physfn) parts.push(`VF of ${f.physfn.slice(-7)}`);
  if (f.acsCap) {
    const on = REDIRECT_BITS.filter(([b]) => (f.acsCtrl & b) !== 0).map(([, n]) => `${n}+`);
    parts.push(on.length > 0 ? `ACS ${on.join(' ')}` : 'ACS no redirect');
  }
  if (typeof f.iommuGroup === 'number') parts.push(`iommu group ${f.iommuGroup}`);
  if (typeof f.numaNode === 'number' && f.numaNode !== hbNuma) parts.push(`numa ${f.numaNode}`);
  return parts.join(', ');
}

/**
 * Renders the tree; one string per line, without newlines. With `annotate: false` the text is exactly what
 * `lspci -tv` prints for the machine (and reads back as such).
 */
export function renderTree(spec: TopologySpec, opts: { annotate?: boolean } = {}): string[] {
  const annotateLines = opts.annotate !== false;
  const lines: string[] = [];
  const buf: string[] = [];
  let pending: string[] = [];
  const children = new Map<string, FunctionSpec[]>();
  for (const f of spec.functions) {
    const k = f.parent ?? `hb${f.hostBridge}`;
    const list = children.get(k);
    if (list) list.push(f);
    else children.set(k, [f]);
  }
  const write = (p: number, s: string): number => {
    for (let i = 0; i < s.length; i++) buf[p + i] = s[i]!;
    return p + s.length;
  };
  const printIt = (end: number): void => {
    const text = buf.slice(0, end).join('');
    lines.push(annotateLines && pending.length > 0 ? `${text}  [${pending.join('; ')}]` : text);
    pending = [];
    for (let i = 0; i < end; i++) buf[i] = buf[i] === '+' || buf[i] === '|' ? '|' : ' ';
  };
  const note = (what: string, text: string): void => {
    if (text) pending.push(`${what} ${text}`);
  };
  const showDev = (f: FunctionSpec, p: number): void => {
    const slot = f.bdf.slice(-4);
    p = write(p, slot);
    const hb = spec.hostBridges[f.hostBridge];
    note(slot, annotate(f, hb?.numaNode));
    if (f.secondaryBus !== null && f.subordinateBus !== null) {
      p = write(
        p,
        f.secondaryBus === f.subordinateBus
          ? `-[${hex2(f.secondaryBus)}]-`
          : `-[${hex2(f.secondaryBus)}-${hex2(f.subordinateBus)}]-`,
      );
      p = write(p, '-');
      showBus(children.get(f.bdf) ?? [], p);
      return;
    }
    if (f.name) p = write(p, `  ${f.name}`);
    printIt(p);
  };
  const showBus = (devs: FunctionSpec[], p: number): void => {
    if (devs.length === 0) printIt(p);
    else if (devs.length === 1) showDev(devs[0]!, write(p, '--'));
    else {
      for (let i = 0; i < devs.length - 1; i++) showDev(devs[i]!, write(p, '+-'));
      showDev(devs[devs.length - 1]!, write(p, '\\-'));
    }
  };
  const hbNote = (i: number): void => {
    const hb = spec.hostBridges[i]!;
    const bits: string[] = [];
    if (typeof hb.numaNode === 'number') bits.push(`numa ${hb.numaNode}`);
    if (bits.length > 0) pending.push(`${busText(hb.segment, hb.rootBus)} ${bits.join(', ')}`);
  };
  const p = write(0, '-');
  if (spec.hostBridges.length === 1) {
    const hb = spec.hostBridges[0]!;
    hbNote(0);
    showBus(children.get('hb0') ?? [], write(p, `[${busText(hb.segment, hb.rootBus)}]-`));
  } else {
    spec.hostBridges.forEach((hb, i) => {
      const last = i === spec.hostBridges.length - 1;
      hbNote(i);
      const k = write(p, `${last ? '\\' : '+'}-[${busText(hb.segment, hb.rootBus)}]-`);
      showBus(children.get(`hb${i}`) ?? [], k);
    });
  }
  return lines;
}

/** The lines above the tree: the machine, its CPU, and each host bridge's first function. */
export function renderHeader(spec: TopologySpec): string[] {
  const out = [
    `${spec.id}: ${spec.hostBridges.length} host bridge${spec.hostBridges.length === 1 ? '' : 's'}, ${spec.functions.length} functions; ${cpuText(spec)}; ${spec.platform.numaNodes ?? 1} NUMA node${(spec.platform.numaNodes ?? 1) === 1 ? '' : 's'}`,
    'First function of each root bus (what the P2PDMA host-bridge whitelist reads):',
  ];
  spec.hostBridges.forEach((hb, i) => {
    const first = spec.functions.find((f) => f.hostBridge === i && f.parent === null && f.physfn === null);
    out.push(
      `  [${busText(hb.segment, hb.rootBus)}] ${first ? `${first.bdf.slice(-7)} ${first.vendor.slice(2)}:${first.device.slice(2)} ${first.type}${first.name ? `  ${first.name}` : ''}` : '(no function)'}`,
    );
  });
  return out;
}

/** `CPU amd family 0x19 (assumed)`: the CPU, and whether it was read, set or assumed. */
export function cpuText(spec: TopologySpec): string {
  const c = spec.platform.cpu;
  const a = spec.assumed?.find((x) => x.field === 'platform.cpu');
  const how = !a ? '' : a.why.startsWith('set by') ? ' (set on the command line)' : ' (assumed)';
  return `CPU ${c.vendor}${c.vendor === 'other' ? '' : ` family 0x${c.family.toString(16)}`}${c.model ? ` ${c.model}` : ''}${how}`;
}
