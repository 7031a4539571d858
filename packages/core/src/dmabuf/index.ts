/** Public API of the dmabuf area of @dmasim/core: the vfio-pci exporter checks and the DMA-buf mapping helper. */
export type { BarRange, MappingMode, PhysRange, SgEntry } from './dmabuf-types.ts';
export {
  dmaBufFreeSgt,
  dmaBufPhysVecToSgt,
  type Emit,
  type SgtEnv,
  type SgtMapping,
  type SgtResult,
  type SgtWarning,
} from './phys-vec-to-sgt.ts';
export {
  calcSgNents,
  fillSgEntries,
  mappedLenIs32,
  maxSgEntrySize,
  SG_CHUNKS,
  type SgChunk,
  splitExtent,
} from './sg-table.ts';
export {
  VFIO_DMA_BUF_MINSZ,
  VFIO_PCI_ROM_REGION_INDEX,
  type VfioDeviceView,
  type VfioExportCheck,
  type VfioExportOutcome,
  type VfioExportRequest,
  vfioAttachResult,
  vfioCheckDmabufExport,
  vfioPinResult,
} from './vfio-exporter.ts';
