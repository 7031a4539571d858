/**
 * Parametric topologies for sweeps: sockets, host bridges per socket, root ports, switch depth and fan-out, a
 * device mix (GPU, NIC, NVMe, accelerator) with BAR sizes, ACS policy, CPU, host-bridge ids and IOMMU mode.
 * Deterministic from a seed (pure-rand xoroshiro128+). Addresses are realistic: every host bridge gets a 32-bit
 * memory window below 4 GiB (a slice of 0x80000000-0xfbffffff) and a 64-bit one (from 0x380000000000 on
 * Intel-like, 0x10000000000 on AMD-like platforms); BARs are naturally aligned inside them; bus numbers are
 * assigned depth-first as the kernel's scan does; IOMMU groups follow ACS isolation.
 */
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { DmasimError, ErrorCode } from '../errors.ts';
import { formatBdf } from './bdf.ts';
import { hexU64 } from './hex.ts';
import { withIommuGroups } from './iommu-groups.ts';
import { ACS_KERNEL_DEFAULT_CTRL, iommuForMode, parseCpuOverride, parsePciIdOverride } from './overrides.ts';
import { buildTopology } from './topology.ts';
import type { BarSpec, DeviceClass, FunctionSpec, HostBridgeSpec, TopologySpec } from './topology-spec.ts';

/** Device classes the generator places at leaf ports. */
export type GeneratedDeviceClass = 'gpu' | 'nic' | 'nvme' | 'accel';

/** Parameters of {@link generateTopology}. Every field is optional; defaults are given per field. */
export interface GenerateParams {
  /** Machine id. @defaultValue `gen-<seed>` */
  id?: string;
  /** PRNG seed (integer). @defaultValue `1` */
  seed?: number;
  /** CPU sockets. @defaultValue `2` */
  sockets?: number;
  /** Host bridges (root buses / root complexes) per socket; AMD EPYC has 4, Intel Xeon 1 per PCIe stack. @defaultValue `1` */
  hostBridgesPerSocket?: number;
  /** Root ports per host bridge (at devfn 01.0, 02.0, ...; at most 30). @defaultValue `4` */
  rootPortsPerHostBridge?: number;
  /** Levels of PCIe switches below each root port; 0 puts devices on the root ports. @defaultValue `1` */
  switchDepth?: number;
  /** Downstream ports per switch (1..32). @defaultValue `4` */
  switchFanout?: number;
  /**
   * Number of endpoint devices; leaf ports are filled host bridge by host bridge, port by port. Absent: one
   * device at every leaf port. More devices than leaf ports is an error.
   */
  devices?: number;
  /** Relative weights of the device classes, drawn per device from the seed. @defaultValue `{ gpu: 4, nic: 2, nvme: 1, accel: 1 }` */
  deviceMix?: Partial<Record<GeneratedDeviceClass, number>>;
  /**
   * Size of each class's large BAR (hex string or `64G`/`32M`/`16K`, a power of two): GPU BAR1, NIC BAR0, NVMe
   * BAR0, accelerator BAR2. @defaultValue `{ gpu: '32G', nic: '32M', nvme: '16K', accel: '16G' }`
   */
  barSizes?: Partial<Record<GeneratedDeviceClass, string>>;
  /** Give GPUs their 16 MiB 32-bit BAR0 (as real GPUs have); the 32-bit windows must then hold them. @defaultValue `true` */
  bar32?: boolean;
  /** Functions of each NIC (dual-port NICs are two functions of one device). @defaultValue `2` */
  nicFunctions?: number;
  /** SR-IOV VFs per NIC function (placed after the PFs on the same bus, ARI numbering). @defaultValue `0` */
  sriovVfs?: number;
  /**
   * ACS on root and downstream ports: `kernel-default` (SV|RR|CR|UF, what Linux sets with an IOMMU on), `off`
   * (all clear), `random` (each port redirects with probability `acsRandomPercent`).
   * @defaultValue `'kernel-default'` when the IOMMU is on, else `'off'`
   */
  acs?: 'kernel-default' | 'off' | 'random';
  /** For `acs: 'random'`: percent chance that a port has ReqRedir|CmpltRedir set. @defaultValue `50` */
  acsRandomPercent?: number;
  /** Boot CPU `vendor:family`. @defaultValue `'intel:6'` */
  cpu?: string;
  /**
   * `vendor:device` of each root bus's 00.0 host-bridge function, or `none` for root buses without one (the first
   * root port then stands for the host bridge).
   * @defaultValue `'8086:09a2'` on Intel (whitelisted), `'1022:14a4'` on AMD (not whitelisted), else `'1af4:1234'`
   */
  hostBridgeId?: string;
  /** IOMMU mode: `off`, `pt`, `strict`, `lazy`. @defaultValue `'lazy'` */
  iommu?: 'off' | 'pt' | 'strict' | 'lazy';
  /** NUMA nodes per socket (host bridges are spread over them). @defaultValue `1` */
  numaNodesPerSocket?: number;
  /** Online CPUs. @defaultValue `32 * sockets` */
  onlineCpus?: number;
  /** Start of the 64-bit windows, hex. @defaultValue `'0x380000000000'` (Intel-like) or `'0x10000000000'` (AMD) */
  mmio64Base?: string;
  /** CPU minus bus address of the 64-bit windows, hex (0 on x86). @defaultValue `'0x0'` */
  mmio64Offset?: string;
}

/** The defaults of {@link GenerateParams} (platform-dependent ones are resolved from `cpu`). */
export const GENERATE_DEFAULTS = Object.freeze({
  seed: 1,
  sockets: 2,
  hostBridgesPerSocket: 1,
  rootPortsPerHostBridge: 4,
  switchDepth: 1,
  switchFanout: 4,
  deviceMix: Object.freeze({ gpu: 4, nic: 2, nvme: 1, accel: 1 }),
  barSizes: Object.freeze({ gpu: '32G', nic: '32M', nvme: '16K', accel: '16G' }),
  bar32: true,
  nicFunctions: 2,
  sriovVfs: 0,
  acsRandomPercent: 50,
  cpu: 'intel:6',
  iommu: 'lazy' as const,
  numaNodesPerSocket: 1,
  mmio64Offset: '0x0',
});

const PARAM_KEYS = new Set([
  'id',
  'seed',
  'sockets',
  'hostBridgesPerSocket',
  'rootPortsPerHostBridge',
  'switchDepth',
  'switchFanout',
  'devices',
  'deviceMix',
  'barSizes',
  'bar32',
  'nicFunctions',
  'sriovVfs',
  'acs',
  'acsRandomPercent',
  'cpu',
  'hostBridgeId',
  'iommu',
  'numaNodesPerSocket',
  'onlineCpus',
  'mmio64Base',
  'mmio64Offset',
]);
const CLASSES: readonly GeneratedDeviceClass[] = ['gpu', 'nic', 'nvme', 'accel'];

function bad(field: string, problem: string): DmasimError {
  return new DmasimError(ErrorCode.TOPOLOGY_PARAMS_INVALID, `generator parameter ${field}: ${problem}`, { field });
}

function int(p: Record<string, unknown>, k: string, def: number, min: number, max: number): number {
  const v = p[k] ?? def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(k, `expected an integer ${min}..${max}, found ${JSON.stringify(v)}`);
  }
  return v;
}

/** Parses `64G`, `32M`, `16K`, `4096` or `0x1000` into bytes. */
export function parseSize(s: string): bigint | null {
  const m = /^([0-9]+)([KMGT]?)(i?B)?$/.exec(s);
  if (m) {
    const mult = { '': 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n }[m[2] as '' | 'K' | 'M' | 'G' | 'T'];
    return BigInt(m[1] as string) * mult;
  }
  if (/^0x[0-9a-fA-F]{1,16}$/.test(s)) return BigInt(s);
  return null;
}

interface Resolved {
  id: string;
  seed: number;
  sockets: number;
  hbPerSocket: number;
  rootPorts: number;
  depth: number;
  fanout: number;
  devices: number | null;
  mix: Record<GeneratedDeviceClass, number>;
  bars: Record<GeneratedDeviceClass, bigint>;
  bar32: boolean;
  nicFunctions: number;
  vfs: number;
  acs: 'kernel-default' | 'off' | 'random';
  acsPercent: number;
  cpu: TopologySpec['platform']['cpu'];
  hostBridgeId: { vendor: string; device: string } | null;
  iommu: 'off' | 'pt' | 'strict' | 'lazy';
  numaPerSocket: number;
  onlineCpus: number;
  mmio64Base: bigint;
  mmio64Offset: bigint;
}

/**
 * Validates parameters and applies defaults.
 * @throws DmasimError `TOPOLOGY_PARAMS_INVALID` naming the parameter, what was found and what was expected.
 */
export function resolveGenerateParams(params: GenerateParams = {}): Resolved {
  if (params === null || typeof params !== 'object' || Array.isArray(params))
    throw bad('(root)', 'expected an object of parameters');
  const p = params as Record<string, unknown>;
  for (const k of Object.keys(p))
    if (!PARAM_KEYS.has(k)) throw bad(k, `unknown parameter; expected one of ${[...PARAM_KEYS].join(', ')}`);
  const D = GENERATE_DEFAULTS;
  const seed = int(p, 'seed', D.seed, -(2 ** 31), 2 ** 31 - 1);
  const sockets = int(p, 'sockets', D.sockets, 1, 64);
  const hbPerSocket = int(p, 'hostBridgesPerSocket', D.hostBridgesPerSocket, 1, 64);
  const rootPorts = int(p, 'rootPortsPerHostBridge', D.rootPortsPerHostBridge, 1, 30);
  const depth = int(p, 'switchDepth', D.switchDepth, 0, 8);
  const fanout = int(p, 'switchFanout', D.switchFanout, 1, 32);
  const devices = p.devices === undefined ? null : int(p, 'devices', 0, 0, 1_000_000);
  const nicFunctions = int(p, 'nicFunctions', D.nicFunctions, 1, 8);
  const vfs = int(p, 'sriovVfs', D.sriovVfs, 0, 240);
  if (nicFunctions * (1 + vfs) > 256)
    throw bad('sriovVfs', `${nicFunctions} NIC functions with ${vfs} VFs each need more than 256 functions on one bus`);
  const acsPercent = int(p, 'acsRandomPercent', D.acsRandomPercent, 0, 100);
  const numaPerSocket = int(p, 'numaNodesPerSocket', D.numaNodesPerSocket, 1, 16);
  const onlineCpus = int(p, 'onlineCpus', 32 * sockets, 1, 1 << 16);
  const mixIn = p.deviceMix ?? D.deviceMix;
  if (mixIn === null || typeof mixIn !== 'object')
    throw bad('deviceMix', 'expected weights such as { gpu: 4, nic: 2 }');
  const mix = { gpu: 0, nic: 0, nvme: 0, accel: 0 };
  for (const [k, v] of Object.entries(mixIn)) {
    if (!CLASSES.includes(k as GeneratedDeviceClass))
      throw bad(`deviceMix.${k}`, `unknown device class; expected ${CLASSES.join(', ')}`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 1000)
      throw bad(`deviceMix.${k}`, `expected an integer weight 0..1000, found ${JSON.stringify(v)}`);
    mix[k as GeneratedDeviceClass] = v;
  }
  if (CLASSES.every((c) => mix[c] === 0)) throw bad('deviceMix', 'at least one weight must be positive');
  const barIn = { ...D.barSizes, ...((p.barSizes as Record<string, unknown>) ?? {}) } as Record<string, unknown>;
  const bars = { gpu: 0n, nic: 0n, nvme: 0n, accel: 0n };
  for (const [k, v] of Object.entries(barIn)) {
    if (!CLASSES.includes(k as GeneratedDeviceClass))
      throw bad(`barSizes.${k}`, `unknown device class; expected ${CLASSES.join(', ')}`);
    const n = typeof v === 'string' ? parseSize(v) : null;
    if (n === null || n < 4096n || (n & (n - 1n)) !== 0n || n > 1n << 44n) {
      throw bad(
        `barSizes.${k}`,
        `expected a power-of-two size from 4K to 16T such as "32G" or "0x800000000", found ${JSON.stringify(v)}`,
      );
    }
    bars[k as GeneratedDeviceClass] = n;
  }
  const bar32 = p.bar32 ?? D.bar32;
  if (typeof bar32 !== 'boolean') throw bad('bar32', `expected true or false, found ${JSON.stringify(bar32)}`);
  const cpuText = p.cpu ?? D.cpu;
  if (typeof cpuText !== 'string') throw bad('cpu', 'expected vendor:family such as amd:0x19');
  let cpu: TopologySpec['platform']['cpu'];
  try {
    cpu = parseCpuOverride(cpuText);
  } catch (e) {
    throw bad('cpu', (e as Error).message.replace(/^--cpu: /, ''));
  }
  const iommu = p.iommu ?? D.iommu;
  if (iommu !== 'off' && iommu !== 'pt' && iommu !== 'strict' && iommu !== 'lazy')
    throw bad('iommu', `expected off, pt, strict or lazy, found ${JSON.stringify(iommu)}`);
  const acs = p.acs ?? (iommu === 'off' ? 'off' : 'kernel-default');
  if (acs !== 'kernel-default' && acs !== 'off' && acs !== 'random')
    throw bad('acs', `expected kernel-default, off or random, found ${JSON.stringify(acs)}`);
  const hbDefault = cpu.vendor === 'intel' ? '8086:09a2' : cpu.vendor === 'amd' ? '1022:14a4' : '1af4:1234';
  const hbText = p.hostBridgeId ?? hbDefault;
  if (typeof hbText !== 'string') throw bad('hostBridgeId', 'expected vendor:device such as 8086:2020, or none');
  let hostBridgeId: { vendor: string; device: string } | null = null;
  if (hbText !== 'none') {
    try {
      hostBridgeId = parsePciIdOverride(hbText, 'hostBridgeId');
    } catch (e) {
      throw bad('hostBridgeId', (e as Error).message.replace(/^hostBridgeId: /, ''));
    }
  }
  const hex = (k: string, def: string): bigint => {
    const v = p[k] ?? def;
    if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(v))
      throw bad(k, `expected a 64-bit hex string, found ${JSON.stringify(v)}`);
    return BigInt(v);
  };
  const mmio64Base = hex(
    'mmio64Base',
    cpu.vendor === 'amd' || cpu.vendor === 'hygon' ? '0x10000000000' : '0x380000000000',
  );
  if (mmio64Base < 1n << 32n) throw bad('mmio64Base', 'the 64-bit windows must start at or above 4 GiB');
  const mmio64Offset = hex('mmio64Offset', D.mmio64Offset);
  const id = p.id ?? `gen-${seed}`;
  if (typeof id !== 'string' || id === '') throw bad('id', 'expected a non-empty string');
  return {
    id,
    seed,
    sockets,
    hbPerSocket,
    rootPorts,
    depth,
    fanout,
    devices,
    mix,
    bars,
    bar32,
    nicFunctions,
    vfs,
    acs,
    acsPercent,
    cpu,
    hostBridgeId,
    iommu,
    numaPerSocket,
    onlineCpus,
    mmio64Base,
    mmio64Offset,
  };
}

/** Ids and properties of each generated class. */
const CLASS_INFO: Record<
  GeneratedDeviceClass,
  { vendor: string; device: string; vf?: string; dmaBits: number; name: string }
> = {
  gpu: { vendor: '0x10de', device: '0x2330', dmaBits: 47, name: 'NVIDIA H100 (generated)' },
  nic: { vendor: '0x15b3', device: '0x1021', vf: '0x101e', dmaBits: 64, name: 'Mellanox ConnectX-7 (generated)' },
  nvme: { vendor: '0x144d', device: '0xa80a', dmaBits: 64, name: 'Samsung NVMe SSD (generated)' },
  accel: { vendor: '0x1da3', device: '0x1020', dmaBits: 48, name: 'Accelerator (generated)' },
};

const WINDOW32_START = 0x80000000n;
const WINDOW32_END = 0xfc000000n; // exclusive; 0xfc000000.. holds the IOAPIC/MSI/firmware ranges

function alignUp(x: bigint, a: bigint): bigint {
  return (x + a - 1n) & ~(a - 1n);
}

function roundPow2(x: bigint): bigint {
  let p = 1n;
  while (p < x) p <<= 1n;
  return p;
}

interface Node {
  kind: 'rp' | 'usp' | 'dsp' | 'dev';
  children: Node[];
  cls?: GeneratedDeviceClass;
}

/**
 * Generates a topology. The same parameters always give the same spec (byte for byte once formatted).
 * @throws DmasimError `TOPOLOGY_PARAMS_INVALID` for invalid parameters, more devices than leaf ports, a host
 *   bridge needing more than 256 buses, or 32-bit BARs that do not fit the 32-bit windows (use `bar32: false`
 *   or more host bridges).
 */
export function generateTopology(params: GenerateParams = {}): TopologySpec {
  const r = resolveGenerateParams(params);
  const rng = xoroshiro128plus(r.seed);
  const nHb = r.sockets * r.hbPerSocket;
  const leavesPerRp = r.fanout ** r.depth;
  const totalLeaves = nHb * r.rootPorts * leavesPerRp;
  const wanted = r.devices ?? totalLeaves;
  if (wanted > totalLeaves) {
    throw bad(
      'devices',
      `${wanted} devices do not fit ${totalLeaves} leaf ports (${nHb} host bridges x ${r.rootPorts} root ports x ${r.fanout}^${r.depth})`,
    );
  }
  const weights = CLASSES.map((c) => r.mix[c]);
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const pick = (): GeneratedDeviceClass => {
    let x = uniformInt(rng, 0, weightSum - 1);
    for (let i = 0; i < CLASSES.length; i++) {
      x -= weights[i] as number;
      if (x < 0) return CLASSES[i] as GeneratedDeviceClass;
    }
    return 'gpu';
  };
  // Build the trees, filling leaves in order until `wanted` devices are placed.
  let placed = 0;
  const buildRp = (): Node => {
    const rp: Node = { kind: 'rp', children: [] };
    const grow = (parent: Node, level: number): void => {
      if (level === r.depth) {
        if (placed < wanted) {
          placed++;
          parent.children.push({ kind: 'dev', children: [], cls: pick() });
        }
        return;
      }
      if (placed >= wanted) return;
      const usp: Node = { kind: 'usp', children: [] };
      parent.children.push(usp);
      for (let i = 0; i < r.fanout; i++) {
        const dsp: Node = { kind: 'dsp', children: [] };
        usp.children.push(dsp);
        grow(dsp, level + 1);
      }
    };
    grow(rp, 0);
    return rp;
  };
  const trees: Node[][] = [];
  for (let h = 0; h < nHb; h++) {
    const rps: Node[] = [];
    for (let i = 0; i < r.rootPorts; i++) rps.push(buildRp());
    trees.push(rps);
  }
  // Bus numbers: each host bridge needs its root bus plus one bus per bridge.
  const countBuses = (n: Node): number =>
    n.kind === 'dev' ? 0 : 1 + n.children.reduce((a, c) => a + countBuses(c), 0);
  const hostBridges: HostBridgeSpec[] = [];
  let segment = 0;
  let nextBus = 0;
  const hbBus: number[] = [];
  for (let h = 0; h < nHb; h++) {
    const need = 1 + (trees[h] as Node[]).reduce((a, n) => a + countBuses(n), 0);
    if (need > 256)
      throw bad(
        'switchFanout',
        `host bridge ${h} needs ${need} bus numbers, more than a segment's 256; use a smaller switchDepth/switchFanout or more root complexes`,
      );
    if (nextBus + need > 256) {
      segment++;
      nextBus = 0;
    }
    hbBus.push(nextBus);
    const socket = Math.floor(h / r.hbPerSocket);
    const numaNode = socket * r.numaPerSocket + Math.floor(((h % r.hbPerSocket) * r.numaPerSocket) / r.hbPerSocket);
    hostBridges.push({ segment, rootBus: nextBus, windows: [], numaNode, socket });
    nextBus += need;
  }
  // Functions and BARs.
  const functions: FunctionSpec[] = [];
  const isAmd = r.cpu.vendor === 'amd' || r.cpu.vendor === 'hygon';
  const rpId = isAmd ? { vendor: '0x1022', device: '0x14ab' } : { vendor: '0x8086', device: '0x352a' };
  const swId = { vendor: '0x1000', device: '0xc030' };
  const w32Size = ((WINDOW32_END - WINDOW32_START) / BigInt(nHb)) & ~0xfffffn;
  const acsFor = (): number => {
    if (r.acs === 'off') return 0;
    if (r.acs === 'kernel-default') return ACS_KERNEL_DEFAULT_CTRL;
    return uniformInt(rng, 0, 99) < r.acsPercent ? 0x0c : 0;
  };
  // Per-host-bridge 64-bit window size: the largest need, as a power of two, at least 64 GiB.
  const bar64Of = (cls: GeneratedDeviceClass): bigint[] => {
    const big = r.bars[cls];
    if (cls === 'gpu') return [big, 32n << 20n];
    if (cls === 'nic') return Array.from({ length: r.nicFunctions * (1 + r.vfs) }, () => big);
    if (cls === 'nvme') return [big];
    return [256n << 20n, big];
  };
  const need64 = trees.map((rps) => {
    let sum = 0n;
    const walk = (n: Node): void => {
      if (n.kind === 'dev') for (const s of bar64Of(n.cls as GeneratedDeviceClass)) sum += s;
      else n.children.forEach(walk);
    };
    rps.forEach(walk);
    return sum;
  });
  let maxNeed = 64n << 30n;
  for (const n of need64) if (n > maxNeed) maxNeed = n;
  const w64Size = roundPow2(maxNeed);
  const w64Base = alignUp(r.mmio64Base, w64Size);
  const w64End = w64Base + w64Size * BigInt(nHb);
  if (w64End > 1n << 52n) {
    throw bad(
      'barSizes',
      `the 64-bit windows would end at ${hexU64(w64End)}, beyond the 52-bit physical address space; use smaller BARs or fewer devices`,
    );
  }
  for (let h = 0; h < nHb; h++) {
    const hb = hostBridges[h] as HostBridgeSpec;
    const seg = hb.segment;
    const w32Start = WINDOW32_START + w32Size * BigInt(h);
    const w64Start = w64Base + w64Size * BigInt(h);
    hb.windows = [
      { type: 'mem', cpuStart: hexU64(w32Start), cpuEnd: hexU64(w32Start + w32Size - 1n), offset: '0x0' },
      {
        type: 'mem',
        cpuStart: hexU64(w64Start),
        cpuEnd: hexU64(w64Start + w64Size - 1n),
        offset: hexU64(r.mmio64Offset),
      },
    ];
    // BARs are placed after the tree is laid out, largest first (as the kernel sorts by alignment), so that
    // power-of-two BARs pack without padding inside the naturally aligned windows.
    const req32: { bar: BarSpec; size: bigint; where: string }[] = [];
    const req64: { bar: BarSpec; size: bigint }[] = [];
    const alloc32 = (bar: BarSpec, size: bigint, where: string): BarSpec => {
      req32.push({ bar, size, where });
      return bar;
    };
    const alloc64 = (bar: BarSpec, size: bigint): BarSpec => {
      req64.push({ bar, size });
      return bar;
    };
    let bus = hbBus[h] as number;
    const root = bus;
    const fn = (
      bdf: string,
      ids: { vendor: string; device: string },
      type: FunctionSpec['type'],
      parent: string | null,
      extra: Partial<FunctionSpec> = {},
    ): FunctionSpec => {
      const f: FunctionSpec = {
        bdf,
        vendor: ids.vendor,
        device: ids.device,
        type,
        parent,
        hostBridge: h,
        acsCap: false,
        acsCtrl: 0,
        physfn: null,
        secondaryBus: null,
        subordinateBus: null,
        numaNode: hb.numaNode ?? null,
        ...extra,
      };
      functions.push(f);
      return f;
    };
    if (r.hostBridgeId)
      fn(formatBdf(seg, root, 0), r.hostBridgeId, 'legacy', null, {
        deviceClass: 'host_bridge',
        name: 'Host bridge (generated)',
      });
    // Depth-first numbering, like the kernel's scan: a bridge's secondary bus is the next free one, its
    // subordinate the last bus used below it. Functions are emitted in (bus, devfn) order per bus afterwards.
    const pending: { busNo: number; fns: FunctionSpec[] }[] = [];
    const rootFns: FunctionSpec[] = [];
    const emitBridge = (
      n: Node,
      bdf: string,
      parent: string | null,
      onBus: FunctionSpec[],
      ids: { vendor: string; device: string },
      type: FunctionSpec['type'],
    ): void => {
      const sec = ++bus;
      const isPort = type === 'root_port' || type === 'downstream';
      const f: FunctionSpec = {
        bdf,
        vendor: ids.vendor,
        device: ids.device,
        type,
        parent,
        hostBridge: h,
        acsCap: isPort,
        acsCtrl: isPort ? acsFor() : 0,
        physfn: null,
        secondaryBus: sec,
        subordinateBus: sec,
        numaNode: hb.numaNode ?? null,
        deviceClass: 'bridge',
      };
      onBus.push(f);
      const below: FunctionSpec[] = [];
      pending.push({ busNo: sec, fns: below });
      n.children.forEach((c, i) => {
        if (c.kind === 'dev') emitDevice(c, sec, bdf, below);
        else emitBridge(c, formatBdf(seg, sec, i << 3), bdf, below, swId, c.kind === 'usp' ? 'upstream' : 'downstream');
      });
      f.subordinateBus = bus;
    };
    const emitDevice = (n: Node, busNo: number, parent: string, onBus: FunctionSpec[]): void => {
      const cls = n.cls as GeneratedDeviceClass;
      const info = CLASS_INFO[cls];
      const mask = hexU64((1n << BigInt(info.dmaBits)) - 1n);
      const base = (devfn: number, extra: Partial<FunctionSpec>): FunctionSpec => ({
        bdf: formatBdf(seg, busNo, devfn),
        vendor: info.vendor,
        device: info.device,
        type: 'endpoint',
        parent,
        hostBridge: h,
        acsCap: false,
        acsCtrl: 0,
        physfn: null,
        secondaryBus: null,
        subordinateBus: null,
        dmaMask: mask,
        numaNode: hb.numaNode ?? null,
        deviceClass: cls as DeviceClass,
        name: info.name,
        ...extra,
      });
      const bar = (index: number, size: bigint, is64: boolean, prefetchable: boolean): BarSpec => {
        const b: BarSpec = { index, memory: true, is64, prefetchable, cpuStart: '0x0', length: hexU64(size) };
        return is64 ? alloc64(b, size) : alloc32(b, size, formatBdf(seg, busNo, 0));
      };
      if (cls === 'gpu') {
        const bars: BarSpec[] = [];
        if (r.bar32) bars.push(bar(0, 16n << 20n, false, false));
        bars.push(bar(1, r.bars.gpu, true, true), bar(3, 32n << 20n, true, true));
        onBus.push(base(0, { bars, driver: 'nvidia' }));
      } else if (cls === 'nic') {
        const pfs: FunctionSpec[] = [];
        for (let f = 0; f < r.nicFunctions; f++) {
          pfs.push(
            base(f, { acsCap: r.nicFunctions > 1, bars: [bar(0, r.bars.nic, true, true)], driver: 'mlx5_core' }),
          );
        }
        onBus.push(...pfs);
        let devfn = r.nicFunctions;
        for (const pf of pfs) {
          for (let v = 0; v < r.vfs; v++) {
            onBus.push(
              base(devfn++, {
                device: info.vf ?? info.device,
                physfn: pf.bdf,
                bars: [bar(0, r.bars.nic, true, true)],
                driver: 'mlx5_core',
                name: `${info.name} VF`,
              }),
            );
          }
        }
      } else if (cls === 'nvme') {
        onBus.push(base(0, { bars: [bar(0, r.bars.nvme, true, false)], driver: 'nvme' }));
      } else {
        onBus.push(base(0, { bars: [bar(0, 256n << 20n, true, true), bar(2, r.bars.accel, true, true)] }));
      }
    };
    (trees[h] as Node[]).forEach((rp, i) => {
      emitBridge(rp, formatBdf(seg, root, (i + 1) << 3), null, rootFns, rpId, 'root_port');
    });
    functions.push(...rootFns);
    pending.sort((a, b) => a.busNo - b.busNo);
    for (const p of pending) functions.push(...p.fns);
    let cur32 = w32Start;
    for (const q of req32) {
      const at = alignUp(cur32, q.size);
      if (at + q.size > w32Start + w32Size) {
        throw bad(
          'bar32',
          `the 32-bit window of host bridge ${h} (${hexU64(w32Size)} bytes) is full at ${q.where}; set bar32: false or use more host bridges`,
        );
      }
      q.bar.cpuStart = hexU64(at);
      cur32 = at + q.size;
    }
    let cur64 = w64Start;
    for (const q of [...req64].sort((a, b) => (a.size > b.size ? -1 : a.size < b.size ? 1 : 0))) {
      q.bar.cpuStart = hexU64(cur64);
      cur64 += q.size;
    }
  }
  const labelNo: Record<GeneratedDeviceClass, number> = { gpu: 0, nic: 0, nvme: 0, accel: 0 };
  for (const f of functions) {
    const c = f.deviceClass;
    if (f.physfn === null && (c === 'gpu' || c === 'nic' || c === 'nvme' || c === 'accel'))
      f.label = `${c.toUpperCase()}${labelNo[c]++}`;
  }
  const platform: TopologySpec['platform'] = {
    cpu: r.cpu,
    pageSize: 4096,
    p2pdmaEnabled: true,
    onlineCpus: r.onlineCpus,
    numaNodes: r.sockets * r.numaPerSocket,
    sockets: r.sockets,
    iommu: iommuForMode(r.iommu, r.cpu),
  };
  const spec: TopologySpec = {
    kind: 'dmasim-topology',
    version: 1,
    id: r.id,
    platform,
    hostBridges,
    functions,
    sources: [`generateTopology ${JSON.stringify(params)}`],
  };
  if (r.iommu === 'off') return spec;
  return withIommuGroups(buildTopology(spec, `<generated ${r.id}>`));
}
