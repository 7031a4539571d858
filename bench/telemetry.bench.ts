/**
 * Telemetry costs (issue 8): the price of one pool-thread span (record, hand over, export), and the
 * tracing overhead on simulation itself: the scenarios of the standard sweep run with and without their
 * `dmasim.pool.task` / `dmasim.scenario` spans recorded and exported at the default sampling
 * (`parentbased_always_on`, every span), interleaved so that warm-up and machine noise fall on both sides.
 * Times are the thread's CPU time (process.threadCpuUsage), which other processes on a busy machine do not
 * move. The target is an overhead under 5 % (ratio < 1.05). The distributed end-to-end figure (coordinator,
 * queue, workers, all spans) is in bench/sweep.bench.ts.
 *
 * Run: npm run bench -- telemetry
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryQueue, MemoryResultStore } from '@dmasim/adapters';
import { runSweep } from '@dmasim/coordinator';
import { parseSweepFile, runScenario, Sweep, type SweepSpec, validateScenario } from '@dmasim/core';
import {
  Dmasim,
  initTelemetry,
  injectContext,
  instrumentEnqueue,
  instrumentShardHandler,
  SpanName,
  type Telemetry,
  ThreadRecorder,
  type ThreadSpan,
  withSweepSpan,
} from '@dmasim/telemetry';
import { ScenarioPool, ShardExecutor } from '@dmasim/worker';
import { context, trace } from '@opentelemetry/api';
import { alternatingPairs, type Benchmark, median, result } from './harness.ts';

const FILE = new URL('./fixtures/standard-sweep.yaml', import.meta.url).pathname;
/** CPU time of this thread, ms: unlike wall time, not moved by other processes competing for the cores. */
const cpuMs = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};

const CARRIER = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };

/** One embedded run of the standard sweep, wired as `dmasim sweep` wires it; wall and CPU seconds. */
async function embeddedSweep(tel: Telemetry, pool: ScenarioPool, id: string): Promise<{ wall: number; cpu: number }> {
  const parsed = parseSweepFile(readFileSync(FILE, 'utf8'), FILE);
  const spec: SweepSpec = { ...parsed.spec, id };
  const sweep = new Sweep(spec, FILE);
  const store = new MemoryResultStore();
  const local = new MemoryQueue();
  const executor = new ShardExecutor({ pool, store, workerName: 'bench', telemetry: tel });
  local.start(instrumentShardHandler(tel, executor.handle, { system: 'dmasim.memory' }), { concurrency: pool.threads });
  const queue = instrumentEnqueue(tel, local, { system: 'dmasim.memory' });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const info = {
    sweepId: id,
    scenarios: sweep.size,
    shards: sweep.shardCount,
    shardSize: sweep.shardSize,
    mode: 'embedded',
  };
  const out = await withSweepSpan(tel, info, () => runSweep(sweep, JSON.stringify(spec), { queue, store, pollMs: 5 }));
  await tel.forceFlush();
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  await local.close(0);
  if (out.state !== 'done') throw new Error(`sweep ${out.state}`);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

const ROUNDS = 5;

export const benchmarks: Benchmark[] = [
  {
    name: 'telemetry-sweep',
    async run() {
      const dir = mkdtempSync(join(tmpdir(), 'dmasim-bench-tel-'));
      const off = initTelemetry({ serviceName: 'dmasim-bench', env: {} });
      const on = initTelemetry({
        serviceName: 'dmasim-bench',
        env: { DMASIM_TRACE_FILE: join(dir, 'trace.jsonl') },
        report: (m) => process.stderr.write(`${m}\n`),
      });
      const threads = Math.max(1, availableParallelism());
      const pool = new ScenarioPool({ threads });
      try {
        // Warm every pool thread's JIT first (the first runs are up to twice as slow), then alternate
        // which mode goes first in each round.
        for (let w = 0; w < 3; w++) await embeddedSweep(w % 2 ? on : off, pool, `warm-${w}`);
        const { a: plain, b: traced } = await alternatingPairs(
          ROUNDS,
          (round) => embeddedSweep(off, pool, `plain-${round}`),
          (round) => embeddedSweep(on, pool, `traced-${round}`),
        );
        const wallPlain = median(plain.map((r) => r.wall));
        const wallTraced = median(traced.map((r) => r.wall));
        const cpuPlain = median(plain.map((r) => r.cpu));
        const cpuTraced = median(traced.map((r) => r.cpu));
        const scenarios = new Sweep(parseSweepFile(readFileSync(FILE, 'utf8'), FILE).spec, FILE).size;
        const common = {
          scenarios,
          threads,
          sampler: on.config.sampler,
          exporter: 'file (JSON lines)',
          target: 'ratio < 1.05',
        };
        return [
          result('telemetry.sweep.embedded.traced.wall', 's', wallTraced, wallPlain, {
            ...common,
            runs: { plain: plain.map((r) => r.wall), traced: traced.map((r) => r.wall) },
            met: wallTraced / wallPlain < 1.05,
          }),
          result('telemetry.sweep.embedded.traced.cpu', 'cpu s', cpuTraced, cpuPlain, {
            ...common,
            runs: { plain: plain.map((r) => r.cpu), traced: traced.map((r) => r.cpu) },
            met: cpuTraced / cpuPlain < 1.05,
          }),
        ];
      } finally {
        await pool.close();
        await on.shutdown();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'telemetry',
    async run() {
      const dir = mkdtempSync(join(tmpdir(), 'dmasim-bench-tel-'));
      const tel = initTelemetry({
        serviceName: 'dmasim-bench',
        env: { DMASIM_TRACE_FILE: join(dir, 'trace.jsonl'), OTEL_METRICS_EXPORTER: 'none' },
        report: (m) => process.stderr.write(`${m}\n`),
      });
      try {
        // 1. Recording a span in a thread recorder (no SDK).
        const n = 50_000;
        const warm = new ThreadRecorder(CARRIER);
        for (let i = 0; i < n; i++) warm.run(SpanName.SCENARIO, { [Dmasim.SCENARIO_INDEX]: i }, () => i);
        warm.take();
        let t0 = performance.now();
        const rec = new ThreadRecorder(CARRIER);
        for (let i = 0; i < n; i++) rec.run(SpanName.SCENARIO, { [Dmasim.SCENARIO_INDEX]: i }, () => i);
        const recordNs = ((performance.now() - t0) * 1e6) / n;
        const spans = rec.take();

        // 2. Exporting recorded spans through the batch processor to the trace file.
        const m = 50_000;
        t0 = performance.now();
        for (let i = 0; i < m; i += 500) tel.exportThreadSpans(spans.slice(i, i + 500));
        await tel.forceFlush();
        const exportUs = ((performance.now() - t0) * 1e3) / m;

        // 3. Simulation with and without its spans, interleaved per scenario.
        const parsed = parseSweepFile(readFileSync(FILE, 'utf8'), FILE);
        const sweep = new Sweep(parsed.spec, FILE);
        const shard = tel.tracer.startSpan('process dmasim-shards');
        const carrier = context.with(trace.setSpan(context.active(), shard), () => injectContext());
        let plainMs = 0;
        let tracedMs = 0;
        const count = Math.min(sweep.size, 64);
        // Each scenario runs three times (a warm-up, then plain and traced, the order alternating from one
        // scenario to the next); the figure is the geometric mean of the per-scenario ratios: symmetric in
        // the two orders (whichever run of a pair is systematically faster cancels out) and far less moved
        // by one slow run (a GC pause) than a ratio of sums.
        const ratios: number[] = [];
        for (let i = 0; i < count; i++) {
          let plain = 0;
          let traced = 0;
          const p = sweep.scenarioAt(i);
          const spec = validateScenario(p.scenario, FILE);
          runScenario(spec, { scenarioId: p.id, attempt: 1 });
          const order = i % 2 === 0 ? ['plain', 'traced'] : ['traced', 'plain'];
          for (const mode of order) {
            const s = cpuMs();
            if (mode === 'plain') {
              runScenario(spec, { scenarioId: p.id, attempt: 1 });
              plain = cpuMs() - s;
            } else {
              const r = new ThreadRecorder(carrier);
              r.run(SpanName.POOL_TASK, { [Dmasim.POOL_TASK_START]: i, [Dmasim.POOL_TASK_END]: i + 1 }, () =>
                r.run(SpanName.SCENARIO, { [Dmasim.SCENARIO_ID]: p.id, [Dmasim.SCENARIO_INDEX]: i }, (span) => {
                  const summary = runScenario(spec, { scenarioId: p.id, attempt: 1 });
                  span.setAttribute(Dmasim.SCENARIO_EVENTS, summary.eventCount);
                }),
              );
              const taken: ThreadSpan[] = structuredClone(r.take());
              tel.exportThreadSpans(taken);
              traced = cpuMs() - s;
            }
          }
          plainMs += plain;
          tracedMs += traced;
          ratios.push(traced / plain);
        }
        const geoMean = Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length);
        shard.end();
        const flushStart = performance.now();
        await tel.forceFlush();
        const flushMs = performance.now() - flushStart;
        // The same overhead from its parts: two spans a scenario (its own and its share of a task span),
        // each recorded and exported, over the plain CPU time of a scenario. Stable where the A/B above is
        // at the mercy of the machine's other load.
        const perScenarioMs = 2 * (recordNs / 1e6 + exportUs / 1e3);
        const derived = 1 + perScenarioMs / (plainMs / count);
        return [
          result('telemetry.thread-span.record', 'ns/span', recordNs),
          result('telemetry.thread-span.export', 'us/span', exportUs, null, { exporter: 'file (JSON lines)' }),
          result('telemetry.scenario.traced', 'cpu ms/scenario', tracedMs / count, plainMs / count, {
            scenarios: count,
            finalFlushMs: flushMs,
            sampler: tel.config.sampler,
            pairedRatioGeoMean: geoMean,
            target: 'paired ratio (geometric mean) < 1.05',
            met: geoMean < 1.05,
          }),
          result('telemetry.scenario.overhead-derived', 'ratio', derived, null, {
            spansPerScenario: 2,
            costPerScenarioMs: perScenarioMs,
            target: '< 1.05',
            met: derived < 1.05,
          }),
        ];
      } finally {
        await tel.shutdown();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
