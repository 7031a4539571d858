/**
 * `dmasim run SCENARIO`: runs one scenario file (YAML or JSON) and prints its summary. The topology and a
 * re-driven trace named by file are read relative to the scenario file; `--events FILE` writes the event
 * log as it is produced (binary frames, or NDJSON for a `.ndjson` name). A progress bar goes to stderr on
 * long runs when stderr is a terminal.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import {
  DmasimError,
  decodeEventLog,
  ErrorCode,
  EVENT_SCHEMA_VERSION,
  eventLogHeader,
  eventLogRecord,
  eventToJson,
  parseEventsNdjson,
  parseScenarioFile,
  resolveScenarioTopology,
  resolveScenarioTrace,
  runScenario,
  type ScenarioSpec,
  type ScenarioSummary,
  type SimEvent,
  type TopologySpec,
  traceOpsFromEvents,
  workloadPlan,
} from '@dmasim/core';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { ExitCode } from '../exit.ts';
import { fileReaders } from '../readers.ts';
import type { CliCommand } from './registry.ts';

interface RunOpts {
  events?: string;
  json?: boolean;
  scenarioId?: string;
  progress?: boolean;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new DmasimError(ErrorCode.SCENARIO_INVALID, `${path}: cannot read the ${what} (${(e as Error).message})`);
  }
}

function relative(base: string, p: string): string {
  return isAbsolute(p) ? p : join(dirname(base), p);
}

/**
 * The events of one recorded run: a binary event log or an NDJSON file. A file holding several scenarios
 * needs `scenarioId`; of a scenario's attempts, the first in the file is taken.
 */
export function readRecordedEvents(path: string, scenarioId?: string): SimEvent[] {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DmasimError(
      ErrorCode.SCENARIO_INVALID,
      `${path}: cannot read the recorded events (${(e as Error).message})`,
    );
  }
  const all =
    bytes[0] === 0x7b ? parseEventsNdjson(new TextDecoder().decode(bytes), path) : decodeEventLog(bytes, path).events;
  const ids = [...new Set(all.map((e) => e.scenarioId))];
  const id = scenarioId ?? (ids.length === 1 ? ids[0] : undefined);
  if (id === undefined || !ids.includes(id)) {
    throw new DmasimError(
      ErrorCode.SCENARIO_INVALID,
      `${path}: ${scenarioId === undefined ? `holds ${ids.length} scenarios` : `has no scenario ${scenarioId}`}; set workload.trace.scenarioId to one of ${ids.join(', ')}`,
    );
  }
  // A new attempt of the scenario starts again at seq 0.
  const out: SimEvent[] = [];
  for (const e of all) {
    if (e.scenarioId !== id) continue;
    if (e.seq === 0 && out.length > 0) break;
    out.push(e);
  }
  return out;
}

/** Reads a scenario file and resolves its file references (topology, trace) relative to it. */
export function loadScenario(file: string): ScenarioSpec {
  const spec = parseScenarioFile(readText(file, 'scenario file'), file);
  const withTopology = resolveScenarioTopology(spec, (t) => fileReaders.topology(relative(file, t)) as TopologySpec);
  return resolveScenarioTrace(withTopology, (t, id) => traceOpsFromEvents(readRecordedEvents(relative(file, t), id)));
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

function counts(o: Readonly<Record<string, number>>): string {
  const parts = Object.entries(o).map(([k, v]) => `${k} ${v}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/** The summary as text. */
export function summaryText(s: ScenarioSummary): string {
  const l: string[] = [];
  l.push(
    `scenario   ${s.scenarioId} (seed ${s.seed}, topology ${s.topologyId}): ${s.eventCount} events, ${(s.durationNs / 1e9).toFixed(3)} s of virtual time`,
  );
  l.push(
    `ops        ${Object.entries(s.ops)
      .map(([k, v]) => `${k} ${v.attempts - v.failures}/${v.attempts}`)
      .join(', ')}  (succeeded/attempted)`,
  );
  l.push(`map types  ${counts(s.mapTypes)}`);
  l.push(`modes      ${counts(s.modes)}`);
  const hist = s.sgEntries.counts
    .map((c, k) => (c === 0 ? '' : `${k === 0 ? '1' : k === 1 ? '2' : `${2 ** (k - 1) + 1}-${2 ** k}`}: ${c}`))
    .filter((x) => x !== '');
  l.push(`sg entries ${hist.length > 0 ? hist.join(', ') : 'no mappings'}  (entries per mapping: mappings)`);
  l.push('domains');
  for (const d of s.domains) {
    const head = `  ${String(d.domainId).padEnd(4)} ${d.type.padEnd(8)} ${d.devices.join(' ')}:`;
    if (d.type !== 'dma' && d.type !== 'dma_fq') {
      l.push(`${head} dma-direct, no IOVA`);
      continue;
    }
    l.push(
      `${head} used ${bytes(d.usedBytes)}, peak ${bytes(d.peakBytes)}, reserved ${bytes(d.reservedBytes)}, free below 4 GiB ${bytes(d.free32Bytes)} (largest hole ${bytes(d.largestFree32Bytes)}, fragmentation ${d.fragmentation32.toFixed(2)}), headroom ${bytes(d.headroomBytes)}, allocation failures ${d.allocFailures}, unaccounted ${bytes(d.leakedBytes)}`,
    );
  }
  l.push(`failures   ${counts(s.failures)}`);
  l.push(
    `fallbacks  IOVA block -> per range ${s.fallbacks.iovaToPerRange}, 32-bit-first given up ${s.fallbacks.dacSwitches}, rcache flushes ${s.fallbacks.rcacheFlushes}`,
  );
  l.push(`exhausted  ${s.firstExhaustionNs === null ? 'never' : `first at ${s.firstExhaustionNs} ns`}`);
  l.push(
    `leaks      ${s.leaks.iovaLeakEvents} IOVA leaks (${bytes(s.leaks.iovaLeakBytes)}); unaccounted at the end ${bytes(s.leaks.unaccountedIovaBytes)}`,
  );
  l.push(`hazards    ${counts(s.hazards)}`);
  l.push(`faults     ${s.faults}`);
  const w = s.whatIf;
  l.push(
    `what-if    kept P2P ${w.mappingsKeptP2p}, from system memory ${w.mappingsMigrated}, attachments refused ${w.attachmentsRefused}, migrations ${w.migrations} (${bytes(w.bytesMigrated)}), IOVA spent ${bytes(w.iovaBytesSpent)}, saved by BUS_ADDR ${bytes(w.iovaBytesSaved)}`,
  );
  if (s.pairs.length > 0) {
    l.push('pairs');
    for (const p of s.pairs) l.push(`  ${p.exporter} -> ${p.importer}  ${p.mapType}  distance ${p.distance ?? '-'}`);
  }
  if (s.traceSkipped !== undefined) l.push(`trace      ${s.traceSkipped} recorded operations could not be replayed`);
  l.push(`state hash ${s.stateHash}`);
  return `${l.join('\n')}\n`;
}

function runAction(file: string, o: RunOpts): void {
  const spec = loadScenario(file);
  let fd: number | null = null;
  let written = 0;
  let frames = 0;
  const ndjson = o.events?.endsWith('.ndjson') ?? false;
  const write = (b: Uint8Array | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b) : b;
    writeSync(fd!, buf);
    written += buf.length;
  };
  if (o.events) {
    try {
      fd = openSync(o.events, 'w');
    } catch (e) {
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `${o.events}: cannot write the event log (${(e as Error).message})`,
      );
    }
  }
  const plan = workloadPlan(spec);
  const estimate =
    spec.workload?.trace && 'ops' in spec.workload.trace
      ? spec.workload.trace.ops.length
      : plan.operations + spec.exporters.length * plan.buffersPerExporter * (1 + 2 * spec.importers.length);
  const bar =
    o.progress !== false && process.stderr.isTTY && estimate >= 20_000
      ? new SingleBar({ stream: process.stderr, format: 'dmasim run [{bar}] {percentage}% {value}/{total} operations' })
      : null;
  let ops = 0;
  bar?.start(estimate, 0);
  let pending: string[] = [];
  try {
    if (fd !== null && ndjson)
      write(`${JSON.stringify({ kind: 'dmasim-events', schemaVersion: EVENT_SCHEMA_VERSION })}\n`);
    if (fd !== null && !ndjson) write(eventLogHeader());
    const summary = runScenario(spec, {
      ...(o.scenarioId ? { scenarioId: o.scenarioId } : {}),
      validate: false,
      ...(fd !== null && !ndjson
        ? {
            onFrame: (frame: Uint8Array) => {
              write(eventLogRecord(frame));
              frames++;
            },
          }
        : {}),
      ...(fd !== null && ndjson
        ? {
            onEvent: (e: SimEvent) => {
              pending.push(JSON.stringify(eventToJson(e)));
              if (pending.length >= 1000) {
                write(`${pending.join('\n')}\n`);
                pending = [];
              }
            },
          }
        : {}),
      afterOperation: () => {
        ops++;
        if (bar && ops % 500 === 0) bar.update(Math.min(ops, estimate));
      },
    });
    if (pending.length > 0) write(`${pending.join('\n')}\n`);
    bar?.update(estimate);
    bar?.stop();
    if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else process.stdout.write(summaryText(summary));
    if (o.events) {
      process.stderr.write(
        `dmasim: wrote ${summary.eventCount} events to ${o.events} (${ndjson ? 'NDJSON' : `${frames} frames`}, ${written} bytes)\n`,
      );
    }
    process.exitCode = ExitCode.OK;
  } finally {
    bar?.stop();
    if (fd !== null) closeSync(fd);
  }
}

/** `dmasim run`: run one scenario file and print its summary. */
export const runCommand: CliCommand = {
  name: 'run',
  summary: 'run one scenario file and print its summary',
  register(program: Command) {
    program
      .command('run')
      .summary(this.summary)
      .description(
        'Run one scenario (YAML or JSON; see docs/SCENARIOS.md): the machine, its exporters and importers, and a ' +
          'workload generated from the seed or re-driven from a recorded event log. Prints the summary: map types, ' +
          'modes, SG entries, IOVA use per domain, failures, fallbacks, leaks, hazards and the final state hash.',
      )
      .argument('<SCENARIO>', 'scenario file; its topology and trace files are read relative to it')
      .option(
        '--events <FILE>',
        'write the event log there: binary frames (issue 7 log format), or NDJSON if FILE ends in .ndjson',
      )
      .option('--json', 'print the summary as JSON')
      .option('--scenario-id <id>', 'scenario id in events and summary (default: derived from the scenario)')
      .option('--no-progress', 'never show a progress bar')
      .action(runAction);
  },
};
