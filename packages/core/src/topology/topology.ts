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
  readonly #byBdf: ReadonlyMap<Bdf, PciFunction>;
  readonly #busByKey: ReadonlyMap<string, PciBus>;
  readonly #spec: TopologySpec;

  /** Use {@link buildTopology}; the constructor takes already validated parts. */
  constructor(parts: {
    id: string;
    platform: Platform;
    hostBridges: HostBridge[];
    functions: PciFunction[];
    buses: PciBus[];
    byBdf: Map<Bdf, PciFunction>;
    busByKey: Map<string, PciBus>;
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
    this.#byBdf = parts.byBdf;
    this.#busByKey = parts.busByKey;
    this.#spec = parts.spec;
    Object.freeze(this);
  }

  /** The function named `bdf`. Throws DEVICE_NOT_FOUND (naming the topology) when there is none. */
  get(bdf: Bdf): PciFunction {
    const f = this.#byBdf.get(bdf);
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
    return this.#byBdf.has(bdf);
  }

  /** The function named `bdf`, or `undefined`. */
  find(bdf: Bdf): PciFunction | undefined {
    return this.#byBdf.get(bdf);
  }

  /** The bus `segment:number`, or `undefined` when no function sits on it and no host bridge roots it. */
  bus(segment: number, number: number): PciBus | undefined {
    return this.#busByKey.get(`${segment}:${number}`);
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
  model: Record<string, unknown>;
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

function barsOf(f: FunctionSpec, i: number, file: string, windows: readonly HostBridgeWindow[]): (PciBar | null)[] {
  const res: (PciBar | null)[] = [null, null, null, null, null, null];
  if (f.bars === undefined) return res;
  if (!Array.isArray(f.bars)) throw invalid(file, ['functions', i, 'bars'], 'expected an array of BARs');
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
  if (!isObj(spec)) throw invalid(file, [], 'expected a topology object');
  if (spec.kind !== 'dmasim-topology')
    throw invalid(file, ['kind'], `expected "dmasim-topology", found ${JSON.stringify(spec.kind)}`);
  if (spec.version !== 1) throw invalid(file, ['version'], `expected version 1, found ${JSON.stringify(spec.version)}`);
  if (typeof spec.id !== 'string' || spec.id === '') throw invalid(file, ['id'], 'expected a non-empty machine id');
  const platform = platformOf(spec, file);
  if (!Array.isArray(spec.hostBridges)) throw invalid(file, ['hostBridges'], 'expected an array of host bridges');
  if (!Array.isArray(spec.functions)) throw invalid(file, ['functions'], 'expected an array of functions');

  // Host bridges.
  const hbSeen = new Map<string, number>();
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
    const key = `${h.segment}:${h.rootBus}`;
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
      model: {},
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
    if (parseHexU16(f.vendor) === null)
      throw invalid(file, at('vendor'), `${d.bdf}: expected a vendor id "0x%04x", found ${JSON.stringify(f.vendor)}`);
    if (parseHexU16(f.device) === null)
      throw invalid(file, at('device'), `${d.bdf}: expected a device id "0x%04x", found ${JSON.stringify(f.device)}`);
    if (f.classCode !== undefined && parseHexU24(f.classCode) === null) {
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
    if (f.dmaMask !== undefined && parseHexU64(f.dmaMask) === null)
      throw invalid(file, at('dmaMask'), `${d.bdf}: expected a 64-bit hex mask, found ${JSON.stringify(f.dmaMask)}`);
    if (f.busDmaLimit !== undefined && parseHexU64(f.busDmaLimit) === null)
      throw invalid(
        file,
        at('busDmaLimit'),
        `${d.bdf}: expected a 64-bit hex limit, found ${JSON.stringify(f.busDmaLimit)}`,
      );
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
  const busSelf = new Map<string, number | null>();
  for (const d of drafts) {
    if (d.physfnIdx !== null) continue;
    const key = `${d.segment}:${d.bus}`;
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
  const secOwner = new Map<string, number>();
  for (const d of drafts) {
    const sec = d.spec.secondaryBus;
    if (sec === null) continue;
    const key = `${d.segment}:${sec}`;
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

  // Build the objects. Objects are filled in place and frozen at the end, so references can be cyclic.
  const fns = drafts.map((d) => d.model) as unknown as PciFunction[];
  const hostBridges: HostBridge[] = spec.hostBridges.map((h, i) => {
    const name = `[${h.segment.toString(16).padStart(4, '0')}:${h.rootBus.toString(16).padStart(2, '0')}]`;
    return {
      index: i,
      segment: h.segment,
      busNumber: h.rootBus,
      windows: Object.freeze(hbWindows[i] as HostBridgeWindow[]),
      numaNode: h.numaNode ?? null,
      socket: h.socket ?? null,
      firstFunction: null,
      name,
    } as unknown as HostBridge;
  });
  const busMap = new Map<string, { bus: PciBus; devices: PciFunction[] }>();
  const getBus = (segment: number, number: number, hbIndex: number): { bus: PciBus; devices: PciFunction[] } => {
    const key = `${segment}:${number}`;
    let b = busMap.get(key);
    if (!b) {
      const devices: PciFunction[] = [];
      const isRoot = hbSeen.get(key) !== undefined;
      const selfIdx = isRoot ? null : (secOwner.get(key) ?? null);
      b = {
        devices,
        bus: {
          segment,
          number,
          self: selfIdx === null ? null : (fns[selfIdx] as PciFunction),
          devices,
          hostBridge: hostBridges[hbIndex] as HostBridge,
          isRoot,
        },
      };
      busMap.set(key, b);
    }
    return b;
  };
  hostBridges.forEach((hb, i) => {
    const rb = getBus(hb.segment, hb.busNumber, i);
    (hb as { bus: PciBus }).bus = rb.bus;
  });
  for (const d of drafts) {
    const b = getBus(d.segment, d.bus, d.hb);
    if (b.bus.hostBridge.index !== d.hb) {
      throw invalid(
        file,
        ['functions', d.index, 'hostBridge'],
        `${d.bdf}: bus ${d.bus.toString(16)} belongs to host bridge ${b.bus.hostBridge.index}, not ${d.hb}`,
      );
    }
    b.devices.push(d.model as unknown as PciFunction);
  }
  for (const d of drafts) {
    const f = d.spec;
    const i = d.index;
    const windows = hbWindows[d.hb] as HostBridgeWindow[];
    const resources = barsOf(f, i, file, windows);
    const m = d.model;
    const platformDomain = platform.iommu ? platform.iommu.defaultDomain : null;
    Object.assign(m, {
      index: i,
      bdf: d.bdf,
      segment: d.segment,
      busNumber: d.bus,
      slot: d.slot,
      func: d.func,
      devfn: d.devfn,
      devId: (d.bus << 8) | d.devfn,
      vendor: parseHexU16(f.vendor) as number,
      device: parseHexU16(f.device) as number,
      classCode: f.classCode === undefined ? null : parseHexU24(f.classCode),
      type: f.type,
      isRootPort: f.type === 'root_port',
      isBridge: f.secondaryBus !== null,
      bus: (busMap.get(`${d.segment}:${d.bus}`) as { bus: PciBus }).bus,
      parent: d.parentIdx === null ? null : fns[d.parentIdx],
      isVirtfn: d.physfnIdx !== null,
      physfn: d.physfnIdx === null ? null : fns[d.physfnIdx],
      hostBridge: hostBridges[d.hb],
      acsCap: f.acsCap,
      acsCtrl: f.acsCtrl,
      secondaryBus: f.secondaryBus,
      subordinateBus: f.subordinateBus,
      resources: Object.freeze(resources),
      bars: Object.freeze(resources.filter((r): r is PciBar => r !== null)),
      dmaMask: f.dmaMask === undefined ? 0n : (parseHexU64(f.dmaMask) as bigint),
      busDmaLimit: f.busDmaLimit === undefined ? 0n : (parseHexU64(f.busDmaLimit) as bigint),
      iommuGroup: f.iommuGroup ?? null,
      iommuDomain: f.iommuDomain ?? platformDomain,
      numaNode: f.numaNode ?? null,
      label: optStr(f, 'label', i, file),
      name: optStr(f, 'name', i, file),
      deviceClass: f.deviceClass ?? null,
      driver: optStr(f, 'driver', i, file),
      nonMappableBars: optBool(f, 'nonMappableBars', i, file),
      untrusted: optBool(f, 'untrusted', i, file),
      upstream: null,
      chain: [],
      depth: 0,
      spec: null,
    });
    optStr(f, 'link', i, file);
  }
  // pci_upstream_bridge(): for a VF use the PF; on a root bus there is none; otherwise bus->self.
  for (const d of drafts) {
    const m = d.model as { upstream: PciFunction | null; bus: PciBus; physfn: PciFunction | null };
    const base = m.physfn ?? (m as unknown as PciFunction);
    m.upstream = base.bus.isRoot ? null : base.bus.self;
    if (!base.bus.isRoot && base.bus.self === null) {
      throw invalid(
        file,
        ['functions', d.index, 'parent'],
        `${d.bdf}: bus ${base.busNumber.toString(16)} has no bridge above it`,
      );
    }
  }
  // Chains, memoised top-down. Bus numbers grow strictly downwards, so there are no cycles.
  const chains: (PciFunction[] | undefined)[] = new Array(fns.length);
  const chainOf = (f: PciFunction): PciFunction[] => {
    const known = chains[f.index];
    if (known) return known;
    const path: PciFunction[] = [];
    let x: PciFunction | null = f;
    while (x && !chains[x.index]) {
      path.push(x);
      x = x.upstream;
      if (path.length > 1024)
        throw invalid(file, ['functions', f.index, 'parent'], `${f.bdf}: upstream chain does not end`);
    }
    let tail: PciFunction[] = x ? (chains[x.index] as PciFunction[]) : [];
    for (let k = path.length - 1; k >= 0; k--) {
      const node = path[k] as PciFunction;
      const c = Object.freeze([node, ...tail]) as PciFunction[];
      chains[node.index] = c;
      tail = c;
    }
    return chains[f.index] as PciFunction[];
  };
  const frozenSpec = deepFreezeClone(spec);
  for (const f of fns) {
    const c = chainOf(f);
    Object.assign(f, { chain: c, depth: c.length - 1, spec: frozenSpec.functions[f.index] });
  }
  const buses = [...busMap.values()].map((b) => b.bus).sort((a, b) => a.segment - b.segment || a.number - b.number);
  for (const b of buses) {
    Object.freeze(b.devices);
    Object.freeze(b);
  }
  for (const hb of hostBridges) {
    (hb as { firstFunction: PciFunction | null }).firstFunction = hb.bus.devices[0] ?? null;
    Object.freeze(hb);
  }
  const byBdf = new Map<Bdf, PciFunction>();
  for (const f of fns) {
    byBdf.set(f.bdf, f);
    Object.freeze(f);
  }
  const busByKey = new Map<string, PciBus>();
  for (const b of buses) busByKey.set(`${b.segment}:${b.number}`, b);
  if (spec.assumed !== undefined && !Array.isArray(spec.assumed)) throw invalid(file, ['assumed'], 'expected an array');
  if (spec.sources !== undefined && !Array.isArray(spec.sources))
    throw invalid(file, ['sources'], 'expected an array of strings');
  return new Topology({
    id: spec.id,
    platform,
    hostBridges,
    functions: fns,
    buses,
    byBdf,
    busByKey,
    spec: frozenSpec,
    file,
  });
}
