/**
 * Runs shard jobs: loads the sweep spec from the result store (cached), splits the shard's scenario range
 * into pool tasks, runs them on the thread pool, and stores the shard's result exactly once. This is the
 * {@link ShardHandler} that both the BullMQ consumer and the in-process queue call.
 */
import { hostname } from 'node:os';
import {
  type EventLog,
  JetStreamEventLog,
  type ResultStore,
  type ShardHandler,
  type ShardJob,
  type ShardOutcome,
} from '@dmasim/adapters';
import { DmasimError, ErrorCode, fnv1a64Hex } from '@dmasim/core';
import {
  collectPoolTask,
  MessagingSystem,
  type PoolTaskTelemetry,
  poolTaskTelemetry,
  scenarioMetrics,
  type Telemetry,
  withPublishSpan,
} from '@dmasim/telemetry';
import type { ScenarioPool } from './pool.ts';
import type { PoolTaskResult } from './pool-task.ts';

/** Options of {@link ShardExecutor}. */
export interface ShardExecutorOptions {
  readonly pool: ScenarioPool;
  readonly store: ResultStore;
  /** Scenarios per pool task (default: the shard split evenly over the pool's threads). */
  readonly taskSize?: number;
  /** Name recorded in results (default host:pid). */
  readonly workerName?: string;
  /**
   * Where every event of every scenario goes (a file log embedded, JetStream distributed). A shard's frames
   * are all stored, then each scenario's attempt is recorded, and only then is the shard's result stored:
   * a worker killed in between leaves the shard to be retried, never half-counted.
   */
  readonly eventLog?: EventLog;
  /**
   * Telemetry (docs/TELEMETRY.md): pool tasks carry the active (shard) span's context and return their
   * thread spans, which are exported here; scenario metrics are recorded; publishing runs in a
   * `publish dmasim.ev.<sweep>` span.
   */
  readonly telemetry?: Telemetry;
}

/** Runs shards on a pool and stores their results. */
export class ShardExecutor {
  private readonly opts: ShardExecutorOptions;
  private readonly specs = new Map<string, { json: string; key: string; taskSize: number | undefined }>();
  readonly workerName: string;
  /** Shards run by this executor, stored or not (tests and metrics). */
  shardsRun = 0;

  constructor(opts: ShardExecutorOptions) {
    this.opts = opts;
    this.workerName = opts.workerName ?? `${hostname()}:${process.pid}`;
  }

  private async spec(sweepId: string): Promise<{ json: string; key: string; taskSize: number | undefined }> {
    const cached = this.specs.get(sweepId);
    if (cached) return cached;
    const json = await this.opts.store.loadSweep(sweepId);
    if (json === undefined) {
      throw new DmasimError(
        ErrorCode.SWEEP_SPEC_INVALID,
        `sweep "${sweepId}" is not in the result store (was it submitted to this Redis?)`,
      );
    }
    const parsed = JSON.parse(json) as { taskSize?: number };
    const entry = { json, key: `${sweepId}:${fnv1a64Hex(json)}`, taskSize: parsed.taskSize };
    this.specs.set(sweepId, entry);
    return entry;
  }

  /** The handler to give to a queue consumer. */
  readonly handle: ShardHandler = async (job: ShardJob, ctx): Promise<ShardOutcome> => {
    const t0 = performance.now();
    const spec = await this.spec(job.sweepId);
    const state = await this.opts.store.getState(job.sweepId);
    if (state === 'cancelled') return { shardIndex: job.shardIndex, scenarios: 0, stored: false };
    const n = job.end - job.start;
    const threads = this.opts.pool.threads;
    const taskSize = Math.max(1, this.opts.taskSize ?? spec.taskSize ?? Math.ceil(n / threads));
    const events = this.opts.eventLog !== undefined;
    const tel = this.opts.telemetry;
    const tasks: Promise<PoolTaskResult>[] = [];
    for (let s = job.start; s < job.end; s += taskSize) {
      const sent: PoolTaskTelemetry | undefined = tel ? poolTaskTelemetry(tel) : undefined;
      const task = {
        sweepKey: spec.key,
        sweepJson: spec.json,
        start: s,
        end: Math.min(job.end, s + taskSize),
        attempt: ctx.attempt,
        events,
        ...sent,
      };
      const run = this.opts.pool.run(task, ctx.signal);
      tasks.push(
        tel && sent
          ? run.then((r) => {
              collectPoolTask(tel, job.sweepId, sent, r);
              return r;
            })
          : run,
      );
    }
    const results = await Promise.all(tasks);
    const records = results.flatMap((r) => r.records);
    if (tel) for (const r of records) tel.metrics.recordScenario(scenarioMetrics(job.sweepId, r));
    const eventLog = this.opts.eventLog;
    if (eventLog) {
      const frames = results.flatMap((r) => r.frames);
      const publish = (): Promise<void> => eventLog.publish(job.sweepId, frames);
      await (tel && frames.length > 0
        ? withPublishSpan(
            tel,
            {
              sweepId: job.sweepId,
              messages: frames.length,
              system: eventLog instanceof JetStreamEventLog ? MessagingSystem.NATS : MessagingSystem.FILE,
            },
            publish,
          )
        : publish());
      await eventLog.recordScenarios(
        job.sweepId,
        results.flatMap((r) => r.logs),
      );
    }
    this.shardsRun++;
    const stored = await this.opts.store.putShard({
      sweepId: job.sweepId,
      shardIndex: job.shardIndex,
      attempt: ctx.attempt,
      worker: this.workerName,
      durationMs: performance.now() - t0,
      scenarios: records,
    });
    return { shardIndex: job.shardIndex, scenarios: records.length, stored };
  };
}
