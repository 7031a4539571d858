/**
 * The immutable, indexed PCI topology model (kernel-model.md section 1), built from the plain
 * {@link TopologySpec} by {@link buildTopology} and turned back into it by {@link toSpec}.
 *
 * Names follow the kernel: a {@link PciFunction} is a `struct pci_dev`, a {@link PciBus} a `struct pci_bus`
 * (`self` is the bridge whose secondary bus it is, `devices` its device list in enumeration order), a
 * {@link HostBridge} a `struct pci_host_bridge` (one per root bus). Everything the P2PDMA decision walks is
 * precomputed once: `upstream` (`pci_upstream_bridge()`, with the VF -> PF rule of 2.2), the whole upstream
 * `chain`, its `depth`, the host bridge of every bus, and the first function of every root bus.
 */
import { DmasimError, ErrorCode, parseError } from '../errors.ts';
import { formatBdf, parseBdf } from './bdf.ts';
import { parseHexU16, parseHexU24, parseHexU64, U64_MAX } from './hex.ts';
import type {
  AssumedDefault,
  BarSpec,
  Bdf,
  DeviceClass,
  FunctionSpec,
  HostBridgeSpec,
  IommuDomainType,
  PortType,
  TopologySpec,
} from './topology-spec.ts';

/** `IORESOURCE_IO`: an I/O-port BAR. */
export const IORESOURCE_IO = 0x100;
/** `IORESOURCE_MEM`: a memory BAR (the only kind that can be a P2PDMA provider). */
export const IORESOURCE_MEM = 0x200;
/** `IORESOURCE_PREFETCH`: prefetchable memory. */
export const IORESOURCE_PREFETCH = 0x2000;
/** `IORESOURCE_MEM_64`: a 64-bit memory BAR (occupies two BAR indexes). */
export const IORESOURCE_MEM_64 = 0x100000;

/** Number of standard BARs, `PCI_STD_NUM_BARS`. */
export const PCI_STD_NUM_BARS = 6;

/** Every PCIe port type of the topology format, for validation. */
export const PORT_TYPES: readonly PortType[] = Object.freeze([
  'root_port',
  'upstream',
  'downstream',
  'endpoint',
  'rc_endpoint',
  'pci_bridge',
  'legacy',
]);

/** Every device class of the topology format, for validation. */
export const DEVICE_CLASSES: readonly DeviceClass[] = Object.freeze([
  'gpu',
  'nic',
  'nvme',
  'accel',
  'bridge',
  'host_bridge',
  'other',
]);

/** One host-bridge window with its addresses as bigint (kernel-model.md 1.3). */
export interface HostBridgeWindow {
  readonly type: 'mem' | 'io';
  /** CPU start and end (inclusive). */
  readonly cpuStart: bigint;
  readonly cpuEnd: bigint;
  /** CPU address minus bus address (u64; wraps). */
  readonly offset: bigint;
}

/** One BAR resource (kernel-model.md 1.4), addresses in bytes as bigint. */
export interface PciBar {
  /** 0..5 (`pci_resource_start(pdev, index)`). */
  readonly index: number;
  /** `IORESOURCE_*` flags: MEM or IO, plus PREFETCH and MEM_64 where they apply. */
  readonly flags: number;
  readonly memory: boolean;
  readonly is64: boolean;
  readonly prefetchable: boolean;
  /** `pci_resource_start`: CPU physical start. */
  readonly cpuStart: bigint;
  /** `pci_resource_len`, bytes (> 0). */
  readonly length: bigint;
  /** `pci_resource_end`: last byte (inclusive). */
  readonly cpuEnd: bigint;
  /** `pci_bus_address`: the bus address of the start (given, or through the host-bridge window offset). */
  readonly busStart: bigint;
  /** `pci_bus_address - pci_resource_start` as u64 (wraps when the bus address is below the CPU address). */
  readonly busOffset: bigint;
}

/** A PCI bus (`struct pci_bus`, kernel-model.md 1.2). */
export interface PciBus {
  readonly segment: number;
  /** Bus number 0..255. */
  readonly number: number;
  /** The bridge whose secondary bus this is; `null` on a root bus (and on a VF-only virtual bus). */
  readonly self: PciFunction | null;
  /** Functions on this bus in enumeration order (the kernel's `bus->devices` list; VFs after PFs). */
  readonly devices: readonly PciFunction[];
  readonly hostBridge: HostBridge;
  /** `pci_is_root_bus()`. */
  readonly isRoot: boolean;
}

/** A host bridge: one root bus (`struct pci_host_bridge`, kernel-model.md 1.3). */
export interface HostBridge {
  /** Index in {@link Topology.hostBridges} (= index in `TopologySpec.hostBridges`). */
  readonly index: number;
  readonly segment: number;
  /** Root bus number. */
  readonly busNumber: number;
  /** The root bus. */
  readonly bus: PciBus;
  readonly windows: readonly HostBridgeWindow[];
  /** NUMA node of the root complex when known. */
  readonly numaNode: number | null;
  readonly socket: number | null;
  /** Head of the root bus device list, the function the whitelist looks at (2.4); `null` if the bus is empty. */
  readonly firstFunction: PciFunction | null;
  /** `[ssss:bb]` as `lspci -tv` prints it. */
  readonly name: string;
}

/** One PCI function (`struct pci_dev`, kernel-model.md 1.1). */
export interface PciFunction {
  /** Position in {@link Topology.functions} (enumeration order). */
  readonly index: number;
  /** Kernel device name `ssss:bb:dd.f`. */
  readonly bdf: Bdf;
  readonly segment: number;
  /** Bus number of `bus`. */
  readonly busNumber: number;
  /** `PCI_SLOT(devfn)`. */
  readonly slot: number;
  /** `PCI_FUNC(devfn)`. */
  readonly func: number;
  readonly devfn: number;
  /** `pci_dev_id()` = `(bus << 8) | devfn`. */
  readonly devId: number;
  /** Vendor and device ids (u16). */
  readonly vendor: number;
  readonly device: number;
  /** Class code (u24) or `null`. */
  readonly classCode: number | null;
  readonly type: PortType;
  /** `pci_pcie_type(dev) == PCI_EXP_TYPE_ROOT_PORT`. */
  readonly isRootPort: boolean;
  /** Has a secondary bus (root port, switch port, PCI bridge). */
  readonly isBridge: boolean;
  readonly bus: PciBus;
  /** `bus->self` of a non-VF; for a VF, its PF's parent (as the format records it). */
  readonly parent: PciFunction | null;
  /** `is_virtfn`, and its PF. */
  readonly isVirtfn: boolean;
  readonly physfn: PciFunction | null;
  /** A PF's VFs in enumeration order (empty for other functions). */
  readonly virtfns: readonly PciFunction[];
  /** `pdev->multifunction`: another physical function shares this one's slot (VFs do not count). */
  readonly multifunction: boolean;
  readonly hostBridge: HostBridge;
  /** ACS extended capability present (`pdev->acs_cap != 0`). */
  readonly acsCap: boolean;
  /** The 16-bit ACS Control register. */
  readonly acsCtrl: number;
  readonly secondaryBus: number | null;
  readonly subordinateBus: number | null;
  /** Present BARs in index order. */
  readonly bars: readonly PciBar[];
  /** BAR by index 0..5 (`null` when absent, e.g. the upper half of a 64-bit BAR). */
  readonly resources: readonly (PciBar | null)[];
  /** `*dev->dma_mask`; 0n: not set. */
  readonly dmaMask: bigint;
  /** `bus_dma_limit`; 0n: no limit. */
  readonly busDmaLimit: bigint;
  readonly iommuGroup: number | null;
  /** Default domain type of the function's group (function's own, else the platform's), or `null`. */
  readonly iommuDomain: IommuDomainType | null;
  readonly numaNode: number | null;
  readonly label: string | null;
  readonly name: string | null;
  readonly deviceClass: DeviceClass | null;
  readonly driver: string | null;
  readonly nonMappableBars: boolean;
  readonly untrusted: boolean;
  /** `pci_upstream_bridge(dev)`: PF first for a VF; `null` on a root bus. */
  readonly upstream: PciFunction | null;
  /** `[dev, Up(dev), Up(Up(dev)), ...]` (kernel-model.md 2.2). */
  readonly chain: readonly PciFunction[];
  /** `chain.length - 1`. */
  readonly depth: number;
  /** The spec entry this function was built from (frozen). */
  readonly spec: Readonly<FunctionSpec>;
}

/** The boot CPU and platform knobs with defaults applied (kernel-model.md 1.7). */
export interface Platform {
  readonly cpu: {
    readonly vendor: 'intel' | 'amd' | 'hygon' | 'other';
    readonly family: number;
    readonly model: string | null;
  };
  /** PAGE_SIZE in bytes; default 4096. */
  readonly pageSize: number;
  /** CONFIG_PCI_P2PDMA; default true. */
  readonly p2pdmaEnabled: boolean;
  /** Online CPUs; default 1. */
  readonly onlineCpus: number;
  /** NUMA nodes; default 1. */
  readonly numaNodes: number;
  readonly sockets: number | null;
  readonly iommu: {
    readonly vendor: 'intel' | 'amd' | 'arm-smmu' | 'virtio' | 'other' | 'none';
    readonly defaultDomain: IommuDomainType;
    readonly forcedac: boolean;
    readonly apertureEnd: bigint | null;
  } | null;
}

/** A frozen, deep copy of a plain JSON-like value. */
function deepFreezeClone<T>(v: T): T {
  if (Array.isArray(v)) return Object.freeze(v.map((x) => deepFreezeClone(x))) as T;
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x !== undefined) out[k] = deepFreezeClone(x);
    }
    return Object.freeze(out) as T;
  }
  return v;
}

/** A mutable deep copy of a plain JSON-like value. */
function deepClone<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => deepClone(x)) as T;
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = deepClone(x);
    return out as T;
  }
  return v;
}

/** The path of a field inside the spec, for error messages and for mapping errors to file lines. */
export type SpecPath = readonly (string | number)[];

/** `functions[3].parent` from `['functions', 3, 'parent']`. */
export function formatSpecPath(path: SpecPath): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

function invalid(file: string, path: SpecPath, problem: string): DmasimError {
  const e = parseError(ErrorCode.TOPOLOGY_INVALID, { file, field: formatSpecPath(path) }, problem);
  (e.details as Record<string, unknown>).path = [...path];
  return e;
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The immutable, indexed model of one machine. Build it with {@link buildTopology}. */
export class Topology {
  /** Stable machine name. */
  readonly id: string;
  readonly platform: Platform;
  readonly hostBridges: readonly HostBridge[];
  /** Every function in enumeration order. */
  readonly functions: readonly PciFunction[];
  /** Every bus, sorted by segment and number. */
  readonly buses: readonly PciBus[];
  /** Importer defaults recorded in the spec. */
  readonly assumed: readonly AssumedDefault[];
  readonly sources: readonly string[];
  /** The file the topology came from, for messages. */
  readonly file: string;
  readonly #idxByBdf: ReadonlyMap<Bdf, number>;
  readonly #busByKey: ReadonlyMap<number, PciBus>;
  readonly #spec: TopologySpec;

  /** Use {@link buildTopology}; the constructor takes already validated parts. */
  constructor(parts: {
    id: string;
    platform: Platform;
    hostBridges: HostBridge[];
    functions: PciFunction[];
    buses: PciBus[];
    idxByBdf: Map<Bdf, number>;
    busByKey: Map<number, PciBus>;
    spec: TopologySpec;
    file: string;
  }) {
    this.id = parts.id;
    this.platform = parts.platform;
    this.hostBridges = Object.freeze(parts.hostBridges);
    this.functions = Object.freeze(parts.functions);
    this.buses = Object.freeze(parts.buses);
    this.assumed = parts.spec.assumed ?? Object.freeze([]);
    this.sources = parts.spec.sources ?? Object.freeze([]);
    this.file = parts.file;
    this.#idxByBdf = parts.idxByBdf;
    this.#busByKey = parts.busByKey;
    this.#spec = parts.spec;
    Object.freeze(this);
  }

  /** The function named `bdf`. Throws DEVICE_NOT_FOUND (naming the topology) when there is none. */
  get(bdf: Bdf): PciFunction {
    const i = this.#idxByBdf.get(bdf);
    const f = i === undefined ? undefined : this.functions[i];
    if (!f) {
      throw new DmasimError(ErrorCode.DEVICE_NOT_FOUND, `${this.file}: no PCI function ${bdf} in topology ${this.id}`, {
        file: this.file,
        bdf,
        topology: this.id,
      });
    }
    return f;
  }

  /** True when the topology has a function named `bdf`. */
  has(bdf: Bdf): boolean {
    return this.#idxByBdf.has(bdf);
  }

  /** The function named `bdf`, or `undefined`. */
  find(bdf: Bdf): PciFunction | undefined {
    const i = this.#idxByBdf.get(bdf);
    return i === undefined ? undefined : this.functions[i];
  }

  /** The bus `segment:number`, or `undefined` when no function sits on it and no host bridge roots it. */
  bus(segment: number, number: number): PciBus | undefined {
    return this.#busByKey.get(segment * 256 + number);
  }

  /** `pci_upstream_bridge()` (kernel-model.md 2.2): the PF's for a VF; `null` on a root bus. */
  upstream(fn: PciFunction | Bdf): PciFunction | null {
    return (typeof fn === 'string' ? this.get(fn) : fn).upstream;
  }

  /** The upstream chain `[fn, Up(fn), ...]` (kernel-model.md 2.2). */
  chain(fn: PciFunction | Bdf): readonly PciFunction[] {
    return (typeof fn === 'string' ? this.get(fn) : fn).chain;
  }

  /** `pci_find_host_bridge(fn->bus)`. */
  hostBridgeOf(fn: PciFunction | Bdf): HostBridge {
    return (typeof fn === 'string' ? this.get(fn) : fn).hostBridge;
  }

  /** The head of a host bridge's root bus device list (kernel-model.md 1.3), or `null` when the bus is empty. */
  firstFunctionOfRootBus(hostBridge: HostBridge | number): HostBridge['firstFunction'] {
    const hb = typeof hostBridge === 'number' ? this.hostBridges[hostBridge] : hostBridge;
    if (!hb) {
      throw new DmasimError(
        ErrorCode.DEVICE_NOT_FOUND,
        `${this.file}: no host bridge ${String(hostBridge)} in ${this.id}`,
      );
    }
    return hb.firstFunction;
  }

  /** The frozen spec this model was built from (use {@link toSpec} for a mutable copy). */
  get spec(): TopologySpec {
    return this.#spec;
  }
}

/** A mutable deep copy of the spec the topology was built from; `buildTopology(toSpec(t))` rebuilds `t`. */
export function toSpec(topology: Topology): TopologySpec {
  return deepClone(topology.spec);
}

interface Draft {
  spec: FunctionSpec;
  index: number;
  bdf: Bdf;
  segment: number;
  bus: number;
  slot: number;
  func: number;
  devfn: number;
  hb: number;
  parentIdx: number | null;
  physfnIdx: number | null;
  vendor: number;
  device: number;
  classCode: number | null;
  dmaMask: bigint;
  busDmaLimit: bigint;
}

function windowsOf(h: HostBridgeSpec, file: string, i: number): HostBridgeWindow[] {
  const out: HostBridgeWindow[] = [];
  if (h.windows === undefined) return out;
  if (!Array.isArray(h.windows)) throw invalid(file, ['hostBridges', i, 'windows'], 'expected an array of windows');
  h.windows.forEach((w, j) => {
    const at = ['hostBridges', i, 'windows', j];
    if (!isObj(w)) throw invalid(file, at, 'expected a window object');
    if (w.type !== 'mem' && w.type !== 'io')
      throw invalid(file, [...at, 'type'], `expected "mem" or "io", found ${JSON.stringify(w.type)}`);
    const cpuStart = parseHexU64(w.cpuStart);
    const cpuEnd = parseHexU64(w.cpuEnd);
    const offset = parseHexU64(w.offset);
    if (cpuStart === null)
      throw invalid(file, [...at, 'cpuStart'], `expected a 64-bit hex string, found ${JSON.stringify(w.cpuStart)}`);
    if (cpuEnd === null)
      throw invalid(file, [...at, 'cpuEnd'], `expected a 64-bit hex string, found ${JSON.stringify(w.cpuEnd)}`);
    if (offset === null)
      throw invalid(file, [...at, 'offset'], `expected a 64-bit hex string, found ${JSON.stringify(w.offset)}`);
    if (cpuEnd < cpuStart)
      throw invalid(file, [...at, 'cpuEnd'], `window end ${w.cpuEnd} is below its start ${w.cpuStart}`);
    out.push(Object.freeze({ type: w.type, cpuStart, cpuEnd, offset }));
  });
  return out;
}

function barsOf(
  f: FunctionSpec,
  i: number,
  file: string,
  windows: readonly HostBridgeWindow[],
): (PciBar | null)[] | null {
  if (f.bars === undefined) return null;
  if (!Array.isArray(f.bars)) throw invalid(file, ['functions', i, 'bars'], 'expected an array of BARs');
  if (f.bars.length === 0) return null;
  const res: (PciBar | null)[] = [null, null, null, null, null, null];
  const taken = new Set<number>();
  f.bars.forEach((b: BarSpec, j) => {
    const at = ['functions', i, 'bars', j];
    if (!isObj(b)) throw invalid(file, at, 'expected a BAR object');
    if (!isInt(b.index, 0, 5))
      throw invalid(file, [...at, 'index'], `expected a BAR index 0..5, found ${JSON.stringify(b.index)}`);
    for (const k of ['memory', 'is64', 'prefetchable'] as const) {
      if (typeof b[k] !== 'boolean')
        throw invalid(file, [...at, k], `expected true or false, found ${JSON.stringify(b[k])}`);
    }
    if (taken.has(b.index))
      throw invalid(file, [...at, 'index'], `BAR ${b.index} is given twice (or is the upper half of a 64-bit BAR)`);
    if (b.is64) {
      if (!b.memory) throw invalid(file, [...at, 'is64'], 'an I/O BAR cannot be 64-bit');
      if (b.index === 5) throw invalid(file, [...at, 'index'], 'a 64-bit BAR cannot start at index 5');
      if (taken.has(b.index + 1))
        throw invalid(file, [...at, 'index'], `64-bit BAR ${b.index} overlaps BAR ${b.index + 1}`);
      taken.add(b.index + 1);
    }
    if (b.prefetchable && !b.memory) throw invalid(file, [...at, 'prefetchable'], 'an I/O BAR cannot be prefetchable');
    taken.add(b.index);
    const cpuStart = parseHexU64(b.cpuStart);
    const length = parseHexU64(b.length);
    if (cpuStart === null)
      throw invalid(file, [...at, 'cpuStart'], `expected a 64-bit hex string, found ${JSON.stringify(b.cpuStart)}`);
    if (length === null || length === 0n) {
      throw invalid(
        file,
        [...at, 'length'],
        `expected a non-zero 64-bit hex length, found ${JSON.stringify(b.length)}`,
      );
    }
    const cpuEnd = cpuStart + length - 1n;
    if (cpuEnd > U64_MAX) throw invalid(file, [...at, 'length'], `BAR ${b.cpuStart} + ${b.length} runs past 2^64`);
    let busStart: bigint;
    if (b.busStart !== undefined) {
      const v = parseHexU64(b.busStart);
      if (v === null)
        throw invalid(file, [...at, 'busStart'], `expected a 64-bit hex string, found ${JSON.stringify(b.busStart)}`);
      busStart = v;
    } else {
      // pcibios_resource_to_bus(): the window of the same type that contains the whole resource.
      const type = b.memory ? 'mem' : 'io';
      const w = windows.find((x) => x.type === type && x.cpuStart <= cpuStart && cpuEnd <= x.cpuEnd);
      busStart = w ? BigInt.asUintN(64, cpuStart - w.offset) : cpuStart;
    }
    let flags = b.memory ? IORESOURCE_MEM : IORESOURCE_IO;
    if (b.prefetchable) flags |= IORESOURCE_PREFETCH;
    if (b.is64) flags |= IORESOURCE_MEM_64;
    res[b.index] = Object.freeze({
      index: b.index,
      flags,
      memory: b.memory,
      is64: b.is64,
      prefetchable: b.prefetchable,
      cpuStart,
      length,
      cpuEnd,
      busStart,
      busOffset: BigInt.asUintN(64, busStart - cpuStart),
    });
  });
  return res;
}

const CPU_VENDORS = ['intel', 'amd', 'hygon', 'other'] as const;
const IOMMU_VENDORS = ['intel', 'amd', 'arm-smmu', 'virtio', 'other', 'none'] as const;
const DOMAIN_TYPES: readonly IommuDomainType[] = ['DMA', 'DMA_FQ', 'IDENTITY', 'BLOCKED'];

function platformOf(spec: TopologySpec, file: string): Platform {
  const p = spec.platform as unknown;
  if (!isObj(p)) throw invalid(file, ['platform'], 'expected a platform object');
  const cpu = p.cpu;
  if (!isObj(cpu)) throw invalid(file, ['platform', 'cpu'], 'expected { vendor, family }');
  if (!(CPU_VENDORS as readonly unknown[]).includes(cpu.vendor)) {
    throw invalid(
      file,
      ['platform', 'cpu', 'vendor'],
      `expected one of ${CPU_VENDORS.join(', ')}, found ${JSON.stringify(cpu.vendor)}`,
    );
  }
  if (!isInt(cpu.family, 0, 0xfff))
    throw invalid(
      file,
      ['platform', 'cpu', 'family'],
      `expected the CPU family number, found ${JSON.stringify(cpu.family)}`,
    );
  if (cpu.model !== undefined && typeof cpu.model !== 'string')
    throw invalid(file, ['platform', 'cpu', 'model'], 'expected a string');
  const pageSize = p.pageSize ?? 4096;
  if (!isInt(pageSize, 4096, 1 << 30) || (pageSize & (pageSize - 1)) !== 0) {
    throw invalid(
      file,
      ['platform', 'pageSize'],
      `expected a power of two >= 4096, found ${JSON.stringify(p.pageSize)}`,
    );
  }
  const p2pdmaEnabled = p.p2pdmaEnabled ?? true;
  if (typeof p2pdmaEnabled !== 'boolean') throw invalid(file, ['platform', 'p2pdmaEnabled'], 'expected true or false');
  const onlineCpus = p.onlineCpus ?? 1;
  if (!isInt(onlineCpus, 1, 1 << 16))
    throw invalid(file, ['platform', 'onlineCpus'], `expected a CPU count >= 1, found ${JSON.stringify(p.onlineCpus)}`);
  const numaNodes = p.numaNodes ?? 1;
  if (!isInt(numaNodes, 1, 1 << 12))
    throw invalid(file, ['platform', 'numaNodes'], `expected a node count >= 1, found ${JSON.stringify(p.numaNodes)}`);
  const sockets = p.sockets ?? null;
  if (sockets !== null && !isInt(sockets, 1, 1 << 12))
    throw invalid(file, ['platform', 'sockets'], 'expected a socket count >= 1');
  let iommu: Platform['iommu'] = null;
  if (p.iommu !== undefined) {
    const m = p.iommu;
    if (!isObj(m)) throw invalid(file, ['platform', 'iommu'], 'expected { vendor, defaultDomain }');
    if (!(IOMMU_VENDORS as readonly unknown[]).includes(m.vendor)) {
      throw invalid(
        file,
        ['platform', 'iommu', 'vendor'],
        `expected one of ${IOMMU_VENDORS.join(', ')}, found ${JSON.stringify(m.vendor)}`,
      );
    }
    if (!(DOMAIN_TYPES as readonly unknown[]).includes(m.defaultDomain)) {
      throw invalid(
        file,
        ['platform', 'iommu', 'defaultDomain'],
        `expected one of ${DOMAIN_TYPES.join(', ')}, found ${JSON.stringify(m.defaultDomain)}`,
      );
    }
    if (m.forcedac !== undefined && typeof m.forcedac !== 'boolean')
      throw invalid(file, ['platform', 'iommu', 'forcedac'], 'expected true or false');
    let apertureEnd: bigint | null = null;
    if (m.apertureEnd !== undefined) {
      apertureEnd = parseHexU64(m.apertureEnd);
      if (apertureEnd === null)
        throw invalid(
          file,
          ['platform', 'iommu', 'apertureEnd'],
          `expected a 64-bit hex string, found ${JSON.stringify(m.apertureEnd)}`,
        );
    }
    iommu = Object.freeze({
      vendor: m.vendor as NonNullable<Platform['iommu']>['vendor'],
      defaultDomain: m.defaultDomain as IommuDomainType,
      forcedac: m.forcedac === true,
      apertureEnd,
    });
  }
  return Object.freeze({
    cpu: Object.freeze({
      vendor: cpu.vendor as Platform['cpu']['vendor'],
      family: cpu.family,
      model: typeof cpu.model === 'string' ? cpu.model : null,
    }),
    pageSize,
    p2pdmaEnabled,
    onlineCpus,
    numaNodes,
    sockets,
    iommu,
  });
}

function optStr(f: FunctionSpec, k: 'label' | 'name' | 'driver' | 'link', i: number, file: string): string | null {
  const v = f[k];
  if (v === undefined) return null;
  if (typeof v !== 'string') throw invalid(file, ['functions', i, k], `expected a string, found ${JSON.stringify(v)}`);
  return v;
}

function optBool(f: FunctionSpec, k: 'nonMappableBars' | 'untrusted', i: number, file: string): boolean {
  const v = f[k];
  if (v === undefined) return false;
  if (typeof v !== 'boolean')
    throw invalid(file, ['functions', i, k], `expected true or false, found ${JSON.stringify(v)}`);
  return v;
}

function optNum(v: unknown, path: SpecPath, file: string, max: number): number | null {
  if (v === undefined || v === null) return null;
  if (!isInt(v, 0, max)) throw invalid(file, path, `expected an integer 0..${max} or null, found ${JSON.stringify(v)}`);
  return v;
}

/**
 * Validates a {@link TopologySpec} and builds the immutable model.
 *
 * @param spec the plain topology (from an importer, a generator or a dmasim topology file).
 * @param file the file name used in error messages (default `<topology>`).
 * @throws DmasimError `TOPOLOGY_INVALID` (message `file (functions[3].parent): ...`, details.path the field
 *   path) for: an unknown parent, a parent that is not a bridge, a duplicate bdf, a malformed bdf, a VF whose PF
 *   is missing or is a VF, a VF whose parent differs from its PF's, a host-bridge index out of range, a
 *   function whose segment or root bus disagrees with its host bridge, a bus that is not its parent's
 *   secondary bus or lies outside the parent's secondary..subordinate range, bad hex, bad BARs.
 */
export function buildTopology(spec: TopologySpec, file = '<topology>'): Topology {
  return buildTopologyFrom(spec, file, false);
}

/**
 * {@link buildTopology}; with `adopt`, the caller hands over `spec` (a freshly parsed file) and it is frozen in
 * place instead of copied. @internal
 */
export function buildTopologyFrom(spec: TopologySpec, file: string, adopt: boolean): Topology {
  if (!isObj(spec)) throw invalid(file, [], 'expected a topology object');
  if (spec.kind !== 'dmasim-topology')
    throw invalid(file, ['kind'], `expected "dmasim-topology", found ${JSON.stringify(spec.kind)}`);
  if (spec.version !== 1) throw invalid(file, ['version'], `expected version 1, found ${JSON.stringify(spec.version)}`);
  if (typeof spec.id !== 'string' || spec.id === '') throw invalid(file, ['id'], 'expected a non-empty machine id');
  const platform = platformOf(spec, file);
  if (!Array.isArray(spec.hostBridges)) throw invalid(file, ['hostBridges'], 'expected an array of host bridges');
  if (!Array.isArray(spec.functions)) throw invalid(file, ['functions'], 'expected an array of functions');

  // Host bridges.
  const hbSeen = new Map<number, number>();
  const hbWindows: HostBridgeWindow[][] = [];
  spec.hostBridges.forEach((h, i) => {
    if (!isObj(h)) throw invalid(file, ['hostBridges', i], 'expected { segment, rootBus }');
    if (!isInt(h.segment, 0, 0xffffffff))
      throw invalid(
        file,
        ['hostBridges', i, 'segment'],
        `expected a segment number, found ${JSON.stringify(h.segment)}`,
      );
    if (!isInt(h.rootBus, 0, 255))
      throw invalid(
        file,
        ['hostBridges', i, 'rootBus'],
        `expected a bus number 0..255, found ${JSON.stringify(h.rootBus)}`,
      );
    const key = h.segment * 256 + h.rootBus;
    const prev = hbSeen.get(key);
    if (prev !== undefined)
      throw invalid(
        file,
        ['hostBridges', i],
        `root bus ${formatBdf(h.segment, h.rootBus, 0).slice(0, -5)} is also host bridge ${prev}`,
      );
    hbSeen.set(key, i);
    optNum(h.numaNode, ['hostBridges', i, 'numaNode'], file, 4095);
    optNum(h.socket, ['hostBridges', i, 'socket'], file, 4095);
    hbWindows.push(windowsOf(h, file, i));
  });

  // Functions: names and numbers first, so parents can be resolved in any order.
  const drafts: Draft[] = [];
  const idxByBdf = new Map<Bdf, number>();
  spec.functions.forEach((f, i) => {
    if (!isObj(f)) throw invalid(file, ['functions', i], 'expected a function object');
    if (typeof f.bdf !== 'string') throw invalid(file, ['functions', i, 'bdf'], 'expected a device name ssss:bb:dd.f');
    const parts = parseBdf(f.bdf);
    if (!parts)
      throw invalid(
        file,
        ['functions', i, 'bdf'],
        `expected a kernel device name ssss:bb:dd.f (lowercase hex), found ${JSON.stringify(f.bdf)}`,
      );
    const dup = idxByBdf.get(f.bdf);
    if (dup !== undefined)
      throw invalid(file, ['functions', i, 'bdf'], `duplicate device ${f.bdf} (also functions[${dup}])`);
    idxByBdf.set(f.bdf, i);
    if (!isInt(f.hostBridge, 0, spec.hostBridges.length - 1)) {
      throw invalid(
        file,
        ['functions', i, 'hostBridge'],
        `${f.bdf}: host bridge index ${JSON.stringify(f.hostBridge)} out of range 0..${spec.hostBridges.length - 1}`,
      );
    }
    drafts.push({
      spec: f,
      index: i,
      bdf: f.bdf,
      segment: parts.segment,
      bus: parts.bus,
      slot: parts.slot,
      func: parts.func,
      devfn: parts.devfn,
      hb: f.hostBridge,
      parentIdx: null,
      physfnIdx: null,
      vendor: 0,
      device: 0,
      classCode: null,
      dmaMask: 0n,
      busDmaLimit: 0n,
    });
  });

  for (const d of drafts) {
    const f = d.spec;
    const i = d.index;
    const at = (k: string) => ['functions', i, k];
    const hb = spec.hostBridges[d.hb] as HostBridgeSpec;
    if (hb.segment !== d.segment) {
      throw invalid(
        file,
        at('hostBridge'),
        `${d.bdf} is in segment ${d.segment.toString(16).padStart(4, '0')} but host bridge ${d.hb} roots segment ${hb.segment.toString(16).padStart(4, '0')}`,
      );
    }
    const vendor = parseHexU16(f.vendor);
    const device = parseHexU16(f.device);
    if (vendor === null)
      throw invalid(file, at('vendor'), `${d.bdf}: expected a vendor id "0x%04x", found ${JSON.stringify(f.vendor)}`);
    if (device === null)
      throw invalid(file, at('device'), `${d.bdf}: expected a device id "0x%04x", found ${JSON.stringify(f.device)}`);
    d.vendor = vendor;
    d.device = device;
    d.classCode = f.classCode === undefined ? null : parseHexU24(f.classCode);
    if (f.classCode !== undefined && d.classCode === null) {
      throw invalid(
        file,
        at('classCode'),
        `${d.bdf}: expected a class code "0x%06x", found ${JSON.stringify(f.classCode)}`,
      );
    }
    if (!PORT_TYPES.includes(f.type))
      throw invalid(
        file,
        at('type'),
        `${d.bdf}: expected one of ${PORT_TYPES.join(', ')}, found ${JSON.stringify(f.type)}`,
      );
    if (typeof f.acsCap !== 'boolean')
      throw invalid(file, at('acsCap'), `${d.bdf}: expected true or false, found ${JSON.stringify(f.acsCap)}`);
    if (!isInt(f.acsCtrl, 0, 0xffff))
      throw invalid(
        file,
        at('acsCtrl'),
        `${d.bdf}: expected the 16-bit ACS control register, found ${JSON.stringify(f.acsCtrl)}`,
      );
    const sec = f.secondaryBus;
    const sub = f.subordinateBus;
    if (sec === undefined || sub === undefined)
      throw invalid(
        file,
        at(sec === undefined ? 'secondaryBus' : 'subordinateBus'),
        `${d.bdf}: expected a bus number or null`,
      );
    if ((sec === null) !== (sub === null))
      throw invalid(
        file,
        at('subordinateBus'),
        `${d.bdf}: secondaryBus and subordinateBus must both be set or both be null`,
      );
    if (sec !== null && sub !== null) {
      if (!isInt(sec, 0, 255))
        throw invalid(file, at('secondaryBus'), `${d.bdf}: expected a bus number 0..255, found ${JSON.stringify(sec)}`);
      if (!isInt(sub, 0, 255))
        throw invalid(
          file,
          at('subordinateBus'),
          `${d.bdf}: expected a bus number 0..255, found ${JSON.stringify(sub)}`,
        );
      if (sec <= d.bus)
        throw invalid(
          file,
          at('secondaryBus'),
          `${d.bdf}: secondary bus ${sec.toString(16)} must be above the bridge's own bus ${d.bus.toString(16)}`,
        );
      if (sub < sec)
        throw invalid(
          file,
          at('subordinateBus'),
          `${d.bdf}: subordinate bus ${sub.toString(16)} is below secondary bus ${sec.toString(16)}`,
        );
    }
    if (f.physfn !== null) {
      if (typeof f.physfn !== 'string')
        throw invalid(file, at('physfn'), `${d.bdf}: expected the bdf of the PF or null`);
      const pf = idxByBdf.get(f.physfn);
      if (pf === undefined)
        throw invalid(file, at('physfn'), `VF ${d.bdf} names PF ${f.physfn}, which is not in the topology`);
      const pfd = drafts[pf] as Draft;
      if (pfd.spec.physfn !== null)
        throw invalid(file, at('physfn'), `VF ${d.bdf} names ${f.physfn} as its PF, but that is itself a VF`);
      if (pf === i) throw invalid(file, at('physfn'), `${d.bdf} names itself as its PF`);
      if (pfd.hb !== d.hb)
        throw invalid(
          file,
          at('hostBridge'),
          `VF ${d.bdf} is on host bridge ${d.hb} but its PF ${f.physfn} on ${pfd.hb}`,
        );
      if (sec !== null) throw invalid(file, at('secondaryBus'), `VF ${d.bdf} cannot be a bridge`);
      if (f.parent !== pfd.spec.parent) {
        throw invalid(
          file,
          at('parent'),
          `VF ${d.bdf} must carry its PF's parent ${JSON.stringify(pfd.spec.parent)}, found ${JSON.stringify(f.parent)}`,
        );
      }
      d.physfnIdx = pf;
    }
    if (f.parent === null) {
      if (d.physfnIdx === null && d.bus !== hb.rootBus) {
        throw invalid(
          file,
          at('parent'),
          `${d.bdf} has no parent but bus ${d.bus.toString(16).padStart(2, '0')} is not the root bus ${hb.rootBus.toString(16).padStart(2, '0')} of host bridge ${d.hb}`,
        );
      }
      if (d.physfnIdx !== null && d.bus < hb.rootBus) {
        throw invalid(
          file,
          at('bdf'),
          `VF ${d.bdf} is on a bus below the root bus ${hb.rootBus.toString(16).padStart(2, '0')} of its host bridge`,
        );
      }
    } else {
      if (typeof f.parent !== 'string')
        throw invalid(file, at('parent'), `${d.bdf}: expected the bdf of a bridge or null`);
      const p = idxByBdf.get(f.parent);
      if (p === undefined)
        throw invalid(
          file,
          at('parent'),
          `${d.bdf}: unknown parent ${f.parent}: expected the bdf of a bridge in this topology`,
        );
      const pd = drafts[p] as Draft;
      const ps = pd.spec;
      if (ps.secondaryBus === null || ps.subordinateBus === null) {
        throw invalid(file, at('parent'), `${d.bdf}: parent ${f.parent} is not a bridge (it has no secondary bus)`);
      }
      if (pd.hb !== d.hb)
        throw invalid(
          file,
          at('hostBridge'),
          `${d.bdf} is on host bridge ${d.hb} but its parent ${f.parent} on ${pd.hb}`,
        );
      if (d.physfnIdx === null) {
        if (d.bus !== ps.secondaryBus) {
          throw invalid(
            file,
            at('bdf'),
            `${d.bdf} sits on bus ${d.bus.toString(16).padStart(2, '0')}, outside its bridge's secondary bus ${ps.secondaryBus.toString(16).padStart(2, '0')} (${f.parent})`,
          );
        }
      } else if (d.bus < ps.secondaryBus || d.bus > ps.subordinateBus) {
        throw invalid(
          file,
          at('bdf'),
          `VF ${d.bdf} sits on bus ${d.bus.toString(16).padStart(2, '0')}, outside its bridge's range ${ps.secondaryBus.toString(16)}..${ps.subordinateBus.toString(16)} (${f.parent})`,
        );
      }
      if (sec !== null && sub !== null && (sec < ps.secondaryBus || sub > ps.subordinateBus)) {
        throw invalid(
          file,
          at('secondaryBus'),
          `${d.bdf}: buses ${sec.toString(16)}..${sub.toString(16)} lie outside its bridge's secondary..subordinate range ${ps.secondaryBus.toString(16)}..${ps.subordinateBus.toString(16)} (${f.parent})`,
        );
      }
      d.parentIdx = p;
    }
    const dmaMask = f.dmaMask === undefined ? 0n : parseHexU64(f.dmaMask);
    const busDmaLimit = f.busDmaLimit === undefined ? 0n : parseHexU64(f.busDmaLimit);
    if (dmaMask === null)
      throw invalid(file, at('dmaMask'), `${d.bdf}: expected a 64-bit hex mask, found ${JSON.stringify(f.dmaMask)}`);
    d.dmaMask = dmaMask;
    if (busDmaLimit === null)
      throw invalid(
        file,
        at('busDmaLimit'),
        `${d.bdf}: expected a 64-bit hex limit, found ${JSON.stringify(f.busDmaLimit)}`,
      );
    d.busDmaLimit = busDmaLimit;
    optNum(f.iommuGroup, at('iommuGroup'), file, 0x7fffffff);
    optNum(f.numaNode, at('numaNode'), file, 4095);
    if (f.iommuDomain !== undefined && !DOMAIN_TYPES.includes(f.iommuDomain)) {
      throw invalid(
        file,
        at('iommuDomain'),
        `${d.bdf}: expected one of ${DOMAIN_TYPES.join(', ')}, found ${JSON.stringify(f.iommuDomain)}`,
      );
    }
    if (f.deviceClass !== undefined && !DEVICE_CLASSES.includes(f.deviceClass)) {
      throw invalid(
        file,
        at('deviceClass'),
        `${d.bdf}: expected one of ${DEVICE_CLASSES.join(', ')}, found ${JSON.stringify(f.deviceClass)}`,
      );
    }
  }

  // Non-VF functions of one bus must agree on the bus's bridge.
  const busSelf = new Map<number, number | null>();
  for (const d of drafts) {
    if (d.physfnIdx !== null) continue;
    const key = d.segment * 256 + d.bus;
    if (!busSelf.has(key)) {
      busSelf.set(key, d.parentIdx);
    } else if (busSelf.get(key) !== d.parentIdx) {
      const other = busSelf.get(key);
      throw invalid(
        file,
        ['functions', d.index, 'parent'],
        `${d.bdf}: bus ${d.bus.toString(16).padStart(2, '0')} already hangs off ${other === null || other === undefined ? 'the root' : (drafts[other] as Draft).bdf}`,
      );
    }
  }
  // Two bridges may not claim the same secondary bus.
  const secOwner = new Map<number, number>();
  for (const d of drafts) {
    const sec = d.spec.secondaryBus;
    if (sec === null) continue;
    const key = d.segment * 256 + sec;
    const o = secOwner.get(key);
    if (o !== undefined)
      throw invalid(
        file,
        ['functions', d.index, 'secondaryBus'],
        `${d.bdf}: secondary bus ${sec.toString(16)} is also the secondary bus of ${(drafts[o] as Draft).bdf}`,
      );
    if (hbSeen.has(key))
      throw invalid(
        file,
        ['functions', d.index, 'secondaryBus'],
        `${d.bdf}: secondary bus ${sec.toString(16)} is a root bus`,
      );
    secOwner.set(key, d.index);
  }

  // Build the objects. Each is created once with its final shape, references filled in afterwards, then frozen.
  const hostBridges: HostBridgeImpl[] = spec.hostBridges.map(
    (h, i) => new HostBridgeImpl(i, h, hbWindows[i] as HostBridgeWindow[]),
  );
  const fns: FnImpl[] = drafts.map((d) => new FnImpl(d, platform));
  const busMap = new Map<number, BusImpl>();
  const busKey = (segment: number, number: number) => segment * 256 + number;
  const getBus = (segment: number, number: number, hbIndex: number): BusImpl => {
    const key = busKey(segment, number);
    let b = busMap.get(key);
    if (!b) {
      const isRoot = hbSeen.has(key);
      const selfIdx = isRoot ? null : (secOwner.get(key) ?? null);
      b = new BusImpl(
        segment,
        number,
        selfIdx === null ? null : (fns[selfIdx] as FnImpl),
        hostBridges[hbIndex] as HostBridgeImpl,
        isRoot,
      );
      busMap.set(key, b);
    }
    return b;
  };
  for (const hb of hostBridges) hb.bus = getBus(hb.segment, hb.busNumber, hb.index);
  for (const d of drafts) {
    const b = getBus(d.segment, d.bus, d.hb);
    if (b.hostBridge.index !== d.hb) {
      throw invalid(
        file,
        ['functions', d.index, 'hostBridge'],
        `${d.bdf}: bus ${d.bus.toString(16)} belongs to host bridge ${b.hostBridge.index}, not ${d.hb}`,
      );
    }
    const f = fns[d.index] as FnImpl;
    f.bus = b;
    f.hostBridge = hostBridges[d.hb] as HostBridgeImpl;
    f.parent = d.parentIdx === null ? null : (fns[d.parentIdx] as FnImpl);
    f.physfn = d.physfnIdx === null ? null : (fns[d.physfnIdx] as FnImpl);
    b.devices.push(f);
    const resources = barsOf(d.spec, d.index, file, hbWindows[d.hb] as HostBridgeWindow[]);
    if (resources) {
      const present: PciBar[] = [];
      for (const r of resources) if (r !== null) present.push(r);
      f.resources = Object.freeze(resources);
      f.bars = Object.freeze(present);
    }
    f.label = optStr(d.spec, 'label', d.index, file);
    f.name = optStr(d.spec, 'name', d.index, file);
    f.driver = optStr(d.spec, 'driver', d.index, file);
    f.nonMappableBars = optBool(d.spec, 'nonMappableBars', d.index, file);
    f.untrusted = optBool(d.spec, 'untrusted', d.index, file);
    optStr(d.spec, 'link', d.index, file);
  }
  // VFs of each PF, and multi-function slots (physical functions only).
  const slotCount = new Map<number, number>();
  const slotKey = (f: FnImpl) => (f.segment * 256 + f.busNumber) * 32 + f.slot;
  for (const f of fns) {
    if (f.isVirtfn) {
      const pf = f.physfn as FnImpl;
      pf.virtfns = pf.virtfns === EMPTY_CHAIN ? [f] : [...pf.virtfns, f];
    } else {
      slotCount.set(slotKey(f), (slotCount.get(slotKey(f)) ?? 0) + 1);
    }
  }
  for (const f of fns) {
    if (!f.isVirtfn) f.multifunction = (slotCount.get(slotKey(f)) as number) > 1;
    if (f.virtfns !== EMPTY_CHAIN) f.virtfns = Object.freeze(f.virtfns);
  }
  // pci_upstream_bridge(): for a VF use the PF; on a root bus there is none; otherwise bus->self.
  for (const f of fns) {
    const base = f.physfn ?? f;
    if (!base.bus.isRoot && base.bus.self === null) {
      throw invalid(
        file,
        ['functions', f.index, 'parent'],
        `${f.bdf}: bus ${base.busNumber.toString(16)} has no bridge above it`,
      );
    }
    f.upstream = base.bus.isRoot ? null : base.bus.self;
  }
  // Chains, memoised top-down. Bus numbers grow strictly downwards, so there are no cycles.
  const done = new Uint8Array(fns.length);
  const path: FnImpl[] = [];
  for (const f of fns) {
    if (done[f.index]) continue;
    path.length = 0;
    let x: FnImpl | null = f;
    while (x && !done[x.index]) {
      path.push(x);
      x = x.upstream as FnImpl | null;
      if (path.length > 1024)
        throw invalid(file, ['functions', f.index, 'parent'], `${f.bdf}: upstream chain does not end`);
    }
    let tail: readonly PciFunction[] = x ? x.chain : [];
    for (let k = path.length - 1; k >= 0; k--) {
      const node = path[k] as FnImpl;
      const c = [node as PciFunction];
      for (const t of tail) c.push(t);
      node.chain = Object.freeze(c);
      node.depth = c.length - 1;
      done[node.index] = 1;
      tail = node.chain;
    }
  }
  if (spec.assumed !== undefined && !Array.isArray(spec.assumed)) throw invalid(file, ['assumed'], 'expected an array');
  if (spec.sources !== undefined && !Array.isArray(spec.sources))
    throw invalid(file, ['sources'], 'expected an array of strings');
  const frozenSpec = adopt ? freezeSpecInPlace(spec) : freezeSpecCopy(spec);
  const buses = [...busMap.values()].sort((a, b) => a.segment - b.segment || a.number - b.number);
  for (const b of buses) {
    Object.freeze(b.devices);
    Object.freeze(b);
  }
  for (const hb of hostBridges) {
    hb.firstFunction = hb.bus.devices[0] ?? null;
    Object.freeze(hb);
  }
  for (const f of fns) {
    f.spec = frozenSpec.functions[f.index] as FunctionSpec;
    Object.freeze(f);
  }
  const busByKey = new Map<number, PciBus>();
  for (const b of buses) busByKey.set(b.segment * 256 + b.number, b);
  return new Topology({
    id: spec.id,
    platform,
    hostBridges,
    functions: fns,
    buses,
    idxByBdf,
    busByKey,
    spec: frozenSpec,
    file,
  });
}

/** A frozen copy of a spec: one shallow copy per object, nested arrays and objects copied the same way. */
function freezeSpecCopy(spec: TopologySpec): TopologySpec {
  const fnCopy = (f: FunctionSpec): FunctionSpec => {
    const c = { ...f };
    if (f.bars) c.bars = Object.freeze(f.bars.map((b) => Object.freeze({ ...b }))) as BarSpec[];
    return Object.freeze(c);
  };
  const out: TopologySpec = {
    ...spec,
    platform: deepFreezeClone(spec.platform),
    hostBridges: deepFreezeClone(spec.hostBridges),
    functions: Object.freeze(spec.functions.map(fnCopy)) as FunctionSpec[],
  };
  if (spec.sources) out.sources = deepFreezeClone(spec.sources);
  if (spec.assumed) out.assumed = deepFreezeClone(spec.assumed);
  return Object.freeze(out);
}

/** Freezes a spec the builder owns (every object and array in it). */
function freezeSpecInPlace(spec: TopologySpec): TopologySpec {
  for (const f of spec.functions) {
    if (f.bars) {
      for (const b of f.bars) Object.freeze(b);
      Object.freeze(f.bars);
    }
    Object.freeze(f);
  }
  Object.freeze(spec.functions);
  deepFreezeInPlace(spec.platform);
  deepFreezeInPlace(spec.hostBridges);
  if (spec.sources) deepFreezeInPlace(spec.sources);
  if (spec.assumed) deepFreezeInPlace(spec.assumed);
  return Object.freeze(spec);
}

function deepFreezeInPlace(v: unknown): void {
  if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreezeInPlace(x);
    Object.freeze(v);
  }
}

/** A host bridge under construction (see {@link HostBridge}). */
class HostBridgeImpl implements HostBridge {
  readonly index: number;
  readonly segment: number;
  readonly busNumber: number;
  bus: PciBus;
  readonly windows: readonly HostBridgeWindow[];
  readonly numaNode: number | null;
  readonly socket: number | null;
  firstFunction: PciFunction | null;
  readonly name: string;
  constructor(index: number, h: HostBridgeSpec, windows: HostBridgeWindow[]) {
    this.index = index;
    this.segment = h.segment;
    this.busNumber = h.rootBus;
    this.bus = null as unknown as PciBus;
    this.windows = Object.freeze(windows);
    this.numaNode = h.numaNode ?? null;
    this.socket = h.socket ?? null;
    this.firstFunction = null;
    this.name = `[${h.segment.toString(16).padStart(4, '0')}:${h.rootBus.toString(16).padStart(2, '0')}]`;
  }
}

/** A bus under construction (see {@link PciBus}). */
class BusImpl implements PciBus {
  readonly segment: number;
  readonly number: number;
  readonly self: PciFunction | null;
  readonly devices: PciFunction[];
  readonly hostBridge: HostBridge;
  readonly isRoot: boolean;
  constructor(segment: number, number: number, self: PciFunction | null, hostBridge: HostBridge, isRoot: boolean) {
    this.segment = segment;
    this.number = number;
    this.self = self;
    this.devices = [];
    this.hostBridge = hostBridge;
    this.isRoot = isRoot;
  }
}

/** A function under construction (see {@link PciFunction}): one fixed shape, references set by the builder. */
class FnImpl implements PciFunction {
  readonly index: number;
  readonly bdf: Bdf;
  readonly segment: number;
  readonly busNumber: number;
  readonly slot: number;
  readonly func: number;
  readonly devfn: number;
  readonly devId: number;
  readonly vendor: number;
  readonly device: number;
  readonly classCode: number | null;
  readonly type: PortType;
  readonly isRootPort: boolean;
  readonly isBridge: boolean;
  bus: PciBus;
  parent: PciFunction | null;
  readonly isVirtfn: boolean;
  physfn: PciFunction | null;
  virtfns: readonly PciFunction[];
  multifunction: boolean;
  hostBridge: HostBridge;
  readonly acsCap: boolean;
  readonly acsCtrl: number;
  readonly secondaryBus: number | null;
  readonly subordinateBus: number | null;
  bars: readonly PciBar[];
  resources: readonly (PciBar | null)[];
  readonly dmaMask: bigint;
  readonly busDmaLimit: bigint;
  readonly iommuGroup: number | null;
  readonly iommuDomain: IommuDomainType | null;
  readonly numaNode: number | null;
  label: string | null;
  name: string | null;
  readonly deviceClass: DeviceClass | null;
  driver: string | null;
  nonMappableBars: boolean;
  untrusted: boolean;
  upstream: PciFunction | null;
  chain: readonly PciFunction[];
  depth: number;
  spec: Readonly<FunctionSpec>;
  constructor(d: Draft, platform: Platform) {
    const f = d.spec;
    this.index = d.index;
    this.bdf = d.bdf;
    this.segment = d.segment;
    this.busNumber = d.bus;
    this.slot = d.slot;
    this.func = d.func;
    this.devfn = d.devfn;
    this.devId = (d.bus << 8) | d.devfn;
    this.vendor = d.vendor;
    this.device = d.device;
    this.classCode = d.classCode;
    this.type = f.type;
    this.isRootPort = f.type === 'root_port';
    this.isBridge = f.secondaryBus !== null;
    this.bus = null as unknown as PciBus;
    this.parent = null;
    this.isVirtfn = d.physfnIdx !== null;
    this.physfn = null;
    this.virtfns = EMPTY_CHAIN;
    this.multifunction = false;
    this.hostBridge = null as unknown as HostBridge;
    this.acsCap = f.acsCap;
    this.acsCtrl = f.acsCtrl;
    this.secondaryBus = f.secondaryBus;
    this.subordinateBus = f.subordinateBus;
    this.bars = EMPTY_BARS;
    this.resources = NO_RESOURCES;
    this.dmaMask = d.dmaMask;
    this.busDmaLimit = d.busDmaLimit;
    this.iommuGroup = f.iommuGroup ?? null;
    this.iommuDomain = f.iommuDomain ?? (platform.iommu ? platform.iommu.defaultDomain : null);
    this.numaNode = f.numaNode ?? null;
    this.label = null;
    this.name = null;
    this.deviceClass = f.deviceClass ?? null;
    this.driver = null;
    this.nonMappableBars = false;
    this.untrusted = false;
    this.upstream = null;
    this.chain = EMPTY_CHAIN;
    this.depth = 0;
    this.spec = f;
  }
}

const EMPTY_BARS: readonly PciBar[] = Object.freeze([]);
const NO_RESOURCES: readonly (PciBar | null)[] = Object.freeze([null, null, null, null, null, null]);
const EMPTY_CHAIN: readonly PciFunction[] = Object.freeze([]);
