import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BullmqConsumer, BullmqQueue, RedisResultStore, type ShardJob, type ShardResult } from '@dmasim/adapters';
import { DmasimError, ErrorCode } from '@dmasim/core';
import { type RunningServer, startRedis } from './helpers/servers.ts';

let redis: RunningServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

const result = (sweepId: string, shardIndex: number, worker: string): ShardResult => ({
  sweepId,
  shardIndex,
  attempt: 1,
  worker,
  durationMs: 1,
  scenarios: [{ index: shardIndex, id: `${sweepId}-${shardIndex}`, seed: 1, group: {}, summary: { worker } }],
});

test('the Redis result store keeps the first result of a shard and logs completions once', async () => {
  const a = new RedisResultStore({ url: redis.url });
  const b = new RedisResultStore({ url: redis.url });
  const id = `s${randomUUID().slice(0, 8)}`;
  try {
    assert.equal(await a.saveSweep(id, '{"v":1}'), 'created');
    assert.equal(await b.saveSweep(id, '{"v":1}'), 'same');
    assert.equal(await b.saveSweep(id, '{"v":2}'), 'conflict');
    // two writers race on every shard: exactly one wins each
    const wins = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).putShard(result(id, i >> 1, i % 2 ? 'a' : 'b'))),
    );
    assert.equal(wins.filter(Boolean).length, 20);
    const c = await a.completions(id, 0);
    assert.deepEqual(
      [...c.shards].sort((x, y) => x - y),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.deepEqual((await a.completions(id, c.cursor)).shards, []);
    const all: ShardResult[] = [];
    for await (const r of b.readShards(id)) all.push(r);
    assert.equal(all.length, 20);
    await a.setState(id, 'running');
    assert.equal(await b.getState(id), 'running');
    await a.deleteSweep(id);
    assert.equal(await a.loadSweep(id), undefined);
  } finally {
    await a.close();
    await b.close();
  }
});

test('BullMQ: deterministic job ids make enqueueing idempotent; invalid input fails once, retryable errors retry', async () => {
  const queueName = `q${randomUUID().slice(0, 8)}`;
  const queue = new BullmqQueue({ url: redis.url, queue: queueName, backoffMs: 10, attempts: 3 });
  const consumer = new BullmqConsumer({ url: redis.url, queue: queueName, name: 'w1' });
  const runs = new Map<number, number>();
  try {
    const jobs: ShardJob[] = [0, 1, 2].map((k) => ({ sweepId: 'sw', shardIndex: k, start: k, end: k + 1 }));
    await queue.enqueue(jobs);
    await queue.enqueue(jobs); // resubmission: no duplicates
    consumer.start(
      async (job, ctx) => {
        runs.set(job.shardIndex, (runs.get(job.shardIndex) ?? 0) + 1);
        if (job.shardIndex === 1) throw new DmasimError(ErrorCode.SCENARIO_INVALID, 'bad importer');
        if (job.shardIndex === 2 && ctx.attempt < 3) throw new DmasimError(ErrorCode.SERVICE_UNAVAILABLE, 'flaky');
        return { shardIndex: job.shardIndex, scenarios: 1, stored: true };
      },
      { concurrency: 2 },
    );
    const deadline = Date.now() + 10_000;
    while (
      Date.now() < deadline &&
      !(runs.get(0) === 1 && runs.get(2) === 3 && (await queue.failures('sw', [1])).length === 1)
    )
      await sleep(20);
    assert.equal(runs.get(0), 1);
    assert.equal(runs.get(1), 1, 'an invalid-input failure is not retried');
    assert.equal(runs.get(2), 3, 'a retryable failure is retried until it succeeds');
    const [f] = await queue.failures('sw', [0, 1, 2]);
    assert.equal(f?.shardIndex, 1);
    assert.equal(f?.error.code, 'SCENARIO_INVALID');
    assert.equal(f?.error.message, 'bad importer');
    assert.equal(f?.error.retryable, false);
    // a failed job can be put back for another round
    await queue.retry('sw', 1);
    while (Date.now() < deadline && runs.get(1) !== 2) await sleep(20);
    assert.equal(runs.get(1), 2);
  } finally {
    await consumer.close(1000);
    await queue.bullQueue.obliterate({ force: true });
    await queue.close();
  }
});

test('BullMQ: cancel removes shards that have not started', async () => {
  const queueName = `q${randomUUID().slice(0, 8)}`;
  const queue = new BullmqQueue({ url: redis.url, queue: queueName });
  try {
    await queue.enqueue([0, 1, 2].map((k) => ({ sweepId: 'c', shardIndex: k, start: k, end: k + 1 })));
    assert.equal(await queue.bullQueue.getWaitingCount(), 3);
    await queue.cancel('c', [0, 2]);
    assert.equal(await queue.bullQueue.getWaitingCount(), 1);
    assert.ok(await queue.bullQueue.getJob('c.1'));
  } finally {
    await queue.bullQueue.obliterate({ force: true });
    await queue.close();
  }
});
