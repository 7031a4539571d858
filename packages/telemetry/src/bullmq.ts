/**
 * BullMQ's own telemetry hook (the `telemetry` option of `Queue` and `Worker`), through `bullmq-otel`.
 *
 * What it gives (checked by test/telemetry-bullmq.test.ts): PRODUCER spans `add`/`addBulk <queue>`, a
 * CONSUMER span `process <queue>` per job parented (not linked) by the context BullMQ stores in
 * `job.opts.telemetry.metadata`, INTERNAL spans `complete`, `close`, `startStalledCheckTimer` and
 * `moveStalledJobsToWait <queue>`, and, with `enableMetrics`, counters and a duration histogram per queue
 * (`bullmq.jobs.completed`, `bullmq.jobs.failed`, `bullmq.job.duration`, ...).
 *
 * What dmasim uses: the metrics. Its spans are left off by default: their names (`addBulk dmasim-shards`)
 * and `bullmq.*` attributes are not the messaging conventions, the stalled-job checker starts a new trace
 * every stalled interval on every worker, idle or not, and a second `process dmasim-shards` span would sit beside
 * dmasim's own (spans.ts), which carries the shard, sweep and link. `spans: true` turns them on (debugging
 * BullMQ itself).
 */
import { INVALID_SPAN_CONTEXT, trace } from '@opentelemetry/api';
import { BullMQOTelSpan, BullMQOtel } from 'bullmq-otel';
import type { Telemetry } from './telemetry.ts';

/** Options of {@link bullmqTelemetry}. */
export interface BullmqTelemetryOptions {
  /** Record BullMQ's own spans too (default false: metrics only). */
  readonly spans?: boolean;
}

/**
 * The value for the `telemetry` option of BullMQ's `Queue` and `Worker`, or undefined when telemetry is off
 * (BullMQ then skips all of it).
 */
export function bullmqTelemetry(tel: Telemetry, opts: BullmqTelemetryOptions = {}): BullMQOtel | undefined {
  if (!tel.tracing && !tel.metering) return undefined;
  const t = new BullMQOtel({ tracerName: 'bullmq', meterName: 'bullmq', enableMetrics: tel.metering });
  if (opts.spans && tel.tracing) return t;
  // Keep BullMQ's context handling and meter, but give it spans that record nothing.
  (t as { tracer: unknown }).tracer = {
    startSpan: () => new BullMQOTelSpan(trace.wrapSpanContext(INVALID_SPAN_CONTEXT)),
  };
  return t;
}
