/**
 * BullMQ's own telemetry hook through `bullmqTelemetry` (bullmq-otel), on a real Redis: by default it
 * contributes BullMQ's metrics and no spans; with `spans: true` BullMQ's own PRODUCER/CONSUMER spans appear.
 * This is the evaluation docs/TELEMETRY.md reports, kept as a test so a BullMQ upgrade that changes it shows.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { bullmqTelemetry, initTelemetry } from '@dmasim/telemetry';
import { Queue, Worker } from 'bullmq';
import { type OtlpReceiver, startOtlpReceiver } from './helpers/otlp-receiver.ts';
import { type RunningServer, startRedis } from './helpers/servers.ts';

let redis: RunningServer;
let rx: OtlpReceiver;
before(async () => {
  redis = await startRedis();
  rx = await startOtlpReceiver();
});
after(async () => {
  await rx?.close();
  await redis?.stop();
});

async function runJobs(spans: boolean): Promise<{ traceIds: Set<string> }> {
  const tel = initTelemetry({
    serviceName: `bullmq-${spans}`,
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_BSP_SCHEDULE_DELAY: '20' },
    report: (m) => assert.fail(m),
  });
  const telemetry = bullmqTelemetry(tel, { spans });
  assert.ok(telemetry);
  const name = `q${randomUUID().slice(0, 8)}`;
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  const queue = new Queue(name, { connection, telemetry });
  let done = 0;
  const finished = new Promise<void>((resolve) => {
    const worker = new Worker(
      name,
      async () => {
        done++;
        return 'ok';
      },
      { connection, telemetry },
    );
    worker.on('completed', async () => {
      if (done === 3) {
        await worker.close();
        resolve();
      }
    });
  });
  await tel.tracer.startActiveSpan('enqueue', async (s) => {
    await queue.addBulk([1, 2, 3].map((i) => ({ name: 'shard', data: { i }, opts: { jobId: `${name}.${i}` } })));
    s.end();
  });
  await finished;
  await queue.close();
  await tel.shutdown();
  return {
    traceIds: new Set(rx.spans.filter((s) => s.resource['service.name'] === `bullmq-${spans}`).map((s) => s.traceId)),
  };
}

test('default: BullMQ metrics arrive, BullMQ spans do not', async () => {
  await runJobs(false);
  const mine = rx.spans.filter((s) => s.resource['service.name'] === 'bullmq-false');
  assert.deepEqual(
    mine.map((s) => s.name),
    ['enqueue'],
    'only our own span: BullMQ records none',
  );
  const completed = rx.metrics.filter(
    (m) => m.name === 'bullmq.jobs.completed' && m.resource['service.name'] === 'bullmq-false',
  );
  assert.ok(completed.length > 0, 'bullmq.jobs.completed arrived');
  const total = completed[completed.length - 1]!.points.reduce((a, p) => a + (p.value ?? 0), 0);
  assert.equal(total, 3);
  assert.ok(rx.metrics.some((m) => m.name === 'bullmq.job.duration' && m.type === 'histogram'));
});

test('spans: true adds BullMQ spans, named "<operation> <queue>" with bullmq.* attributes', async () => {
  await runJobs(true);
  const mine = rx.spans.filter((s) => s.resource['service.name'] === 'bullmq-true');
  const enqueue = mine.find((s) => s.name === 'enqueue')!;
  const addBulk = mine.find((s) => s.name.startsWith('addBulk '));
  assert.ok(addBulk, mine.map((s) => s.name).join(', '));
  assert.equal(addBulk.kind, 'PRODUCER');
  assert.equal(addBulk.parentSpanId, enqueue.spanId);
  const processes = mine.filter((s) => s.name.startsWith('process '));
  assert.equal(processes.length, 3);
  for (const p of processes) {
    assert.equal(p.kind, 'CONSUMER');
    assert.equal(p.parentSpanId, addBulk.spanId, 'BullMQ parents its process span by the addBulk context');
    assert.deepEqual(p.links, [], 'BullMQ adds no link');
    assert.equal(p.attributes['messaging.system'], undefined, 'BullMQ uses bullmq.* attributes, not messaging.*');
    assert.equal(typeof p.attributes['bullmq.job.id'], 'string');
  }
  const stalled = mine.find((s) => s.name.startsWith('moveStalledJobsToWait '));
  assert.ok(stalled, 'the stalled-job checker is traced');
  assert.equal(stalled.parentSpanId, undefined);
  assert.notEqual(
    stalled.traceId,
    enqueue.traceId,
    'as a trace of its own (one per stalled-check interval and worker)',
  );
  assert.equal(mine.filter((s) => s.name.startsWith('complete ')).length, 3, 'plus an INTERNAL span per completed job');
});
