/**
 * The canonical state of a simulated machine, the thing the state hash is computed over: the DMA-buf
 * objects (dma-bufs, attachments, mappings), the exporters' P2PDMA map-type caches and memory state, and
 * the DMA layer (every IOMMU domain's page tables, flush queues and IOVA allocator; the devices' flags;
 * the once-fired kernel messages). The live simulator and the event reducer both produce it; equal
 * states give equal hashes.
 */
import type { IommuSystemSnapshot } from '../iommu/iommu-reducer.ts';

/** One dma-buf. */
export interface DmabufSnapshot {
  readonly id: number;
  readonly exporter: string;
  readonly kind: 'vfio-pci' | 'movable';
  readonly bar: number;
  readonly ranges: readonly { readonly paddr: bigint; readonly len: bigint }[];
  readonly size: bigint;
  readonly revoked: boolean;
  readonly backing: 'bar' | 'system';
  /** Backing store in system memory (movable exporter after a migration), else empty. */
  readonly systemRanges: readonly { readonly paddr: bigint; readonly len: bigint }[];
}

/** One live attachment. */
export interface AttachmentSnapshot {
  readonly id: number;
  readonly dmabufId: number;
  readonly importer: string;
  readonly dynamic: boolean;
  readonly peer2peer: boolean;
  /** Movable exporter's decision for it, else null. */
  readonly decision: 'keep_p2p' | 'migrate' | null;
}

/** One live mapping: what the importer was given and the helper's bookkeeping. */
export interface MappingSnapshot {
  readonly id: number;
  readonly attachmentId: number;
  readonly mode: 'bus_addr' | 'iova' | 'per_range' | 'system';
  readonly entries: readonly { readonly dmaAddress: bigint; readonly dmaLength: number }[];
  readonly iovaAddr: bigint | null;
  readonly iovaSize: bigint | null;
  readonly size: bigint;
}

/** One exporting function. */
export interface ExporterSnapshot {
  readonly device: string;
  readonly memoryEnabled: boolean;
  readonly registered: boolean;
  /** Map-type cache: `[key, value, client]` sorted by key. */
  readonly mapTypes: readonly (readonly [number, number, string])[];
}

/** The whole state. */
export interface SimSnapshot {
  readonly dmabufs: readonly DmabufSnapshot[];
  readonly attachments: readonly AttachmentSnapshot[];
  readonly mappings: readonly MappingSnapshot[];
  readonly exporters: readonly ExporterSnapshot[];
  readonly dma: IommuSystemSnapshot;
}
