/** Importers of real-machine data (lspci, sysfs, hwloc, nvidia-smi) into TopologySpec. */
export { detectKind, isInputKind, parseInput } from './detect.ts';
export { parseHwlocXml } from './hwloc-xml.ts';
export {
  importTopology,
  parseAcsDefaultOption,
  parseCpuOption,
  parseHostBridgeIdOption,
  parseLabelOption,
  parseNumaNodeOption,
} from './import-topology.ts';
export type {
  HostBridgeIdOverride,
  ImportFragment,
  ImportInput,
  ImportOptions,
  ImportResult,
  LabelBinding,
  NvidiaSmiLink,
  NvidiaSmiTopo,
  ObservedFunction,
  SysfsEntry,
  SysfsFiles,
} from './import-types.ts';
export { InputKind } from './import-types.ts';
export { parseLspciTree } from './lspci-tree.ts';
export { parseLspciVerbose } from './lspci-verbose.ts';
export { parseNvidiaSmiGpus, parseNvidiaSmiTopo } from './nvidia-smi.ts';
export { decodeConfig } from './pci-config.ts';
export { parseSysfsSnapshot } from './sysfs.ts';
