/**
 * The small interfaces that let the coordinator and the worker run the same code embedded (in one
 * process, no servers) and distributed (BullMQ on Redis). See docs/ARCHITECTURE.md.
 */
import type { PlainError } from '@dmasim/core';

/** One unit of queued work: a contiguous range of a sweep's scenario indexes. */
export interface ShardJob {
  readonly sweepId: string;
  /** 0-based; the job id is derived from (sweepId, shardIndex), so enqueueing twice is harmless. */
  readonly shardIndex: number;
  /** Scenario index range `[start, end)`. */
  readonly start: number;
  readonly end: number;
  /** W3C trace context of the enqueueing span (`traceparent`, `tracestate`), when tracing is on. */
  readonly trace?: Readonly<Record<string, string>>;
}

/** The result of one scenario of a shard: its summary, or the final error that stopped it. */
export interface ScenarioRecord {
  readonly index: number;
  /** Stable scenario id (see `Sweep.scenarioAt`). */
  readonly id: string;
  readonly seed: number;
  /** Configuration group (axis name -> canonical JSON of the value). */
  readonly group: Readonly<Record<string, string>>;
  /** The scenario summary (JSON), absent when `error` is set. */
  readonly summary?: unknown;
  readonly error?: PlainError;
}

/** What a worker stores for a finished shard. Stored exactly once per (sweepId, shardIndex). */
export interface ShardResult {
  readonly sweepId: string;
  readonly shardIndex: number;
  /** 1 for the first try; larger when the job was retried (a killed worker, a lost connection). */
  readonly attempt: number;
  /** Which worker node produced it (host:pid). */
  readonly worker: string;
  readonly durationMs: number;
  readonly scenarios: readonly ScenarioRecord[];
}

/** Life-cycle state of a sweep, as the result store records it. */
export type SweepState = 'running' | 'cancelled' | 'done' | 'failed';

/** Per-attempt context handed to a shard handler. */
export interface ShardContext {
  readonly attempt: number;
  /** Aborted when the worker is shutting down past its grace period. */
  readonly signal: AbortSignal;
}

/** Runs one shard and stores its result; resolves with a small outcome for the queue. */
export type ShardHandler = (job: ShardJob, ctx: ShardContext) => Promise<ShardOutcome>;

/** The queue-visible outcome of a shard (the full result goes to the {@link ResultStore}). */
export interface ShardOutcome {
  readonly shardIndex: number;
  readonly scenarios: number;
  /** False when another attempt had already stored this shard's result (a duplicate run). */
  readonly stored: boolean;
}

/** A shard job that failed for good (an invalid input, or retries exhausted). */
export interface ShardFailure {
  readonly shardIndex: number;
  readonly error: PlainError;
  readonly attemptsMade: number;
}

/** The producer side of the job queue, used by the coordinator. */
export interface JobQueue {
  /** Adds shard jobs. A job that already exists (same sweep and shard) is not added again. */
  enqueue(jobs: readonly ShardJob[]): Promise<void>;
  /** Shard jobs of `sweepId` among `shards` that failed for good, with their errors. */
  failures(sweepId: string, shards: readonly number[]): Promise<ShardFailure[]>;
  /** Puts a failed job back in the queue for another round of attempts (used on resume). */
  retry(sweepId: string, shardIndex: number): Promise<void>;
  /** Removes the sweep's jobs that have not started. */
  cancel(sweepId: string, shards: readonly number[]): Promise<void>;
  close(): Promise<void>;
}

/** The consumer side of the job queue, used by worker nodes. */
export interface JobConsumer {
  /** Starts taking jobs, at most `concurrency` at a time. */
  start(handler: ShardHandler, opts: { concurrency: number }): void;
  /**
   * Stops taking jobs, lets in-flight ones finish for up to `graceMs`, then releases the rest (they are
   * picked up again by another worker). Idempotent.
   */
  close(graceMs: number): Promise<void>;
}

/** Durable store of sweeps and their shard results. */
export interface ResultStore {
  /**
   * Records a sweep's resolved spec (JSON text). `'same'` when it was recorded before with the same text
   * (a resubmission or a restarted coordinator), `'conflict'` when the id is taken by a different sweep.
   */
  saveSweep(sweepId: string, specJson: string): Promise<'created' | 'same' | 'conflict'>;
  loadSweep(sweepId: string): Promise<string | undefined>;
  setState(sweepId: string, state: SweepState): Promise<void>;
  getState(sweepId: string): Promise<SweepState | undefined>;
  /** Stores a shard's result unless one is stored already; true when this call stored it. */
  putShard(result: ShardResult): Promise<boolean>;
  /** Shard indexes completed after position `cursor` of the completion log, and the new cursor. */
  completions(sweepId: string, cursor: number): Promise<{ shards: number[]; cursor: number }>;
  /** Every stored shard result of the sweep, streamed (never all in memory at once). */
  readShards(sweepId: string): AsyncIterable<ShardResult>;
  close(): Promise<void>;
}
