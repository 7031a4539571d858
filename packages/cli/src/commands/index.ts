import { planned } from './planned.ts';
import type { CliCommand } from './registry.ts';

/** Every subcommand of `dmasim`, in the order `--help` lists them. Each line is owned by one feature. */
export const commands: readonly CliCommand[] = [
  planned('topo', 'read PCI topologies (lspci, sysfs, hwloc, nvidia-smi): show, matrix, compare, export', 4),
  planned('p2p', 'check the P2PDMA map-type decision against recorded kernel vectors', 4),
  planned('iova', 'the kernel IOVA allocator: check vector files, benchmark traces', 3),
  planned('map', 'map one DMA-buf BAR range for an importer and show the sg table and events', 5),
  planned('run', 'run one scenario file and print its summary', 5),
  planned('sweep', 'run a sweep of scenarios (embedded, or distributed with --redis) and write reports', 6),
  planned('worker', 'start a worker node that runs sweep shards from Redis', 6),
  planned('replay', 'replay an event log or stream, verify state hashes, re-drive kernel ftrace traces', 7),
  planned('report', 'write the capacity-planning report (json, md, html) from sweep results', 9),
];
