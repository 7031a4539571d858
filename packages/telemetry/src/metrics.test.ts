import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { DmasimMetrics, scenarioMetrics } from './metrics.ts';

test('scenarioMetrics: events, peak IOVA utilisation of the busiest domain, failures by kind, errors', () => {
  const summary = {
    eventCount: 1679,
    domains: [
      { peakBytes: 100, usedBytes: 0, headroomBytes: 900, allocFailures: 0 },
      { peakBytes: 300, usedBytes: 100, headroomBytes: 500, allocFailures: 2 },
    ],
    failures: { 'map.ENOMEM': 3 },
  };
  assert.deepEqual(scenarioMetrics('s', { summary }), {
    sweepId: 's',
    events: 1679,
    iovaUtilization: 0.5,
    failures: { 'map.ENOMEM': 3, 'iova.no_space': 2 },
  });
  assert.deepEqual(scenarioMetrics('s', { summary: { eventCount: 4, domains: [], failures: {} } }), {
    sweepId: 's',
    events: 4,
  });
  assert.deepEqual(scenarioMetrics('s', { error: { code: 'SCENARIO_INVALID' } }), {
    sweepId: 's',
    errorType: 'SCENARIO_INVALID',
  });
});

test('DmasimMetrics records into a real MeterProvider: counters, histograms in seconds, in-flight, gauges', async () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ readers: [reader] });
  const m = new DmasimMetrics(provider.getMeter('t'));
  const done = m.shardStarted('s');
  m.shardStarted('s')();
  m.recordShard({ sweepId: 's', scenarios: 10, durationMs: 1500, queueWaitMs: 250, outcome: 'stored' });
  m.recordScenario({ sweepId: 's', events: 5, iovaUtilization: 2, failures: { a: 1, b: 0 } });
  m.recordScenario({ sweepId: 's', errorType: 'SCENARIO_INVALID' });
  m.recordPoolWait('s', -3);
  m.recordProgress({ sweepId: 's', doneShards: 3, totalShards: 10, scenariosPerSecond: 4 });
  const off = m.observePublishBacklog(() => {
    throw new Error('broken');
  });
  await reader.forceFlush();
  const metrics = new Map(
    exporter
      .getMetrics()
      .flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics.map((x) => [x.descriptor.name, x]))),
  );
  const value = (name: string) => metrics.get(name)?.dataPoints.map((p) => p.value);
  assert.deepEqual(value('dmasim.jobs.in_flight'), [1], 'one started and not ended');
  assert.equal((value('dmasim.shard.duration')![0] as { sum: number }).sum, 1.5);
  assert.equal((value('dmasim.queue.wait')![0] as { sum: number }).sum, 0.25);
  assert.equal((value('dmasim.pool.wait')![0] as { sum: number }).sum, 0, 'negative waits (clock skew) clamp to 0');
  assert.equal((value('dmasim.scenario.iova.utilization')![0] as { max: number }).max, 1, 'utilisation clamps to 1');
  assert.deepEqual(value('dmasim.scenario.failures'), [1], 'zero counts are skipped');
  assert.deepEqual(
    metrics.get('dmasim.scenarios')!.dataPoints.map((p) => [p.attributes['error.type'], p.value]),
    [
      [undefined, 1],
      ['SCENARIO_INVALID', 1],
    ],
  );
  assert.deepEqual(value('dmasim.sweep.shards.pending'), [7]);
  assert.deepEqual(value('dmasim.sweep.scenario_rate'), [4]);
  assert.equal(metrics.has('dmasim.publish.backlog'), false, 'a throwing backlog reader is skipped');
  off();
  done();
  done();
  await reader.forceFlush();
  await provider.shutdown();
});
