/**
 * The simulator's configuration: everything a run needs, normalised and checked, with 64-bit values as
 * bigint. Built from a scenario (`scenario/scenario-config.ts`) or directly (the `dmasim map` command).
 */
import type { SgChunk } from '../dmabuf/sg-table.ts';
import type { P2pOptions } from '../p2p/p2p-options.ts';
import type { Topology } from '../topology/topology.ts';

/** The IOMMU situation of an importer (kernel-model.md 1.6). */
export type SimIommuMode = 'off' | 'identity' | 'dma' | 'dma-fq';

/** One importing device. */
export interface SimImporterConfig {
  /** Kernel device name. */
  readonly device: string;
  /** Streaming DMA mask (bytes, inclusive). */
  readonly dmaMask: bigint;
  readonly mode: SimIommuMode;
  /** IOMMU group: importers of one group share a domain. */
  readonly group: number;
  /** Aperture end of the domain (bytes, inclusive). */
  readonly apertureEnd: bigint;
  readonly reservations: 'x86' | 'windows' | 'none';
  readonly flushQueue: 'percpu' | 'single';
  readonly linkCollision: 'fail' | 'overwrite' | 'keep';
  readonly dynamic: boolean;
  readonly peer2peer: boolean;
  readonly pins: boolean;
  /** CPUs its calls may run on. */
  readonly cpus: readonly number[];
}

/** What the movable-memory exporter does per map type. */
export interface SimExporterPolicy {
  readonly busAddr: 'keep_p2p' | 'migrate' | 'refuse';
  readonly thruHostBridge: 'keep_p2p' | 'migrate' | 'refuse';
  readonly notSupported: 'migrate' | 'refuse';
}

/** One exporting device. */
export interface SimExporterConfig {
  readonly device: string;
  readonly kind: 'vfio-pci' | 'movable';
  /** BAR that buffers come from by default. */
  readonly bar: number;
  /** vfio variant driver (offers `get_dmabuf_phys` unless `other`). */
  readonly driver: 'vfio-pci' | 'nvgrace-gpu' | 'other';
  readonly policy: SimExporterPolicy;
}

/** Kernel version switches and knobs (kernel-model.md 7.2, 7.5). */
export interface SimKernelConfig {
  readonly sgChunk: SgChunk;
  readonly vfioPinAllowed: boolean;
  /** CONFIG_DMABUF_MOVE_NOTIFY. */
  readonly moveNotify: boolean;
  readonly hz: number;
  readonly timerCpu: number;
  readonly cpus: number;
  readonly swiotlbForce: boolean;
  /** `iommu.forcedac=1` (a boot parameter: one value for the whole kernel). */
  readonly forcedac: boolean;
  readonly depotTrim: boolean;
  /**
   * DMA attribute bits the provider adds to `DMA_ATTR_MMIO` for THRU mappings, kept per mapping and
   * reused at unmap (the proposed "carry host bridge DMA attrs" change, kernel-model.md 7.2). Default 0.
   */
  readonly providerDmaAttrs: number;
  readonly p2p: P2pOptions;
}

/** A whole simulator configuration. */
export interface SimConfig {
  readonly topology: Topology;
  readonly kernel: SimKernelConfig;
  readonly importers: readonly SimImporterConfig[];
  readonly exporters: readonly SimExporterConfig[];
  /** After each map, touch every SG entry: unmapped IOVA raises `device.fault`. */
  readonly access: boolean;
  readonly seed: number;
  /** Hash of what the configuration was made from (the scenario), for `sim.begin`. */
  readonly configHash: string;
}

/** Default kernel knobs: the newest kernel the model reads (kernel-model.md 7.2). */
export function defaultKernelConfig(topology: Topology): SimKernelConfig {
  return {
    sgChunk: 'page_aligned',
    vfioPinAllowed: true,
    moveNotify: true,
    hz: 1000,
    timerCpu: 0,
    cpus: topology.platform.onlineCpus,
    swiotlbForce: false,
    forcedac: topology.platform.iommu?.forcedac ?? false,
    depotTrim: true,
    providerDmaAttrs: 0,
    p2p: {},
  };
}

/**
 * The IOMMU driver's collision behaviour by vendor (kernel-model.md 7.5-1): AMD-Vi v1 page tables
 * overwrite, legacy Intel VT-d keeps the old PTE, the generic page-table code refuses. Without IOMMU facts
 * in the topology the vendor is taken from the CPU (an AMD or Hygon CPU comes with AMD-Vi, an Intel one
 * with VT-d; inferred).
 */
export function defaultLinkCollision(topology: Topology): 'fail' | 'overwrite' | 'keep' {
  const cpu = topology.platform.cpu.vendor;
  const v =
    topology.platform.iommu?.vendor ?? (cpu === 'amd' || cpu === 'hygon' ? 'amd' : cpu === 'intel' ? 'intel' : 'other');
  return v === 'amd' ? 'overwrite' : v === 'intel' ? 'keep' : 'fail';
}

/** The importer's IOMMU mode from the topology's facts (default domain of its group), else `dma-fq`. */
export function defaultIommuMode(topology: Topology, device: string): SimIommuMode {
  const fn = topology.find(device);
  const iommu = topology.platform.iommu;
  if (iommu?.vendor === 'none') return 'off';
  const t = fn?.iommuDomain ?? iommu?.defaultDomain ?? 'DMA_FQ';
  return t === 'DMA' ? 'dma' : t === 'IDENTITY' ? 'identity' : t === 'BLOCKED' ? 'identity' : 'dma-fq';
}
