/**
 * The plain-data form of a PCI topology: what every importer (lspci, sysfs, hwloc, nvidia-smi), every
 * generator and dmasim's own topology file produce, and what {@link buildTopology} turns into the
 * immutable, indexed model. It is JSON-safe: 64-bit quantities (addresses, lengths, DMA masks) are
 * strings of hex (`"0x380000000000"`), so the same object is the dmasim topology file format.
 *
 * Order matters and is kept: `functions` are in enumeration order (sorted by segment, bus, devfn, with
 * the VFs of a bus after all of its physical functions), because the kernel's host-bridge whitelist test
 * looks only at the first function on a host bridge's root bus (kernel-model.md 2.4, 7.5-8).
 */

/** Kernel device name `ssss:bb:dd.f`, lowercase hex (e.g. `0000:c1:00.0`). */
export type Bdf = string;

/** PCIe port type; only "is a Root Port" changes the map type (kernel-model.md 2.4). */
export type PortType = 'root_port' | 'upstream' | 'downstream' | 'endpoint' | 'rc_endpoint' | 'pci_bridge' | 'legacy';

/** What a function is for, used for selecting devices (`--class gpu,nic`) and labels. */
export type DeviceClass = 'gpu' | 'nic' | 'nvme' | 'accel' | 'bridge' | 'host_bridge' | 'other';

/** One BAR (kernel-model.md 1.4). */
export interface BarSpec {
  /** 0..5. A 64-bit BAR occupies `index` and `index + 1`; the upper index is simply absent. */
  index: number;
  /** Memory (not I/O) BAR: only these can be P2P providers. */
  memory: boolean;
  is64: boolean;
  prefetchable: boolean;
  /** CPU physical start, hex string. */
  cpuStart: string;
  /** Length in bytes, hex string. */
  length: string;
  /**
   * Bus address of the BAR start, hex string. Absent: derived from the host bridge's memory window
   * offsets (CPU address minus window offset), or equal to the CPU address when no window covers it.
   */
  busStart?: string;
}

/** One PCI function (kernel-model.md 1.1). */
export interface FunctionSpec {
  bdf: Bdf;
  /** Vendor and device ids as `"0x%04x"`. */
  vendor: string;
  device: string;
  /** PCI class code as `"0x%06x"` (class, subclass, prog-if) when known. */
  classCode?: string;
  type: PortType;
  /** The bridge whose secondary bus this function sits on; `null` on a root bus. A VF carries its PF's parent. */
  parent: Bdf | null;
  /** Index into {@link TopologySpec.hostBridges}. */
  hostBridge: number;
  /** Has an ACS extended capability (id 0x000D). */
  acsCap: boolean;
  /** The 16-bit ACS Control register (bits 0x04 ReqRedir, 0x08 CmpltRedir, 0x20 EgressCtrl matter). */
  acsCtrl: number;
  /** For a VF, its PF; otherwise `null`. */
  physfn: Bdf | null;
  /** A bridge's secondary and subordinate bus numbers; `null` for other functions. */
  secondaryBus: number | null;
  subordinateBus: number | null;
  bars?: BarSpec[];
  /** Streaming DMA mask, hex string; `"0x0"` or absent means not set (dma_get_mask then gives 32 bits). */
  dmaMask?: string;
  /** `bus_dma_limit`, hex string; absent or `"0x0"`: no limit. */
  busDmaLimit?: string;
  /** IOMMU group number, when known. */
  iommuGroup?: number | null;
  /** Default domain type of this function's IOMMU group, when it differs from the platform default. */
  iommuDomain?: IommuDomainType;
  numaNode?: number | null;
  /** Human label (`GPU0`, `NIC1`) from nvidia-smi or the user. */
  label?: string;
  /** Device description as lspci prints it. */
  name?: string;
  deviceClass?: DeviceClass;
  /** Bound driver name (`nvidia`, `mlx5_core`, `vfio-pci`), when known. */
  driver?: string;
  /** `non_mappable_bars`: provider creation refused (kernel-model.md 1.5). */
  nonMappableBars?: boolean;
  /** External-facing (Thunderbolt): swiotlb bouncing decisions. */
  untrusted?: boolean;
  /** Link capability/status as lspci prints it (`8GT/s x16`), informational. */
  link?: string;
}

/** A host-bridge window (kernel-model.md 1.3). */
export interface WindowSpec {
  type: 'mem' | 'io';
  /** CPU start and end (inclusive), hex strings. */
  cpuStart: string;
  cpuEnd: string;
  /** CPU address minus bus address, hex string (u64, wraps). */
  offset: string;
}

/** One host bridge, i.e. one root bus (kernel-model.md 1.3). */
export interface HostBridgeSpec {
  segment: number;
  rootBus: number;
  windows?: WindowSpec[];
  /** NUMA node of the root complex (`numa_node` of its devices), when known; path class NODE vs SYS. */
  numaNode?: number | null;
  /** CPU socket (package) of the root complex, when known; informational. */
  socket?: number | null;
}

/** The boot CPU and platform knobs (kernel-model.md 1.7). */
export interface PlatformSpec {
  cpu: { vendor: 'intel' | 'amd' | 'hygon' | 'other'; family: number; model?: string };
  /** PAGE_SIZE in bytes (4096 on x86_64). */
  pageSize?: number;
  /** Kernel built with CONFIG_PCI_P2PDMA (default true). */
  p2pdmaEnabled?: boolean;
  /** Number of online CPUs (per-CPU IOVA caches, depot trimming). */
  onlineCpus?: number;
  /** Number of NUMA nodes; 1 (or absent) means every device is in one node (path class NODE, never SYS). */
  numaNodes?: number;
  /** Number of CPU sockets, informational. */
  sockets?: number;
  /** The IOMMU and the default domain type of the DMA API (kernel-model.md 1.6); absent: no IOMMU facts. */
  iommu?: IommuSpec;
}

/** Default domain types of an IOMMU group that matter to the DMA API (kernel-model.md 1.6). */
export type IommuDomainType = 'DMA' | 'DMA_FQ' | 'IDENTITY' | 'BLOCKED';

/** IOMMU facts of the platform (kernel-model.md 1.6, 1.7). */
export interface IommuSpec {
  /** Which IOMMU the platform has; `none`: no IOMMU (or disabled), the DMA API uses dma-direct. */
  vendor: 'intel' | 'amd' | 'arm-smmu' | 'virtio' | 'other' | 'none';
  /** Default domain type of every group unless a function says otherwise (x86 default: `DMA_FQ`). */
  defaultDomain: IommuDomainType;
  /** `iommu.forcedac=1`: no 32-bit-first IOVA policy for PCI devices (kernel-model.md 4.2). */
  forcedac?: boolean;
  /** Aperture end of DMA domains, hex string (e.g. `"0xffffffffffff"` for 48-bit VT-d). */
  apertureEnd?: string;
}

/** A fact an importer could not find and filled in with a default; the CLI prints these. */
export interface AssumedDefault {
  /** What was assumed, e.g. `platform.cpu` or `0000:00:00.0.acsCtrl`. */
  field: string;
  value: string;
  why: string;
  /** The flag that sets it instead (`--cpu amd:0x19`). */
  flag?: string;
}

/** A whole machine. This object is also the dmasim topology file (JSON or YAML). */
export interface TopologySpec {
  /** Format marker and version of the dmasim topology file. */
  kind: 'dmasim-topology';
  version: 1;
  /** Stable name of the machine (`stelline-puget-wrx90`). */
  id: string;
  platform: PlatformSpec;
  hostBridges: HostBridgeSpec[];
  functions: FunctionSpec[];
  /** Where the data came from (files, tools), informational. */
  sources?: string[];
  assumed?: AssumedDefault[];
}
