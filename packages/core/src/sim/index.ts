/**
 * The simulator of @dmasim/core: one simulated machine and its DMA-buf objects. Re-exported by the
 * scenario barrel (the core entry point lists areas; the simulator is the scenario runner's engine).
 */
export {
  defaultIommuMode,
  defaultKernelConfig,
  defaultLinkCollision,
  type SimConfig,
  type SimExporterConfig,
  type SimExporterPolicy,
  type SimImporterConfig,
  type SimIommuMode,
  type SimKernelConfig,
} from './sim-config.ts';
export type {
  AttachmentSnapshot,
  DmabufSnapshot,
  ExporterSnapshot,
  MappingSnapshot,
  SimSnapshot,
} from './sim-state.ts';
export {
  type AttachmentRt,
  type DirName,
  type DmabufRt,
  type EventPartsSink,
  type ExporterRt,
  type ImporterRt,
  type MapOutcome,
  type MappingRt,
  type OpResult,
  Simulator,
  type SimulatorOptions,
} from './simulator.ts';
export { SystemMemory } from './system-memory.ts';
