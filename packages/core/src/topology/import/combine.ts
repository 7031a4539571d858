/**
 * Combining what several inputs say about one machine into one {@link TopologySpec}.
 *
 * Facts are merged per function in a fixed order of trust (sysfs, then lspci listings, then the lspci
 * tree, then hwloc; input order within a kind); a later source fills only what earlier ones left open, and
 * a disagreement is reported. Then, once, everything the kernel needs and no input said is derived or
 * defaulted, and each default is written into `assumed[]` with the flag that sets it:
 *
 * 1. VFs from the PFs' SR-IOV capability (offset, stride, count) or sysfs `physfn` links.
 * 2. Parents: from the inputs' hierarchy where they have one; otherwise from bus numbers (the bridge whose
 *    secondary bus a function sits on; a bus no bridge leads to is a root bus).
 * 3. Host bridges: one per root bus, in (segment, bus) order; the first function of each root bus, in
 *    enumeration order, is what the whitelist test reads (kernel-model.md 2.4, 7.5-8). `--host-bridge-id`
 *    sets (or adds, at 00.0) that function.
 * 4. Port types the data do not show, from position (a bridge on a root bus is a Root Port, ...).
 * 5. ACS where the data do not show it (`--acs-default`).
 * 6. The CPU (`--cpu`): from the data (hwloc, /proc/cpuinfo), else from the host bridges' vendor ids.
 * 7. Device classes, labels (nvidia-smi GPU and NIC names bound to functions), NUMA nodes per host bridge.
 */
import { DmasimError, ErrorCode } from '../../errors.ts';
import { ACS_KERNEL_DEFAULT_CTRL } from '../overrides.ts';
import type {
  AssumedDefault,
  BarSpec,
  Bdf,
  DeviceClass,
  FunctionSpec,
  HostBridgeSpec,
  PlatformSpec,
  PortType,
  TopologySpec,
} from '../topology-spec.ts';
import { type BdfParts, bdfFromRid, busName, devfnOf, formatBdf, bdfParts as parseParts, ridOf } from './bdf.ts';
import type {
  ImportFragment,
  ImportOptions,
  InputKind,
  LabelBinding,
  NvidiaSmiTopo,
  ObservedFunction,
  SourcePos,
} from './import-types.ts';
import { classFromName, deviceClassFromName, deviceClassOf } from './pci-ids.ts';
import { hex } from './text.ts';

const TRUST: Readonly<Record<InputKind, number>> = {
  sysfs: 0,
  'lspci-verbose': 1,
  'lspci-acsctl': 1,
  'lspci-tree': 2,
  'hwloc-xml': 3,
  'nvidia-smi-topo': 4,
  'nvidia-smi-gpus': 4,
};

/** ACS control value `--acs-default on` gives root and downstream ports: SrcValid, ReqRedir, CmpltRedir, UpstreamFwd. */
const ACS_DEFAULT_ON = ACS_KERNEL_DEFAULT_CTRL;

/**
 * AMD root-complex device ids (function 00.0 of each root bus) and the CPU family of the parts that carry
 * them. Only "family >= 0x17" changes the map type (kernel-model.md 2.5); the value is recorded as an
 * assumption either way.
 */
const AMD_ROOT_COMPLEX_FAMILY: Readonly<Record<number, number>> = {
  5200: 0x17, // Zen / Zen+ (Naples, Summit Ridge, Pinnacle Ridge)
  5584: 0x17, // Raven Ridge / Picasso
  5248: 0x17, // Zen 2 (Rome, Matisse, Castle Peak)
  5680: 0x17, // Renoir / Cezanne (0x17 and 0x19 parts)
  5284: 0x19, // Zen 4 (Genoa, Storm Peak)
  5336: 0x19, // Raphael (and later desktop parts)
  5352: 0x19, // Phoenix
  5434: 0x1a, // Zen 5 (Turin)
};

interface Merged extends ObservedFunction {
  /** Resolved parent. */
  up?: Bdf | null;
  hostBridge?: number;
  resolvedType?: PortType;
  deviceClass?: DeviceClass;
  label?: string;
  synthetic?: boolean;
}

const busKey = (segment: number, bus: number): string => `${segment}:${bus}`;

// Device names are parsed once: the combiner sorts and looks up tens of thousands of them.
const PARTS_CACHE_LIMIT = 1 << 20;
const partsCache = new Map<Bdf, BdfParts>();
function bdfParts(bdf: Bdf): BdfParts {
  let p = partsCache.get(bdf);
  if (!p) {
    if (partsCache.size >= PARTS_CACHE_LIMIT) partsCache.clear();
    p = parseParts(bdf);
    partsCache.set(bdf, p);
  }
  return p;
}
function bdfOrder(bdf: Bdf): number {
  const p = bdfParts(bdf);
  return p.segment * 65536 + p.bus * 256 + devfnOf(p);
}

/** The result of {@link combineFragments}, before the importer adds its input bookkeeping. */
export interface Combined {
  spec: TopologySpec;
  assumed: AssumedDefault[];
  warnings: string[];
  labels: LabelBinding[];
  nvidiaSmi: NvidiaSmiTopo[];
  /** Where each function was first read, for messages. */
  origins: Map<Bdf, SourcePos>;
}

/** Merges fragments into one machine; see the module comment for the order of steps. */
export function combineFragments(fragments: readonly ImportFragment[], opts: ImportOptions, idHint: string): Combined {
  const warnings: string[] = [];
  const assumed: AssumedDefault[] = [];
  for (const fr of fragments) warnings.push(...fr.warnings);
  const ordered = [...fragments].sort((a, b) => TRUST[a.kind] - TRUST[b.kind]);
  const pciFragments = ordered.filter((f) => f.functions.length > 0 || f.rootBuses.length > 0);
  if (pciFragments.length === 0) {
    throw new DmasimError(
      ErrorCode.TOPOLOGY_INVALID,
      `no PCI functions in ${fragments.map((f) => f.file).join(', ') || 'the inputs'}: give lspci, hwloc or sysfs data (nvidia-smi alone only labels devices)`,
    );
  }

  // 0. Merge per function.
  const funcs = new Map<Bdf, Merged>();
  for (const fr of ordered) {
    for (const o of fr.functions) {
      const m = funcs.get(o.bdf);
      if (!m)
        funcs.set(o.bdf, {
          ...o,
          bars: o.bars ? [...o.bars] : undefined,
          osNames: o.osNames ? [...o.osNames] : undefined,
        });
      else mergeInto(m, o, warnings);
    }
  }
  const roots = new Map<string, { segment: number; bus: number; numaNode?: number | null; socket?: number | null }>();
  for (const fr of ordered) {
    for (const r of fr.rootBuses) {
      const k = busKey(r.segment, r.bus);
      const cur = roots.get(k);
      if (!cur) roots.set(k, { segment: r.segment, bus: r.bus, numaNode: r.numaNode, socket: r.socket });
      else {
        if (cur.numaNode === undefined || cur.numaNode === null) cur.numaNode = r.numaNode ?? cur.numaNode;
        if (cur.socket === undefined || cur.socket === null) cur.socket = r.socket ?? cur.socket;
      }
    }
  }

  // 1. VFs from SR-IOV capabilities.
  for (const pf of sortedByBdf(funcs)) {
    const s = pf.sriov;
    if (!s || s.numVfs <= 0 || pf.isVf) continue;
    const p = bdfParts(pf.bdf);
    let added = 0;
    for (let i = 0; i < s.numVfs; i++) {
      const rid = ridOf(p) + s.vfOffset + i * s.vfStride;
      if (rid > 0xffff || (s.vfStride === 0 && i > 0)) break;
      const vbdf = bdfFromRid(p.segment, rid);
      if (vbdf === pf.bdf) continue;
      const vf = funcs.get(vbdf);
      if (vf) {
        if (vf.isVf && vf.physfn && vf.physfn !== pf.bdf) continue;
        if ((vf.sriov?.numVfs ?? 0) > 0 || vf.isBridge || vf.secondaryBus !== undefined) {
          warnings.push(
            `${pf.where.file}: ${vbdf} is where a VF of ${pf.bdf} would be, but it is a bridge or a PF itself; not taken as a VF`,
          );
          continue;
        }
        if (vf.physfn === undefined || vf.physfn === null) {
          vf.physfn = pf.bdf;
          vf.isVf = true;
        }
        continue;
      }
      funcs.set(vbdf, {
        bdf: vbdf,
        where: pf.where,
        vendor: pf.vendor,
        device: s.vfDevice ?? pf.device,
        classCode: pf.classCode,
        className: pf.className,
        isVf: true,
        physfn: pf.bdf,
        name: pf.name ? `${pf.name} (VF)` : undefined,
        synthetic: true,
      });
      added++;
    }
    if (added > 0) {
      warnings.push(
        `${pf.where.file}: ${pf.bdf} has ${s.numVfs} VFs enabled (SR-IOV capability); ${added} not listed in the data were added`,
      );
    }
  }
  for (const f of funcs.values()) {
    const pf = f.physfn ? funcs.get(f.physfn) : undefined;
    if (f.physfn && (!pf || pf.isVf || pf === f || f.secondaryBus !== undefined)) {
      warnings.push(
        `${f.where.file}: ${f.bdf} names ${f.physfn} as its PF, which is ${!pf ? 'not in the data' : 'not a PF it can have'}; it is read as a PF`,
      );
      f.physfn = null;
      f.isVf = false;
    } else if (!f.physfn && f.isVf) f.isVf = false;
  }

  // 2. Bridges by secondary bus, and parents.
  const bySecondary = new Map<string, Merged>();
  for (const f of sortedByBdf(funcs)) {
    if (f.secondaryBus === undefined) continue;
    const p = bdfParts(f.bdf);
    if (f.secondaryBus <= p.bus) {
      warnings.push(
        `${f.where.file}: bridge ${f.bdf} names secondary bus ${hex2(f.secondaryBus)}, not above its own bus; ignored`,
      );
      f.secondaryBus = undefined;
      f.subordinateBus = undefined;
      continue;
    }
    const k = busKey(p.segment, f.secondaryBus);
    const other = bySecondary.get(k);
    if (other)
      warnings.push(
        `${f.where.file}: ${f.bdf} and ${other.bdf} both lead to bus ${busName(p.segment, f.secondaryBus)}; ${other.bdf} is kept`,
      );
    else bySecondary.set(k, f);
  }
  const noBridgeBuses = new Set<string>();
  const derivedRoots: string[] = [];
  /** Places a (non-VF) function by its bus number: below the bridge leading to its bus, or on a root bus. */
  const placeByBus = (f: Merged): void => {
    const p = bdfParts(f.bdf);
    const k = busKey(p.segment, p.bus);
    const bridge = bySecondary.get(k);
    if (bridge && bridge.bdf !== f.bdf) {
      f.up = bridge.bdf;
      return;
    }
    f.up = null;
    if (roots.has(k)) return;
    const inside = [...bySecondary.values()].find((b) => {
      const bp = bdfParts(b.bdf);
      return bp.segment === p.segment && p.bus > b.secondaryBus! && p.bus <= (b.subordinateBus ?? b.secondaryBus!);
    });
    if (inside) {
      if (!noBridgeBuses.has(k)) {
        warnings.push(
          `bus ${busName(p.segment, p.bus)} lies in the bus range of ${inside.bdf} but no bridge in the data leads to it; it is taken as a root bus of its own`,
        );
      }
      noBridgeBuses.add(k);
      return;
    }
    if (!derivedRoots.includes(busName(p.segment, p.bus))) derivedRoots.push(busName(p.segment, p.bus));
  };
  for (const f of sortedByBdf(funcs)) {
    if (f.isVf) continue;
    const p = bdfParts(f.bdf);
    if (f.parent !== undefined) {
      const par = f.parent === null ? undefined : funcs.get(f.parent);
      if (f.parent === null || (par && (par.secondaryBus === undefined || par.secondaryBus === p.bus))) {
        f.up = f.parent;
        continue;
      }
      warnings.push(
        par
          ? `${f.where.file}: ${f.bdf} is listed below ${f.parent}, whose secondary bus is ${hex2(par.secondaryBus!)}; placed by its bus number`
          : `${f.where.file}: the parent ${f.parent} of ${f.bdf} is not in the data; placed by its bus number`,
      );
    }
    placeByBus(f);
  }
  if (derivedRoots.length > 0) {
    warnings.push(
      `root buses ${derivedRoots.join(', ')}: no input names them and no bridge in the data leads to them, so they are taken as root buses (each its own host bridge)`,
    );
  }
  for (const f of sortedByBdf(funcs)) {
    if (!f.isVf) continue;
    const pf = funcs.get(f.physfn!)!;
    const bus = bdfParts(f.bdf).bus;
    const par = pf.up ? funcs.get(pf.up) : undefined;
    const inRange = par
      ? par.secondaryBus !== undefined && bus >= par.secondaryBus && bus <= (par.subordinateBus ?? par.secondaryBus)
      : bus >= bdfParts(pf.bdf).bus;
    if (inRange) {
      f.up = pf.up;
      continue;
    }
    warnings.push(
      `${f.where.file}: VF ${f.bdf} of ${pf.bdf} lies outside the bus range of ${pf.up ?? 'its root bus'}; ${f.synthetic ? 'not added' : 'read as a PF'}`,
    );
    if (f.synthetic) {
      funcs.delete(f.bdf);
      continue;
    }
    f.isVf = false;
    f.physfn = null;
    placeByBus(f);
  }

  // 3. Host bridges.
  const topOf = (f: Merged): Merged => {
    const seen = new Set<Bdf>();
    let x = f;
    while (x.up) {
      if (seen.has(x.bdf))
        throw new DmasimError(
          ErrorCode.TOPOLOGY_INVALID,
          `${f.where.file}: the parents of ${f.bdf} form a cycle (${[...seen].join(' -> ')})`,
        );
      seen.add(x.bdf);
      x = funcs.get(x.up)!;
    }
    return x.isVf && x.physfn ? funcs.get(x.physfn)! : x;
  };
  for (const f of funcs.values()) {
    const top = topOf(f);
    const p = bdfParts(top.bdf);
    const k = busKey(p.segment, p.bus);
    if (!roots.has(k)) roots.set(k, { segment: p.segment, bus: p.bus });
  }
  const hostBridges: HostBridgeSpec[] = [...roots.values()]
    .sort((a, b) => a.segment - b.segment || a.bus - b.bus)
    .map((r) => ({ segment: r.segment, rootBus: r.bus }));
  const hbIndex = new Map(hostBridges.map((h, i) => [busKey(h.segment, h.rootBus), i]));

  // 3b. Host-bridge identities set by the user, or the note that the data may lack them.
  for (const hb of hostBridges) {
    const ov = opts.hostBridgeIds?.find(
      (o) =>
        (o.segment === undefined || o.segment === hb.segment) && (o.rootBus === undefined || o.rootBus === hb.rootBus),
    );
    const bdf00 = formatBdf({ segment: hb.segment, bus: hb.rootBus, device: 0, function: 0 });
    if (ov) {
      const idt = `${ov.vendor.toString(16).padStart(4, '0')}:${ov.device.toString(16).padStart(4, '0')}`;
      assumed.push({
        field: `hostBridges[${hostBridges.indexOf(hb)}].id`,
        value: idt,
        why: `set by --host-bridge-id (${bdf00})`,
        flag: `--host-bridge-id ${busName(hb.segment, hb.rootBus)}=${idt}`,
      });
      const f = funcs.get(bdf00);
      if (f) {
        f.vendor = ov.vendor;
        f.device = ov.device;
      } else {
        funcs.set(bdf00, {
          bdf: bdf00,
          where: { file: '--host-bridge-id' },
          vendor: ov.vendor,
          device: ov.device,
          classCode: 0x060000,
          up: null,
          parent: null,
          type: 'rc_endpoint',
          name: 'Host bridge (from --host-bridge-id)',
          synthetic: true,
        });
      }
    }
  }
  for (const f of funcs.values()) f.hostBridge = hbIndex.get(rootKeyOf(topOf(f)))!;

  // 4. Port types.
  const inferred: Record<string, number> = {};
  const typeOf = (f: Merged, depth = 0): PortType => {
    if (f.resolvedType) return f.resolvedType;
    let t: PortType;
    if (f.type) t = f.type;
    else {
      const bridge = f.isBridge || f.secondaryBus !== undefined || isBridgeClass(f.classCode);
      const parentType = f.up && depth < 64 ? typeOf(funcs.get(f.up)!, depth + 1) : undefined;
      if (f.isVf) t = 'endpoint';
      else if (!bridge) t = f.up ? 'endpoint' : 'rc_endpoint';
      else if (!f.up) t = 'root_port';
      else if (parentType === 'upstream') t = 'downstream';
      else if (parentType === 'pci_bridge' || parentType === 'legacy') t = 'legacy';
      else t = 'upstream';
      inferred[t] = (inferred[t] ?? 0) + 1;
    }
    f.resolvedType = t;
    return t;
  };
  for (const f of sortedByBdf(funcs)) typeOf(f);
  const inferredCount = Object.values(inferred).reduce((a, b) => a + b, 0);
  if (inferredCount > 0) {
    assumed.push({
      field: 'functions[].type',
      value: Object.entries(inferred)
        .map(([t, n]) => `${n} ${t}`)
        .join(', '),
      why: `${inferredCount} functions have no PCIe capability in the data; their types follow from position (a bridge on a root bus is a Root Port, a bridge below a root or downstream port a switch upstream port, below an upstream port a downstream port; other functions on a root bus are RC-integrated). Only "is a Root Port" matters (kernel-model.md 2.4)`,
    });
  }

  // 5. ACS.
  const acsDefault = opts.acsDefault ?? 'off';
  let acsUnknown = 0;
  let acsOnPorts = 0;
  for (const f of funcs.values()) {
    if (f.acsCap === undefined) {
      acsUnknown++;
      const port = f.resolvedType === 'root_port' || f.resolvedType === 'downstream';
      if (acsDefault === 'on' && port) {
        f.acsCap = true;
        f.acsCtrl = ACS_DEFAULT_ON;
        acsOnPorts++;
      } else {
        f.acsCap = false;
        f.acsCtrl = 0;
      }
    } else if (f.acsCtrl === undefined) {
      acsUnknown++;
      f.acsCtrl = acsDefault === 'on' && f.acsCap ? ACS_DEFAULT_ON : 0;
    }
  }
  const summaries = fragments.filter((f) => f.acsSummary);
  const sumLines = summaries.reduce((a, f) => a + f.acsSummary!.lines, 0);
  const sumRedirect = summaries.reduce((a, f) => a + f.acsSummary!.redirecting, 0);
  if (acsUnknown > 0) {
    if (summaries.length > 0 && sumRedirect === 0 && acsDefault === 'off') {
      warnings.push(
        `ACS: ${acsUnknown} functions have no ACS detail; ${summaries.map((s) => s.file).join(', ')} show ${sumLines} ACSCtl registers and none has ReqRedir, CmpltRedir or EgressCtrl set, so none redirects`,
      );
    } else {
      assumed.push({
        field: 'acsCtrl',
        value:
          acsDefault === 'on'
            ? `on: ${acsOnPorts} root and downstream ports with ACSCtl ${hex(ACS_DEFAULT_ON, 4)} (SrcValid ReqRedir CmpltRedir UpstreamFwd), others none`
            : 'off: no ACS capability',
        why: `${opts.acsDefault ? 'set by --acs-default; ' : ''}${acsUnknown} of ${funcs.size} functions have no ACS data in the inputs (lspci -t and hwloc do not show ACS; lspci -vvv as root, or sysfs config files of 4096 bytes, do)`,
        flag: '--acs-default off|on',
      });
    }
  }
  if (sumRedirect > 0) {
    warnings.push(
      `ACS: ${summaries.map((s) => s.file).join(', ')} show ${sumRedirect} of ${sumLines} ACSCtl registers with redirect bits set, but name no devices; they cannot be placed (give full lspci -vvv output, or --acs-default on)`,
    );
  }

  // 6. Device classes (needed for the CPU deduction's host-bridge test and for labels).
  for (const f of funcs.values()) f.deviceClass = classOf(f);

  // 6b. Root ports standing first on a Skylake-E/Cascade Lake root bus: lspci -tv prints no ids for bridges,
  // but on a platform whose bus-0 host bridge is 8086:2020 (Sky Lake-E DMI3) root ports A-D at devices 0-3 of a
  // PCIe stack are 8086:2030-2033, the ids the whitelist lists.
  {
    const ordered0 = sortedByBdf(funcs);
    const skylake = ordered0.some((f) => f.vendor === 0x8086 && f.device === 0x2020 && !f.up);
    const inferredRp: string[] = [];
    if (skylake) {
      for (const [i] of hostBridges.entries()) {
        const first = ordered0.find((f) => f.hostBridge === i && !f.up && !f.isVf);
        if (!first || first.device !== undefined || first.resolvedType !== 'root_port') continue;
        const p = bdfParts(first.bdf);
        if (p.function !== 0 || p.device > 3 || (first.vendor !== undefined && first.vendor !== 0x8086)) continue;
        first.vendor = 0x8086;
        first.device = 0x2030 + p.device;
        inferredRp.push(`${first.bdf}=8086:${first.device.toString(16)}`);
      }
    }
    if (inferredRp.length > 0) {
      assumed.push({
        field: 'hostBridges[].id',
        value: inferredRp.join(', '),
        why: 'lspci -tv prints no ids for bridges; on this Sky Lake-E platform (8086:2020 on bus 0) the root ports A-D standing first on a PCIe stack are 8086:2030-2033',
        flag: '--host-bridge-id ssss:bb=vvvv:dddd',
      });
    }
  }

  // 7. The CPU.
  const platform: PlatformSpec = { cpu: { vendor: 'intel', family: 6 } };
  const fromData = ordered.find((f) => f.cpu);
  if (opts.cpu) {
    platform.cpu = { ...opts.cpu };
    assumed.push({
      field: 'platform.cpu',
      value: cpuText(platform.cpu),
      why: 'set by --cpu',
      flag: `--cpu ${cpuText(platform.cpu)}`,
    });
  } else if (fromData?.cpu) {
    platform.cpu = { ...fromData.cpu.cpu };
    if (fromData.cpu.familyAssumed) {
      assumed.push({
        field: 'platform.cpu',
        value: cpuText(platform.cpu),
        why: fromData.cpu.evidence,
        flag: '--cpu vendor:family',
      });
    }
  } else {
    const d = deduceCpu(hostBridges, funcs);
    platform.cpu = d.cpu;
    assumed.push({ field: 'platform.cpu', value: cpuText(d.cpu), why: d.why, flag: '--cpu vendor:family' });
  }
  const numaNodes = Math.max(0, ...fragments.map((f) => f.numaNodes ?? 0));
  if (numaNodes > 0) platform.numaNodes = numaNodes;
  const cpus = ordered.find((f) => f.onlineCpus)?.onlineCpus;
  if (cpus) platform.onlineCpus = cpus;

  // 3c. The first function of each root bus, now that the order is known.
  const filtered =
    fragments.some((f) => f.filtered) && !fragments.some((f) => f.kind === 'sysfs' || f.kind === 'lspci-tree');
  const ordering = sortedByBdf(funcs);
  for (const [i, hb] of hostBridges.entries()) {
    const first = ordering.find((f) => f.hostBridge === i && !f.up && !f.isVf);
    const overridden = opts.hostBridgeIds?.some(
      (o) =>
        (o.segment === undefined || o.segment === hb.segment) && (o.rootBus === undefined || o.rootBus === hb.rootBus),
    );
    if (overridden) continue;
    const name = busName(hb.segment, hb.rootBus);
    if (!first) {
      warnings.push(
        `root bus ${name} has no function in the data: the whitelist test finds no host bridge there (not listed)`,
      );
      continue;
    }
    const p = bdfParts(first.bdf);
    if (filtered && devfnOf(p) !== 0) {
      assumed.push({
        field: `hostBridges[${i}].id`,
        value: `${first.bdf} ${idText(first)} (${first.resolvedType})`,
        why: `the data (hwloc) omit uninteresting functions, so the root bus ${name} function 00.0 the kernel would see first may be missing; the first function present stands for the host bridge in the whitelist test`,
        flag: `--host-bridge-id ${name}=vvvv:dddd`,
      });
    } else if (first.vendor === undefined || first.device === undefined) {
      assumed.push({
        field: `hostBridges[${i}].id`,
        value: `${first.bdf} ${idText(first)}`,
        why: `the data do not give the vendor and device ids of ${first.bdf}, which the whitelist test reads`,
        flag: `--host-bridge-id ${name}=vvvv:dddd`,
      });
    }
  }

  // 8. Labels.
  const nvidiaSmi = fragments.flatMap((f) => (f.topo ? [f.topo] : []));
  const labels = bindLabels(fragments, funcs, nvidiaSmi, opts, assumed, warnings);

  // 9. NUMA: nvidia-smi affinity for labelled GPUs, then one node per host bridge where the data agree.
  for (const t of nvidiaSmi) {
    for (const [label, aff] of Object.entries(t.numaAffinity)) {
      const b = labels.find((l) => l.label === label);
      const f = b ? funcs.get(b.bdf) : undefined;
      if (f && (f.numaNode === undefined || f.numaNode === null) && /^\d+$/.test(aff)) f.numaNode = Number(aff);
    }
  }
  const nodesSeen = new Set<number>();
  const byHostBridge = hostBridges.map((): Merged[] => []);
  for (const f of funcs.values()) byHostBridge[f.hostBridge!]!.push(f);
  for (const [i, hb] of hostBridges.entries()) {
    const below = byHostBridge[i]!;
    const known = new Set(below.flatMap((f) => (typeof f.numaNode === 'number' ? [f.numaNode] : [])));
    const root = roots.get(busKey(hb.segment, hb.rootBus));
    if (typeof root?.socket === 'number') hb.socket = root.socket;
    const rootNuma = root?.numaNode;
    const set = opts.hostBridgeNuma?.find((o) => (o.segment ?? 0) === hb.segment && o.rootBus === hb.rootBus);
    if (set) {
      assumed.push({
        field: `hostBridges[${i}].numaNode`,
        value: String(set.node),
        why: 'set by --numa-node',
        flag: `--numa-node ${busName(hb.segment, hb.rootBus)}=${set.node}`,
      });
    }
    const node = set
      ? set.node
      : typeof rootNuma === 'number'
        ? rootNuma
        : known.size === 1
          ? [...known][0]!
          : undefined;
    for (const n of known) nodesSeen.add(n);
    if (node === undefined) continue;
    nodesSeen.add(node);
    hb.numaNode = node;
    for (const f of below) if (f.numaNode === undefined || f.numaNode === null) f.numaNode = node;
  }
  if (platform.numaNodes === undefined) {
    const highest = Math.max(-1, ...nodesSeen);
    platform.numaNodes = highest + 1 || 1;
    assumed.push({
      field: 'platform.numaNodes',
      value: String(platform.numaNodes),
      why:
        highest < 0
          ? 'no input gives the NUMA node count or any device NUMA node (lspci prints "NUMA node" only on multi-node machines); one node assumed, so paths across host bridges are NODE, never SYS'
          : `no input gives the NUMA node count; the highest node a device is in is ${highest}`,
    });
  }
  if (platform.numaNodes > 1) fillNumaByBusOrder(hostBridges, funcs, assumed);

  // 10. Unknown ids.
  const noIds = [...funcs.values()].filter((f) => f.vendor === undefined || f.device === undefined);
  if (noIds.length > 0) {
    assumed.push({
      field: 'functions[].vendor, device',
      value: `0xffff for the unknown part of ${noIds.length} functions`,
      why: `the data name these functions without ids (lspci -tv prints names; -tvnn or -nn print ids), e.g. ${noIds
        .slice(0, 3)
        .map((f) => f.bdf)
        .join(', ')}`,
    });
  }

  // 11. Bus ranges the data leave open, from the buses below.
  const childrenOf = new Map<Bdf, Merged[]>();
  for (const c of funcs.values()) {
    if (!c.up || c.isVf) continue;
    const list = childrenOf.get(c.up);
    if (list) list.push(c);
    else childrenOf.set(c.up, [c]);
  }
  for (const f of funcs.values()) {
    const bridge =
      f.resolvedType === 'root_port' ||
      f.resolvedType === 'upstream' ||
      f.resolvedType === 'downstream' ||
      f.isBridge ||
      f.secondaryBus !== undefined;
    if (!bridge) continue;
    const kids = childrenOf.get(f.bdf) ?? [];
    const buses = kids.map((c) => bdfParts(c.bdf).bus);
    if (f.secondaryBus === undefined && buses.length > 0) {
      f.secondaryBus = Math.min(...buses);
      warnings.push(
        `${f.bdf}: secondary bus not in the data; ${hex2(f.secondaryBus)} taken from the functions below it`,
      );
    }
    if (f.secondaryBus !== undefined && f.subordinateBus === undefined) f.subordinateBus = maxBusBelow(f, funcs);
  }

  const functions = sortForEnumeration(funcs).map((f) => toSpec(f, warnings));
  const id = opts.id ?? (fragments.find((f) => f.hostname)?.hostname || idHint);
  const spec: TopologySpec = {
    kind: 'dmasim-topology',
    version: 1,
    id,
    platform,
    hostBridges,
    functions,
    sources: fragments.map((f) => `${f.file} (${f.kind})`),
    assumed,
  };
  const origins = new Map([...funcs.values()].map((f) => [f.bdf, f.where]));
  return { spec, assumed, warnings, labels, nvidiaSmi, origins };
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function rootKeyOf(f: Merged): string {
  const p = bdfParts(f.bdf);
  return busKey(p.segment, p.bus);
}

function sortedByBdf(funcs: Map<Bdf, Merged>): Merged[] {
  return [...funcs.values()]
    .map((f) => ({ f, k: bdfOrder(f.bdf) }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.f);
}

/** Enumeration order: segment, bus, then the bus's PFs by devfn, then its VFs by devfn. */
function sortForEnumeration(funcs: Map<Bdf, Merged>): Merged[] {
  return [...funcs.values()]
    .map((f) => {
      const p = bdfParts(f.bdf);
      // segment, bus, PFs before VFs, devfn
      return { f, k: ((p.segment * 256 + p.bus) * 2 + (f.isVf ? 1 : 0)) * 256 + devfnOf(p) };
    })
    .sort((a, b) => a.k - b.k)
    .map((x) => x.f);
}

function maxBusBelow(f: Merged, funcs: Map<Bdf, Merged>): number {
  let max = f.secondaryBus!;
  for (const c of funcs.values()) {
    let x: Merged | undefined = c;
    for (let i = 0; x?.up && i < 256; i++) {
      if (x.up === f.bdf) {
        max = Math.max(max, bdfParts(c.bdf).bus, c.subordinateBus ?? 0);
        break;
      }
      x = funcs.get(x.up);
    }
  }
  return max;
}

const MERGE_KEYS = [
  'vendor',
  'device',
  'classCode',
  'type',
  'parent',
  'primaryBus',
  'secondaryBus',
  'subordinateBus',
  'acsCap',
  'acsCtrl',
  'physfn',
  'iommuGroup',
  'numaNode',
  'dmaMask',
  'driver',
  'link',
  'name',
  'className',
  'sriov',
] as const;
const REPORT_CONFLICT = new Set<string>([
  'vendor',
  'device',
  'classCode',
  'type',
  'parent',
  'secondaryBus',
  'subordinateBus',
  'acsCap',
  'acsCtrl',
  'physfn',
]);

function mergeInto(m: Merged, o: ObservedFunction, warnings: string[]): void {
  const mr = m as unknown as Record<string, unknown>;
  const or = o as unknown as Record<string, unknown>;
  for (const k of MERGE_KEYS) {
    const v = or[k];
    if (v === undefined) continue;
    if (mr[k] === undefined) mr[k] = v;
    else if (REPORT_CONFLICT.has(k) && mr[k] !== v && !(k === 'acsCtrl' && m.acsCap === false && o.acsCap === false)) {
      const show = (x: unknown): string => (typeof x === 'number' ? hex(x) : String(x));
      warnings.push(
        `${m.bdf}: ${k} is ${show(mr[k])} in ${m.where.file} but ${show(v)} in ${o.where.file}; the first is kept`,
      );
    }
  }
  if (o.isBridge) m.isBridge = true;
  if (o.isVf) m.isVf = true;
  if (o.bars && o.bars.length > 0 && (!m.bars || m.bars.length === 0)) m.bars = [...o.bars];
  if (o.osNames) m.osNames = [...new Set([...(m.osNames ?? []), ...o.osNames])].sort();
}

function isBridgeClass(c: number | undefined): boolean {
  return c !== undefined && (c >> 8 === 0x0604 || c >> 8 === 0x0609);
}

function classOf(f: Merged): DeviceClass {
  if (
    f.resolvedType === 'root_port' ||
    f.resolvedType === 'upstream' ||
    f.resolvedType === 'downstream' ||
    f.secondaryBus !== undefined
  ) {
    return 'bridge';
  }
  const code = f.classCode ?? (f.className !== undefined ? (classFromName(f.className) ?? -1) << 8 : undefined);
  if (code !== undefined && code >= 0) return deviceClassOf(code, f.vendor);
  if (f.name) return deviceClassFromName(f.name, f.vendor);
  return 'other';
}

function idText(f: ObservedFunction): string {
  const v = f.vendor === undefined ? '????' : f.vendor.toString(16).padStart(4, '0');
  const d = f.device === undefined ? '????' : f.device.toString(16).padStart(4, '0');
  return `${v}:${d}`;
}

function cpuText(c: PlatformSpec['cpu']): string {
  return c.vendor === 'other' ? 'other' : `${c.vendor}:${hex(c.family)}`;
}

/** The CPU deduced from the vendor ids of the host bridges' first functions (and host-bridge-class functions on root buses). */
function deduceCpu(hostBridges: HostBridgeSpec[], funcs: Map<Bdf, Merged>): { cpu: PlatformSpec['cpu']; why: string } {
  const onRoot = [...funcs.values()]
    .filter((f) => !f.up && !f.isVf && f.vendor !== undefined)
    .sort((a, b) => bdfOrder(a.bdf) - bdfOrder(b.bdf));
  const firsts = hostBridges.flatMap((_, i) => {
    const f = onRoot.find((x) => x.hostBridge === i);
    return f ? [f] : [];
  });
  const hostClass = onRoot.filter((f) => f.deviceClass === 'host_bridge');
  const evidence = [...new Map([...firsts, ...hostClass].map((f) => [f.bdf, f])).values()];
  const vendors = new Set(evidence.map((f) => f.vendor!));
  const shown = evidence
    .slice(0, 3)
    .map((f) => `${f.bdf} ${idText(f)}`)
    .join(', ');
  const lead = 'the data do not name the CPU; ';
  if (vendors.size === 1) {
    const v = [...vendors][0]!;
    if (v === 0x1022) {
      const zen = evidence.find((f) => f.device !== undefined && AMD_ROOT_COMPLEX_FAMILY[f.device] !== undefined);
      if (zen) {
        const family = AMD_ROOT_COMPLEX_FAMILY[zen.device!]!;
        return {
          cpu: { vendor: 'amd', family },
          why: `${lead}host bridge ${zen.bdf} is ${idText(zen)}, an AMD root complex of family ${hex(family)} parts (host bridges: ${shown})`,
        };
      }
      return {
        cpu: { vendor: 'amd', family: 0x17 },
        why: `${lead}the host bridges are AMD (${shown}), not a root complex dmasim knows; AMD platforms with PCIe P2P are Zen (family 0x17 or later), 0x17 assumed`,
      };
    }
    if (v === 0x8086)
      return {
        cpu: { vendor: 'intel', family: 6 },
        why: `${lead}the host bridges are Intel (${shown}); family 6 assumed`,
      };
    if (v === 0x1d94)
      return {
        cpu: { vendor: 'hygon', family: 0x18 },
        why: `${lead}the host bridges are Hygon (${shown}); family 0x18 assumed`,
      };
    if ([0x1014, 0x10de, 0x1d17, 0x1def, 0x19e5, 0x1ae0].includes(v)) {
      return {
        cpu: { vendor: 'other', family: 0 },
        why: `${lead}the host bridges (${shown}) belong to a vendor whose CPUs are not AMD Zen`,
      };
    }
  }
  return {
    cpu: { vendor: 'intel', family: 6 },
    why: `${lead}the host-bridge vendors (${shown || 'none'}) do not tell it; intel family 6 assumed`,
  };
}

const RDMA_DRIVER_VENDOR: readonly (readonly [RegExp, number])[] = [
  [/^mlx[45]_(\d+)$/, 0x15b3],
  [/^bnxt_re(\d+)$/, 0x14e4],
  [/^irdma(\d+)$/, 0x8086],
  [/^i40iw(\d+)$/, 0x8086],
  [/^hfi1_(\d+)$/, 0x8086],
  [/^qedr(\d+)$/, 0x1077],
  [/^efa_?(\d+)$/, 0x1d0f],
  [/^ionic_(\d+)$/, 0x1dd8],
  [/^erdma_(\d+)$/, 0x1ded],
];

/** Binds nvidia-smi labels (GPU0, NIC0/mlx5_0) to functions; records inferred bindings as assumptions. */
function bindLabels(
  fragments: readonly ImportFragment[],
  funcs: Map<Bdf, Merged>,
  topos: NvidiaSmiTopo[],
  opts: ImportOptions,
  assumed: AssumedDefault[],
  warnings: string[],
): LabelBinding[] {
  const out: LabelBinding[] = [];
  const bound = new Map<string, LabelBinding>();
  const bind = (label: string, bdf: Bdf, how: string): void => {
    if (bound.has(label)) return;
    const f = funcs.get(bdf);
    if (!f) {
      warnings.push(`${label} is bound to ${bdf} (${how}), which is not in the PCI data; the label is dropped`);
      return;
    }
    const b = { label, bdf, how };
    bound.set(label, b);
    out.push(b);
    // nvidia-smi's GPUn is a GPU and NICn a NIC, whatever the PCI data could tell.
    if (/^GPU\d+$/.test(label)) f.deviceClass = 'gpu';
    else if (/^NIC\d+$/.test(label) && f.deviceClass !== 'gpu') f.deviceClass = 'nic';
    if (f.label === undefined) f.label = label;
    else if (f.label !== label) warnings.push(`${bdf} is both ${f.label} and ${label}; it is shown as ${f.label}`);
  };
  for (const [label, bdf] of Object.entries(opts.labels ?? {})) {
    if (!funcs.has(bdf))
      throw new DmasimError(ErrorCode.DEVICE_NOT_FOUND, `--label ${label}=${bdf}: no function ${bdf} in the data`);
    bind(label, bdf, '--label');
  }
  for (const fr of fragments)
    for (const g of fr.gpus ?? []) bind(`GPU${g.index}`, g.bdf, `${fr.file}: Bus-Id of GPU ${g.index}`);
  const ordered = sortedByBdf(funcs);
  for (const f of ordered) {
    for (const n of f.osNames ?? []) {
      const m = /^nvml(\d+)$/.exec(n);
      if (m) bind(`GPU${m[1]}`, f.bdf, `${f.where.file}: OS device ${n}`);
    }
  }
  const wanted = [...new Set(topos.flatMap((t) => t.labels))];
  const nicName = (label: string): string | undefined => {
    for (const t of topos) if (t.nicNames[label]) return t.nicNames[label];
    return /^(GPU|NIC)\d+$/.test(label) ? undefined : label;
  };
  const gpus = ordered.filter((f) => f.deviceClass === 'gpu' && f.vendor === 0x10de && !f.isVf);
  for (const label of wanted) {
    if (bound.has(label)) continue;
    const g = /^GPU(\d+)$/.exec(label);
    if (g) {
      const k = Number(g[1]);
      const f = gpus[k];
      if (!f) {
        warnings.push(`${label}: the data have ${gpus.length} NVIDIA GPU functions; ${label} is not bound`);
        continue;
      }
      bind(label, f.bdf, `inferred: NVIDIA GPU #${k} in PCI order`);
      assumed.push({
        field: `label ${label}`,
        value: f.bdf,
        why: `no nvidia-smi bus-id list among the inputs; nvidia-smi numbers GPUs in PCI bus order, so ${label} is the NVIDIA GPU #${k} in PCI order`,
        flag: `--label ${label}=ssss:bb:dd.f`,
      });
      continue;
    }
    const name = nicName(label);
    if (!name) {
      warnings.push(`${label}: no NIC name in the NIC Legend; not bound`);
      continue;
    }
    const byOs = ordered.find((f) => f.osNames?.includes(name));
    if (byOs) {
      bind(label, byOs.bdf, `${byOs.where.file}: OS device ${name}`);
      continue;
    }
    const udev = /^(?:roce|ib|iw|en)?(?:P(\d+))?p(\d+)s(\d+)(?:f(\d+))?(?:v\d+)?$/.exec(name);
    if (udev) {
      const bdf = formatBdf({
        segment: Number(udev[1] ?? 0),
        bus: Number(udev[2]),
        device: Number(udev[3]),
        function: Number(udev[4] ?? 0),
      });
      bind(label, bdf, `the name ${name} encodes ${bdf}`);
      continue;
    }
    const drv = RDMA_DRIVER_VENDOR.find(([re]) => re.test(name));
    if (drv) {
      const k = Number(drv[0].exec(name)![1]);
      const nics = ordered.filter((f) => f.vendor === drv[1] && f.deviceClass === 'nic');
      const list = [...nics.filter((f) => !f.isVf), ...nics.filter((f) => f.isVf)];
      const f = list[k];
      if (!f) {
        warnings.push(`${label} (${name}): the data have ${list.length} such NIC functions; not bound`);
        continue;
      }
      bind(label, f.bdf, `inferred: ${name} is NIC function #${k} of vendor ${hex(drv[1], 4)} in PCI order`);
      assumed.push({
        field: `label ${label}`,
        value: f.bdf,
        why: `no OS device names in the data; RDMA devices are numbered in probe order, so ${name} is taken as the function #${k} of vendor ${hex(drv[1], 4)} in PCI order (PFs first)`,
        flag: `--label ${label}=ssss:bb:dd.f`,
      });
      continue;
    }
    warnings.push(`${label} (${name}): no function carries this name and it does not tell its PCI address; not bound`);
  }
  return out;
}

function toSpec(f: Merged, warnings: string[]): FunctionSpec {
  const bridgeRange = f.secondaryBus !== undefined;
  const spec: FunctionSpec = {
    bdf: f.bdf,
    vendor: hex(f.vendor ?? 0xffff, 4),
    device: hex(f.device ?? 0xffff, 4),
    type: f.resolvedType!,
    parent: f.up ?? null,
    hostBridge: f.hostBridge!,
    acsCap: f.acsCap ?? false,
    acsCtrl: f.acsCtrl ?? 0,
    physfn: f.isVf ? (f.physfn ?? null) : null,
    secondaryBus: bridgeRange ? f.secondaryBus! : null,
    subordinateBus: bridgeRange ? (f.subordinateBus ?? f.secondaryBus!) : null,
  };
  if (f.classCode !== undefined) spec.classCode = hex(f.classCode, 6);
  if (f.bars && f.bars.length > 0) {
    const bars = saneBars(f, warnings);
    if (bars.length > 0) spec.bars = bars;
  }
  if (f.dmaMask !== undefined) spec.dmaMask = f.dmaMask;
  if (f.iommuGroup !== undefined) spec.iommuGroup = f.iommuGroup;
  if (f.numaNode !== undefined) spec.numaNode = f.numaNode;
  if (f.label !== undefined) spec.label = f.label;
  if (f.name !== undefined) spec.name = f.name;
  if (f.deviceClass !== undefined) spec.deviceClass = f.deviceClass;
  if (f.driver !== undefined) spec.driver = f.driver;
  if (f.link !== undefined) spec.link = f.link;
  return spec;
}

const U64 = (1n << 64n) - 1n;

/** The BARs the model can hold: one per index, a 64-bit BAR's upper index free, non-zero and inside 2^64. */
function saneBars(f: Merged, warnings: string[]): BarSpec[] {
  const taken = new Set<number>();
  const out: BarSpec[] = [];
  for (const b of f.bars ?? []) {
    const start = BigInt(b.cpuStart);
    const len = BigInt(b.length);
    const problem =
      taken.has(b.index) || (b.is64 && taken.has(b.index + 1))
        ? 'given twice'
        : b.is64 && b.index === 5
          ? 'a 64-bit BAR at index 5'
          : len === 0n || start + len - 1n > U64
            ? 'an empty or out-of-range region'
            : b.is64 && !b.memory
              ? 'a 64-bit I/O BAR'
              : undefined;
    if (problem) {
      warnings.push(`${f.where.file}: ${f.bdf} BAR ${b.index} is ${problem}; dropped`);
      continue;
    }
    taken.add(b.index);
    if (b.is64) taken.add(b.index + 1);
    out.push(b);
  }
  return out;
}

/**
 * Host bridges without a NUMA node, on a machine known to have several: platforms number root buses node
 * by node (socket 0's first), so a host bridge between two host bridges of the same node (or before the
 * first, or after the last, known one of its segment) is taken to be in that node. One between two
 * different nodes stays unknown. Recorded as an assumption.
 */
function fillNumaByBusOrder(hostBridges: HostBridgeSpec[], funcs: Map<Bdf, Merged>, assumed: AssumedDefault[]): void {
  const filled: string[] = [];
  for (const seg of new Set(hostBridges.map((h) => h.segment))) {
    const list = hostBridges.filter((h) => h.segment === seg).sort((a, b) => a.rootBus - b.rootBus);
    const known = list.filter((h) => typeof h.numaNode === 'number');
    if (known.length === 0) continue;
    const nodes = known.map((h) => h.numaNode as number);
    if (nodes.some((n, i) => i > 0 && n < nodes[i - 1]!)) continue;
    for (const h of list) {
      if (typeof h.numaNode === 'number') continue;
      const below = [...known].reverse().find((k) => k.rootBus < h.rootBus);
      const above = known.find((k) => k.rootBus > h.rootBus);
      const node =
        below && above ? (below.numaNode === above.numaNode ? below.numaNode : undefined) : (below ?? above)!.numaNode;
      if (typeof node !== 'number') continue;
      h.numaNode = node;
      const i = hostBridges.indexOf(h);
      for (const f of funcs.values())
        if (f.hostBridge === i && (f.numaNode === undefined || f.numaNode === null)) f.numaNode = node;
      filled.push(`${busName(h.segment, h.rootBus)}=${node}`);
    }
  }
  if (filled.length > 0) {
    assumed.push({
      field: 'hostBridges[].numaNode',
      value: filled.join(', '),
      why: 'no data give these host bridges a NUMA node; root buses are numbered node by node, so each is taken to be in the node of the known host bridges around it',
      flag: '--numa-node ssss:bb=N',
    });
  }
}
