/**
 * The spans of a sweep, following the OpenTelemetry messaging conventions:
 *
 * ```
 * dmasim.sweep (INTERNAL, coordinator)                         withSweepSpan
 *  └ send dmasim-shards (PRODUCER, one per enqueue batch)      instrumentEnqueue
 *     └ process dmasim-shards (CONSUMER, one per shard job,    instrumentShardHandler
 *        │  parent = the job's context, and a link to it)
 *        ├ dmasim.pool.task (INTERNAL, in the pool thread)     thread.ts, exportThreadSpans
 *        │  └ dmasim.scenario (INTERNAL, one per scenario)
 *        └ publish dmasim.ev.<sweep> (PRODUCER, per batch      withPublishSpan
 *             of event frames; context in the NATS headers)
 * process dmasim.ev.<sweep> (CONSUMER, replay; links to the    withReplaySpan
 *     publish spans of the frames it read)
 * ```
 *
 * The helpers take structural types (anything with `enqueue`, any shard handler), so this package does
 * not depend on the adapters. They never throw anything of their own: the wrapped calls' results and
 * errors pass through unchanged.
 */
import {
  type Attributes,
  type Context,
  context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import {
  Dmasim,
  EVENT_SUBJECT_TEMPLATE,
  eventSubject,
  General,
  Messaging,
  MessagingOperationType,
  MessagingSystem,
  SHARD_QUEUE_NAME,
  SpanName,
} from './attributes.ts';
import {
  extractContext,
  type HeaderGetter,
  type HeaderSetter,
  injectContext,
  injectHeaders,
  spanContextOf,
  spanContextOfHeaders,
  type TraceCarrier,
} from './propagation.ts';
import type { Telemetry } from './telemetry.ts';
import { epochMs, type ThreadSpan } from './thread.ts';

/** Carrier key of the enqueue time (epoch ms) of a shard job, set next to `traceparent`. */
export const ENQUEUED_AT_KEY = 'dmasim-enqueued-at';

/** The shard-job fields the helpers read (the adapters' `ShardJob`). */
export interface ShardJobLike {
  readonly sweepId: string;
  readonly shardIndex: number;
  readonly start: number;
  readonly end: number;
  readonly trace?: Readonly<Record<string, string>>;
}

/** The shard-outcome fields the helpers read (the adapters' `ShardOutcome`). */
export interface ShardOutcomeLike {
  readonly scenarios: number;
  readonly stored: boolean;
}

/** Where shard jobs travel: messaging system and queue name. */
export interface QueueTelemetryOptions {
  /** `messaging.system` (default `bullmq`; `dmasim.memory` for the in-process queue). */
  readonly system?: string;
  /** Queue name (default `dmasim-shards`). */
  readonly destination?: string;
}

/** Records an error on a span: an `exception` event, status ERROR, `error.type` (dmasim code or class). */
export function recordError(span: Span, e: unknown): string {
  const err = e as { code?: unknown; name?: unknown; message?: unknown };
  const type = typeof err?.code === 'string' ? err.code : typeof err?.name === 'string' ? err.name : 'Error';
  try {
    span.recordException(e instanceof Error ? e : { name: type, message: String(e) });
    span.setStatus({ code: SpanStatusCode.ERROR, message: typeof err?.message === 'string' ? err.message : String(e) });
    span.setAttribute(General.ERROR_TYPE, type);
  } catch {
    // Telemetry never throws into the caller.
  }
  return type;
}

/** What the sweep span records about the sweep. */
export interface SweepSpanInfo {
  readonly sweepId: string;
  readonly scenarios: number;
  readonly shards: number;
  readonly shardSize: number;
  /** `embedded` or `distributed`. */
  readonly mode: string;
}

/**
 * Runs a sweep (`fn`, e.g. `() => runSweep(...)`) inside the root span `dmasim.sweep`. When the result has a
 * `state` (a `SweepOutcome`), it is recorded as `dmasim.sweep.outcome`; `failed` marks the span ERROR.
 */
export async function withSweepSpan<T>(tel: Telemetry, info: SweepSpanInfo, fn: () => Promise<T>): Promise<T> {
  if (!tel.tracing) return fn();
  const span = tel.tracer.startSpan(
    SpanName.SWEEP,
    {
      kind: SpanKind.INTERNAL,
      root: true,
      attributes: {
        [Dmasim.SWEEP_ID]: info.sweepId,
        [Dmasim.SWEEP_SCENARIOS]: info.scenarios,
        [Dmasim.SWEEP_SHARDS]: info.shards,
        [Dmasim.SWEEP_SHARD_SIZE]: info.shardSize,
        [Dmasim.SWEEP_MODE]: info.mode,
      },
    },
    ROOT_CONTEXT,
  );
  try {
    const out = await context.with(trace.setSpan(context.active(), span), fn);
    const o = out as { state?: unknown; progress?: { resumedShards?: unknown } } | undefined;
    if (typeof o?.state === 'string') {
      span.setAttribute(Dmasim.SWEEP_OUTCOME, o.state);
      if (o.state === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: 'a shard failed for good' });
    }
    if (typeof o?.progress?.resumedShards === 'number')
      span.setAttribute(Dmasim.SWEEP_RESUMED_SHARDS, o.progress.resumedShards);
    return out;
  } catch (e) {
    recordError(span, e);
    throw e;
  } finally {
    span.end();
  }
}

/**
 * Wraps a job queue so that each `enqueue(batch)` runs inside a PRODUCER span `send <queue>`
 * (`messaging.batch.message_count` = batch size) and every job of the batch carries that span's W3C
 * context in `trace`, plus its enqueue time under {@link ENQUEUED_AT_KEY} (for the queue-wait histogram).
 * Every other member of the queue passes through. With telemetry off the queue is returned as is.
 */
export function instrumentEnqueue<J extends ShardJobLike, Q extends { enqueue(jobs: readonly J[]): Promise<void> }>(
  tel: Telemetry,
  queue: Q,
  opts: QueueTelemetryOptions = {},
): Q {
  if (!tel.tracing && !tel.metering) return queue;
  const destination = opts.destination ?? SHARD_QUEUE_NAME;
  const system = opts.system ?? MessagingSystem.BULLMQ;
  const enqueue = async (jobs: readonly J[]): Promise<void> => {
    if (jobs.length === 0) return queue.enqueue(jobs);
    const stamp = String(Date.now());
    if (!tel.tracing) {
      return queue.enqueue(jobs.map((j) => ({ ...j, trace: { ...j.trace, [ENQUEUED_AT_KEY]: stamp } })));
    }
    const sweeps = new Set(jobs.map((j) => j.sweepId));
    const attributes: Attributes = {
      [Messaging.SYSTEM]: system,
      [Messaging.OPERATION_TYPE]: MessagingOperationType.SEND,
      [Messaging.OPERATION_NAME]: 'send',
      [Messaging.DESTINATION_NAME]: destination,
      [Messaging.BATCH_MESSAGE_COUNT]: jobs.length,
    };
    if (sweeps.size === 1) attributes[Dmasim.SWEEP_ID] = jobs[0]!.sweepId;
    const span = tel.tracer.startSpan(
      SpanName.send(destination),
      { kind: SpanKind.PRODUCER, attributes },
      context.active(),
    );
    const ctx = trace.setSpan(context.active(), span);
    const carrier = injectContext(ctx) ?? {};
    const traced = jobs.map((j) => ({ ...j, trace: { ...carrier, [ENQUEUED_AT_KEY]: stamp } }));
    try {
      return await context.with(ctx, () => queue.enqueue(traced));
    } catch (e) {
      recordError(span, e);
      throw e;
    } finally {
      span.end();
    }
  };
  return new Proxy(queue, {
    get(target, prop) {
      if (prop === 'enqueue') return enqueue;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Enqueue time of a job (epoch ms) from its carrier, or undefined. */
export function enqueuedAt(job: ShardJobLike): number | undefined {
  const raw = job.trace?.[ENQUEUED_AT_KEY];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

/** Options of {@link instrumentShardHandler}. */
export interface ConsumerTelemetryOptions extends QueueTelemetryOptions {
  /** `messaging.client.id`: the worker's name (host:pid). */
  readonly clientId?: string;
  /** `messaging.consumer.group.name` (default `dmasim-workers`). */
  readonly consumerGroup?: string;
}

/**
 * Wraps a shard handler: each call runs inside a CONSUMER span `process <queue>` whose parent is the
 * context the job carries (and which links to it, as the conventions ask), records shard duration, queue
 * wait, outcome and jobs in flight, and marks failures with their dmasim error code. Results and errors
 * pass through unchanged.
 */
export function instrumentShardHandler<J extends ShardJobLike, C, O extends ShardOutcomeLike>(
  tel: Telemetry,
  handler: (job: J, ctx: C) => Promise<O>,
  opts: ConsumerTelemetryOptions = {},
): (job: J, ctx: C) => Promise<O> {
  if (!tel.tracing && !tel.metering) return handler;
  const destination = opts.destination ?? SHARD_QUEUE_NAME;
  const system = opts.system ?? MessagingSystem.BULLMQ;
  return async (job: J, hctx: C): Promise<O> => {
    const t0 = performance.now();
    const queuedAt = enqueuedAt(job);
    const queueWaitMs = queuedAt !== undefined ? Math.max(0, Date.now() - queuedAt) : undefined;
    const attempt = (hctx as { attempt?: unknown } | undefined)?.attempt;
    const inFlightDone = tel.metrics.shardStarted(job.sweepId);
    let span: Span | undefined;
    let runCtx: Context = context.active();
    if (tel.tracing) {
      const parent = extractContext(job.trace, ROOT_CONTEXT);
      const remote = spanContextOf(job.trace);
      const links: Link[] = remote ? [{ context: remote }] : [];
      const attributes: Attributes = {
        [Messaging.SYSTEM]: system,
        [Messaging.OPERATION_TYPE]: MessagingOperationType.PROCESS,
        [Messaging.OPERATION_NAME]: 'process',
        [Messaging.DESTINATION_NAME]: destination,
        [Messaging.MESSAGE_ID]: `${job.sweepId}.${job.shardIndex}`,
        [Messaging.CONSUMER_GROUP_NAME]: opts.consumerGroup ?? 'dmasim-workers',
        [Dmasim.SWEEP_ID]: job.sweepId,
        [Dmasim.SHARD_INDEX]: job.shardIndex,
        [Dmasim.SHARD_START]: job.start,
        [Dmasim.SHARD_END]: job.end,
      };
      if (opts.clientId) attributes[Messaging.CLIENT_ID] = opts.clientId;
      if (typeof attempt === 'number') attributes[Dmasim.SHARD_ATTEMPT] = attempt;
      if (queueWaitMs !== undefined) attributes[Dmasim.QUEUE_WAIT_MS] = queueWaitMs;
      span = tel.tracer.startSpan(
        SpanName.process(destination),
        { kind: SpanKind.CONSUMER, links, attributes },
        parent,
      );
      runCtx = trace.setSpan(parent, span);
    }
    try {
      const out = await context.with(runCtx, () => handler(job, hctx));
      const outcome = out.stored ? 'stored' : out.scenarios === 0 ? 'cancelled' : 'duplicate';
      span?.setAttributes({ [Dmasim.SHARD_SCENARIOS]: out.scenarios, [Dmasim.SHARD_STORED]: out.stored });
      tel.metrics.recordShard({
        sweepId: job.sweepId,
        scenarios: out.scenarios,
        durationMs: performance.now() - t0,
        ...(queueWaitMs !== undefined ? { queueWaitMs } : {}),
        outcome,
      });
      return out;
    } catch (e) {
      const type = span ? recordError(span, e) : errorType(e);
      tel.metrics.recordShard({
        sweepId: job.sweepId,
        scenarios: 0,
        durationMs: performance.now() - t0,
        ...(queueWaitMs !== undefined ? { queueWaitMs } : {}),
        outcome: 'failed',
        errorType: type,
      });
      throw e;
    } finally {
      span?.end();
      inFlightDone();
    }
  };
}

function errorType(e: unknown): string {
  const err = e as { code?: unknown; name?: unknown };
  return typeof err?.code === 'string' ? err.code : typeof err?.name === 'string' ? err.name : 'Error';
}

/** What a pool task carries for telemetry: the context of the active span and the submission time. */
export interface PoolTaskTelemetry {
  /** W3C context of the span the task runs under (absent when not tracing). */
  readonly trace?: TraceCarrier;
  /** When the task was handed to the pool, epoch ms (for the thread-pool wait). */
  readonly submittedAtMs: number;
}

/** The telemetry fields to put into a pool task, taken from the active context (call it in the shard span). */
export function poolTaskTelemetry(tel: Telemetry): PoolTaskTelemetry {
  const carrier = tel.tracing ? injectContext() : undefined;
  return carrier ? { trace: carrier, submittedAtMs: epochMs() } : { submittedAtMs: epochMs() };
}

/** What a pool task returns for telemetry. */
export interface PoolTaskTelemetryResult {
  /** Spans recorded in the thread (see thread.ts). */
  readonly spans?: readonly ThreadSpan[];
  /** When the thread started the task, epoch ms. */
  readonly startedAtMs?: number;
}

/** Exports a finished pool task's thread spans and records its thread-pool wait. */
export function collectPoolTask(
  tel: Telemetry,
  sweepId: string,
  sent: PoolTaskTelemetry,
  result: PoolTaskTelemetryResult | undefined,
): void {
  if (!result) return;
  tel.exportThreadSpans(result.spans);
  if (result.startedAtMs !== undefined) tel.metrics.recordPoolWait(sweepId, result.startedAtMs - sent.submittedAtMs);
}

/** What a publish span records. */
export interface PublishSpanInfo {
  readonly sweepId: string;
  /** Frames in this publish call (set as `messaging.batch.message_count`, batch API). */
  readonly messages: number;
  /** `Nats-Msg-Id` when a single frame is published. */
  readonly messageId?: string;
  /** Body bytes of a single frame. */
  readonly bodyBytes?: number;
  /** Parent context when it is not the active one (e.g. the scenario span of a pool thread). */
  readonly parent?: TraceCarrier;
  /** `messaging.system` (default `nats`; `dmasim.file` for the embedded file log). */
  readonly system?: string;
}

/**
 * Runs a publish of event frames (`fn`) inside a PRODUCER span `publish dmasim.ev.<sweep>`; `fn` gets an
 * `inject(headers)` to call on each message's headers (NATS `MsgHdrs`), which sets `traceparent` and
 * `tracestate` of this span. With tracing off `inject` does nothing.
 */
export async function withPublishSpan<T>(
  tel: Telemetry,
  info: PublishSpanInfo,
  fn: (inject: (headers: HeaderSetter) => void) => Promise<T>,
): Promise<T> {
  if (!tel.tracing) return fn(() => {});
  const subject = eventSubject(info.sweepId);
  const attributes: Attributes = {
    [Messaging.SYSTEM]: info.system ?? MessagingSystem.NATS,
    [Messaging.OPERATION_TYPE]: MessagingOperationType.SEND,
    [Messaging.OPERATION_NAME]: 'publish',
    [Messaging.DESTINATION_NAME]: subject,
    [Messaging.DESTINATION_TEMPLATE]: EVENT_SUBJECT_TEMPLATE,
    [Messaging.BATCH_MESSAGE_COUNT]: info.messages,
    [Dmasim.SWEEP_ID]: info.sweepId,
  };
  if (info.messageId !== undefined) attributes[Messaging.MESSAGE_ID] = info.messageId;
  if (info.bodyBytes !== undefined) attributes[Messaging.MESSAGE_BODY_SIZE] = info.bodyBytes;
  const parent = info.parent ? extractContext(info.parent, ROOT_CONTEXT) : context.active();
  const span = tel.tracer.startSpan(SpanName.publish(subject), { kind: SpanKind.PRODUCER, attributes }, parent);
  const ctx = trace.setSpan(parent, span);
  const inject = (h: HeaderSetter): void => {
    injectHeaders(h, ctx);
  };
  try {
    return await context.with(ctx, () => fn(inject));
  } catch (e) {
    recordError(span, e);
    throw e;
  } finally {
    span.end();
  }
}

/** What a replay span records. */
export interface ReplaySpanInfo {
  readonly sweepId: string;
  readonly scenarioId?: string;
}

/** Collects links while frames are read, for {@link withReplaySpan}. */
export interface ReplayLinker {
  /** Links the replay span to the publish span whose context these headers (or this carrier) carry. */
  frame(headers: HeaderGetter | TraceCarrier | undefined): void;
}

/**
 * Runs a replay (`fn`) inside a CONSUMER span `process dmasim.ev.<sweep>` (a new trace) that links back to the
 * publish span of every frame read: `fn` calls `linker.frame(msg.headers)` per frame. Links are distinct
 * and at most 128 (the SDK's limit); `dmasim.replay.frames` counts the frames.
 */
export async function withReplaySpan<T>(
  tel: Telemetry,
  info: ReplaySpanInfo,
  fn: (linker: ReplayLinker) => Promise<T>,
): Promise<T> {
  if (!tel.tracing) return fn({ frame() {} });
  const subject = eventSubject(info.sweepId);
  const attributes: Attributes = {
    [Messaging.SYSTEM]: MessagingSystem.NATS,
    [Messaging.OPERATION_TYPE]: MessagingOperationType.PROCESS,
    [Messaging.OPERATION_NAME]: 'replay',
    [Messaging.DESTINATION_NAME]: subject,
    [Messaging.DESTINATION_TEMPLATE]: EVENT_SUBJECT_TEMPLATE,
    [Dmasim.SWEEP_ID]: info.sweepId,
  };
  if (info.scenarioId !== undefined) attributes[Dmasim.SCENARIO_ID] = info.scenarioId;
  const span = tel.tracer.startSpan(
    SpanName.replay(subject),
    { kind: SpanKind.CONSUMER, root: true, attributes },
    ROOT_CONTEXT,
  );
  const seen = new Set<string>();
  let frames = 0;
  const linker: ReplayLinker = {
    frame(h) {
      frames++;
      if (!h || seen.size >= 128) return;
      const sc =
        typeof (h as HeaderGetter).get === 'function'
          ? spanContextOfHeaders(h as HeaderGetter)
          : spanContextOf(h as TraceCarrier);
      if (!sc) return;
      const key = `${sc.traceId}-${sc.spanId}`;
      if (seen.has(key)) return;
      seen.add(key);
      try {
        span.addLink({ context: sc });
      } catch {
        // Never into the caller.
      }
    },
  };
  try {
    return await context.with(trace.setSpan(ROOT_CONTEXT, span), () => fn(linker));
  } catch (e) {
    recordError(span, e);
    throw e;
  } finally {
    span.setAttribute(Dmasim.REPLAY_FRAMES, frames);
    span.end();
  }
}
