/**
 * The scenario file (YAML or JSON): a plain JSON tree with stable field names, so that a sweep can vary
 * any field by dotted path (`iommu.mode`, `importers[0].dmaMask`, `workload.buffers.count`, `seed`).
 * {@link SCENARIO_SCHEMA} is its JSON Schema (docs/SCENARIOS.md explains every field); defaults are applied
 * by `normalizeScenario` (`scenario-config.ts`), never written back into the spec.
 */
import type { TopologySpec } from '../topology/topology-spec.ts';

/** A byte count: a number, a `"0x…"` hex string, or a number with a binary unit (`"2MiB"`, `"1.5GiB"`). */
export type ByteCount = number | string;

/** Where the topology comes from. Services resolve `file` to `inline` (core does no I/O). */
export type ScenarioTopologyRef = { file: string } | { generate: Record<string, unknown> } | { inline: TopologySpec };

/** IOMMU mode of an importer's default domain (kernel-model.md 1.6). */
export type ScenarioIommuMode = 'off' | 'identity' | 'dma' | 'dma-fq';

/** IOMMU settings, for every importer (`iommu`) or one (`importers[i].iommu`). */
export interface ScenarioIommu {
  /** Default domain: `off` (no IOMMU), `identity` (iommu=pt), `dma` (strict), `dma-fq` (lazy, x86 default). */
  mode?: ScenarioIommuMode;
  /** `iommu.forcedac=1`: no 32-bit-first IOVA policy (kernel-model.md 4.2). */
  forcedac?: boolean;
  /**
   * Domain aperture end as a bit count: 48 for 4-level VT-d and AMD-Vi in current kernels, 57 for 5-level,
   * 64 for AMD v1 in 6.5-6.12-era kernels (kernel-model.md 1.6). Default: the topology's IOMMU facts, else 48.
   */
  apertureBits?: number;
  /** Reserve the x86 MSI window and the host bridge's memory windows at domain init (kernel-model.md 4.1). */
  reservations?: 'x86' | 'windows' | 'none';
  /** Flush-queue layout of lazy domains: per-CPU 256-slot queues, or one 32768-slot queue (4.6.3). */
  flushQueue?: 'percpu' | 'single';
  /** What the IOMMU does when a link maps over a mapped IOVA (3.8-1); default from the IOMMU vendor. */
  linkCollision?: 'fail' | 'overwrite' | 'keep';
}

/** A device that imports (attaches to and maps) dma-bufs. */
export interface ScenarioImporter {
  /** Kernel device name `ssss:bb:dd.f` (or a topology label such as `NIC0`). */
  device: string;
  /** Streaming DMA mask in bits (32, 40, 48, 64); default: the topology's mask, else 64. */
  dmaMask?: number;
  /** Per-importer IOMMU settings on top of the scenario's `iommu`. */
  iommu?: ScenarioIommu;
  /** Dynamic importer (has `move_notify`); static importers never get `peer2peer`. Default true. */
  dynamic?: boolean;
  /** `allow_peer2peer` of the importer ops. Default true. */
  peer2peer?: boolean;
  /** The importer pins the buffer after attaching (as pinned-umem RDMA does). Default false. */
  pins?: boolean;
  /** IOMMU group: importers with the same group share one IOMMU domain and IOVA space. Default: own group. */
  group?: number;
  /** CPUs the importer's map/unmap calls run on (with `workload.cpus: importer`). Default: all. */
  cpus?: number[];
}

/** What the movable-memory exporter does for an attachment, by map type (kernel-model.md 8.1). */
export interface ExporterPolicy {
  /** For BUS_ADDR routes. Default `keep_p2p`. */
  busAddr?: 'keep_p2p' | 'migrate' | 'refuse';
  /** For routes through the host bridge. Default `keep_p2p` (what the kernel helper always does). */
  thruHostBridge?: 'keep_p2p' | 'migrate' | 'refuse';
  /** For NOT_SUPPORTED routes. Default `migrate`. */
  notSupported?: 'migrate' | 'refuse';
}

/** A device whose BAR memory is exported. */
export interface ScenarioExporter {
  device: string;
  /** `vfio-pci` (kernel-model.md 3.1) or `movable` (a GPU driver owning movable device memory, 8.1). */
  kind?: 'vfio-pci' | 'movable';
  /** BAR index (0..5). Default: the largest memory BAR. */
  bar?: number;
  /** vfio variant driver: `vfio-pci` and `nvgrace-gpu` offer `get_dmabuf_phys`; `other` does not. */
  driver?: 'vfio-pci' | 'nvgrace-gpu' | 'other';
  /** Movable exporter only. */
  policy?: ExporterPolicy;
}

/** A distribution of byte counts. */
export type SizeDistribution =
  | { fixed: ByteCount }
  | { uniform: { min: ByteCount; max: ByteCount } }
  | { log2uniform: { min: ByteCount; max: ByteCount } }
  | { choice: ByteCount[] };

/** A distribution of small integers. */
export type CountDistribution = number | { min: number; max: number };

/** The buffers the workload exports. */
export interface ScenarioBuffers {
  /** Buffers per exporter. */
  count: number;
  /** Buffer size (rounded up to pages). */
  size: SizeDistribution;
  /** Physical ranges per buffer (1 = one contiguous range). Default 1. */
  ranges?: CountDistribution;
  /** Probability (0..1) that a range does not start right after the previous one. Default 0. */
  fragmentation?: number;
}

/** Which importers attach to which buffers. */
export interface ScenarioAttach {
  /** `all`: every importer attaches to every buffer; `round_robin` and `random`: `perBuffer` importers each. */
  pattern?: 'all' | 'round_robin' | 'random';
  /** Importers per buffer for `round_robin` and `random`. Default 1. */
  perBuffer?: number;
}

/** Relative weights of the steady-state operations. */
export interface ScenarioChurn {
  map?: number;
  unmap?: number;
  detach?: number;
  attach?: number;
  /** Memory decode off and on again (vfio-pci revoke and restore). */
  revoke?: number;
  /** Live mappings per attachment at most. Default 1. */
  maxMappingsPerAttachment?: number;
}

/** One operation of a recorded workload (trace re-drive). */
export interface TraceOp {
  /** Virtual time in ns. */
  tNs: number;
  cpu: number;
  /** `idle`: only let virtual time pass (the recorded run's end, so that its timers fire too). */
  op: 'export' | 'attach' | 'map' | 'unmap' | 'detach' | 'revoke' | 'restore' | 'close' | 'idle';
  /** Exporting device, BAR and ranges (export). */
  exporter?: string;
  bar?: number;
  ranges?: { offset: string; length: string }[];
  /** Ids from the recorded run (re-used so that later operations find their objects). */
  dmabufId?: number;
  attachmentId?: number;
  mappingId?: number;
  importer?: string;
  dir?: 'BIDIRECTIONAL' | 'TO_DEVICE' | 'FROM_DEVICE';
}

/** The workload: generated from a seeded PRNG, or taken from a recorded event log. */
export interface ScenarioWorkload {
  buffers?: ScenarioBuffers;
  attach?: ScenarioAttach;
  churn?: ScenarioChurn;
  /** Steady-state operations after setup. Default 1000. */
  operations?: number;
  /** Stop when virtual time passes this (ns). Default: no limit. */
  durationNs?: number;
  /** Mean gap between operations (ns); gaps are uniform in [1, 2 * mean]. Default 100000. */
  meanIntervalNs?: number;
  /** Which CPU an operation runs on. Default `round_robin`. */
  cpus?: 'round_robin' | 'random' | 'importer';
  /** DMA direction of maps. Default BIDIRECTIONAL. */
  dir?: 'BIDIRECTIONAL' | 'TO_DEVICE' | 'FROM_DEVICE';
  /** Unmap and detach everything at the end (so leaks stand out). Default true. */
  teardown?: boolean;
  /** After each map, the importer touches every SG entry; unmapped IOVA gives `device.fault`. Default true. */
  access?: boolean;
  /** Re-drive a recorded run: its operations replace the generator. Services resolve `file` to `ops`. */
  trace?:
    | { file: string; scenarioId?: string; deviceMap?: Record<string, string> }
    | { ops: TraceOp[]; deviceMap?: Record<string, string> };
}

/** Kernel version switches and platform knobs (kernel-model.md 7.2, 7.4, 7.5). */
export interface ScenarioKernel {
  sgChunk?: 'page_aligned' | 'uint_max' | 'sz_2g';
  /** 7.0-era vfio-pci (no pin op: pinning succeeds) vs 6.19 (pin refused). Default true. */
  vfioPinAllowed?: boolean;
  /** CONFIG_DMABUF_MOVE_NOTIFY: without it, dynamic importers are pinned at map time too. Default true. */
  moveNotify?: boolean;
  /** CONFIG_PCI_P2PDMA (default: the topology's platform value). */
  p2pdmaEnabled?: boolean;
  hz?: number;
  timerCpu?: number;
  /** Online CPUs (default: the topology's platform value). */
  cpus?: number;
  swiotlbForce?: boolean;
  whitelistVersion?: string;
  whitelistWarnOn?: 'acs' | 'verbose';
  /** IOVA domains: run the 100 ms depot trim job (real kernels do; the conformance vectors do not). */
  depotTrim?: boolean;
  /** DMA attribute bits a provider adds to DMA_ATTR_MMIO for THRU mappings (7.2 `providerDmaAttrs`). Default 0. */
  providerDmaAttrs?: number;
}

/** A scenario file. */
export interface ScenarioSpec {
  kind: 'dmasim-scenario';
  version: 1;
  /** Name for humans and default ids. */
  name?: string;
  description?: string;
  /** PRNG seed, 0..2^32-1. */
  seed: number;
  topology: ScenarioTopologyRef;
  kernel?: ScenarioKernel;
  iommu?: ScenarioIommu;
  importers: ScenarioImporter[];
  exporters: ScenarioExporter[];
  workload?: ScenarioWorkload;
  /** Emit a `sim.state_hash` checkpoint every this many operations (0: only at the end). Default 0. */
  checkpointEvery?: number;
}

/** A byte count: an integer, or a string checked by `parseByteCount` (so its message can say what is wrong). */
const byteCount = { type: ['integer', 'string'], minimum: 0 };
const iommuSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mode: { enum: ['off', 'identity', 'dma', 'dma-fq'] },
    forcedac: { type: 'boolean' },
    apertureBits: { type: 'integer', minimum: 32, maximum: 64 },
    reservations: { enum: ['x86', 'windows', 'none'] },
    flushQueue: { enum: ['percpu', 'single'] },
    linkCollision: { enum: ['fail', 'overwrite', 'keep'] },
  },
};
const countDist = {
  type: ['integer', 'object'],
  minimum: 1,
  required: ['min', 'max'],
  additionalProperties: false,
  properties: { min: { type: 'integer', minimum: 1 }, max: { type: 'integer', minimum: 1 } },
};
const dir = { enum: ['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE'] };
const minMax = {
  type: 'object',
  required: ['min', 'max'],
  additionalProperties: false,
  properties: { min: byteCount, max: byteCount },
};
const traceOp = {
  type: 'object',
  required: ['tNs', 'cpu', 'op'],
  additionalProperties: false,
  properties: {
    tNs: { type: 'integer', minimum: 0 },
    cpu: { type: 'integer', minimum: 0 },
    op: { enum: ['export', 'attach', 'map', 'unmap', 'detach', 'revoke', 'restore', 'close', 'idle'] },
    exporter: { type: 'string' },
    bar: { type: 'integer', minimum: 0 },
    ranges: {
      type: 'array',
      items: {
        type: 'object',
        required: ['offset', 'length'],
        additionalProperties: false,
        properties: { offset: { type: 'string' }, length: { type: 'string' } },
      },
    },
    dmabufId: { type: 'integer', minimum: 0 },
    attachmentId: { type: 'integer', minimum: 0 },
    mappingId: { type: 'integer', minimum: 0 },
    importer: { type: 'string' },
    dir,
  },
};
const deviceMap = { type: 'object', additionalProperties: { type: 'string' } };

/** JSON Schema (draft 2020-12 subset that ajv checks) of {@link ScenarioSpec}. */
export const SCENARIO_SCHEMA = {
  $id: 'https://dmasim.dev/schemas/scenario-v1.json',
  title: 'dmasim scenario file, version 1',
  type: 'object',
  required: ['kind', 'version', 'seed', 'topology', 'importers', 'exporters'],
  additionalProperties: false,
  properties: {
    kind: { const: 'dmasim-scenario' },
    version: { const: 1 },
    name: { type: 'string' },
    description: { type: 'string' },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
    topology: {
      type: 'object',
      minProperties: 1,
      maxProperties: 1,
      additionalProperties: false,
      properties: {
        file: { type: 'string', minLength: 1 },
        generate: { type: 'object' },
        inline: {
          type: 'object',
          required: ['kind', 'version', 'functions'],
          properties: { kind: { const: 'dmasim-topology' }, version: { const: 1 }, functions: { type: 'array' } },
        },
      },
    },
    kernel: {
      type: 'object',
      additionalProperties: false,
      properties: {
        sgChunk: { enum: ['page_aligned', 'uint_max', 'sz_2g'] },
        vfioPinAllowed: { type: 'boolean' },
        moveNotify: { type: 'boolean' },
        p2pdmaEnabled: { type: 'boolean' },
        hz: { type: 'integer', minimum: 1 },
        timerCpu: { type: 'integer', minimum: 0 },
        cpus: { type: 'integer', minimum: 1, maximum: 4096 },
        swiotlbForce: { type: 'boolean' },
        whitelistVersion: { type: 'string' },
        whitelistWarnOn: { enum: ['acs', 'verbose'] },
        depotTrim: { type: 'boolean' },
        providerDmaAttrs: { type: 'integer', minimum: 0, maximum: 4294967295 },
      },
    },
    iommu: iommuSchema,
    importers: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['device'],
        additionalProperties: false,
        properties: {
          device: { type: 'string', minLength: 1 },
          dmaMask: { type: 'integer', minimum: 12, maximum: 64 },
          iommu: iommuSchema,
          dynamic: { type: 'boolean' },
          peer2peer: { type: 'boolean' },
          pins: { type: 'boolean' },
          group: { type: 'integer', minimum: 0 },
          cpus: { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 1 },
        },
      },
    },
    exporters: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['device'],
        additionalProperties: false,
        properties: {
          device: { type: 'string', minLength: 1 },
          kind: { enum: ['vfio-pci', 'movable'] },
          bar: { type: 'integer', minimum: 0, maximum: 5 },
          driver: { enum: ['vfio-pci', 'nvgrace-gpu', 'other'] },
          policy: {
            type: 'object',
            additionalProperties: false,
            properties: {
              busAddr: { enum: ['keep_p2p', 'migrate', 'refuse'] },
              thruHostBridge: { enum: ['keep_p2p', 'migrate', 'refuse'] },
              notSupported: { enum: ['migrate', 'refuse'] },
            },
          },
        },
      },
    },
    workload: {
      type: 'object',
      additionalProperties: false,
      properties: {
        buffers: {
          type: 'object',
          required: ['count', 'size'],
          additionalProperties: false,
          properties: {
            count: { type: 'integer', minimum: 0, maximum: 10000000 },
            size: {
              description: 'exactly one of fixed, uniform, log2uniform, choice',
              type: 'object',
              minProperties: 1,
              maxProperties: 1,
              additionalProperties: false,
              properties: {
                fixed: byteCount,
                uniform: minMax,
                log2uniform: minMax,
                choice: { type: 'array', items: byteCount, minItems: 1 },
              },
            },
            ranges: countDist,
            fragmentation: { type: 'number', minimum: 0, maximum: 1 },
          },
        },
        attach: {
          type: 'object',
          additionalProperties: false,
          properties: {
            pattern: { enum: ['all', 'round_robin', 'random'] },
            perBuffer: { type: 'integer', minimum: 1 },
          },
        },
        churn: {
          type: 'object',
          additionalProperties: false,
          properties: {
            map: { type: 'number', minimum: 0 },
            unmap: { type: 'number', minimum: 0 },
            detach: { type: 'number', minimum: 0 },
            attach: { type: 'number', minimum: 0 },
            revoke: { type: 'number', minimum: 0 },
            maxMappingsPerAttachment: { type: 'integer', minimum: 1 },
          },
        },
        operations: { type: 'integer', minimum: 0 },
        durationNs: { type: 'integer', minimum: 0 },
        meanIntervalNs: { type: 'integer', minimum: 1 },
        cpus: { enum: ['round_robin', 'random', 'importer'] },
        dir,
        teardown: { type: 'boolean' },
        access: { type: 'boolean' },
        trace: {
          description: 'a recorded run to re-drive: { file } (resolved by the caller) or { ops }',
          type: 'object',
          additionalProperties: false,
          properties: {
            file: { type: 'string', minLength: 1 },
            scenarioId: { type: 'string', minLength: 1 },
            ops: { type: 'array', items: traceOp },
            deviceMap,
          },
        },
      },
    },
    checkpointEvery: { type: 'integer', minimum: 0 },
  },
} as const;
