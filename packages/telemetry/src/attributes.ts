/**
 * Every span name, attribute key and metric name dmasim emits, in one place (as bullmq keeps its
 * `telemetry-attributes.ts`). The messaging keys are copied from the OpenTelemetry semantic conventions
 * (messaging, v1.45 of `@opentelemetry/semantic-conventions`, still "development" status there), rather than
 * imported from its `incubating` entry point, which may rename or drop them in any minor release
 * (the advice of otel's own `core/src/semconv.ts`).
 */

/** Messaging semantic conventions (development status), copied locally. */
export const Messaging = {
  /** `messaging.system`: the messaging product (`bullmq`, `nats`, or `dmasim.memory` for the in-process queue). */
  SYSTEM: 'messaging.system',
  /** `messaging.operation.type`: one of {@link MessagingOperationType}. */
  OPERATION_TYPE: 'messaging.operation.type',
  /** `messaging.operation.name`: the system-specific operation (`send`, `process`, `publish`). */
  OPERATION_NAME: 'messaging.operation.name',
  /** `messaging.destination.name`: queue name (`dmasim-shards`) or NATS subject (`dmasim.ev.<sweep>`). */
  DESTINATION_NAME: 'messaging.destination.name',
  /** `messaging.destination.template`: the low-cardinality form of a destination (`dmasim.ev.{sweep}`). */
  DESTINATION_TEMPLATE: 'messaging.destination.template',
  /** `messaging.batch.message_count`: messages in a batch operation (always set on batch APIs). */
  BATCH_MESSAGE_COUNT: 'messaging.batch.message_count',
  /** `messaging.message.id`: job id `<sweep>.<shard>` or the `Nats-Msg-Id` of a frame. */
  MESSAGE_ID: 'messaging.message.id',
  /** `messaging.message.body.size`: bytes of the message body (event frames). */
  MESSAGE_BODY_SIZE: 'messaging.message.body.size',
  /** `messaging.consumer.group.name`: the workers sharing the queue. */
  CONSUMER_GROUP_NAME: 'messaging.consumer.group.name',
  /** `messaging.client.id`: the worker node's name (host:pid). */
  CLIENT_ID: 'messaging.client.id',
} as const;

/** Values of `messaging.operation.type`. */
export const MessagingOperationType = {
  CREATE: 'create',
  SEND: 'send',
  RECEIVE: 'receive',
  PROCESS: 'process',
  SETTLE: 'settle',
} as const;

/** Values of `messaging.system` used by dmasim. */
export const MessagingSystem = {
  BULLMQ: 'bullmq',
  NATS: 'nats',
  MEMORY: 'dmasim.memory',
  /** The embedded event log: a local file (`events.dmlog`). */
  FILE: 'dmasim.file',
} as const;

/** General semantic-convention keys used on dmasim spans and metrics (stable ones). */
export const General = {
  /** `error.type`: the dmasim error code (`SCENARIO_INVALID`, ...) or the exception class. */
  ERROR_TYPE: 'error.type',
  SERVICE_NAME: 'service.name',
  SERVICE_VERSION: 'service.version',
  SERVICE_INSTANCE_ID: 'service.instance.id',
  HOST_NAME: 'host.name',
  PROCESS_PID: 'process.pid',
  THREAD_ID: 'thread.id',
} as const;

/** dmasim's own attribute keys. */
export const Dmasim = {
  SWEEP_ID: 'dmasim.sweep.id',
  SWEEP_SCENARIOS: 'dmasim.sweep.scenarios',
  SWEEP_SHARDS: 'dmasim.sweep.shards',
  SWEEP_SHARD_SIZE: 'dmasim.sweep.shard_size',
  SWEEP_MODE: 'dmasim.sweep.mode',
  SWEEP_OUTCOME: 'dmasim.sweep.outcome',
  SWEEP_RESUMED_SHARDS: 'dmasim.sweep.resumed_shards',
  SHARD_INDEX: 'dmasim.shard.index',
  SHARD_START: 'dmasim.shard.start',
  SHARD_END: 'dmasim.shard.end',
  SHARD_ATTEMPT: 'dmasim.shard.attempt',
  SHARD_SCENARIOS: 'dmasim.shard.scenarios',
  SHARD_STORED: 'dmasim.shard.stored',
  /** Milliseconds between enqueue and the start of processing (wall clocks of two hosts; clamped at 0). */
  QUEUE_WAIT_MS: 'dmasim.queue.wait_ms',
  /** Milliseconds a pool task waited for a thread. */
  POOL_WAIT_MS: 'dmasim.pool.wait_ms',
  POOL_TASK_START: 'dmasim.pool.task.start',
  POOL_TASK_END: 'dmasim.pool.task.end',
  SCENARIO_ID: 'dmasim.scenario.id',
  SCENARIO_INDEX: 'dmasim.scenario.index',
  SCENARIO_SEED: 'dmasim.scenario.seed',
  SCENARIO_EVENTS: 'dmasim.scenario.events',
  SCENARIO_FAILURES: 'dmasim.scenario.failures',
  SCENARIO_IOVA_UTILIZATION: 'dmasim.scenario.iova.utilization',
  FAILURE_KIND: 'dmasim.failure.kind',
  WORKER_NAME: 'dmasim.worker.name',
  REPLAY_FRAMES: 'dmasim.replay.frames',
} as const;

/** Span names. Messaging spans are `{operation} {destination}` (semantic conventions). */
export const SpanName = {
  /** The coordinator's span around one run of a sweep (INTERNAL, the trace's root). */
  SWEEP: 'dmasim.sweep',
  /** PRODUCER, one per enqueue batch. */
  send: (queue: string): string => `send ${queue}`,
  /** CONSUMER, one per shard job. */
  process: (queue: string): string => `process ${queue}`,
  /** INTERNAL, in the pool thread: one task (a slice of a shard's scenarios). */
  POOL_TASK: 'dmasim.pool.task',
  /** INTERNAL, in the pool thread: one scenario. */
  SCENARIO: 'dmasim.scenario',
  /** PRODUCER, one per published batch of event frames. */
  publish: (subject: string): string => `publish ${subject}`,
  /** CONSUMER, a replay of stored frames, linked to the spans that published them. */
  replay: (subject: string): string => `process ${subject}`,
} as const;

/** Default queue name of shard jobs (the adapters' `SHARD_QUEUE`, repeated here so telemetry stays a leaf). */
export const SHARD_QUEUE_NAME = 'dmasim-shards';

/** NATS subject of a sweep's event frames (`dmasim.ev.<sweep>`), and its template. */
export const eventSubject = (sweepId: string): string => `dmasim.ev.${sweepId}`;
export const EVENT_SUBJECT_TEMPLATE = 'dmasim.ev.{sweep}';

/** Metric names; units follow UCUM as the semantic conventions ask (`s`, `{scenario}`, `1`). */
export const MetricName = {
  /** Counter of scenarios finished (rate = scenarios/s). Attributes: sweep id, `error.type` when invalid. */
  SCENARIOS: 'dmasim.scenarios',
  /** Counter of simulation events produced (rate = events/s). */
  EVENTS: 'dmasim.events',
  /** Counter of shards finished, by outcome. */
  SHARDS: 'dmasim.shards',
  /** Histogram of shard processing time on a worker, seconds. */
  SHARD_DURATION: 'dmasim.shard.duration',
  /** Histogram of enqueue-to-start time of shard jobs, seconds. */
  QUEUE_WAIT: 'dmasim.queue.wait',
  /** Histogram of the time pool tasks wait for a thread, seconds. */
  POOL_WAIT: 'dmasim.pool.wait',
  /** UpDownCounter of shard jobs being processed on this worker. */
  JOBS_IN_FLIGHT: 'dmasim.jobs.in_flight',
  /** Gauge of shards of the sweep not finished yet (coordinator). */
  SHARDS_PENDING: 'dmasim.sweep.shards.pending',
  /** Gauge of the coordinator's windowed scenarios/s. */
  SCENARIO_RATE: 'dmasim.sweep.scenario_rate',
  /** Gauge of event frames handed to the publisher and not yet acknowledged. */
  PUBLISH_BACKLOG: 'dmasim.publish.backlog',
  /** Histogram of each scenario's peak IOVA utilisation (0..1). */
  IOVA_UTILIZATION: 'dmasim.scenario.iova.utilization',
  /** Counter of simulated failures (map failures, exhausted IOVA space, ...), by kind. */
  FAILURES: 'dmasim.scenario.failures',
} as const;

/** Names of the tracer and meter (instrumentation scope). */
export const INSTRUMENTATION_SCOPE = '@dmasim/telemetry';
