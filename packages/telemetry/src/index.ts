/**
 * @dmasim/telemetry: OpenTelemetry for dmasim. `initTelemetry` sets up tracing and metrics from the
 * standard `OTEL_*` variables; the span helpers trace a sweep across the coordinator, the queue, the worker
 * nodes, their pool threads and the event stream; `DmasimMetrics` holds the instruments. See
 * docs/TELEMETRY.md. Pool threads import `@dmasim/telemetry/thread` instead (no SDK).
 */
export * from './attributes.ts';
export { type BullmqTelemetryOptions, bullmqTelemetry } from './bullmq.ts';
export {
  describeTelemetry,
  type Env,
  type ExporterKind,
  resolveTelemetryConfig,
  SAMPLERS,
  type SamplerName,
  type TelemetryConfig,
  type TelemetryOptions,
} from './config.ts';
export type { FileMetric, FileSpan, Reporter } from './exporters.ts';
export {
  DmasimMetrics,
  type ProgressRecord,
  type ScenarioRecordMetrics,
  type ShardOutcomeKind,
  type ShardRecord,
  type SummaryLike,
  scenarioMetrics,
} from './metrics.ts';
export {
  distinctLinks,
  extractContext,
  extractHeaders,
  type HeaderGetter,
  type HeaderSetter,
  injectContext,
  injectHeaders,
  spanContextOf,
  spanContextOfHeaders,
  type TraceCarrier,
} from './propagation.ts';
export {
  type ConsumerTelemetryOptions,
  collectPoolTask,
  ENQUEUED_AT_KEY,
  enqueuedAt,
  instrumentEnqueue,
  instrumentShardHandler,
  type PoolTaskTelemetry,
  type PoolTaskTelemetryResult,
  type PublishSpanInfo,
  poolTaskTelemetry,
  type QueueTelemetryOptions,
  type ReplayLinker,
  type ReplaySpanInfo,
  recordError,
  type ShardJobLike,
  type ShardOutcomeLike,
  type SweepSpanInfo,
  withPublishSpan,
  withReplaySpan,
  withSweepSpan,
} from './spans.ts';
export { currentTelemetry, type InitTelemetryOptions, initTelemetry, type Telemetry } from './telemetry.ts';
export { epochMs, ThreadRecorder, type ThreadSpan, type ThreadSpanHandle } from './thread.ts';
