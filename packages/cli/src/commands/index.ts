import { iovaCommand } from './iova.ts';
import { mapCommand } from './map.ts';
import { p2pCommand } from './p2p.ts';
import type { CliCommand } from './registry.ts';
import { replayCommand } from './replay.ts';
import { reportCommand } from './report.ts';
import { runCommand } from './run.ts';
import { sweepCommand } from './sweep.ts';
import { topoCommand } from './topo.ts';
import { workerCommand } from './worker.ts';

/** Every subcommand of `dmasim`, in the order `--help` lists them. Each lives in its own file. */
export const commands: readonly CliCommand[] = [
  topoCommand,
  p2pCommand,
  iovaCommand,
  mapCommand,
  runCommand,
  sweepCommand,
  workerCommand,
  replayCommand,
  reportCommand,
];
