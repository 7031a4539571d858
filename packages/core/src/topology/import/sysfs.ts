/**
 * A sysfs snapshot -> an {@link ImportFragment}. The snapshot is the layout of `/sys/devices/pci*` (what
 * `hwloc-gather-topology --io` saves, or a live `/sys` read by the CLI), given as a map of relative path ->
 * content; this module does no I/O.
 *
 * The directory nesting is the kernel's device hierarchy: `devices/pci0000:c0/` is the root bus c0 of
 * segment 0; `0000:c0:01.1/0000:c1:00.0/` is a function on the secondary bus of bridge 0000:c0:01.1; VFs
 * sit beside their PF with a `physfn` link. Per function it reads `vendor`, `device`, `class`, `config`
 * (binary: header type, bus numbers, PCIe port type, and the ACS and SR-IOV extended capabilities when the
 * dump has the extended space), `resource` (BARs), `numa_node`, `dma_mask_bits`,
 * `secondary_bus_number`/`subordinate_bus_number`, link speed and width, and the `iommu_group`, `driver`,
 * `physfn` and `virtfnN` links; `net/`, `infiniband/` and `nvme/` children give OS names (`mlx5_0`).
 * `proc/cpuinfo`, when the snapshot has it, gives the CPU.
 */

import type { BarSpec, PlatformSpec } from '../topology-spec.ts';
import { normalizeBdf } from './bdf.ts';
import type { ImportFragment, ObservedFunction, SysfsEntry, SysfsFiles } from './import-types.ts';
import { decodeConfig } from './pci-config.ts';
import { hex, quoteFound, splitLines, topoParseError } from './text.ts';

const ROOT_DIR = /^pci([0-9a-fA-F]{4,8}):([0-9a-fA-F]{2})$/;
const FULL_BDF = /^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/;
const OS_NAME_DIRS = new Set(['net', 'infiniband', 'nvme', 'drm', 'infiniband_verbs']);

/** True when the map holds a `devices/pciSSSS:BB/` tree. */
export function looksLikeSysfs(files: SysfsFiles): boolean {
  for (const k of files.keys()) if (/(?:^|\/)devices\/pci[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}(?:\/|$)/.test(k)) return true;
  return false;
}

function asText(e: SysfsEntry): string | undefined {
  if (typeof e === 'string') return e;
  if (e instanceof Uint8Array) return new TextDecoder('latin1').decode(e);
  return undefined;
}

function asBytes(e: SysfsEntry): Uint8Array | undefined {
  if (e instanceof Uint8Array) return e;
  if (typeof e === 'string') {
    const b = new Uint8Array(e.length);
    for (let i = 0; i < e.length; i++) b[i] = e.charCodeAt(i) & 0xff;
    return b;
  }
  return undefined;
}

function linkTarget(e: SysfsEntry): string | undefined {
  if (typeof e === 'object' && !(e instanceof Uint8Array)) return e.link;
  return typeof e === 'string' ? e.trim() : undefined;
}

function basename(p: string): string {
  const parts = p.replace(/\/+$/, '').split('/');
  return parts[parts.length - 1] ?? '';
}

// struct resource flags (include/linux/ioport.h).
const IORESOURCE_IO = 0x100;
const IORESOURCE_MEM = 0x200;
const IORESOURCE_PREFETCH = 0x2000;
const IORESOURCE_MEM_64 = 0x100000;

/**
 * Parses a sysfs snapshot. `name` is the snapshot's path for messages; each message names the file inside
 * it. Throws TOPOLOGY_PARSE when there is no PCI function in it, or when a file dmasim reads is malformed.
 */
export function parseSysfsSnapshot(files: SysfsFiles, name: string): ImportFragment {
  const frag: ImportFragment = { kind: 'sysfs', file: name, functions: [], rootBuses: [], warnings: [] };
  const byBdf = new Map<string, ObservedFunction>();
  const roots = new Set<string>();
  const numaNodes = new Set<number>();
  const virtfnOf = new Map<string, string>();
  const osNames = new Map<string, Set<string>>();
  const link: Map<string, { speed?: string; width?: string; maxSpeed?: string; maxWidth?: string }> = new Map();
  const sriovFiles = new Map<
    string,
    Partial<Record<'numvfs' | 'totalvfs' | 'offset' | 'stride' | 'vf_device', number>>
  >();

  const keys = [...files.keys()].sort();
  for (const rawKey of keys) {
    const entry = files.get(rawKey)!;
    const key = rawKey.replace(/^(?:\.\/|\/)+/, '');
    const where = `${name}/${key}`;
    if (/(?:^|\/)proc\/cpuinfo$/.test(key)) {
      const t = asText(entry);
      if (t !== undefined) cpuinfo(t, frag);
      continue;
    }
    const node = /(?:^|\/)devices\/system\/node\/node(\d+)(?:\/|$)/.exec(key);
    if (node) {
      numaNodes.add(Number(node[1]));
      continue;
    }
    const comps = key.split('/');
    let i = comps.findIndex((c, k) => ROOT_DIR.test(c) && comps[k - 1] === 'devices');
    if (i < 0) continue;
    const rm = ROOT_DIR.exec(comps[i]!)!;
    const segment = Number.parseInt(rm[1]!, 16);
    const rootBus = Number.parseInt(rm[2]!, 16);
    const rootKey = `${segment}:${rootBus}`;
    if (!roots.has(rootKey)) {
      roots.add(rootKey);
      frag.rootBuses.push({ segment, bus: rootBus, where: { file: `${name}/${comps.slice(0, i + 1).join('/')}` } });
    }
    const chain: string[] = [];
    i++;
    while (i < comps.length && FULL_BDF.test(comps[i]!)) chain.push(comps[i++]!);
    if (chain.length === 0) continue;
    const bdf = normalizeBdf(chain[chain.length - 1]!)!;
    const parentName = chain.length >= 2 ? normalizeBdf(chain[chain.length - 2]!)! : null;
    let f = byBdf.get(bdf);
    if (!f) {
      f = { bdf, where: { file: `${name}/${comps.slice(0, i).join('/')}` }, parent: parentName };
      byBdf.set(bdf, f);
      frag.functions.push(f);
      if (
        parentName === null &&
        bdf.slice(0, -5) !== `${rm[1]!.toLowerCase().padStart(4, '0')}:${rm[2]!.toLowerCase()}`
      ) {
        frag.warnings.push(`${where}: ${bdf} sits directly under root bus ${rm[1]}:${rm[2]} but is on another bus`);
      }
    }
    const rest = comps.slice(i);
    if (rest.length >= 2 && OS_NAME_DIRS.has(rest[0]!) && rest[1]) {
      let set = osNames.get(bdf);
      if (!set) {
        set = new Set();
        osNames.set(bdf, set);
      }
      set.add(rest[1]);
      continue;
    }
    if (rest.length >= 2 && rest[0] === 'pci_bus') {
      const b = /^[0-9a-fA-F]{4,8}:([0-9a-fA-F]{2})$/.exec(rest[1]!);
      if (b) {
        f.isBridge = true;
        f.secondaryBus ??= Number.parseInt(b[1]!, 16);
      }
      continue;
    }
    if (rest.length !== 1) continue;
    const file = rest[0]!;
    const text = (): string => {
      const t = asText(entry);
      if (t === undefined) throw topoParseError(where, undefined, undefined, 'expected a file, found a symbolic link');
      return t.trim();
    };
    switch (file) {
      case 'vendor':
        f.vendor = hexFile(text(), where, 0xffff);
        break;
      case 'device':
        f.device = hexFile(text(), where, 0xffff);
        break;
      case 'class':
        f.classCode = hexFile(text(), where, 0xffffff);
        break;
      case 'config': {
        const bytes = asBytes(entry);
        if (!bytes) break;
        const c = decodeConfig(bytes);
        if (c.vendor !== undefined) f.vendor ??= c.vendor;
        if (c.device !== undefined) f.device ??= c.device;
        if (c.classCode !== undefined) f.classCode ??= c.classCode;
        if (c.headerType === 1) f.isBridge = true;
        if (c.primaryBus !== undefined) f.primaryBus = c.primaryBus;
        if (c.secondaryBus !== undefined) f.secondaryBus = c.secondaryBus;
        if (c.subordinateBus !== undefined) f.subordinateBus = c.subordinateBus;
        if (c.type !== undefined) f.type = c.type;
        if (c.acsCap !== undefined) f.acsCap = c.acsCap;
        if (c.acsCtrl !== undefined) f.acsCtrl = c.acsCtrl;
        if (c.sriov) f.sriov = c.sriov;
        break;
      }
      case 'resource':
        f.bars = resources(text(), where);
        break;
      case 'numa_node': {
        const v = intFile(text(), where, true);
        f.numaNode = v < 0 ? null : v;
        break;
      }
      case 'dma_mask_bits': {
        const v = intFile(text(), where, false);
        if (v > 64) throw topoParseError(where, 1, 1, `expected a bit count 0-64, found ${v}`);
        if (v > 0) f.dmaMask = hex((1n << BigInt(v)) - 1n);
        break;
      }
      case 'secondary_bus_number':
        f.isBridge = true;
        f.secondaryBus = busFile(text(), where);
        break;
      case 'subordinate_bus_number':
        f.isBridge = true;
        f.subordinateBus = busFile(text(), where);
        break;
      case 'current_link_speed':
      case 'current_link_width':
      case 'max_link_speed':
      case 'max_link_width': {
        let l = link.get(bdf);
        if (!l) {
          l = {};
          link.set(bdf, l);
        }
        const v = text()
          .replace(/\s*PCIe$/, '')
          .replace(/\s+/g, '');
        if (file === 'current_link_speed') l.speed = v;
        else if (file === 'current_link_width') l.width = v;
        else if (file === 'max_link_speed') l.maxSpeed = v;
        else l.maxWidth = v;
        break;
      }
      case 'sriov_numvfs':
      case 'sriov_totalvfs':
      case 'sriov_offset':
      case 'sriov_stride':
      case 'sriov_vf_device': {
        let s = sriovFiles.get(bdf);
        if (!s) {
          s = {};
          sriovFiles.set(bdf, s);
        }
        const k = file.slice('sriov_'.length) as 'numvfs' | 'totalvfs' | 'offset' | 'stride' | 'vf_device';
        s[k] = k === 'vf_device' ? hexFile(text(), where, 0xffff) : intFile(text(), where, false);
        break;
      }
      case 'iommu_group': {
        const t = linkTarget(entry);
        const g = t === undefined ? undefined : /^\d+$/.exec(basename(t));
        if (!g)
          throw topoParseError(
            where,
            undefined,
            undefined,
            `expected a link to kernel/iommu_groups/N, found ${quoteFound(t ?? '')}`,
          );
        f.iommuGroup = Number(g[0]);
        break;
      }
      case 'driver': {
        const t = linkTarget(entry);
        if (t) f.driver = basename(t);
        break;
      }
      case 'physfn': {
        const t = linkTarget(entry);
        const pf = t === undefined ? undefined : normalizeBdf(basename(t));
        if (!pf)
          throw topoParseError(
            where,
            undefined,
            undefined,
            `expected a link to the PF's directory, found ${quoteFound(t ?? '')}`,
          );
        f.physfn = pf;
        f.isVf = true;
        break;
      }
      default: {
        if (/^virtfn\d+$/.test(file)) {
          const t = linkTarget(entry);
          const vf = t === undefined ? undefined : normalizeBdf(basename(t));
          if (vf) virtfnOf.set(vf, bdf);
        }
      }
    }
  }
  for (const [vf, pf] of virtfnOf) {
    const f = byBdf.get(vf);
    if (f && f.physfn === undefined) {
      f.physfn = pf;
      f.isVf = true;
    }
  }
  for (const [bdf, names] of osNames) byBdf.get(bdf)!.osNames = [...names].sort();
  for (const [bdf, l] of link) {
    const cur = l.speed && l.width ? `${l.speed} x${l.width}` : undefined;
    const max = l.maxSpeed && l.maxWidth ? `${l.maxSpeed} x${l.maxWidth}` : undefined;
    const text = max ? (cur && cur !== max ? `${max} (running ${cur})` : max) : cur;
    if (text) byBdf.get(bdf)!.link = text;
  }
  for (const [bdf, s] of sriovFiles) {
    const f = byBdf.get(bdf)!;
    if (f.sriov) {
      if (s.numvfs !== undefined) f.sriov.numVfs = s.numvfs;
      continue;
    }
    if (s.numvfs !== undefined && s.offset !== undefined && s.stride !== undefined) {
      f.sriov = {
        totalVfs: s.totalvfs ?? s.numvfs,
        numVfs: s.numvfs,
        vfOffset: s.offset,
        vfStride: s.stride,
        ...(s.vf_device !== undefined ? { vfDevice: s.vf_device } : {}),
      };
    }
  }
  if (numaNodes.size > 0) frag.numaNodes = numaNodes.size;
  if (frag.functions.length === 0) {
    throw topoParseError(
      name,
      undefined,
      undefined,
      'expected a sysfs snapshot with devices/pciSSSS:BB/SSSS:BB:DD.F directories, found no PCI function',
    );
  }
  return frag;
}

function hexFile(t: string, where: string, max: number): number {
  const m = /^0x([0-9a-fA-F]{1,8})$/.exec(t);
  const v = m ? Number.parseInt(m[1]!, 16) : Number.NaN;
  if (!(v <= max))
    throw topoParseError(
      where,
      1,
      1,
      `expected a hex number like 0x10de (at most ${hex(max)}), found ${quoteFound(t)}`,
    );
  return v;
}

function intFile(t: string, where: string, signed: boolean): number {
  if (!(signed ? /^-?\d{1,9}$/ : /^\d{1,9}$/).test(t))
    throw topoParseError(where, 1, 1, `expected ${signed ? 'an' : 'a non-negative'} integer, found ${quoteFound(t)}`);
  return Number(t);
}

function busFile(t: string, where: string): number {
  const v = intFile(t, where, false);
  if (v > 255) throw topoParseError(where, 1, 1, `expected a bus number 0-255, found ${v}`);
  return v;
}

/** The `resource` file: one `start end flags` line per resource; lines 0-5 are the BARs. */
function resources(t: string, where: string): BarSpec[] {
  const bars: BarSpec[] = [];
  const lines = splitLines(t);
  for (let i = 0; i < lines.length && i < 6; i++) {
    const m = /^\s*0x([0-9a-fA-F]{1,16})\s+0x([0-9a-fA-F]{1,16})\s+0x([0-9a-fA-F]{1,16})\s*$/.exec(lines[i]!);
    if (!m) throw topoParseError(where, i + 1, 1, `expected '0xSTART 0xEND 0xFLAGS', found ${quoteFound(lines[i]!)}`);
    const start = BigInt(`0x${m[1]!}`);
    const end = BigInt(`0x${m[2]!}`);
    const flags = Number(BigInt(`0x${m[3]!}`) & 0xffffffffn);
    if ((start === 0n && end === 0n) || end < start || (flags & (IORESOURCE_IO | IORESOURCE_MEM)) === 0) continue;
    const memory = (flags & IORESOURCE_MEM) !== 0;
    bars.push({
      index: i,
      memory,
      is64: memory && (flags & IORESOURCE_MEM_64) !== 0,
      prefetchable: memory && (flags & IORESOURCE_PREFETCH) !== 0,
      cpuStart: hex(start),
      length: hex(end - start + 1n),
    });
  }
  return bars;
}

/** `/proc/cpuinfo`: vendor, family and model of the first processor, and the processor count. */
function cpuinfo(t: string, frag: ImportFragment): void {
  let vendorId: string | undefined;
  let family: number | undefined;
  let model: string | undefined;
  let cpus = 0;
  for (const l of splitLines(t)) {
    const m = /^([^:]+?)\s*:\s*(.*)$/.exec(l);
    if (!m) continue;
    const k = m[1]!.trim();
    if (k === 'processor') cpus++;
    else if (k === 'vendor_id' && vendorId === undefined) vendorId = m[2]!.trim();
    else if (k === 'cpu family' && family === undefined && /^\d+$/.test(m[2]!.trim())) family = Number(m[2]!.trim());
    else if (k === 'model name' && model === undefined) model = m[2]!.trim();
  }
  if (cpus > 0) frag.onlineCpus = cpus;
  const vendor: PlatformSpec['cpu']['vendor'] =
    vendorId === 'AuthenticAMD'
      ? 'amd'
      : vendorId === 'GenuineIntel'
        ? 'intel'
        : vendorId === 'HygonGenuine'
          ? 'hygon'
          : 'other';
  if (vendorId !== undefined || cpus > 0) {
    frag.cpu = {
      cpu: { vendor, family: family ?? 0, ...(model ? { model } : {}) },
      evidence: `proc/cpuinfo: vendor_id ${vendorId ?? '(none)'}, cpu family ${family ?? '(none)'}`,
    };
  }
}
