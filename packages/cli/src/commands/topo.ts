import { planned } from './planned.ts';

/** `dmasim topo`: read PCI topologies (lspci, sysfs, hwloc, nvidia-smi): show, matrix, compare, export. */
export const topoCommand = planned(
  'topo',
  'read PCI topologies (lspci, sysfs, hwloc, nvidia-smi): show, matrix, compare, export',
  4,
);
