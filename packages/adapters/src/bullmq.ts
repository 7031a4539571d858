/**
 * The distributed adapters: shard jobs as BullMQ jobs on Redis (ioredis), and shard results in Redis.
 *
 * Job ids are `<sweepId>.<shardIndex>`, so enqueueing a shard that is still queued, running or failed is a
 * no-op (BullMQ ignores an add with an existing id); finished shards are never enqueued again because the
 * coordinator skips every shard the result store already holds. Retryable failures get exponential
 * backoff; final ones (invalid input) are thrown as `UnrecoverableError` and are not retried.
 */
import { hostname } from 'node:os';
import { DmasimError, ErrorCode, type PlainError, toPlainError } from '@dmasim/core';
import { type Job, Queue, type Telemetry, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
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

/** Default BullMQ queue name for shard jobs. */
export const SHARD_QUEUE = 'dmasim-shards';

/** Connection options for ioredis and BullMQ (plain data, so both libraries' option types accept it). */
export interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
  maxRetriesPerRequest: null;
  enableOfflineQueue: boolean;
}

/** Connection options from a `redis://host:port/db` URL, as BullMQ needs them (no request retry limit). */
export function redisOptions(url: string): RedisConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `not a Redis URL: "${url}" (expected redis://host:port)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `not a Redis URL: "${url}" (expected redis://host:port)`);
  }
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
  };
}

const jobId = (sweepId: string, shard: number): string => `${sweepId}.${shard}`;

/** Options shared by the BullMQ producer and consumer. */
export interface BullmqOptions {
  /** Redis URL (`redis://127.0.0.1:6379`). */
  url: string;
  /** Queue name (default {@link SHARD_QUEUE}). */
  queue?: string;
  /** Key prefix in Redis (default `bull`, BullMQ's). */
  prefix?: string;
  /** BullMQ's telemetry hook (the `telemetry` option of Queue and Worker; see `bullmqTelemetry` in @dmasim/telemetry). */
  telemetry?: Telemetry;
}

/** Producer options. */
export interface BullmqQueueOptions extends BullmqOptions {
  /** Attempts per shard for retryable failures (default 5). */
  attempts?: number;
  /** First backoff delay, ms, doubling each attempt (default 1000). */
  backoffMs?: number;
}

/** The coordinator's side of the BullMQ queue. */
export class BullmqQueue implements JobQueue {
  private readonly queue: Queue;
  private readonly attempts: number;
  private readonly backoffMs: number;

  constructor(opts: BullmqQueueOptions) {
    this.queue = new Queue(opts.queue ?? SHARD_QUEUE, {
      connection: redisOptions(opts.url),
      ...(opts.prefix ? { prefix: opts.prefix } : {}),
      ...(opts.telemetry ? { telemetry: opts.telemetry } : {}),
    });
    this.queue.on('error', () => {
      // Connection errors are retried by ioredis; the coordinator sees them as slow progress.
    });
    this.attempts = opts.attempts ?? 5;
    this.backoffMs = opts.backoffMs ?? 1000;
  }

  async enqueue(jobs: readonly ShardJob[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.queue.addBulk(
      jobs.map((j) => ({
        name: 'shard',
        data: j,
        opts: {
          jobId: jobId(j.sweepId, j.shardIndex),
          attempts: this.attempts,
          backoff: { type: 'exponential', delay: this.backoffMs },
          removeOnComplete: true,
          removeOnFail: false,
        },
      })),
    );
  }

  async failures(sweepId: string, shards: readonly number[]): Promise<ShardFailure[]> {
    const out: ShardFailure[] = [];
    for (const s of shards) {
      const job = await this.queue.getJob(jobId(sweepId, s));
      if (!job?.finishedOn || job.failedReason === undefined || job.failedReason === '') continue;
      if ((await job.getState()) !== 'failed') continue;
      out.push({ shardIndex: s, error: decodeFailure(job.failedReason), attemptsMade: job.attemptsMade });
    }
    return out;
  }

  async retry(sweepId: string, shardIndex: number): Promise<void> {
    const job = await this.queue.getJob(jobId(sweepId, shardIndex));
    if (job && (await job.getState()) === 'failed') await job.retry('failed');
  }

  async cancel(sweepId: string, shards: readonly number[]): Promise<void> {
    for (const s of shards) {
      const job = await this.queue.getJob(jobId(sweepId, s));
      if (!job) continue;
      const state = await job.getState();
      if (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'failed') {
        await job.remove().catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    await this.queue.close();
  }

  /** The underlying BullMQ queue (for tests and telemetry). */
  get bullQueue(): Queue {
    return this.queue;
  }
}

/** Failure reasons travel through BullMQ as `CODE: message`; this rebuilds the plain error. */
function encodeFailure(p: PlainError): string {
  return `${p.code}: ${p.message}`;
}
function decodeFailure(reason: string): PlainError {
  const m = /^([A-Z][A-Z0-9_]+): ([\s\S]*)$/.exec(reason);
  const code = (m?.[1] ?? ErrorCode.INTERNAL) as PlainError['code'];
  const known = Object.values(ErrorCode).includes(code);
  return {
    name: 'DmasimError',
    code: known ? code : ErrorCode.INTERNAL,
    message: known ? m![2]! : reason,
    retryable: code === ErrorCode.SERVICE_UNAVAILABLE,
  };
}

/** Consumer options. */
export interface BullmqConsumerOptions extends BullmqOptions {
  /** How long a job's lock lasts without renewal before it counts as stalled, ms (default 30000). */
  lockDurationMs?: number;
  /** How often to look for stalled jobs, ms (default 30000). */
  stalledIntervalMs?: number;
  /** Worker name reported in results (default host:pid). */
  name?: string;
}

/** A worker node's side of the BullMQ queue. */
export class BullmqConsumer implements JobConsumer {
  private worker: Worker | undefined;
  private readonly opts: BullmqConsumerOptions;
  private readonly abort = new AbortController();
  private closing: Promise<void> | undefined;
  readonly name: string;

  constructor(opts: BullmqConsumerOptions) {
    this.opts = opts;
    this.name = opts.name ?? `${hostname()}:${process.pid}`;
  }

  start(handler: ShardHandler, opts: { concurrency: number }): void {
    if (this.worker) throw new DmasimError(ErrorCode.INTERNAL, 'BullmqConsumer.start called twice');
    const processor = async (job: Job, token?: string) => {
      const data = job.data as ShardJob;
      try {
        return await handler(data, { attempt: job.attemptsMade + 1, signal: this.abort.signal });
      } catch (e) {
        if (this.abort.signal.aborted && token) {
          // Shutting down past the grace period: hand the job back at once instead of waiting for a stall.
          await job.moveToWait(token);
          throw new WaitingError();
        }
        const plain = toPlainError(e);
        if (!plain.retryable && plain.code !== ErrorCode.INTERNAL) throw new UnrecoverableError(encodeFailure(plain));
        throw new Error(encodeFailure(plain));
      }
    };
    this.worker = new Worker(this.opts.queue ?? SHARD_QUEUE, processor, {
      connection: redisOptions(this.opts.url),
      ...(this.opts.prefix ? { prefix: this.opts.prefix } : {}),
      ...(this.opts.telemetry ? { telemetry: this.opts.telemetry } : {}),
      concurrency: Math.max(1, opts.concurrency),
      lockDuration: this.opts.lockDurationMs ?? 30_000,
      stalledInterval: this.opts.stalledIntervalMs ?? 30_000,
      maxStalledCount: 3,
      name: this.name,
    });
    this.worker.on('error', () => {
      // Lost connections are retried by ioredis; jobs in flight keep their locks or are re-run after a stall.
    });
  }

  close(graceMs: number): Promise<void> {
    if (this.closing) return this.closing;
    const w = this.worker;
    this.closing = (async () => {
      if (!w) return;
      const graceful = w.close();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), graceMs);
      });
      const outcome = await Promise.race([graceful.then(() => 'closed' as const), timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.abort.abort();
        await w.close(true);
      }
    })();
    return this.closing;
  }

  /** The underlying BullMQ worker (for tests and telemetry). */
  get bullWorker(): Worker | undefined {
    return this.worker;
  }
}

const PUT_SHARD_LUA = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0`;

/**
 * Sweeps and shard results in Redis, under `dmasim:sweep:{<id>}:*`: `spec` (string), `state` (string),
 * `results` (hash shardIndex -> JSON, written with HSETNX so each shard is stored exactly once) and `done`
 * (list of shard indexes in completion order, appended in the same Lua script). The hash tag keeps one
 * sweep's keys in one Redis Cluster slot.
 */
export class RedisResultStore implements ResultStore {
  private readonly redis: Redis;

  constructor(opts: { url: string }) {
    this.redis = new Redis(redisOptions(opts.url));
    this.redis.on('error', () => {
      // ioredis reconnects; commands wait in its offline queue.
    });
    this.redis.defineCommand('dmasimPutShard', { numberOfKeys: 2, lua: PUT_SHARD_LUA });
  }

  private k(sweepId: string, what: string): string {
    return `dmasim:sweep:{${sweepId}}:${what}`;
  }

  async saveSweep(sweepId: string, specJson: string): Promise<'created' | 'same' | 'conflict'> {
    const ok = await this.redis.set(this.k(sweepId, 'spec'), specJson, 'NX');
    if (ok === 'OK') return 'created';
    return (await this.redis.get(this.k(sweepId, 'spec'))) === specJson ? 'same' : 'conflict';
  }

  async loadSweep(sweepId: string): Promise<string | undefined> {
    return (await this.redis.get(this.k(sweepId, 'spec'))) ?? undefined;
  }

  async setState(sweepId: string, state: SweepState): Promise<void> {
    await this.redis.set(this.k(sweepId, 'state'), state);
  }

  async getState(sweepId: string): Promise<SweepState | undefined> {
    return ((await this.redis.get(this.k(sweepId, 'state'))) as SweepState | null) ?? undefined;
  }

  async putShard(result: ShardResult): Promise<boolean> {
    const r = await (
      this.redis as unknown as { dmasimPutShard(a: string, b: string, c: string, d: string): Promise<number> }
    ).dmasimPutShard(
      this.k(result.sweepId, 'results'),
      this.k(result.sweepId, 'done'),
      String(result.shardIndex),
      JSON.stringify(result),
    );
    return r === 1;
  }

  async completions(sweepId: string, cursor: number): Promise<{ shards: number[]; cursor: number }> {
    const items = await this.redis.lrange(this.k(sweepId, 'done'), cursor, -1);
    return { shards: items.map(Number), cursor: cursor + items.length };
  }

  async *readShards(sweepId: string): AsyncIterable<ShardResult> {
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.k(sweepId, 'results'), cursor, 'COUNT', 64);
      cursor = next;
      for (let i = 1; i < flat.length; i += 2) yield JSON.parse(flat[i]!) as ShardResult;
    } while (cursor !== '0');
  }

  /** Deletes every key of a sweep (tests, and `dmasim sweep --clean`). */
  async deleteSweep(sweepId: string): Promise<void> {
    await this.redis.del(...['spec', 'state', 'results', 'done'].map((w) => this.k(sweepId, w)));
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
