import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { type RunningServer, startNats, startRedis } from './helpers/servers.ts';

let redis: RunningServer;
let nats: RunningServer;

before(async () => {
  [redis, nats] = await Promise.all([startRedis(), startNats()]);
});
after(async () => {
  await Promise.all([redis?.stop(), nats?.stop()]);
});

test('a BullMQ job makes a round trip through a real redis-server', async () => {
  const name = `smoke-${randomUUID()}`;
  const connection = { host: redis.host, port: redis.port, maxRetriesPerRequest: null };
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  const worker = new Worker(name, async (job) => ({ doubled: (job.data as { n: number }).n * 2 }), { connection });
  try {
    await events.waitUntilReady();
    const job = await queue.add('double', { n: 21 });
    const result = await job.waitUntilFinished(events, 10_000);
    assert.deepEqual(result, { doubled: 42 });
  } finally {
    await worker.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
});

test('JetStream on a real nats-server stores messages that an ordered consumer reads back in order', async () => {
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = `SMOKE_${randomUUID().replaceAll('-', '')}`;
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    const js = jetstream(nc);
    for (let i = 0; i < 20; i++) await js.publish(`${stream}.ev`, new TextEncoder().encode(`m${i}`));
    const consumer = await js.consumers.get(stream); // ordered consumer
    const got: string[] = [];
    const messages = await consumer.consume();
    for await (const m of messages) {
      got.push(new TextDecoder().decode(m.data));
      if (got.length === 20) break;
    }
    assert.deepEqual(
      got,
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    await jsm.streams.delete(stream);
  } finally {
    await nc.close();
  }
});

test('a restarted redis-server keeps its port and its data', async () => {
  const { Redis } = await import('ioredis');
  const r = new Redis({ host: redis.host, port: redis.port, lazyConnect: true, maxRetriesPerRequest: null });
  await r.connect();
  await r.set('k', 'v');
  await r.quit();
  const before = redis.pid;
  await redis.restart();
  assert.notEqual(redis.pid, before);
  const r2 = new Redis({ host: redis.host, port: redis.port });
  assert.equal(await r2.get('k'), 'v');
  await r2.quit();
});

test('nats-server takes a JetStream storage limit', async () => {
  const small = await startNats({ maxFileStore: 1024 * 1024 });
  try {
    const res = await fetch(`http://127.0.0.1:${small.monitorPort}/jsz`);
    const jsz = (await res.json()) as { config?: { max_storage?: number } };
    assert.equal(jsz.config?.max_storage, 1024 * 1024);
  } finally {
    await small.stop();
  }
});
