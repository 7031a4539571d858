/**
 * @dmasim/telemetry against a real OTLP/HTTP receiver (test/helpers/otlp-receiver.ts): the spans of a
 * simulated sweep (coordinator span, enqueue batch, shard jobs, pool-thread scenario spans from a real
 * worker thread, event publishing, replay) and the metrics arrive with the right names, kinds, attributes,
 * parents and links; a dead endpoint never reaches the caller and is reported once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  collectPoolTask,
  initTelemetry,
  injectContext,
  instrumentEnqueue,
  instrumentShardHandler,
  type PoolTaskTelemetryResult,
  poolTaskTelemetry,
  type Telemetry,
  type ThreadSpan,
  withPublishSpan,
  withReplaySpan,
  withSweepSpan,
} from '@dmasim/telemetry';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './helpers/otlp-receiver.ts';

interface Job {
  sweepId: string;
  shardIndex: number;
  start: number;
  end: number;
  trace?: Readonly<Record<string, string>>;
}

const threadModule = new URL('../packages/telemetry/src/thread.ts', import.meta.url).href;

/** Runs a "pool task" in a real worker thread: one task span, one span per scenario, scenario 1 fails. */
function runInThread(task: {
  trace?: Readonly<Record<string, string>>;
  start: number;
  end: number;
}): Promise<PoolTaskTelemetryResult> {
  const code = `
    import { parentPort, workerData } from 'node:worker_threads';
    const { ThreadRecorder, epochMs, SpanName, Dmasim } = await import(${JSON.stringify(threadModule)});
    const startedAtMs = epochMs();
    const rec = new ThreadRecorder(workerData.trace);
    rec.run(SpanName.POOL_TASK, { [Dmasim.POOL_TASK_START]: workerData.start, [Dmasim.POOL_TASK_END]: workerData.end }, () => {
      for (let i = workerData.start; i < workerData.end; i++) {
        try {
          rec.run(SpanName.SCENARIO, { [Dmasim.SCENARIO_INDEX]: i }, (s) => {
            if (i === 1) throw Object.assign(new Error('importer dmaMask is 0'), { code: 'SCENARIO_INVALID' });
            s.setAttribute(Dmasim.SCENARIO_EVENTS, 7);
          });
        } catch {}
      }
    });
    parentPort.postMessage({ spans: rec.take(), startedAtMs });
  `;
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData: task });
    w.once('message', (m: PoolTaskTelemetryResult) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

const receivers: OtlpReceiver[] = [];
after(async () => {
  for (const r of receivers) await r.close();
});

async function simulatedSweep(tel: Telemetry): Promise<{ headers: Map<string, string>[] }> {
  const queued: Job[] = [];
  const queue = {
    enqueue: async (jobs: readonly Job[]) => {
      queued.push(...jobs);
    },
    depth: () => queued.length,
  };
  const traced = instrumentEnqueue(tel, queue, { system: 'bullmq', destination: 'dmasim-shards' });
  assert.notEqual(traced, queue, 'with telemetry on the queue is wrapped');
  const headers: Map<string, string>[] = [];
  const handler = instrumentShardHandler(
    tel,
    async (job: Job, ctx: { attempt: number }) => {
      const sent = poolTaskTelemetry(tel);
      assert.ok(sent.trace?.traceparent, 'the pool task gets the context of the shard span');
      const result = await runInThread({
        ...(sent.trace ? { trace: sent.trace } : {}),
        start: job.start,
        end: job.end,
      });
      collectPoolTask(tel, job.sweepId, sent, result);
      await withPublishSpan(tel, { sweepId: job.sweepId, messages: 2 }, async (inject) => {
        for (let f = 0; f < 2; f++) {
          const h = new Map<string, string>();
          inject({ set: (k, v) => h.set(k, v) });
          headers.push(h);
        }
      });
      if (job.shardIndex === 1 && ctx.attempt === 1) {
        throw Object.assign(new Error('redis went away'), { code: 'SERVICE_UNAVAILABLE' });
      }
      return { shardIndex: job.shardIndex, scenarios: job.end - job.start, stored: true };
    },
    { clientId: 'node-a:1' },
  );
  const outcome = await withSweepSpan(
    tel,
    { sweepId: 'otlp-sweep', scenarios: 4, shards: 2, shardSize: 2, mode: 'distributed' },
    async () => {
      await traced.enqueue([
        { sweepId: 'otlp-sweep', shardIndex: 0, start: 0, end: 2 },
        { sweepId: 'otlp-sweep', shardIndex: 1, start: 2, end: 4 },
      ]);
      assert.equal(traced.depth(), 2, 'other members of the queue pass through');
      return { state: 'done' as const, progress: { resumedShards: 0 } };
    },
  );
  assert.equal(outcome.state, 'done');
  // The worker side runs outside the sweep span, as it does in another process.
  assert.equal(injectContext(), undefined);
  for (const j of queued) {
    assert.ok(j.trace?.traceparent, 'each job carries the send span context');
    assert.match(j.trace!['dmasim-enqueued-at']!, /^\d+$/);
    try {
      await handler(j, { attempt: 1 });
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'SERVICE_UNAVAILABLE', 'errors pass through unchanged');
      await handler(j, { attempt: 2 });
    }
  }
  await withReplaySpan(tel, { sweepId: 'otlp-sweep' }, async (linker) => {
    for (const h of headers) linker.frame({ get: (k) => h.get(k) ?? '' });
    linker.frame(undefined);
  });
  return { headers };
}

const one = (spans: readonly ReceivedSpan[], pred: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan => {
  const found = spans.filter(pred);
  assert.equal(found.length, 1, `exactly one ${what} (got ${found.length})`);
  return found[0]!;
};

test('spans and metrics of a sweep arrive at an OTLP receiver with names, kinds, attributes, parents and links', async () => {
  const rx = await startOtlpReceiver();
  receivers.push(rx);
  const reports: string[] = [];
  const tel = initTelemetry({
    serviceName: 'dmasim-otlp-test',
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
      OTEL_BSP_SCHEDULE_DELAY: '20',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=ci',
    },
    report: (m) => reports.push(m),
  });
  assert.equal(tel.tracing, true);
  assert.equal(tel.metering, true);
  assert.equal(initTelemetry({ serviceName: 'other' }), tel, 'a second init returns the first handle');
  await simulatedSweep(tel);
  tel.metrics.recordScenario({
    sweepId: 'otlp-sweep',
    events: 40,
    iovaUtilization: 0.42,
    failures: { iova_exhausted: 2, map_failed: 0 },
  });
  tel.metrics.recordProgress({ sweepId: 'otlp-sweep', doneShards: 1, totalShards: 2, scenariosPerSecond: 12.5 });
  const unregister = tel.metrics.observePublishBacklog(() => 17, { 'dmasim.sweep.id': 'otlp-sweep' });
  const stopping = tel.shutdown();
  assert.equal(tel.shutdown(), stopping, 'shutdown is idempotent');
  await stopping;
  unregister();
  assert.deepEqual(reports, []);
  assert.deepEqual(rx.rejected, []);
  assert.ok(rx.requests.every((r) => r.contentType === 'application/json'));

  const spans = rx.spans;
  // 1 sweep + 1 send + 3 process (one failed attempt) + 3 pool tasks + 6 scenarios + 3 publish + 1 replay
  assert.equal(spans.length, 18, spans.map((s) => s.name).join(', '));
  const sweep = one(spans, (s) => s.name === 'dmasim.sweep', 'sweep span');
  assert.equal(sweep.kind, 'INTERNAL');
  assert.equal(sweep.parentSpanId, undefined);
  assert.deepEqual(
    [
      sweep.attributes['dmasim.sweep.id'],
      sweep.attributes['dmasim.sweep.scenarios'],
      sweep.attributes['dmasim.sweep.outcome'],
    ],
    ['otlp-sweep', 4, 'done'],
  );
  assert.equal(sweep.resource['service.name'], 'dmasim-otlp-test');
  assert.equal(sweep.resource['deployment.environment.name'], 'ci');
  assert.equal(sweep.scope, '@dmasim/telemetry');

  const send = one(spans, (s) => s.name === 'send dmasim-shards', 'send span');
  assert.equal(send.kind, 'PRODUCER');
  assert.equal(send.parentSpanId, sweep.spanId);
  assert.equal(send.traceId, sweep.traceId);
  assert.deepEqual(
    [
      send.attributes['messaging.system'],
      send.attributes['messaging.operation.type'],
      send.attributes['messaging.destination.name'],
      send.attributes['messaging.batch.message_count'],
    ],
    ['bullmq', 'send', 'dmasim-shards', 2],
  );

  const processes = spans.filter((s) => s.name === 'process dmasim-shards');
  assert.equal(processes.length, 3);
  for (const p of processes) {
    assert.equal(p.kind, 'CONSUMER');
    assert.equal(p.traceId, sweep.traceId);
    assert.equal(p.parentSpanId, send.spanId, 'parented by the job context');
    assert.deepEqual(
      p.links.map((l) => [l.traceId, l.spanId]),
      [[send.traceId, send.spanId]],
      'and linked to it',
    );
    assert.equal(p.attributes['messaging.operation.type'], 'process');
    assert.equal(p.attributes['messaging.client.id'], 'node-a:1');
    assert.equal(typeof p.attributes['dmasim.queue.wait_ms'], 'number');
  }
  const failed = one(processes, (s) => s.status.code === 'ERROR', 'failed shard attempt');
  assert.deepEqual(
    [
      failed.attributes['messaging.message.id'],
      failed.attributes['dmasim.shard.attempt'],
      failed.attributes['error.type'],
    ],
    ['otlp-sweep.1', 1, 'SERVICE_UNAVAILABLE'],
  );
  assert.equal(failed.status.message, 'redis went away');
  assert.equal(failed.events[0]?.name, 'exception');

  const tasks = spans.filter((s) => s.name === 'dmasim.pool.task');
  assert.equal(tasks.length, 3);
  const processIds = new Set(processes.map((p) => p.spanId));
  for (const t of tasks) {
    assert.ok(processIds.has(t.parentSpanId!), 'a pool task is a child of its shard span');
    assert.equal(t.kind, 'INTERNAL');
    assert.ok(t.endNs >= t.startNs);
  }
  const scenarios = spans.filter((s) => s.name === 'dmasim.scenario');
  assert.equal(scenarios.length, 6);
  const taskIds = new Set(tasks.map((t) => t.spanId));
  for (const s of scenarios) assert.ok(taskIds.has(s.parentSpanId!), 'a scenario span is a child of its task span');
  const bad = scenarios.filter((s) => s.status.code === 'ERROR');
  assert.equal(bad.length, 1);
  assert.equal(bad[0]!.attributes['error.type'], 'SCENARIO_INVALID');
  assert.equal(bad[0]!.attributes['dmasim.scenario.index'], 1);
  assert.ok(
    scenarios.filter((s) => s.status.code !== 'ERROR').every((s) => s.attributes['dmasim.scenario.events'] === 7),
  );

  const publishes = spans.filter((s) => s.name === 'publish dmasim.ev.otlp-sweep');
  assert.equal(publishes.length, 3);
  for (const p of publishes) {
    assert.equal(p.kind, 'PRODUCER');
    assert.ok(processIds.has(p.parentSpanId!));
    assert.deepEqual([p.attributes['messaging.system'], p.attributes['messaging.batch.message_count']], ['nats', 2]);
  }
  const replay = one(spans, (s) => s.name === 'process dmasim.ev.otlp-sweep', 'replay span');
  assert.equal(replay.kind, 'CONSUMER');
  assert.equal(replay.parentSpanId, undefined);
  assert.notEqual(replay.traceId, sweep.traceId, 'a replay is its own trace');
  assert.deepEqual(
    replay.links.map((l) => l.spanId).sort(),
    publishes.map((p) => p.spanId).sort(),
    'linked once to each publish span whose frames it read',
  );
  assert.equal(replay.attributes['dmasim.replay.frames'], 7);
  // Every span but the replay is in the sweep's trace.
  assert.equal(spans.filter((s) => s.traceId === sweep.traceId).length, 17);

  const metric = (name: string) => {
    const m = rx.metrics.filter((x) => x.name === name);
    assert.ok(m.length > 0, `metric ${name} arrived`);
    return m[m.length - 1]!;
  };
  const dur = metric('dmasim.shard.duration');
  assert.equal(dur.type, 'histogram');
  assert.equal(dur.unit, 's');
  assert.equal(dur.points[0]!.count, 3);
  const shards = metric('dmasim.shards');
  const byOutcome = Object.fromEntries(shards.points.map((p) => [p.attributes['dmasim.sweep.outcome'], p.value]));
  assert.deepEqual(byOutcome, { stored: 2, failed: 1 });
  assert.equal(metric('dmasim.queue.wait').points[0]!.count, 3);
  assert.equal(metric('dmasim.pool.wait').points[0]!.count, 3);
  assert.equal(metric('dmasim.events').points[0]!.value, 40);
  assert.equal(metric('dmasim.scenario.iova.utilization').points[0]!.sum, 0.42);
  const failures = metric('dmasim.scenario.failures');
  assert.deepEqual(
    failures.points.map((p) => [p.attributes['dmasim.failure.kind'], p.value]),
    [['iova_exhausted', 2]],
  );
  assert.equal(metric('dmasim.sweep.shards.pending').points[0]!.value, 1);
  assert.equal(metric('dmasim.sweep.scenario_rate').points[0]!.value, 12.5);
  assert.equal(metric('dmasim.publish.backlog').points[0]!.value, 17);
  const inflight = metric('dmasim.jobs.in_flight');
  assert.equal(inflight.points[0]!.value, 0, 'every started shard ended');
});

test('a dead endpoint never reaches the caller: spans are dropped, the failure is reported once, shutdown is bounded', async () => {
  // A port that was free a moment ago and has nothing listening now.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const reports: string[] = [];
  const tel = initTelemetry({
    serviceName: 'dmasim-dead-endpoint',
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_TIMEOUT: '300',
      OTEL_BSP_SCHEDULE_DELAY: '10',
    },
    shutdownTimeoutMs: 3000,
    report: (m) => reports.push(m),
  });
  assert.equal(tel.tracing, true);
  for (let round = 0; round < 3; round++) {
    await simulatedSweep(tel);
    await tel.forceFlush();
  }
  await tel.shutdown();
  const spanReports = reports.filter((r) => r.includes('exporting spans'));
  assert.equal(spanReports.length, 1, reports.join('\n'));
  assert.match(
    spanReports[0]!,
    new RegExp(`exporting spans to http://127\\.0\\.0\\.1:${port}/v1/traces failed: .*ECONNREFUSED`),
  );
  assert.ok(reports.filter((r) => r.includes('exporting metrics')).length <= 1);
});

test('DMASIM_TRACE_FILE: spans and metrics as JSON lines in one file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dmasim-trace-'));
  try {
    const file = join(dir, 'sub', 'trace.jsonl');
    const tel = initTelemetry({
      serviceName: 'dmasim-file',
      env: { DMASIM_TRACE_FILE: file },
      report: (m) => assert.fail(m),
    });
    assert.deepEqual(tel.config.traceExporters, ['file']);
    await simulatedSweep(tel);
    await tel.shutdown();
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            signal: string;
            name: string;
            kind?: string;
            parentSpanId?: string;
            spanId?: string;
            traceId?: string;
          },
      );
    const spans = lines.filter((l) => l.signal === 'span');
    assert.equal(spans.length, 18);
    const sweep = spans.find((s) => s.name === 'dmasim.sweep')!;
    const send = spans.find((s) => s.name === 'send dmasim-shards')!;
    assert.equal(send.kind, 'PRODUCER');
    assert.equal(send.parentSpanId, sweep.spanId);
    assert.ok(lines.some((l) => l.signal === 'metric' && l.name === 'dmasim.shard.duration'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('telemetry off: helpers pass through, nothing is wrapped or propagated', async () => {
  const tel = initTelemetry({ serviceName: 'dmasim-off', env: {} });
  assert.equal(tel.tracing, false);
  assert.equal(tel.metering, false);
  const queue = { enqueue: async (_jobs: readonly Job[]) => {} };
  assert.equal(instrumentEnqueue(tel, queue), queue);
  const h = async (j: Job) => ({ shardIndex: j.shardIndex, scenarios: 1, stored: true });
  assert.equal(instrumentShardHandler(tel, h), h);
  assert.equal(
    await withSweepSpan(tel, { sweepId: 's', scenarios: 1, shards: 1, shardSize: 1, mode: 'embedded' }, async () => 5),
    5,
  );
  await withSweepSpan(tel, { sweepId: 's', scenarios: 1, shards: 1, shardSize: 1, mode: 'embedded' }, async () => {
    assert.equal(injectContext(), undefined);
  });
  assert.deepEqual(poolTaskTelemetry(tel).trace, undefined);
  tel.exportThreadSpans([{ traceId: 'x' } as unknown as ThreadSpan]);
  await withPublishSpan(tel, { sweepId: 's', messages: 1 }, async (inject) => {
    const m = new Map<string, string>();
    inject({ set: (k, v) => m.set(k, v) });
    assert.equal(m.size, 0);
  });
  await tel.shutdown();
});

test('OTEL_SDK_DISABLED=true keeps everything off even with --trace, and says so once', () => {
  const reports: string[] = [];
  const tel = initTelemetry({
    serviceName: 'x',
    trace: true,
    env: { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' },
    report: (m) => reports.push(m),
  });
  assert.equal(tel.tracing, false);
  assert.deepEqual(reports, ['telemetry: OTEL_SDK_DISABLED=true: telemetry stays off although --trace was given']);
});
