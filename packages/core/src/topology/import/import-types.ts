/**
 * The shapes shared by the real-machine importers: what one input file is, what each parser observed in
 * it (an {@link ImportFragment}), and what {@link importTopology} returns. Parsers record only what their
 * input says; every inference (port types from position, parents from bus numbers, the CPU from host-bridge
 * ids, defaults for ACS) happens once, in the combiner, where it is written down in `assumed[]`.
 */
import type { Topology } from '../topology.ts';
import type { AssumedDefault, BarSpec, Bdf, PlatformSpec, PortType, TopologySpec } from '../topology-spec.ts';

/** The input formats the importers read. */
export const InputKind = {
  /** `lspci -t`, `-tv`, `-tvnn` (and `-tvv` with BAR lines). */
  LSPCI_TREE: 'lspci-tree',
  /** `lspci`, `lspci -nn`, `lspci -n`, `lspci -vvv` (optionally `-nn`, `-D`, `-s` per device). */
  LSPCI_VERBOSE: 'lspci-verbose',
  /** `lspci -vvv | grep ACSCtl`: ACS control lines without the devices they belong to. */
  LSPCI_ACSCTL: 'lspci-acsctl',
  /** A sysfs snapshot (`sys/devices/pci*`), as a map of relative path -> content. */
  SYSFS: 'sysfs',
  /** hwloc XML (v1, v2 and v3 topology files). */
  HWLOC_XML: 'hwloc-xml',
  /** `nvidia-smi topo -m`. */
  NVIDIA_SMI_TOPO: 'nvidia-smi-topo',
  /** `nvidia-smi`, `nvidia-smi -q` or `nvidia-smi --query-gpu=index,pci.bus_id --format=csv`: GPU index -> bus id. */
  NVIDIA_SMI_GPUS: 'nvidia-smi-gpus',
} as const;
export type InputKind = (typeof InputKind)[keyof typeof InputKind];

/**
 * One entry of a sysfs snapshot: the text of a regular file, its bytes (binary files such as `config`), or
 * the target of a symbolic link (`iommu_group`, `driver`, `physfn`, `virtfnN`).
 */
export type SysfsEntry = string | Uint8Array | { readonly link: string };

/** A sysfs snapshot: path relative to the snapshot root (`sys/devices/pci0000:00/0000:00:01.1/vendor`) -> entry. */
export type SysfsFiles = ReadonlyMap<string, SysfsEntry>;

/** One input of {@link importTopology}: a text file, or a sysfs snapshot given as a files map. */
export interface ImportInput {
  /** Name used in messages (the path the user gave). */
  readonly file: string;
  readonly text?: string;
  readonly files?: SysfsFiles;
  /** Forces the format; detected from the content when absent. */
  readonly kind?: InputKind;
}

/** A host-bridge identity set by the user (`--host-bridge-id [ssss:bb=]vvvv:dddd`). */
export interface HostBridgeIdOverride {
  /** Applies to this root bus only; to every root bus when absent. */
  readonly segment?: number;
  readonly rootBus?: number;
  readonly vendor: number;
  readonly device: number;
}

/** Settings that replace defaults the importers would otherwise assume (each maps to a CLI flag). */
export interface ImportOptions {
  /** Machine name; default: derived from the first input's name. */
  readonly id?: string;
  /** `--cpu amd:0x19`: the boot CPU. Default: read from the data, else deduced from host-bridge vendors. */
  readonly cpu?: PlatformSpec['cpu'];
  /** `--host-bridge-id`: the first function of a root bus, which the whitelist test reads (kernel-model.md 2.4). */
  readonly hostBridgeIds?: readonly HostBridgeIdOverride[];
  /**
   * `--acs-default off|on`: ACS state of functions the data say nothing about. `off` (the default): no ACS
   * capability. `on`: root and downstream ports have the capability with ReqRedir, CmpltRedir, SrcValid and
   * UpstreamFwd set (0x1d, what Linux's `pci_std_enable_acs` enables when an IOMMU is active).
   */
  readonly acsDefault?: 'off' | 'on';
  /** `--numa-node 0000:80=1`: the NUMA node of a host bridge (and of the functions below it that the data leave open). */
  readonly hostBridgeNuma?: readonly { readonly segment?: number; readonly rootBus: number; readonly node: number }[];
  /** `--label NIC0=0000:21:00.0`: labels that win over the ones read from nvidia-smi. */
  readonly labels?: Readonly<Record<string, Bdf>>;
}

/** A cell of an `nvidia-smi topo -m` matrix, as printed (`X`, `PIX`, `PXB`, `PHB`, `NODE`, `SYS`, `NV4`, ...). */
export type NvidiaSmiLink = string;

/** An `nvidia-smi topo -m` matrix. */
export interface NvidiaSmiTopo {
  readonly file: string;
  /** Column labels in order (`GPU0`, `GPU1`, `NIC0`, or NIC device names in old versions). */
  readonly labels: readonly string[];
  /** `cells[i][j]`: the link between `labels[i]` and `labels[j]`. */
  readonly cells: readonly (readonly NvidiaSmiLink[])[];
  /** Line (1-based) of each row, for messages. */
  readonly rowLines: readonly number[];
  /** `NIC0` -> `mlx5_0`, from the "NIC Legend". */
  readonly nicNames: Readonly<Record<string, string>>;
  /** `GPU0` -> NUMA affinity as printed, when the matrix has that column. */
  readonly numaAffinity: Readonly<Record<string, string>>;
}

/** Where a fact was read, for messages. */
export interface SourcePos {
  readonly file: string;
  readonly line?: number;
}

/** What one input says about one PCI function. Absent fields: the input does not say. */
export interface ObservedFunction {
  bdf: Bdf;
  where: SourcePos;
  vendor?: number;
  device?: number;
  classCode?: number;
  /** Observed port type (PCIe capability); positions are turned into types by the combiner. */
  type?: PortType;
  /** The function is a bridge (it has a secondary bus), even when the range is unknown. */
  isBridge?: boolean;
  /** Parent bridge as the input's own hierarchy shows it (tree, sysfs directories, hwloc nesting); `null`: on a root bus. */
  parent?: Bdf | null;
  primaryBus?: number;
  secondaryBus?: number;
  subordinateBus?: number;
  acsCap?: boolean;
  acsCtrl?: number;
  physfn?: Bdf | null;
  isVf?: boolean;
  sriov?: { totalVfs: number; numVfs: number; vfOffset: number; vfStride: number; vfDevice?: number };
  bars?: BarSpec[];
  dmaMask?: string;
  iommuGroup?: number | null;
  numaNode?: number | null;
  name?: string;
  /** The class as lspci names it (`VGA compatible controller`), when no code was printed. */
  className?: string;
  driver?: string;
  link?: string;
  /** OS device names attached to the function (hwloc OSDev, sysfs `net/`, `infiniband/`, `nvidia` minor): `mlx5_0`, `eth0`, `cuda0`, `nvml0`. */
  osNames?: string[];
}

/** A root bus an input names explicitly (`[0000:c0]` in a tree, `pci0000:c0` in sysfs, an hwloc host bridge). */
export interface ObservedRootBus {
  segment: number;
  bus: number;
  /** Highest bus number below this host bridge, when the input says (hwloc `bridge_pci`). */
  subordinate?: number;
  numaNode?: number | null;
  /** CPU package (socket) the root complex belongs to, when the input says (hwloc). */
  socket?: number | null;
  where: SourcePos;
}

/** A GPU index -> bus id pair from nvidia-smi. */
export interface ObservedGpu {
  index: number;
  bdf: Bdf;
  name?: string;
  where: SourcePos;
}

/** What a parser read from one input. */
export interface ImportFragment {
  kind: InputKind;
  file: string;
  functions: ObservedFunction[];
  rootBuses: ObservedRootBus[];
  /** The CPU, when the input says (hwloc `CPUVendor`, `/proc/cpuinfo` in a snapshot). */
  cpu?: { cpu: PlatformSpec['cpu']; evidence: string; familyAssumed?: boolean };
  numaNodes?: number;
  onlineCpus?: number;
  gpus?: ObservedGpu[];
  topo?: NvidiaSmiTopo;
  /** Headerless ACSCtl lines (`lspci -vvv | grep ACSCtl`): how many, and how many have a redirect bit. */
  acsSummary?: { lines: number; redirecting: number };
  /** The input drops uninteresting functions (hwloc), so a root bus's first function may be missing. */
  filtered?: boolean;
  hostname?: string;
  warnings: string[];
}

/** A labelled device with the way its label was bound to a function. */
export interface LabelBinding {
  label: string;
  bdf: Bdf;
  /** How the binding was made: read from the data, or inferred (then also in `assumed`). */
  how: string;
}

/** Result of {@link importTopology}. */
export interface ImportResult {
  spec: TopologySpec;
  /** The model built from `spec` (the importer validates its result by building it). */
  topology: Topology;
  /** Defaults the importers filled in (also in `spec.assumed`), each with the flag that sets it. */
  assumed: AssumedDefault[];
  warnings: string[];
  /** The `nvidia-smi topo -m` matrices among the inputs, for comparison. */
  nvidiaSmi: NvidiaSmiTopo[];
  /** Every label and how it was bound. */
  labels: LabelBinding[];
  /** The kind each input was read as. */
  kinds: { file: string; kind: InputKind }[];
}
