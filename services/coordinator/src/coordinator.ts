/**
 * The coordinator: drives one sweep to completion through a {@link JobQueue} and a {@link ResultStore}.
 * The same code runs embedded (in-process queue) and distributed (BullMQ on Redis).
 *
 * - Shard jobs have deterministic ids and the result store holds each shard's result exactly once, so
 *   resubmitting a sweep, or restarting the coordinator, never duplicates work: finished shards are skipped
 *   and unfinished ones are enqueued again (a no-op for jobs still queued).
 * - Enqueueing is bounded: at most `maxInFlight` shards are queued or running at a time, so a 10^6-scenario
 *   sweep never puts 10^6 jobs in Redis nor in the coordinator's heap.
 * - A shard that fails for good with an invalid-input error fails the sweep at once; with a retryable error
 *   (retries exhausted) it is retried on resume.
 *
 * There is no BullMQ parent job: completion is counted in the result store (its completion log is the
 * "parent"), because a BullMQ flow needs all children at creation, which conflicts with bounded enqueueing
 * of huge sweeps, and because the store's exactly-once accounting survives coordinator restarts.
 */

import type { JobQueue, ResultStore, ShardFailure, ShardJob } from '@dmasim/adapters';
import { DmasimError, ErrorCode, type PlainError, type Sweep } from '@dmasim/core';

/** Progress of a sweep, reported after every poll. */
export interface SweepProgress {
  readonly sweepId: string;
  readonly doneShards: number;
  readonly totalShards: number;
  readonly doneScenarios: number;
  readonly totalScenarios: number;
  /** Scenarios per second over the recent window (0 until measurable). */
  readonly scenariosPerSecond: number;
  /** Estimated seconds to completion, or undefined until measurable. */
  readonly etaSeconds: number | undefined;
  /** Shards that already had results when this run started (resume). */
  readonly resumedShards: number;
}

/** Options of {@link runSweep}. */
export interface RunSweepOptions {
  readonly queue: JobQueue;
  readonly store: ResultStore;
  /** Shards queued or running at once (default 64). */
  readonly maxInFlight?: number;
  /** How often to look at the result store, ms (default 100). */
  readonly pollMs?: number;
  /** Called with progress after each poll that saw a change, and at start and end. */
  readonly onProgress?: (p: SweepProgress) => void;
  /**
   * Aborting stops this coordinator (outcome `interrupted`): nothing is cancelled, queued shards stay queued,
   * and running the same sweep again resumes it. Use {@link cancelSweep} to cancel.
   */
  readonly signal?: AbortSignal;
  /** Monotonic clock in ms (default `performance.now`), for tests. */
  readonly now?: () => number;
  /** Adds trace context to each job (telemetry). */
  readonly decorateJob?: (job: ShardJob) => ShardJob;
}

/** How a sweep ended. */
export interface SweepOutcome {
  readonly sweepId: string;
  readonly state: 'done' | 'interrupted' | 'cancelled' | 'failed';
  readonly failures: readonly ShardFailure[];
  readonly durationMs: number;
  readonly progress: SweepProgress;
}

/**
 * Records the sweep, then enqueues its unfinished shards (bounded) until every shard has a result, the
 * sweep is cancelled, or a shard fails for good. `specJson` is the resolved sweep spec that workers load.
 */
export async function runSweep(sweep: Sweep, specJson: string, opts: RunSweepOptions): Promise<SweepOutcome> {
  const { queue, store } = opts;
  const now = opts.now ?? (() => performance.now());
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 64);
  const pollMs = opts.pollMs ?? 100;
  const t0 = now();

  const saved = await store.saveSweep(sweep.id, specJson);
  if (saved === 'conflict') {
    throw new DmasimError(
      ErrorCode.SWEEP_SPEC_INVALID,
      `sweep id "${sweep.id}" is already used by a different sweep in this result store; give the sweep a new id`,
    );
  }
  if ((await store.getState(sweep.id)) === 'cancelled') {
    throw new DmasimError(ErrorCode.CANCELLED, `sweep "${sweep.id}" was cancelled; give it a new id to run it again`);
  }
  await store.setState(sweep.id, 'running');

  const done = new Set<number>();
  let cursor = 0;
  const drain = async (): Promise<number> => {
    const c = await store.completions(sweep.id, cursor);
    cursor = c.cursor;
    let added = 0;
    for (const s of c.shards) {
      if (!done.has(s)) {
        done.add(s);
        added++;
      }
    }
    return added;
  };
  await drain();
  const resumedShards = done.size;
  const scenariosOf = (k: number): number => {
    const r = sweep.shardRange(k);
    return r.end - r.start;
  };
  let doneScenarios = 0;
  for (const s of done) doneScenarios += scenariosOf(s);
  const resumedScenarios = doneScenarios;

  const inFlight = new Set<number>();
  let next = 0;
  const window: { t: number; n: number }[] = [{ t: t0, n: doneScenarios }];
  const progress = (): SweepProgress => {
    const t = now();
    while (window.length > 2 && t - window[0]!.t > 10_000) window.shift();
    const first = window[0]!;
    const dt = (t - first.t) / 1000;
    const rate = dt > 0.2 ? (doneScenarios - first.n) / dt : 0;
    const left = sweep.size - doneScenarios;
    return {
      sweepId: sweep.id,
      doneShards: done.size,
      totalShards: sweep.shardCount,
      doneScenarios,
      totalScenarios: sweep.size,
      scenariosPerSecond: rate,
      etaSeconds: rate > 0 ? left / rate : left === 0 ? 0 : undefined,
      resumedShards,
    };
  };
  opts.onProgress?.(progress());

  const finish = async (state: SweepOutcome['state'], failures: ShardFailure[]): Promise<SweepOutcome> => {
    if (state !== 'interrupted') await store.setState(sweep.id, state);
    const p = progress();
    opts.onProgress?.(p);
    return { sweepId: sweep.id, state, failures, durationMs: now() - t0, progress: p };
  };

  // On resume, shards that failed for good with a retryable error get another round.
  let lastFailureCheck = now();
  const retriedOnce = new Set<number>();
  for (;;) {
    if (opts.signal?.aborted) return finish('interrupted', []);
    if ((await store.getState(sweep.id)) === 'cancelled') {
      await queue.cancel(sweep.id, [...inFlight]);
      return finish('cancelled', []);
    }
    // Top up the window of queued/running shards.
    const batch: ShardJob[] = [];
    while (inFlight.size + batch.length < maxInFlight && next < sweep.shardCount) {
      const k = next++;
      if (done.has(k)) continue;
      const r = sweep.shardRange(k);
      const job: ShardJob = { sweepId: sweep.id, shardIndex: k, start: r.start, end: r.end };
      batch.push(opts.decorateJob ? opts.decorateJob(job) : job);
    }
    if (batch.length > 0) {
      await queue.enqueue(batch);
      for (const j of batch) inFlight.add(j.shardIndex);
    }
    if (done.size === sweep.shardCount) return finish('done', []);

    await sleep(pollMs, opts.signal);
    if (await drain()) {
      doneScenarios = resumedScenarios;
      for (const s of inFlight) if (done.has(s)) inFlight.delete(s);
      doneScenarios = 0;
      for (const s of done) doneScenarios += scenariosOf(s);
      window.push({ t: now(), n: doneScenarios });
      opts.onProgress?.(progress());
    }
    // Failed-for-good shards: looked at every second (a few Redis calls per in-flight shard).
    if (now() - lastFailureCheck >= 1000 || inFlight.size === 0) {
      lastFailureCheck = now();
      const failures = await queue.failures(
        sweep.id,
        [...inFlight].filter((s) => !done.has(s)),
      );
      const final = failures.filter((f) => !f.error.retryable || retriedOnce.has(f.shardIndex));
      if (final.length > 0) {
        await queue.cancel(sweep.id, [...inFlight]);
        return finish('failed', final);
      }
      for (const f of failures) {
        retriedOnce.add(f.shardIndex);
        await queue.retry(sweep.id, f.shardIndex);
      }
    }
  }
}

/**
 * Cancels a sweep: marks it cancelled (workers skip its shards, a running coordinator stops) and removes
 * its shard jobs that have not started.
 */
export async function cancelSweep(sweep: Sweep, queue: JobQueue, store: ResultStore): Promise<void> {
  await store.setState(sweep.id, 'cancelled');
  const pending: number[] = [];
  for (let k = 0; k < sweep.shardCount; k++) pending.push(k);
  for (let i = 0; i < pending.length; i += 1000) await queue.cancel(sweep.id, pending.slice(i, i + 1000));
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A one-line description of a failure, for logs and errors. */
export function describeFailure(f: ShardFailure): string {
  const e: PlainError = f.error;
  return `shard ${f.shardIndex} failed after ${f.attemptsMade} attempt(s): ${e.code}: ${e.message}`;
}
