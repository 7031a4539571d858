/**
 * How the CLI reads the files a sweep or scenario names: scenario files through the core parser,
 * topologies through the same loader as `dmasim topo` (a dmasim topology file, lspci/hwloc/sysfs/nvidia-smi
 * inputs, or a real-machine folder), with the defaults it assumes recorded in the topology's `assumed[]`.
 */
import { readFileSync } from 'node:fs';
import type { FileReaders } from '@dmasim/coordinator';
import { DmasimError, ErrorCode, parseScenarioFile } from '@dmasim/core';
import { loadMachine, type Machine } from './commands/topo/machine.ts';

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `${path}: cannot read the ${what} (${(e as Error).message})`);
  }
}

/** Loads one machine (any input `dmasim topo` reads) with the defaults the importers assume, silently. */
export function loadMachineQuiet(path: string): Machine {
  return loadMachine([path], { hostBridgeId: [], label: [], numaNode: [], quiet: true });
}

/** File readers for {@link resolveSweepFiles} and scenario runs. */
export const fileReaders: FileReaders = {
  scenario(path) {
    return parseScenarioFile(readText(path, 'scenario file'), path) as unknown as Record<string, unknown>;
  },
  topology(path) {
    return loadMachineQuiet(path).spec;
  },
};
