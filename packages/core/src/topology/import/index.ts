/** Importers of real-machine data (lspci, sysfs, hwloc, nvidia-smi) into TopologySpec. */
export {};
