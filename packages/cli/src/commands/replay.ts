import { writeFileSync } from 'node:fs';
import type { StoredFrame } from '@dmasim/adapters';
import { DmasimError, ErrorCode, type SimEvent } from '@dmasim/core';
import { initTelemetry, type ReplayLinker, type Telemetry, withReplaySpan } from '@dmasim/telemetry';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ExitCode } from '../exit.ts';
import type { CliCommand } from './registry.ts';
import { type FtraceOpts, ftraceAction } from './replay/ftrace-action.ts';
import { type ReplayReport, replayFrames } from './replay/replay-engine.ts';
import { openFileSource, openNatsSource, type ReplaySource } from './replay/source.ts';
import { PerfettoTrace, timelineLine } from './replay/timeline.ts';

interface ReplayOpts extends FtraceOpts {
  nats?: string;
  sweep?: string;
  scenario?: string;
  verify?: boolean;
  until?: number;
  json?: boolean;
  show?: boolean;
  perfetto?: string;
  stream?: string;
  bucket?: string;
  ftrace?: string;
  trace?: boolean;
}

/** Frames as they are read, each reported to the replay span's linker (its publisher's context). */
async function* linkedFrames(frames: AsyncIterable<StoredFrame>, linker: ReplayLinker): AsyncGenerator<StoredFrame> {
  for await (const f of frames) {
    linker.frame((f as { trace?: Readonly<Record<string, string>> }).trace);
    yield f;
  }
}

function seqOption(v: string): number {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`--until expects a seq number, got "${v}"`);
  return Number(v);
}

function usage(msg: string): void {
  process.stderr.write(`dmasim replay: ${msg}\n(run dmasim replay --help for usage)\n`);
  process.exitCode = ExitCode.USAGE;
}

function reportText(r: ReplayReport, label: string, seconds: number, verify: boolean): string {
  const lines: string[] = [];
  const rate = seconds > 0 ? Math.round(r.events / seconds) : 0;
  lines.push(
    `replayed ${r.scenarios.length} scenario${r.scenarios.length === 1 ? '' : 's'}: ${r.events} events in ${r.frames} frames (${(r.bytes / 1048576).toFixed(2)} MiB) from ${label} in ${seconds.toFixed(2)} s (${rate} events/s)`,
  );
  if (r.skippedFrames > 0) lines.push(`skipped ${r.skippedFrames} frames of attempts no scenario record names`);
  if (r.duplicateFrames > 0) lines.push(`dropped ${r.duplicateFrames} duplicate frames`);
  for (const s of r.scenarios) {
    if (s.problem) {
      lines.push(`FAIL ${s.scenarioId} attempt ${s.attempt}: ${s.problem.code}: ${s.problem.message}`);
    } else if (r.scenarios.length <= 20) {
      const until = s.stoppedAt !== null ? ` (stopped after seq ${s.stoppedAt})` : '';
      lines.push(
        `ok   ${s.scenarioId} attempt ${s.attempt}: ${s.events} events, state ${s.stateHash}${verify ? `, ${s.checkpoints} checkpoint${s.checkpoints === 1 ? '' : 's'} verified` : ''}${until}`,
      );
    }
  }
  const bad = r.scenarios.filter((s) => s.problem).length;
  if (verify) {
    lines.push(
      bad === 0
        ? `verify: all ${r.scenarios.length} state hashes match`
        : `verify: ${bad} of ${r.scenarios.length} scenarios FAILED`,
    );
  } else if (bad > 0) lines.push(`${bad} of ${r.scenarios.length} scenarios have broken logs`);
  return `${lines.join('\n')}\n`;
}

async function replayAction(file: string | undefined, o: ReplayOpts): Promise<void> {
  if (o.ftrace !== undefined) {
    if (file !== undefined || o.nats !== undefined) return usage('--ftrace takes no event log FILE or --nats');
    await ftraceAction(o.ftrace, o);
    return;
  }
  if (o.nats !== undefined && file !== undefined) return usage('give either FILE or --nats URL --sweep ID, not both');
  if (o.nats === undefined && file === undefined) return usage('give an event log FILE, or --nats URL --sweep ID');
  if (o.nats !== undefined && o.sweep === undefined) return usage('--nats needs --sweep ID');
  let source: ReplaySource;
  // A replay from JetStream is traced (OTEL_* variables or --trace): one span, linked to the publish spans.
  const tel: Telemetry | undefined =
    o.nats !== undefined ? initTelemetry({ serviceName: 'dmasim-replay', trace: o.trace === true }) : undefined;
  if (o.nats !== undefined) {
    source = await openNatsSource(o.nats, o.sweep!, {
      ...(o.stream ? { stream: o.stream } : {}),
      ...(o.bucket ? { bucket: o.bucket } : {}),
    });
  } else {
    source = openFileSource(file!);
  }
  const wantTimeline = o.show === true || o.perfetto !== undefined;
  const collected = new Map<number, SimEvent[]>();
  try {
    const rec = o.scenario !== undefined ? source.records?.get(o.scenario) : undefined;
    if (o.scenario !== undefined && source.records && !rec) {
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `${source.label}: no scenario ${o.scenario} (the log records ${source.records.size} scenarios)`,
      );
    }
    const filter = o.scenario === undefined ? {} : { scenarioId: o.scenario, ...(rec ? { attempt: rec.attempt } : {}) };
    const t0 = performance.now();
    const replay = (frames: AsyncIterable<StoredFrame>) =>
      replayFrames(frames, {
        ...(source.records ? { records: source.records } : {}),
        ...(o.scenario !== undefined ? { scenarioId: o.scenario } : {}),
        verify: o.verify === true,
        ...(o.until !== undefined ? { until: o.until } : {}),
        ...(wantTimeline
          ? {
              onEvent: (e: SimEvent, attempt: number) => {
                if (collected.size > 1 && !collected.has(attempt)) return;
                const list = collected.get(attempt) ?? [];
                list.push(e);
                collected.set(attempt, list);
              },
            }
          : {}),
      });
    const report =
      tel !== undefined
        ? await withReplaySpan(
            tel,
            { sweepId: o.sweep!, ...(o.scenario !== undefined ? { scenarioId: o.scenario } : {}) },
            (linker) => replay(linkedFrames(source.frames(filter), linker)),
          )
        : await replay(source.frames(filter));
    const seconds = (performance.now() - t0) / 1000;
    if (report.scenarios.length === 0) {
      // Nothing to replay is never a success: a wrong sweep id or an empty log would otherwise "verify".
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `${source.label}: no events to replay${o.nats !== undefined ? ` (is "${o.sweep}" the sweep id, and did the workers run with --nats?)` : ''}`,
      );
    }
    if (wantTimeline) {
      if (report.scenarios.length !== 1) {
        return usage(
          `--show and --perfetto need one scenario: add --scenario ID (the log has ${report.scenarios.length}: ${report.scenarios
            .slice(0, 5)
            .map((s) => s.scenarioId)
            .join(', ')}${report.scenarios.length > 5 ? ', ...' : ''})`,
        );
      }
      const only = report.scenarios[0]!;
      const events = collected.get(only.attempt) ?? [];
      if (o.show) {
        const out = [`timeline of scenario ${only.scenarioId} attempt ${only.attempt} (${events.length} events)`];
        out.push(`${'seq'.padStart(7)} ${'time'.padStart(14)} cpu  event`);
        for (const e of events) out.push(timelineLine(e));
        process.stdout.write(`${out.join('\n')}\n`);
      }
      if (o.perfetto !== undefined) {
        const pt = new PerfettoTrace(only.scenarioId);
        for (const e of events) pt.add(e);
        writeFileSync(o.perfetto, `${JSON.stringify(pt.toJson())}\n`);
        process.stderr.write(`wrote ${o.perfetto} (${events.length} events; open it at ui.perfetto.dev)\n`);
      }
    }
    if (o.json) {
      process.stdout.write(
        `${JSON.stringify({ source: source.label, seconds, eventsPerSecond: seconds > 0 ? report.events / seconds : 0, ...report })}\n`,
      );
    } else if (!o.show) {
      process.stdout.write(reportText(report, source.label, seconds, o.verify === true));
    } else {
      process.stderr.write(reportText(report, source.label, seconds, o.verify === true));
    }
    if (!report.ok) process.exitCode = ExitCode.FAILED;
  } finally {
    await source.close();
    await tel?.shutdown();
  }
}

/** `dmasim replay`: replay an event log or stream, verify state hashes, re-drive kernel ftrace traces. */
export const replayCommand: CliCommand = {
  name: 'replay',
  summary: 'replay an event log or stream, verify state hashes, re-drive kernel ftrace traces',
  register(program: Command) {
    program
      .command('replay')
      .summary(this.summary)
      .description(
        'Rebuilds the simulator state from recorded events and checks the log: gapless sequences per\n' +
          'scenario, and with --verify every recorded state hash (checkpoints, sim.end, the scenario record).\n' +
          'FILE is an events.dmlog (dmasim run --events, or an embedded sweep folder), or an NDJSON event file;\n' +
          'with --nats URL --sweep ID the frames come from JetStream and only the attempt recorded in the KV\n' +
          'bucket of each scenario is replayed. Exit 1 when a check fails, naming the first divergent event.\n\n' +
          'With --ftrace FILE it imports a kernel ftrace capture (trace, trace_pipe or trace-cmd report text of\n' +
          'the dma:, iommu: and dma_buf: events), reconstructs the mappings, checks them against --topology\n' +
          '(--check) and writes a scenario that re-drives them (--to-scenario OUT.yaml). docs/FTRACE.md.',
      )
      .argument('[file]', 'events.dmlog, its folder, or an NDJSON event file')
      .addOption(new Option('--nats <url>', 'read from NATS JetStream (nats://host:port)').env('DMASIM_NATS_URL'))
      .option('--sweep <id>', 'sweep id (with --nats)')
      .option('--scenario <id>', 'only this scenario')
      .option('--verify', 'compare every rebuilt state hash with the recorded ones (exit 1 on a mismatch)')
      .addOption(new Option('--until <seq>', 'stop each scenario after this event seq').argParser(seqOption))
      .option('--show', 'print the timeline of the scenario (one line an event)')
      .option('--perfetto <out.json>', 'write the scenario as Chrome trace / Perfetto JSON')
      .option('--json', 'print the report as JSON')
      .option('--stream <name>', 'JetStream stream (default DMASIM_EVENTS)')
      .option('--bucket <name>', 'KV bucket (default dmasim_sweeps)')
      .option('--trace', 'with --nats: record the replay as a span linked to the spans that published its frames')
      .option('--ftrace <file>', 'import a kernel ftrace capture instead of an event log')
      .option('--topology <file>', 'with --ftrace: the machine (dmasim topology, lspci/sysfs/hwloc data)')
      .option('--check', 'with --ftrace: check the capture against what dmasim predicts (exit 1 on a mismatch)')
      .option('--to-scenario <out.yaml>', 'with --ftrace: write a scenario that re-drives the capture')
      .option('--rerun', 'with --ftrace --to-scenario: run the written scenario and compare its addresses')
      .option('--lenient', 'with --ftrace: skip malformed or truncated lines (reported) instead of failing')
      .action(async (file: string | undefined, o: ReplayOpts) => {
        await replayAction(file, o);
      });
  },
};
