/**
 * In-process adapters for the embedded default: a job queue whose consumer runs in the same process, and a
 * result store in memory that can also append every shard result to `results.ndjson` in the sweep's output
 * folder, so an interrupted embedded sweep resumes where it stopped.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DmasimError, ErrorCode, type PlainError, toPlainError } from '@dmasim/core';
import type {
  JobConsumer,
  JobQueue,
  ResultStore,
  ShardFailure,
  ShardHandler,
  ShardJob,
  ShardResult,
  SweepState,
} from './types.ts';

const key = (sweepId: string, shard: number): string => `${sweepId}.${shard}`;

/** Options of {@link MemoryQueue}. */
export interface MemoryQueueOptions {
  /** Attempts per job before it fails for good (default 3), as BullMQ's `attempts`. */
  attempts?: number;
  /** Base of the exponential backoff between attempts, ms (default 100). */
  backoffMs?: number;
}

/**
 * A job queue and consumer in one object, for one process. Jobs are taken in FIFO order; retryable
 * failures are retried with exponential backoff, final ones (invalid input) are not.
 */
export class MemoryQueue implements JobQueue, JobConsumer {
  private readonly waiting: ShardJob[] = [];
  private readonly known = new Set<string>();
  private readonly failed = new Map<string, ShardFailure>();
  private readonly attemptsOf = new Map<string, number>();
  private handler: ShardHandler | undefined;
  private concurrency = 1;
  private active = 0;
  private closing = false;
  private readonly abort = new AbortController();
  private readonly idle: (() => void)[] = [];
  private readonly attempts: number;
  private readonly backoffMs: number;

  constructor(opts: MemoryQueueOptions = {}) {
    this.attempts = opts.attempts ?? 3;
    this.backoffMs = opts.backoffMs ?? 100;
  }

  async enqueue(jobs: readonly ShardJob[]): Promise<void> {
    for (const j of jobs) {
      const k = key(j.sweepId, j.shardIndex);
      if (this.known.has(k)) continue;
      this.known.add(k);
      this.waiting.push(j);
    }
    this.pump();
  }

  async failures(sweepId: string, shards: readonly number[]): Promise<ShardFailure[]> {
    const out: ShardFailure[] = [];
    for (const s of shards) {
      const f = this.failed.get(key(sweepId, s));
      if (f) out.push(f);
    }
    return out;
  }

  async retry(sweepId: string, shardIndex: number): Promise<void> {
    const k = key(sweepId, shardIndex);
    if (!this.failed.delete(k)) return;
    this.attemptsOf.delete(k);
    this.known.delete(k);
  }

  async cancel(sweepId: string, shards: readonly number[]): Promise<void> {
    const drop = new Set(shards.map((s) => key(sweepId, s)));
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const j = this.waiting[i]!;
      if (drop.has(key(j.sweepId, j.shardIndex))) this.waiting.splice(i, 1);
    }
  }

  start(handler: ShardHandler, opts: { concurrency: number }): void {
    this.handler = handler;
    this.concurrency = Math.max(1, opts.concurrency);
    this.pump();
  }

  async close(graceMs = 0): Promise<void> {
    this.closing = true;
    if (this.active > 0) {
      const drained = new Promise<void>((r) => this.idle.push(r));
      const timer = new Promise<void>((r) => setTimeout(r, graceMs).unref());
      await Promise.race([drained, timer]);
      this.abort.abort();
    }
  }

  private pump(): void {
    while (!this.closing && this.handler && this.active < this.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.active++;
      void this.runOne(this.handler, job).finally(() => {
        this.active--;
        if (this.active === 0) for (const r of this.idle.splice(0)) r();
        this.pump();
      });
    }
  }

  private async runOne(handler: ShardHandler, job: ShardJob): Promise<void> {
    const k = key(job.sweepId, job.shardIndex);
    const attempt = (this.attemptsOf.get(k) ?? 0) + 1;
    this.attemptsOf.set(k, attempt);
    try {
      await handler(job, { attempt, signal: this.abort.signal });
    } catch (e) {
      const plain: PlainError = toPlainError(e);
      if (plain.retryable && attempt < this.attempts && !this.closing) {
        const delay = this.backoffMs * 2 ** (attempt - 1);
        setTimeout(() => {
          this.waiting.push(job);
          this.pump();
        }, delay).unref();
        return;
      }
      this.failed.set(k, { shardIndex: job.shardIndex, error: plain, attemptsMade: attempt });
    }
  }
}

/**
 * A result store in memory. With `dir`, it also writes `sweep.json` and appends each shard result as one
 * line of `results.ndjson` (synchronously, before acknowledging it), and reads them back when opened on a
 * folder that has them, so an embedded sweep that was interrupted resumes without redoing finished shards.
 */
export class MemoryResultStore implements ResultStore {
  private readonly sweeps = new Map<string, string>();
  private readonly states = new Map<string, SweepState>();
  private readonly shards = new Map<string, Map<number, ShardResult>>();
  private readonly log = new Map<string, number[]>();
  private readonly dir: string | undefined;

  constructor(opts: { dir?: string } = {}) {
    this.dir = opts.dir;
    if (this.dir) this.load(this.dir);
  }

  private load(dir: string): void {
    const specFile = join(dir, 'sweep.json');
    if (!existsSync(specFile)) return;
    const spec = readFileSync(specFile, 'utf8');
    const id = (JSON.parse(spec) as { id: string }).id;
    this.sweeps.set(id, spec);
    const resultsFile = join(dir, 'results.ndjson');
    if (!existsSync(resultsFile)) return;
    const lines = readFileSync(resultsFile, 'utf8').split('\n');
    for (const [i, line] of lines.entries()) {
      if (line.trim() === '') continue;
      let r: ShardResult;
      try {
        r = JSON.parse(line) as ShardResult;
      } catch {
        // A line cut short by a crash while appending: the shard simply runs again.
        if (i === lines.length - 1 || lines.slice(i + 1).every((l) => l.trim() === '')) continue;
        throw new DmasimError(ErrorCode.EVENT_DECODE, `${resultsFile}:${i + 1}: not a JSON shard result`);
      }
      this.remember(r);
    }
  }

  private remember(r: ShardResult): boolean {
    let m = this.shards.get(r.sweepId);
    if (!m) {
      m = new Map();
      this.shards.set(r.sweepId, m);
    }
    if (m.has(r.shardIndex)) return false;
    m.set(r.shardIndex, r);
    let l = this.log.get(r.sweepId);
    if (!l) {
      l = [];
      this.log.set(r.sweepId, l);
    }
    l.push(r.shardIndex);
    return true;
  }

  async saveSweep(sweepId: string, specJson: string): Promise<'created' | 'same' | 'conflict'> {
    const had = this.sweeps.get(sweepId);
    if (had !== undefined) return had === specJson ? 'same' : 'conflict';
    this.sweeps.set(sweepId, specJson);
    if (this.dir) {
      mkdirSync(this.dir, { recursive: true });
      writeFileSync(join(this.dir, 'sweep.json'), specJson);
    }
    return 'created';
  }

  async loadSweep(sweepId: string): Promise<string | undefined> {
    return this.sweeps.get(sweepId);
  }

  async setState(sweepId: string, state: SweepState): Promise<void> {
    this.states.set(sweepId, state);
  }

  async getState(sweepId: string): Promise<SweepState | undefined> {
    return this.states.get(sweepId);
  }

  async putShard(result: ShardResult): Promise<boolean> {
    if (this.shards.get(result.sweepId)?.has(result.shardIndex)) return false;
    if (this.dir) appendFileSync(join(this.dir, 'results.ndjson'), `${JSON.stringify(result)}\n`);
    return this.remember(result);
  }

  async completions(sweepId: string, cursor: number): Promise<{ shards: number[]; cursor: number }> {
    const l = this.log.get(sweepId) ?? [];
    return { shards: l.slice(cursor), cursor: l.length };
  }

  async *readShards(sweepId: string): AsyncIterable<ShardResult> {
    const m = this.shards.get(sweepId);
    if (!m) return;
    for (const k of [...m.keys()].sort((a, b) => a - b)) yield m.get(k)!;
  }

  async close(): Promise<void> {}
}
