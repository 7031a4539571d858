import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import {
  BullmqQueue,
  type EventLog,
  FileEventLog,
  JetStreamEventLog,
  type JobQueue,
  MemoryQueue,
  MemoryResultStore,
  RedisResultStore,
  type ResultStore,
} from '@dmasim/adapters';
import { cancelSweep, describeFailure, progressDisplay, resolveSweepFiles, runSweep } from '@dmasim/coordinator';
import {
  aggregateSweep,
  DmasimError,
  ErrorCode,
  isDmasimError,
  parseSweepSource,
  Sweep,
  validateScenario,
} from '@dmasim/core';
import { writeReports } from '@dmasim/report';
import {
  bullmqTelemetry,
  describeTelemetry,
  initTelemetry,
  injectContext,
  instrumentEnqueue,
  instrumentShardHandler,
  withSweepSpan,
} from '@dmasim/telemetry';
import { ScenarioPool, ShardExecutor } from '@dmasim/worker';
import { type Command, Option } from 'commander';
import { ExitCode } from '../exit.ts';
import { intOption } from '../options.ts';
import { fileReaders } from '../readers.ts';
import type { CliCommand } from './registry.ts';

interface SweepOpts {
  redis?: string;
  nats?: string;
  events: boolean;
  out?: string;
  threads: number;
  shardSize?: number;
  maxInFlight: number;
  progress: boolean;
  cancel?: boolean;
  json?: boolean;
  trace?: boolean;
}

/** Reads, resolves and validates a sweep file; nothing is enqueued when this throws. */
export function loadSweep(file: string, shardSize?: number): { sweep: Sweep; specJson: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DmasimError(
      ErrorCode.SWEEP_SPEC_INVALID,
      `${file}: cannot read the sweep file (${(e as Error).message})`,
    );
  }
  const { sweep: parsed, source } = parseSweepSource(text, file);
  const resolved = resolveSweepFiles(parsed.spec, file, fileReaders);
  const spec = shardSize ? { ...resolved, shardSize } : resolved;
  const sweep = new Sweep(spec, file);
  // Every axis value, at least once: a bad value fails here, before anything is enqueued, at its line.
  for (const r of sweep.representativeOrigins()) {
    try {
      validateScenario(r.point.scenario, '<scenario>');
    } catch (e) {
      const msg = (e as Error).message.replace(/^<scenario>(:\d+:\d+)?:? ?/, '');
      const field = (isDmasimError(e) && typeof e.details?.field === 'string' ? e.details.field : '') as string;
      const pointer =
        r.axis === null ? `/base${field.startsWith('/') ? field : ''}` : sweep.axisValuePointer(r.axis, r.value!);
      const pos = source.locate(pointer) ?? source.locate('/base');
      const what = r.axis === null ? 'the base scenario' : `axis "${sweep.axes[r.axis]!.name}" value ${r.value! + 1}`;
      throw new DmasimError(
        ErrorCode.SWEEP_SPEC_INVALID,
        `${file}${pos ? `:${pos.line}:${pos.column}` : ''}: ${what} gives an invalid scenario: ${msg}`,
      );
    }
  }
  return { sweep, specJson: JSON.stringify(spec) };
}

async function sweepAction(file: string, o: SweepOpts): Promise<void> {
  const { sweep, specJson } = loadSweep(file, o.shardSize);
  const out = resolve(o.out ?? sweep.id);
  const tel = initTelemetry({
    serviceName: 'dmasim-coordinator',
    trace: o.trace === true,
    traceFile: join(out, 'trace.jsonl'),
  });
  if (tel.config.enabled) process.stderr.write(`sweep ${sweep.id}: ${describeTelemetry(tel.config)}\n`);
  let queue: JobQueue;
  let store: ResultStore;
  let pool: ScenarioPool | undefined;
  let local: MemoryQueue | undefined;
  let eventLog: EventLog | undefined;
  if (o.nats) {
    const js = await JetStreamEventLog.connect({ url: o.nats, traceHeaders: () => injectContext() });
    eventLog = js;
    tel.metrics.observePublishBacklog(() => js.pendingFrames, { 'messaging.system': 'nats' });
    await js.recordSweep(sweep.id, { size: sweep.size, shards: sweep.shardCount, axes: sweep.axes.map((a) => a.name) });
  }
  if (o.redis) {
    const telemetry = bullmqTelemetry(tel);
    queue = instrumentEnqueue(tel, new BullmqQueue({ url: o.redis, ...(telemetry ? { telemetry } : {}) }));
    store = new RedisResultStore({ url: o.redis });
  } else {
    mkdirSync(out, { recursive: true });
    store = new MemoryResultStore({ dir: out });
    local = new MemoryQueue();
    queue = instrumentEnqueue(tel, local, { system: 'dmasim.memory' });
    pool = new ScenarioPool({ threads: o.threads });
    if (!eventLog && o.events) eventLog = new FileEventLog({ dir: out });
    const executor = new ShardExecutor({
      pool,
      store,
      workerName: 'embedded',
      telemetry: tel,
      ...(eventLog ? { eventLog } : {}),
    });
    const handler = instrumentShardHandler(tel, executor.handle, { system: 'dmasim.memory', clientId: 'embedded' });
    local.start(handler, { concurrency: Math.max(1, Math.min(o.threads, 4)) });
  }
  const ctl = new AbortController();
  const onSignal = (): void => ctl.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const display = progressDisplay({ quiet: !o.progress });
  try {
    if (o.cancel) {
      await cancelSweep(sweep, queue, store);
      process.stderr.write(`sweep ${sweep.id}: cancelled\n`);
      return;
    }
    process.stderr.write(
      `sweep ${sweep.id}: ${sweep.size} scenarios in ${sweep.shardCount} shards of ${sweep.shardSize}, ` +
        `${o.redis ? `distributed via ${o.redis}` : `embedded, ${o.threads} threads`}\n`,
    );
    const spanInfo = {
      sweepId: sweep.id,
      scenarios: sweep.size,
      shards: sweep.shardCount,
      shardSize: sweep.shardSize,
      mode: o.redis ? 'distributed' : 'embedded',
    };
    const outcome = await withSweepSpan(tel, spanInfo, () =>
      runSweep(sweep, specJson, {
        queue,
        store,
        maxInFlight: o.maxInFlight,
        onProgress: (p) => {
          display.update(p);
          tel.metrics.recordProgress(p);
        },
        signal: ctl.signal,
      }),
    );
    display.stop();
    if (outcome.state === 'interrupted') {
      process.stderr.write(`sweep ${sweep.id}: interrupted; run the same command again to resume\n`);
      process.exitCode = 130;
      return;
    }
    if (outcome.state === 'cancelled') {
      process.stderr.write(`sweep ${sweep.id}: cancelled\n`);
      process.exitCode = ExitCode.FAILED;
      return;
    }
    if (outcome.state === 'failed') {
      for (const f of outcome.failures) process.stderr.write(`sweep ${sweep.id}: ${describeFailure(f)}\n`);
      process.exitCode = ExitCode.INPUT;
      return;
    }
    const report = await aggregateSweep(sweep, store.readShards(sweep.id), {
      mode: o.redis ? 'distributed' : 'embedded',
      durationMs: Math.round(outcome.durationMs),
    });
    await writeReports(report, out, ['json', 'md', 'html'], { outDir: o.out ?? sweep.id });
    const resumed = outcome.progress.resumedShards;
    process.stderr.write(
      `sweep ${sweep.id}: done in ${(outcome.durationMs / 1000).toFixed(1)} s` +
        (resumed ? ` (${resumed} of ${sweep.shardCount} shards resumed from an earlier run)` : '') +
        '\n',
    );
    if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stdout.write(`wrote ${join(out, 'report.html')}, report.md and report.json\n`);
  } finally {
    display.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await local?.close(0);
    await pool?.close();
    await eventLog?.close();
    await queue.close();
    await store.close();
    await tel.shutdown();
  }
}

/** `dmasim sweep FILE`: runs a sweep embedded, or distributed with `--redis`, and writes the reports. */
export const sweepCommand: CliCommand = {
  name: 'sweep',
  summary: 'run a sweep of scenarios (embedded, or distributed with --redis) and write reports',
  register(program: Command) {
    program
      .command('sweep')
      .summary(this.summary)
      .description(
        'Runs every scenario of a sweep file and writes report.json and report.md to --out (and, embedded,\n' +
          'every event to <out>/events.dmlog for `dmasim replay`).\n' +
          'Without --redis everything runs in this process (a thread pool, no servers); with --redis the\n' +
          'shards go to BullMQ and `dmasim worker --redis URL` nodes run them. Running the same command again\n' +
          'resumes an interrupted sweep; --cancel cancels it.',
      )
      .argument('<file>', 'sweep file (YAML or JSON)')
      .addOption(new Option('--redis <url>', 'distributed mode: Redis URL (redis://host:port)').env('DMASIM_REDIS_URL'))
      .addOption(
        new Option(
          '--nats <url>',
          'publish every event to NATS JetStream (embedded: instead of the local log; distributed: workers need --nats too)',
        ).env('DMASIM_NATS_URL'),
      )
      .option('--no-events', 'embedded mode: do not write the event log (<out>/events.dmlog)')
      .option('--out <dir>', 'where results and reports go (default: ./<sweep id>)')
      .addOption(
        new Option('--threads <n>', 'embedded mode: thread-pool size')
          .argParser(intOption('--threads', 1))
          .default(availableParallelism(), 'cores'),
      )
      .addOption(
        new Option('--shard-size <n>', 'scenarios per shard job (overrides the file)').argParser(
          intOption('--shard-size', 1),
        ),
      )
      .addOption(
        new Option('--max-in-flight <n>', 'shard jobs queued or running at once')
          .argParser(intOption('--max-in-flight', 1))
          .default(64),
      )
      .option('--no-progress', 'no progress bar or progress lines')
      .option('--cancel', 'cancel the sweep (with --redis: removes its queued shards)')
      .option('--json', 'also print report.json to stdout')
      .option(
        '--trace',
        'record traces and metrics (to the OTEL_EXPORTER_OTLP_* endpoint if set, else <out>/trace.jsonl)',
      )
      .action(async (file: string, o: SweepOpts) => {
        if (o.redis && !/^rediss?:\/\//.test(o.redis))
          throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `--redis: expected redis://host:port, got "${o.redis}"`);
        await sweepAction(file, o);
      });
  },
};
