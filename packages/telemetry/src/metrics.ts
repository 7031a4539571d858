/**
 * dmasim's metrics, behind a small API the coordinator and the workers call. Rates (scenarios/s, events/s)
 * are counters, as OpenTelemetry wants them (the backend takes the rate); durations are histograms in
 * seconds; the coordinator's own windowed rate and the shards still pending are gauges. With metrics off the
 * meter is the API's no-op meter and every call costs a few nanoseconds.
 */
import type { Attributes, Meter, ObservableResult } from '@opentelemetry/api';
import { Dmasim, General, MetricName } from './attributes.ts';

/** Outcome of one shard attempt on a worker. */
export type ShardOutcomeKind = 'stored' | 'duplicate' | 'cancelled' | 'failed';

/** What {@link DmasimMetrics.recordShard} takes. */
export interface ShardRecord {
  readonly sweepId: string;
  /** Scenarios the shard ran. */
  readonly scenarios: number;
  /** Processing time on the worker, ms. */
  readonly durationMs: number;
  /** Enqueue-to-start time, ms (omitted when unknown). */
  readonly queueWaitMs?: number;
  readonly outcome: ShardOutcomeKind;
  /** Error code of a failed shard. */
  readonly errorType?: string;
}

/** What {@link DmasimMetrics.recordScenario} takes: figures from one scenario's summary. */
export interface ScenarioRecordMetrics {
  readonly sweepId: string;
  /** Events the scenario produced. */
  readonly events?: number;
  /** Peak IOVA utilisation of the scenario's busiest domain, 0..1. */
  readonly iovaUtilization?: number;
  /** Simulated failures by kind (`map_failed`, `iova_exhausted`, ...): counts, zero entries are skipped. */
  readonly failures?: Readonly<Record<string, number>>;
  /** Error code when the scenario could not run (its input was invalid). */
  readonly errorType?: string;
}

/** Coordinator progress, as `SweepProgress` carries it. */
export interface ProgressRecord {
  readonly sweepId: string;
  readonly doneShards: number;
  readonly totalShards: number;
  readonly scenariosPerSecond: number;
}

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const RATIO_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1];

/** The instruments of one service. */
export class DmasimMetrics {
  private readonly scenarios;
  private readonly events;
  private readonly shards;
  private readonly shardDuration;
  private readonly queueWait;
  private readonly poolWait;
  private readonly inFlight;
  private readonly iova;
  private readonly failures;
  private readonly progress = new Map<string, ProgressRecord>();
  private readonly backlogs = new Map<number, { read: () => number; attributes: Attributes }>();
  private nextBacklog = 0;

  constructor(meter: Meter) {
    this.scenarios = meter.createCounter(MetricName.SCENARIOS, {
      unit: '{scenario}',
      description: 'Scenarios finished',
    });
    this.events = meter.createCounter(MetricName.EVENTS, {
      unit: '{event}',
      description: 'Simulation events produced',
    });
    this.shards = meter.createCounter(MetricName.SHARDS, {
      unit: '{shard}',
      description: 'Shard attempts finished, by outcome',
    });
    this.shardDuration = meter.createHistogram(MetricName.SHARD_DURATION, {
      unit: 's',
      description: 'Time a worker spent on a shard (spec loading, pool tasks, storing the result)',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.queueWait = meter.createHistogram(MetricName.QUEUE_WAIT, {
      unit: 's',
      description: 'Time from enqueueing a shard job to the start of its processing (includes retry backoff)',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.poolWait = meter.createHistogram(MetricName.POOL_WAIT, {
      unit: 's',
      description: 'Time a pool task waited for a thread',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.inFlight = meter.createUpDownCounter(MetricName.JOBS_IN_FLIGHT, {
      unit: '{job}',
      description: 'Shard jobs being processed by this worker',
    });
    this.iova = meter.createHistogram(MetricName.IOVA_UTILIZATION, {
      unit: '1',
      description: "Peak IOVA utilisation of a scenario's busiest IOVA domain",
      advice: { explicitBucketBoundaries: RATIO_BUCKETS },
    });
    this.failures = meter.createCounter(MetricName.FAILURES, {
      unit: '{failure}',
      description: 'Simulated failures (map failures, exhausted IOVA space, ...), by kind',
    });
    meter
      .createObservableGauge(MetricName.SHARDS_PENDING, {
        unit: '{shard}',
        description: 'Shards of the sweep not finished yet',
      })
      .addCallback((r: ObservableResult) => {
        for (const p of this.progress.values())
          r.observe(p.totalShards - p.doneShards, { [Dmasim.SWEEP_ID]: p.sweepId });
      });
    meter
      .createObservableGauge(MetricName.SCENARIO_RATE, {
        unit: '{scenario}/s',
        description: "The coordinator's scenarios per second over its recent window",
      })
      .addCallback((r: ObservableResult) => {
        for (const p of this.progress.values()) r.observe(p.scenariosPerSecond, { [Dmasim.SWEEP_ID]: p.sweepId });
      });
    meter
      .createObservableGauge(MetricName.PUBLISH_BACKLOG, {
        unit: '{frame}',
        description: 'Event frames handed to the publisher and not acknowledged yet',
      })
      .addCallback((r: ObservableResult) => {
        for (const b of this.backlogs.values()) {
          let v: number;
          try {
            v = b.read();
          } catch {
            continue;
          }
          if (Number.isFinite(v)) r.observe(v, b.attributes);
        }
      });
  }

  /** Marks a shard job started on this worker; call the returned function once when it ends. */
  shardStarted(sweepId: string): () => void {
    const attrs = { [Dmasim.SWEEP_ID]: sweepId };
    this.inFlight.add(1, attrs);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight.add(-1, attrs);
    };
  }

  /** Records a finished shard attempt: duration, queue wait, outcome. */
  recordShard(r: ShardRecord): void {
    const attrs: Attributes = { [Dmasim.SWEEP_ID]: r.sweepId };
    this.shardDuration.record(Math.max(0, r.durationMs) / 1000, attrs);
    if (r.queueWaitMs !== undefined && Number.isFinite(r.queueWaitMs))
      this.queueWait.record(Math.max(0, r.queueWaitMs) / 1000, attrs);
    this.shards.add(1, {
      ...attrs,
      [Dmasim.SWEEP_OUTCOME]: r.outcome,
      ...(r.errorType ? { [General.ERROR_TYPE]: r.errorType } : {}),
    });
  }

  /** Records the time a pool task waited for a thread, ms. */
  recordPoolWait(sweepId: string, waitMs: number): void {
    if (Number.isFinite(waitMs)) this.poolWait.record(Math.max(0, waitMs) / 1000, { [Dmasim.SWEEP_ID]: sweepId });
  }

  /** Records one scenario: counts it, its events, IOVA utilisation and simulated failures. */
  recordScenario(r: ScenarioRecordMetrics): void {
    const attrs: Attributes = { [Dmasim.SWEEP_ID]: r.sweepId };
    this.scenarios.add(1, r.errorType ? { ...attrs, [General.ERROR_TYPE]: r.errorType } : attrs);
    if (r.events !== undefined && r.events > 0) this.events.add(r.events, attrs);
    if (r.iovaUtilization !== undefined && Number.isFinite(r.iovaUtilization)) {
      this.iova.record(Math.min(1, Math.max(0, r.iovaUtilization)), attrs);
    }
    if (r.failures) {
      for (const [kind, n] of Object.entries(r.failures)) {
        if (n > 0) this.failures.add(n, { ...attrs, [Dmasim.FAILURE_KIND]: kind });
      }
    }
  }

  /** Counts events produced outside a scenario record (for example by a publisher). */
  recordEvents(sweepId: string, n: number): void {
    if (n > 0) this.events.add(n, { [Dmasim.SWEEP_ID]: sweepId });
  }

  /** Keeps the coordinator's latest progress for the pending-shards and scenario-rate gauges. */
  recordProgress(p: ProgressRecord): void {
    this.progress.set(p.sweepId, {
      sweepId: p.sweepId,
      doneShards: p.doneShards,
      totalShards: p.totalShards,
      scenariosPerSecond: p.scenariosPerSecond,
    });
  }

  /** Stops reporting a sweep's gauges (its run ended). */
  forgetSweep(sweepId: string): void {
    this.progress.delete(sweepId);
  }

  /**
   * Reports `read()` as the publish backlog at each collection (an event publisher registers it); returns a
   * function that unregisters it. A throwing `read` is skipped.
   */
  observePublishBacklog(read: () => number, attributes: Attributes = {}): () => void {
    const id = this.nextBacklog++;
    this.backlogs.set(id, { read, attributes });
    return () => {
      this.backlogs.delete(id);
    };
  }
}

/** The fields of a scenario summary (core's `ScenarioSummary`) that metrics use. */
export interface SummaryLike {
  readonly eventCount?: number;
  readonly domains?: readonly {
    readonly peakBytes: number;
    readonly usedBytes: number;
    readonly headroomBytes: number;
    readonly allocFailures: number;
  }[];
  readonly failures?: Readonly<Record<string, number>>;
}

/**
 * The metrics of one scenario from its summary: its events; its IOVA utilisation, the busiest domain's peak
 * IOVA bytes over that domain's usable space below its devices' lowest DMA limit (bytes in use at the end +
 * free below the limit at the end, so an approximation when the peak was above the limit); its simulated
 * failures by kind (`map.EINVAL`, `attach.EOPNOTSUPP`, ... as the summary counts them, plus
 * `iova.no_space` for allocations that found no IOVA at all). An invalid scenario (`error`) counts with its
 * error code only.
 */
export function scenarioMetrics(
  sweepId: string,
  r: { summary?: unknown; error?: { code: string } },
): ScenarioRecordMetrics {
  if (r.error) return { sweepId, errorType: r.error.code };
  const s = (r.summary ?? {}) as SummaryLike;
  let util: number | undefined;
  let noSpace = 0;
  for (const d of s.domains ?? []) {
    const space = d.usedBytes + d.headroomBytes;
    if (space > 0) util = Math.max(util ?? 0, d.peakBytes / space);
    noSpace += d.allocFailures;
  }
  const failures: Record<string, number> = { ...(s.failures ?? {}) };
  if (noSpace > 0) failures['iova.no_space'] = (failures['iova.no_space'] ?? 0) + noSpace;
  return {
    sweepId,
    ...(s.eventCount !== undefined ? { events: s.eventCount } : {}),
    ...(util !== undefined ? { iovaUtilization: Math.min(1, util) } : {}),
    ...(Object.keys(failures).length > 0 ? { failures } : {}),
  };
}
