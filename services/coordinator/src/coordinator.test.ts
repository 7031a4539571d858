import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryQueue, MemoryResultStore, type ShardHandler, type ShardJob } from '@dmasim/adapters';
import { DmasimError, ErrorCode, Sweep, type SweepSpec } from '@dmasim/core';
import { cancelSweep, runSweep, type SweepProgress } from './coordinator.ts';

const spec = (n: number, shardSize: number): SweepSpec => ({
  kind: 'dmasim-sweep',
  version: 1,
  id: 'unit',
  base: {},
  axes: [{ path: 'x', values: Array.from({ length: n }, (_, i) => i) }],
  seeds: [1],
  shardSize,
});

/** A handler that records which shards ran and stores a result naming each scenario. */
function recordingHandler(
  store: MemoryResultStore,
  sweep: Sweep,
  ran: number[],
  fail?: (job: ShardJob, attempt: number) => Error | undefined,
): ShardHandler {
  return async (job, ctx) => {
    const err = fail?.(job, ctx.attempt);
    if (err) throw err;
    ran.push(job.shardIndex);
    const scenarios = [];
    for (let i = job.start; i < job.end; i++) {
      const p = sweep.scenarioAt(i);
      scenarios.push({ index: i, id: p.id, seed: p.seed, group: p.group, summary: { x: p.scenario.x } });
    }
    const stored = await store.putShard({
      sweepId: job.sweepId,
      shardIndex: job.shardIndex,
      attempt: ctx.attempt,
      worker: 'test',
      durationMs: 0,
      scenarios,
    });
    return { shardIndex: job.shardIndex, scenarios: scenarios.length, stored };
  };
}

test('runs every shard exactly once with bounded in-flight enqueueing and reports progress', async () => {
  const sweep = new Sweep(spec(100, 7));
  const store = new MemoryResultStore();
  const queue = new MemoryQueue();
  const ran: number[] = [];
  let maxQueued = 0;
  const enqueue = queue.enqueue.bind(queue);
  let queued = 0;
  queue.enqueue = async (jobs) => {
    queued += jobs.length;
    maxQueued = Math.max(maxQueued, queued - ran.length);
    return enqueue(jobs);
  };
  queue.start(recordingHandler(store, sweep, ran), { concurrency: 2 });
  const reports: SweepProgress[] = [];
  const out = await runSweep(sweep, JSON.stringify(sweep.spec), {
    queue,
    store,
    maxInFlight: 3,
    pollMs: 1,
    onProgress: (p) => reports.push(p),
  });
  assert.equal(out.state, 'done');
  assert.deepEqual(
    [...ran].sort((a, b) => a - b),
    Array.from({ length: 15 }, (_, i) => i),
  );
  assert.ok(maxQueued <= 3, `at most 3 shards in flight, saw ${maxQueued}`);
  assert.equal(reports.at(-1)!.doneScenarios, 100);
  assert.equal(reports.at(-1)!.etaSeconds, 0);
  const seen = new Set<string>();
  for await (const r of store.readShards('unit')) for (const s of r.scenarios) seen.add(s.id);
  assert.equal(seen.size, 100);
  assert.equal(await store.getState('unit'), 'done');
});

test('a second run of the same sweep resumes: finished shards are not run again', async () => {
  const sweep = new Sweep(spec(20, 5));
  const store = new MemoryResultStore();
  const first: number[] = [];
  const q1 = new MemoryQueue();
  // The first coordinator dies (aborts) after two shards.
  const ctl = new AbortController();
  q1.start(
    async (job, ctx) => {
      const r = await recordingHandler(store, sweep, first)(job, ctx);
      if (first.length === 2) ctl.abort();
      return r;
    },
    { concurrency: 1 },
  );
  const o1 = await runSweep(sweep, JSON.stringify(sweep.spec), {
    queue: q1,
    store,
    maxInFlight: 1,
    pollMs: 1,
    signal: ctl.signal,
  });
  assert.equal(o1.state, 'interrupted');
  const second: number[] = [];
  const q2 = new MemoryQueue();
  q2.start(recordingHandler(store, sweep, second), { concurrency: 1 });
  const o2 = await runSweep(sweep, JSON.stringify(sweep.spec), { queue: q2, store, pollMs: 1 });
  assert.equal(o2.state, 'done');
  assert.equal(o2.progress.resumedShards, first.length);
  assert.deepEqual(
    [...first, ...second].sort((a, b) => a - b),
    [0, 1, 2, 3],
  );
});

test('a different sweep under a used id is refused before anything is enqueued', async () => {
  const store = new MemoryResultStore();
  await store.saveSweep('unit', '{"other":true}');
  const queue = new MemoryQueue();
  let enqueued = 0;
  queue.enqueue = async (jobs) => {
    enqueued += jobs.length;
  };
  const sweep = new Sweep(spec(3, 1));
  await assert.rejects(
    runSweep(sweep, JSON.stringify(sweep.spec), { queue, store }),
    /already used by a different sweep/,
  );
  assert.equal(enqueued, 0);
});

test('retryable shard failures are retried with backoff; invalid input fails the sweep without retries', async () => {
  const sweep = new Sweep(spec(6, 2));
  const store = new MemoryResultStore();
  const queue = new MemoryQueue({ attempts: 3, backoffMs: 1 });
  const ran: number[] = [];
  const attempts = new Map<number, number>();
  queue.start(
    recordingHandler(store, sweep, ran, (job, attempt) => {
      attempts.set(job.shardIndex, attempt);
      if (job.shardIndex === 1 && attempt < 3) return new DmasimError(ErrorCode.SERVICE_UNAVAILABLE, 'redis went away');
      return undefined;
    }),
    { concurrency: 1 },
  );
  const ok = await runSweep(sweep, JSON.stringify(sweep.spec), { queue, store, pollMs: 1 });
  assert.equal(ok.state, 'done');
  assert.equal(attempts.get(1), 3);

  const store2 = new MemoryResultStore();
  const q2 = new MemoryQueue({ attempts: 3, backoffMs: 1 });
  const tries = new Map<number, number>();
  q2.start(
    recordingHandler(store2, sweep, [], (job, attempt) => {
      tries.set(job.shardIndex, attempt);
      return job.shardIndex === 2
        ? new DmasimError(ErrorCode.SCENARIO_INVALID, 'importer 0000:99:00.0 is not in the topology')
        : undefined;
    }),
    { concurrency: 1 },
  );
  const bad = await runSweep(sweep, JSON.stringify(sweep.spec), { queue: q2, store: store2, pollMs: 1 });
  assert.equal(bad.state, 'failed');
  assert.equal(bad.failures.length, 1);
  assert.equal(bad.failures[0]!.shardIndex, 2);
  assert.equal(bad.failures[0]!.error.code, 'SCENARIO_INVALID');
  assert.equal(tries.get(2), 1, 'invalid input is not retried');
});

test('a cancelled sweep stops its coordinator, and cannot be run again under the same id', async () => {
  const sweep = new Sweep(spec(50, 1));
  const store = new MemoryResultStore();
  const queue = new MemoryQueue();
  const ran: number[] = [];
  queue.start(
    async (job, ctx) => {
      const r = await recordingHandler(store, sweep, ran)(job, ctx);
      if (ran.length === 3) await cancelSweep(sweep, queue, store);
      return r;
    },
    { concurrency: 1 },
  );
  const out = await runSweep(sweep, JSON.stringify(sweep.spec), { queue, store, maxInFlight: 2, pollMs: 1 });
  assert.equal(out.state, 'cancelled');
  assert.ok(ran.length < 50);
  await assert.rejects(runSweep(sweep, JSON.stringify(sweep.spec), { queue, store }), { code: 'CANCELLED' });
});
