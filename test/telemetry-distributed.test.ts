/**
 * Issue 8, done-when: one connected trace per sweep across processes. A distributed sweep (the dmasim CLI as
 * coordinator and two `dmasim worker` processes, real redis-server and nats-server) with tracing on exports
 * to the in-process OTLP receiver; the test asserts one trace from the coordinator's sweep span through the
 * enqueue batches, every shard (on both workers), its pool tasks and scenarios (recorded in the worker
 * threads) and the publishing of its event frames, with every parent present, and the W3C context of the
 * publish spans in the frames' NATS headers beside their unchanged Nats-Msg-Id; a replay from JetStream is
 * its own trace, linked back to those publish spans.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { ROOT, runCliProcess, spawnCli } from './helpers/cli.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './helpers/otlp-receiver.ts';
import { freePort, type RunningServer, startNats, startRedis } from './helpers/servers.ts';

const SWEEP = join(ROOT, 'test/fixtures/sweeps/small.yaml');
let redis: RunningServer;
let nats: RunningServer;
let rx: OtlpReceiver;
let work: string;
const children: ChildProcess[] = [];

before(async () => {
  [redis, nats, rx] = await Promise.all([startRedis(), startNats(), startOtlpReceiver()]);
  work = mkdtempSync(join(tmpdir(), 'dmasim-trace-test-'));
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rx?.close();
  await nats?.stop();
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

const otelEnv = (service: string, host: string): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
  OTEL_SERVICE_NAME: service,
  OTEL_RESOURCE_ATTRIBUTES: `host.name=${host}`,
  OTEL_BSP_SCHEDULE_DELAY: '200',
  OTEL_METRIC_EXPORT_INTERVAL: '1000',
});

async function startWorker(name: string): Promise<ChildProcess> {
  const port = await freePort();
  const w = spawnCli(
    [
      'worker',
      '--redis',
      redis.url,
      '--nats',
      nats.url,
      '--threads',
      '1',
      '--name',
      name,
      '--health-port',
      String(port),
    ],
    { env: otelEnv('dmasim-worker', name) },
  );
  let err = '';
  w.stderr?.on('data', (d) => {
    err += d;
  });
  children.push(w);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return w;
    if (w.exitCode !== null || Date.now() > deadline) assert.fail(`worker ${name} did not become ready: ${err}`);
    await sleep(100);
  }
}

function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((r) => c.once('exit', () => r()));
}

test('a distributed sweep is one connected trace: coordinator -> queue -> two workers -> threads -> publishing', async () => {
  const workers = await Promise.all([startWorker('node-a'), startWorker('node-b')]);
  const run = await runCliProcess(
    [
      'sweep',
      SWEEP,
      '--redis',
      redis.url,
      '--nats',
      nats.url,
      '--shard-size',
      '1',
      '--out',
      join(work, 'out'),
      '--no-progress',
    ],
    { env: otelEnv('dmasim-coordinator', 'coordinator'), timeoutMs: 300_000 },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /telemetry: traces -> OTLP http:\/\/127\.0\.0\.1:\d+\/v1\/traces/);
  // The workers flush their spans when they stop (SIGTERM: the graceful shutdown).
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map(exited));
  for (const w of workers) assert.equal(w.exitCode, 0, 'workers stop cleanly');

  const shards = 18;
  await rx.waitForSpans(
    (s) => s.filter((x) => x.name === 'dmasim.scenario').length >= shards && s.some((x) => x.name === 'dmasim.sweep'),
    'the sweep span and every scenario span',
    30_000,
  );
  assert.deepEqual(rx.rejected, []);
  const roots = rx.spans.filter((s) => s.name === 'dmasim.sweep');
  assert.equal(roots.length, 1, 'one sweep span');
  const root = roots[0]!;
  assert.equal(root.parentSpanId, undefined);
  assert.equal(root.resource['service.name'], 'dmasim-coordinator');
  assert.equal(root.attributes['dmasim.sweep.outcome'], 'done');
  assert.equal(root.attributes['dmasim.sweep.shards'], shards);

  const trace = rx.spans.filter((s) => s.traceId === root.traceId);
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  const orphans = trace.filter((s) => s.parentSpanId !== undefined && !byId.has(s.parentSpanId));
  assert.deepEqual(
    orphans.map((s) => s.name),
    [],
    'every parent is in the trace: it is connected',
  );
  const parentOf = (s: ReceivedSpan): ReceivedSpan => byId.get(s.parentSpanId!)!;
  const named = (n: string): ReceivedSpan[] => trace.filter((s) => s.name === n);

  const sends = named('send dmasim-shards');
  assert.ok(sends.length >= 1);
  let batched = 0;
  for (const s of sends) {
    assert.equal(s.kind, 'PRODUCER');
    assert.equal(s.parentSpanId, root.spanId);
    assert.equal(s.resource['service.name'], 'dmasim-coordinator');
    batched += s.attributes['messaging.batch.message_count'] as number;
  }
  assert.equal(batched, shards, 'every shard was sent in one of the batches');

  const processes = named('process dmasim-shards');
  assert.equal(processes.length, shards, 'one process span per shard');
  const sendIds = new Set(sends.map((s) => s.spanId));
  for (const p of processes) {
    assert.equal(p.kind, 'CONSUMER');
    assert.equal(p.resource['service.name'], 'dmasim-worker');
    assert.ok(sendIds.has(p.parentSpanId!), 'a shard span is a child of the send span of its batch');
    assert.deepEqual(
      p.links.map((l) => l.spanId),
      [p.parentSpanId],
      'and linked to it',
    );
    assert.equal(typeof p.attributes['dmasim.queue.wait_ms'], 'number');
  }
  const nodes = new Set(processes.map((p) => p.resource['host.name']));
  assert.deepEqual([...nodes].sort(), ['node-a', 'node-b'], 'the shards ran on both workers');
  assert.deepEqual(new Set(processes.map((p) => p.attributes['messaging.client.id'])), new Set(['node-a', 'node-b']));

  const tasks = named('dmasim.pool.task');
  assert.equal(tasks.length, shards, 'one pool task per shard of one scenario');
  for (const t of tasks) {
    const p = parentOf(t);
    assert.equal(p.name, 'process dmasim-shards');
    assert.equal(
      t.resource['host.name'],
      p.resource['host.name'],
      'a task is exported by the worker that ran its shard',
    );
  }
  const scenarios = named('dmasim.scenario');
  assert.equal(scenarios.length, shards);
  for (const s of scenarios) {
    assert.equal(parentOf(s).name, 'dmasim.pool.task');
    assert.match(String(s.attributes['dmasim.scenario.id']), /^small-[0-9a-f]{16}$/);
    assert.ok((s.attributes['dmasim.scenario.events'] as number) > 0);
  }
  const publishes = named('publish dmasim.ev.small');
  assert.equal(publishes.length, shards, 'one publish span per shard');
  for (const p of publishes) {
    assert.equal(p.kind, 'PRODUCER');
    assert.equal(parentOf(p).name, 'process dmasim-shards');
    assert.equal(p.attributes['messaging.system'], 'nats');
    assert.ok((p.attributes['messaging.batch.message_count'] as number) > 0);
  }

  // The frames carry the publish spans' context in their headers, and their Nats-Msg-Id as before.
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info('DMASIM_EVENTS');
    const publishIds = new Set(publishes.map((p) => p.spanId));
    let checked = 0;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage('DMASIM_EVENTS', { seq });
      if (!m?.subject.startsWith('dmasim.ev.small.')) continue;
      const tp = m.header.get('traceparent');
      const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(tp);
      assert.ok(match, `frame ${seq} has a traceparent (got "${tp}")`);
      assert.equal(match[1], root.traceId);
      assert.ok(publishIds.has(match[2]!), `frame ${seq} names its publish span`);
      assert.match(m.header.get('Nats-Msg-Id'), /^small\/small-[0-9a-f]{16}\/1\/\d+$/);
      checked++;
    }
    assert.ok(checked >= shards, `checked ${checked} frames`);
  } finally {
    await nc.close();
  }

  // A replay from JetStream is a trace of its own, linked back to the publish spans of the frames it read.
  const replay = await runCliProcess(['replay', '--nats', nats.url, '--sweep', 'small', '--verify'], {
    env: otelEnv('dmasim-replay', 'replayer'),
    timeoutMs: 120_000,
  });
  assert.equal(replay.code, 0, replay.stderr);
  await rx.waitForSpans((s) => s.some((x) => x.name === 'process dmasim.ev.small'), 'the replay span', 20_000);
  const replaySpan = rx.spans.find((x) => x.name === 'process dmasim.ev.small')!;
  assert.equal(replaySpan.kind, 'CONSUMER');
  assert.equal(replaySpan.resource['service.name'], 'dmasim-replay');
  assert.notEqual(replaySpan.traceId, root.traceId);
  assert.deepEqual(
    replaySpan.links.map((l) => `${l.traceId}/${l.spanId}`).sort(),
    publishes.map((p) => `${p.traceId}/${p.spanId}`).sort(),
    'one link to each publish span',
  );
  assert.ok((replaySpan.attributes['dmasim.replay.frames'] as number) >= shards);

  // Metrics came from both workers.
  await rx.waitForMetrics(
    (ms) =>
      new Set(ms.filter((m) => m.name === 'dmasim.shard.duration').map((m) => m.resource['host.name'])).size === 2,
    'shard-duration metrics from both workers',
    10_000,
  );
  const lastPer = new Map<string, number>();
  for (const m of rx.metrics.filter((x) => x.name === 'dmasim.shard.duration')) {
    lastPer.set(
      String(m.resource['host.name']),
      m.points.reduce((a, p) => a + (p.count ?? 0), 0),
    );
  }
  assert.equal(
    [...lastPer.values()].reduce((a, b) => a + b, 0),
    shards,
    'the histograms count every shard once',
  );
});
