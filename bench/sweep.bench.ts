/**
 * Sweep benchmarks (issue 6): scenarios/s of the standard sweep embedded and distributed (one and two
 * worker processes on this machine, against a real redis-server), the distributed/embedded ratio as the
 * median of `DMASIM_BENCH_ROUNDS` (default 5) pairs of runs back to back, the per-shard queue overhead, and the coordinator's heap while it drives a 10^6-scenario sweep. Group
 * `sweep-events` (issue 7 (a)): the same distributed sweep with every event published to JetStream vs
 * events off, as the median of repeated pairs of runs ({@link eventsOverhead}), with the ratio that
 * publishing alone would give (`sweep.events_publish_only_cpu_ratio`).
 *
 * Run: npm run bench -- sweep   (both groups; `-- sweep-events` for the events pairs alone)
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BullmqQueue,
  JetStreamEventLog,
  MemoryQueue,
  MemoryResultStore,
  RedisResultStore,
  type ResultStore,
  type ShardResult,
  type SweepState,
} from '@dmasim/adapters';
import { runSweep } from '@dmasim/coordinator';
import { aggregateSweep, parseSweepFile, runScenario, Sweep, type SweepSpec, validateScenario } from '@dmasim/core';
import { ScenarioPool, ShardExecutor } from '@dmasim/worker';
import { spawnCli } from '../test/helpers/cli.ts';
import { freePort, startNats, startRedis } from '../test/helpers/servers.ts';
import { alternatingPairs, type Benchmark, type BenchResult, median, result } from './harness.ts';

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

/** Starts `dmasim worker` (from the sources) against `redisUrl`; resolves when it is ready for jobs. */
async function startWorker(
  redisUrl: string,
  t: number,
  name: string,
  extra: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<ChildProcess> {
  const port = await freePort();
  const w = spawnCli(
    ['worker', '--redis', redisUrl, '--threads', String(t), '--health-port', String(port), '--name', name, ...extra],
    { env },
  );
  await waitReady(port);
  return w;
}

/** SIGTERM to each process; resolves when all have exited. */
async function stopProcesses(ps: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    ps.map(
      (w) =>
        new Promise((r) => {
          if (w.exitCode !== null || w.signalCode !== null) return r(undefined);
          w.once('exit', r);
          w.kill('SIGTERM');
        }),
    ),
  );
}

async function distributedRun(redisUrl: string, id: string): Promise<number> {
  const { sweep, json } = loadStandard(id);
  const store = new RedisResultStore({ url: redisUrl });
  const queue = new BullmqQueue({ url: redisUrl });
  try {
    const t0 = performance.now();
    const out = await runSweep(sweep, json, { queue, store, pollMs: 5 });
    if (out.state !== 'done') {
      const why = out.failures.map((f) => `shard ${f.shardIndex}: ${f.error.code}: ${f.error.message}`).join('; ');
      throw new Error(`distributed sweep ${id} ${out.state}${why ? `: ${why}` : ''}`);
    }
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

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux; NaN elsewhere): all its
 * threads, or with `mainThread` only its main thread (the one whose id is the pid).
 */
function cpuSeconds(pid: number | undefined, mainThread = false): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** One timed run of the standard sweep: wall seconds and CPU seconds of the worker processes and servers. */
interface TimedRun {
  wallS: number;
  workerCpuS: number;
  /** The worker processes' main threads only (BullMQ, Redis, publishing; the simulation is in the pool). */
  mainCpuS: number;
  natsCpuS: number;
  redisCpuS: number;
}

/**
 * Issue 7 (a): the standard sweep on two worker processes with every event published to JetStream, against
 * the same sweep with events off. Each mode has its own two workers and Redis (so idle ones take no jobs),
 * started once and warmed with one sweep; then `DMASIM_BENCH_PAIRS` (default 5) pairs of runs, the order
 * alternating (off-on, on-off, ...) so drift in the machine's load falls on both sides. Reported: the
 * median of the per-pair wall-time ratios with their spread, and the same for the worker processes' CPU
 * seconds (from /proc), which other sessions' load on a shared machine disturbs less than wall time.
 * `DMASIM_BENCH_CPU_PROF=DIR` runs the workers under `--cpu-prof` (profiles written to DIR at their exit).
 */
/**
 * The core's share of the events overhead: the same 512 scenarios run in this process with
 * `runScenario`, events encoded into frames (discarded) versus not, 3 alternating pairs, CPU seconds of
 * this process. What the distributed ratio adds on top of this is publishing and the machine.
 */
async function encodingOverhead(sweep: Sweep): Promise<BenchResult> {
  const specs = Array.from({ length: sweep.size }, (_, i) => validateScenario(sweep.scenarioAt(i).scenario));
  const run = (frames: boolean): number => {
    const c0 = process.cpuUsage();
    for (const s of specs) runScenario(s, { validate: false, ...(frames ? { onFrame: () => {} } : {}) });
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1e6;
  };
  run(false);
  run(true);
  const { a: off, b: on } = await alternatingPairs(
    3,
    () => run(false),
    () => run(true),
  );
  const ratios = on.map((x, i) => x / (off[i] as number));
  return result('sweep.events_encoding_only_cpu_overhead', 'ratio', median(ratios), null, {
    pairs: 3,
    perPair: ratios.map(round3),
    cpuSecondsWithout: off.map(round3),
    cpuSecondsWithFrames: on.map(round3),
    what: 'runScenario over the same scenarios in one process, frames encoded and discarded / not encoded',
  });
}

async function eventsOverhead(): Promise<BenchResult[]> {
  const pairs = Math.max(1, Number.parseInt(process.env.DMASIM_BENCH_PAIRS ?? '', 10) || 5);
  const perWorker = Math.max(1, Math.floor(threads / 2));
  const profDir = process.env.DMASIM_BENCH_CPU_PROF;
  const env: Record<string, string> = profDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir}` } : {};
  const { sweep } = loadStandard('probe');
  const redisOff = await startRedis({ appendonly: false });
  const redisOn = await startRedis({ appendonly: false });
  const nats = await startNats();
  const off: ChildProcess[] = [];
  const on: ChildProcess[] = [];
  let log: JetStreamEventLog | undefined;
  const runs: { off: TimedRun[]; on: TimedRun[] } = { off: [], on: [] };
  try {
    for (let i = 0; i < 2; i++) off.push(await startWorker(redisOff.url, perWorker, `off-${i}`, [], env));
    for (let i = 0; i < 2; i++)
      on.push(await startWorker(redisOn.url, perWorker, `on-${i}`, ['--nats', nats.url], env));
    log = await JetStreamEventLog.connect({ url: nats.url });
    const timed = async (mode: 'off' | 'on', id: string): Promise<TimedRun> => {
      const ws = mode === 'on' ? on : off;
      const redis = mode === 'on' ? redisOn : redisOff;
      const cpu = () => ({
        w: ws.reduce((a, w) => a + cpuSeconds(w.pid), 0),
        m: ws.reduce((a, w) => a + cpuSeconds(w.pid, true), 0),
        n: cpuSeconds(nats.pid),
        r: cpuSeconds(redis.pid),
      });
      const c0 = cpu();
      const wallS = await distributedRun(redis.url, id);
      const c1 = cpu();
      // Keep the stream the same size for every run (outside the timing).
      if (mode === 'on') await log?.purgeSweep(id);
      return { wallS, workerCpuS: c1.w - c0.w, mainCpuS: c1.m - c0.m, natsCpuS: c1.n - c0.n, redisCpuS: c1.r - c0.r };
    };
    await timed('off', `warm-off-${randomUUID().slice(0, 8)}`);
    await timed('on', `warm-on-${randomUUID().slice(0, 8)}`);
    const pairsRun = await alternatingPairs(
      pairs,
      (p) => timed('off', `ev-off-${p}-${randomUUID().slice(0, 8)}`),
      (p) => timed('on', `ev-on-${p}-${randomUUID().slice(0, 8)}`),
    );
    runs.off = pairsRun.a;
    runs.on = pairsRun.b;
  } finally {
    await stopProcesses([...off, ...on]);
    await log?.close();
    await redisOff.stop();
    await redisOn.stop();
    await nats.stop();
  }
  const wall = runs.on.map((r, i) => r.wallS / (runs.off[i] as TimedRun).wallS);
  const cpu = runs.on.map((r, i) => r.workerCpuS / (runs.off[i] as TimedRun).workerCpuS);
  const secs = (rs: TimedRun[], k: keyof TimedRun) => round3(median(rs.map((r) => r[k])));
  const extra = {
    pairs,
    scenarios: sweep.size,
    workers: 2,
    threadsPerWorker: perWorker,
    order: 'alternating: off-on, on-off, ...',
    min: round3(Math.min(...wall)),
    max: round3(Math.max(...wall)),
    perPair: wall.map(round3),
    medianSecondsWithEvents: secs(runs.on, 'wallS'),
    medianSecondsWithout: secs(runs.off, 'wallS'),
    medianWorkerCpuSecondsWithEvents: secs(runs.on, 'workerCpuS'),
    medianWorkerCpuSecondsWithout: secs(runs.off, 'workerCpuS'),
    medianWorkerMainThreadCpuSecondsWithEvents: secs(runs.on, 'mainCpuS'),
    medianWorkerMainThreadCpuSecondsWithout: secs(runs.off, 'mainCpuS'),
    medianNatsCpuSeconds: secs(runs.on, 'natsCpuS'),
    medianRedisCpuSecondsWithEvents: secs(runs.on, 'redisCpuS'),
    medianRedisCpuSecondsWithout: secs(runs.off, 'redisCpuS'),
    loadavg: loadavg().map(round3),
    target: '<= 1.25',
    met: median(wall) <= 1.25,
  };
  const encodingOnly = await encodingOverhead(sweep);
  // What the CPU ratio would be if encoding in the pool threads cost nothing: the main threads' extra CPU
  // (publishing, KV records) and nats-server's, over the workers' CPU without events (medians).
  const offCpu = median(runs.off.map((r) => r.workerCpuS));
  const mainExtra = median(runs.on.map((r) => r.mainCpuS)) - median(runs.off.map((r) => r.mainCpuS));
  const natsCpu = median(runs.on.map((r) => r.natsCpuS));
  const publishOnly = (offCpu + mainExtra + natsCpu) / offCpu;
  return [
    result('sweep.events_publish_only_cpu_ratio', 'ratio', publishOnly, null, {
      what: 'derived: (worker CPU without events + main threads extra CPU + nats-server CPU) / worker CPU without events',
      workerCpuSecondsWithout: round3(offCpu),
      mainThreadsExtraCpuSeconds: round3(mainExtra),
      natsCpuSeconds: round3(natsCpu),
      note: 'the floor of sweep.events_to_jetstream_cpu_overhead with free encoding; target of that: <= 1.25',
    }),
    result('sweep.events_to_jetstream_overhead', 'ratio', median(wall), null, extra),
    encodingOnly,
    result('sweep.events_to_jetstream_cpu_overhead', 'ratio', median(cpu), null, {
      pairs,
      min: round3(Math.min(...cpu)),
      max: round3(Math.max(...cpu)),
      perPair: cpu.map(round3),
      workerCpuSecondsWithout: runs.off.map((r) => round3(r.workerCpuS)),
      workerCpuSecondsWithEvents: runs.on.map((r) => round3(r.workerCpuS)),
      what: 'CPU seconds (user + system) of the two worker processes, with events / without',
    }),
  ];
}

export const benchmarks: Benchmark[] = [
  {
    name: 'sweep',
    async run() {
      const { sweep } = loadStandard('probe');
      const rounds = Math.max(1, Number.parseInt(process.env.DMASIM_BENCH_ROUNDS ?? '', 10) || 5);
      const pool = new ScenarioPool({ threads });
      const redis = await startRedis({ appendonly: false });
      const workers: ChildProcess[] = [];
      const startWorkers = async (n: number, t: number): Promise<void> => {
        for (let i = 0; i < n; i++) workers.push(await startWorker(redis.url, t, `bench-${i}`));
      };
      const stopWorkers = (): Promise<void> => stopProcesses(workers.splice(0));
      const id = (what: string) => `${what}-${randomUUID().slice(0, 8)}`;
      // Each distributed run is paired with an embedded run right before or after it (the order alternates),
      // so that the machine's drift falls on both; idle workers block on Redis and take no CPU meanwhile.
      const phase = async (): Promise<{ embedded: number[]; distributed: number[] }> => {
        await embeddedRun(id('warm-emb'), pool);
        await distributedRun(redis.url, id('warm-dist'));
        const { a: embedded, b: distributed } = await alternatingPairs(
          rounds,
          () => embeddedRun(id('emb'), pool),
          () => distributedRun(redis.url, id('dist')),
        );
        return { embedded, distributed };
      };
      let one: { embedded: number[]; distributed: number[] };
      let two: { embedded: number[]; distributed: number[] };
      try {
        await startWorkers(1, threads);
        one = await phase();
        await stopWorkers();
        await startWorkers(2, Math.max(1, Math.floor(threads / 2)));
        two = await phase();
      } finally {
        await stopWorkers();
        await redis.stop();
        await pool.close();
      }
      const embeddedS = median([...one.embedded, ...two.embedded]);
      const embeddedRate = sweep.size / embeddedS;
      const oneRate = sweep.size / median(one.distributed);
      const twoRate = sweep.size / median(two.distributed);
      // Per pair: distributed rate / embedded rate of the same round = embedded seconds / distributed seconds.
      const pairRatios = (p: { embedded: number[]; distributed: number[] }) =>
        p.distributed.map((d, i) => (p.embedded[i] as number) / d);
      const oneRatio = median(pairRatios(one));
      const twoRatio = median(pairRatios(two));
      const overheadMs =
        (median(one.distributed.map((d, i) => d - (one.embedded[i] as number))) * 1000) / sweep.shardCount;
      const spread = (xs: number[]) => ({ min: round3(Math.min(...xs)), max: round3(Math.max(...xs)) });

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
        result('sweep.embedded', 'scenarios/s', embeddedRate, null, {
          scenarios: sweep.size,
          threads,
          runs: 2 * rounds,
          statistic: 'median',
        }),
        result('sweep.distributed.1worker', 'scenarios/s', oneRate, embeddedRate, {
          threadsPerWorker: threads,
          runs: rounds,
          pairedRatio: round3(oneRatio),
          perPair: pairRatios(one).map(round3),
          ...spread(pairRatios(one)),
        }),
        result('sweep.distributed.2workers', 'scenarios/s', twoRate, embeddedRate, {
          threadsPerWorker: Math.max(1, Math.floor(threads / 2)),
          runs: rounds,
          pairedRatio: round3(twoRatio),
          perPair: pairRatios(two).map(round3),
          ...spread(pairRatios(two)),
          target: '>= 0.8 of embedded (median of the per-pair ratios)',
          met: twoRatio >= 0.8,
        }),
        result('sweep.distributed.2workers_paired_ratio', 'ratio', twoRatio, null, {
          what: 'median over rounds of (embedded seconds / two-worker seconds), each pair run back to back',
          target: '>= 0.8',
          met: twoRatio >= 0.8,
        }),
        result('sweep.queue_overhead_per_shard', 'ms', overheadMs, null, {
          shards: sweep.shardCount,
          shardSize: sweep.shardSize,
          statistic: 'median over rounds of (one-worker seconds - embedded seconds) / shards',
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
  { name: 'sweep-events', run: eventsOverhead },
];
