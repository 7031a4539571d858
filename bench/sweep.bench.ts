/**
 * Sweep benchmarks (issue 6): scenarios/s of the standard sweep embedded and distributed (one and two
 * worker processes on this machine, against a real redis-server), the distributed/embedded ratio, the
 * per-shard queue overhead, and the coordinator's heap while it drives a 10^6-scenario sweep.
 *
 * Run: npm run bench -- sweep
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BullmqQueue,
  MemoryQueue,
  MemoryResultStore,
  RedisResultStore,
  type ResultStore,
  type ShardResult,
  type SweepState,
} from '@dmasim/adapters';
import { runSweep } from '@dmasim/coordinator';
import { aggregateSweep, parseSweepFile, Sweep, type SweepSpec } from '@dmasim/core';
import { ScenarioPool, ShardExecutor } from '@dmasim/worker';
import { spawnCli } from '../test/helpers/cli.ts';
import { freePort, startNats, startRedis } from '../test/helpers/servers.ts';
import { type Benchmark, result } from './harness.ts';

const FILE = new URL('./fixtures/standard-sweep.yaml', import.meta.url).pathname;
const threads = Math.max(1, availableParallelism());

function loadStandard(id: string): { sweep: Sweep; json: string } {
  const parsed = parseSweepFile(readFileSync(FILE, 'utf8'), FILE);
  const spec: SweepSpec = { ...parsed.spec, id };
  return { sweep: new Sweep(spec, FILE), json: JSON.stringify(spec) };
}

async function embeddedRun(id: string, pool: ScenarioPool): Promise<number> {
  const { sweep, json } = loadStandard(id);
  const store = new MemoryResultStore();
  const queue = new MemoryQueue();
  const executor = new ShardExecutor({ pool, store, workerName: 'bench' });
  queue.start(executor.handle, { concurrency: threads });
  const t0 = performance.now();
  const out = await runSweep(sweep, json, { queue, store, pollMs: 5 });
  if (out.state !== 'done') throw new Error(`embedded sweep ${out.state}`);
  return (performance.now() - t0) / 1000;
}

async function waitReady(port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    await sleep(100);
  }
  throw new Error('worker not ready');
}

async function distributedRun(redisUrl: string, id: string): Promise<number> {
  const { sweep, json } = loadStandard(id);
  const store = new RedisResultStore({ url: redisUrl });
  const queue = new BullmqQueue({ url: redisUrl });
  try {
    const t0 = performance.now();
    const out = await runSweep(sweep, json, { queue, store, pollMs: 5 });
    if (out.state !== 'done') throw new Error(`distributed sweep ${out.state}`);
    return (performance.now() - t0) / 1000;
  } finally {
    await queue.close();
    await store.close();
  }
}

/** A result store that keeps only the completion log: what the coordinator needs, nothing it does not. */
class CountingStore implements ResultStore {
  private readonly log: number[] = [];
  private state: SweepState | undefined;
  private spec: string | undefined;
  async saveSweep(_id: string, json: string) {
    this.spec = json;
    return 'created' as const;
  }
  async loadSweep() {
    return this.spec;
  }
  async setState(_id: string, s: SweepState) {
    this.state = s;
  }
  async getState() {
    return this.state;
  }
  async putShard(r: ShardResult) {
    this.log.push(r.shardIndex);
    return true;
  }
  async completions(_id: string, cursor: number) {
    return { shards: this.log.slice(cursor), cursor: this.log.length };
  }
  async *readShards(): AsyncIterable<ShardResult> {}
  async close() {}
}

export const benchmarks: Benchmark[] = [
  {
    name: 'sweep',
    async run() {
      const { sweep } = loadStandard('probe');
      const pool = new ScenarioPool({ threads });
      await embeddedRun(`warm-${randomUUID().slice(0, 8)}`, pool);
      const embeddedS = await embeddedRun(`emb-${randomUUID().slice(0, 8)}`, pool);
      await pool.close();
      const embeddedRate = sweep.size / embeddedS;

      const redis = await startRedis({ appendonly: false });
      const workers: ChildProcess[] = [];
      const nats = await startNats();
      const startWorkers = async (n: number, t: number, extra: string[] = []): Promise<void> => {
        for (let i = 0; i < n; i++) {
          const port = await freePort();
          const w = spawnCli([
            'worker',
            '--redis',
            redis.url,
            '--threads',
            String(t),
            '--health-port',
            String(port),
            '--name',
            `bench-${i}`,
            ...extra,
          ]);
          workers.push(w);
          await waitReady(port);
        }
      };
      const stopWorkers = async (): Promise<void> => {
        await Promise.all(
          workers.splice(0).map(
            (w) =>
              new Promise((r) => {
                w.once('exit', r);
                w.kill('SIGTERM');
              }),
          ),
        );
      };
      let one: number;
      let two: number;
      let twoEvents: number;
      try {
        await startWorkers(1, threads);
        await distributedRun(redis.url, `warm1-${randomUUID().slice(0, 8)}`);
        one = await distributedRun(redis.url, `d1-${randomUUID().slice(0, 8)}`);
        await stopWorkers();
        await startWorkers(2, Math.max(1, Math.floor(threads / 2)));
        await distributedRun(redis.url, `warm2-${randomUUID().slice(0, 8)}`);
        two = await distributedRun(redis.url, `d2-${randomUUID().slice(0, 8)}`);
        await stopWorkers();
        // The same two workers publishing every event of every scenario to JetStream.
        await startWorkers(2, Math.max(1, Math.floor(threads / 2)), ['--nats', nats.url]);
        await distributedRun(redis.url, `warm3-${randomUUID().slice(0, 8)}`);
        twoEvents = await distributedRun(redis.url, `d3-${randomUUID().slice(0, 8)}`);
      } finally {
        await stopWorkers();
        await redis.stop();
        await nats.stop();
      }
      const oneRate = sweep.size / one;
      const twoRate = sweep.size / two;
      const overheadMs = ((one - embeddedS) * 1000) / sweep.shardCount;

      // Coordinator heap while driving a 10^6-scenario sweep (shards finish instantly; the coordinator,
      // the lazy expansion and the queue bookkeeping are what is measured).
      const big = new Sweep({
        kind: 'dmasim-sweep',
        version: 1,
        id: 'heap',
        base: {},
        axes: [{ path: 'a', values: Array.from({ length: 1000 }, (_, i) => i) }],
        seeds: { count: 1000 },
        shardSize: 64,
      });
      const store = new CountingStore();
      const queue = new MemoryQueue();
      queue.start(
        async (job) => {
          for (let i = job.start; i < job.end; i++) big.scenarioAt(i);
          await store.putShard({
            sweepId: job.sweepId,
            shardIndex: job.shardIndex,
            attempt: 1,
            worker: 'heap',
            durationMs: 0,
            scenarios: [],
          });
          return { shardIndex: job.shardIndex, scenarios: job.end - job.start, stored: true };
        },
        { concurrency: 4 },
      );
      globalThis.gc?.();
      const before = process.memoryUsage().heapUsed;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().heapUsed);
      }, 20);
      const t0 = performance.now();
      await runSweep(big, JSON.stringify(big.spec), { queue, store, pollMs: 1, maxInFlight: 256 });
      const coordS = (performance.now() - t0) / 1000;
      await aggregateSweep(big, (async function* () {})());
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().heapUsed);
      return [
        result('sweep.embedded', 'scenarios/s', embeddedRate, null, { scenarios: sweep.size, threads }),
        result('sweep.distributed.1worker', 'scenarios/s', oneRate, embeddedRate, { threadsPerWorker: threads }),
        result('sweep.distributed.2workers', 'scenarios/s', twoRate, embeddedRate, {
          threadsPerWorker: Math.max(1, Math.floor(threads / 2)),
          target: '>= 0.8 of embedded',
          met: twoRate / embeddedRate >= 0.8,
        }),
        result('sweep.queue_overhead_per_shard', 'ms', overheadMs, null, {
          shards: sweep.shardCount,
          shardSize: sweep.shardSize,
        }),
        result('sweep.events_to_jetstream_overhead', 'ratio', twoEvents / two, null, {
          secondsWithEvents: twoEvents,
          secondsWithout: two,
          target: '<= 1.25',
          met: twoEvents / two <= 1.25,
        }),
        result('sweep.coordinator_heap_peak_1e6', 'MiB', peak / 2 ** 20, 256, {
          scenarios: big.size,
          shards: big.shardCount,
          seconds: coordS,
          target: '< 256 MiB',
          met: peak / 2 ** 20 < 256,
        }),
      ];
    },
  },
];
