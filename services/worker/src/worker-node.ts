/**
 * A worker node: a BullMQ consumer on Redis feeding a {@link ShardExecutor} on a piscina pool. SIGINT and
 * SIGTERM lead to one bounded, idempotent shutdown: stop taking jobs, let running shards finish within the
 * grace period, hand the rest back to the queue, close the pool and Redis.
 */
import { createServer, type Server } from 'node:http';
import { BullmqConsumer, type BullmqConsumerOptions, type EventLog, RedisResultStore } from '@dmasim/adapters';
import { bullmqTelemetry, instrumentShardHandler, type Telemetry } from '@dmasim/telemetry';
import { ScenarioPool } from './pool.ts';
import { ShardExecutor } from './shard-executor.ts';

/** Options of {@link startWorkerNode}. */
export interface WorkerNodeOptions {
  /** Redis URL. */
  readonly redis: string;
  /** Pool threads (default: cores). */
  readonly threads?: number;
  /** Shard jobs in flight at once (default: threads; each shard is split over the threads). */
  readonly concurrency?: number;
  /** Grace period for running shards at shutdown, ms (default 30000). */
  readonly graceMs?: number;
  /** BullMQ lock duration / stalled-check interval, ms (default 30000 each). */
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
  readonly queue?: string;
  readonly name?: string;
  /** Install SIGINT/SIGTERM handlers (default true). */
  readonly handleSignals?: boolean;
  readonly log?: (line: string) => void;
  /**
   * Serve `GET /healthz` (200 while the process runs) and `GET /readyz` (200 while the node takes jobs and
   * its Redis connection is up, 503 otherwise) on this port, on all interfaces, for Kubernetes probes.
   */
  readonly healthPort?: number;
  /** Address the health server binds to (default 0.0.0.0 in a pod; tests use 127.0.0.1). */
  readonly healthHost?: string;
  /** Publish every event here (JetStream); closed at shutdown. */
  readonly eventLog?: EventLog;
  /**
   * Telemetry (docs/TELEMETRY.md): a CONSUMER span and metrics per shard, BullMQ's metrics, the pool
   * threads' spans. The caller owns it (initTelemetry before, shutdown after `closed`).
   */
  readonly telemetry?: Telemetry;
}

/** A running worker node. */
export interface WorkerNode {
  readonly name: string;
  readonly executor: ShardExecutor;
  /** Resolves when the node has shut down. */
  readonly closed: Promise<void>;
  /** Starts the bounded shutdown (idempotent). */
  shutdown(reason?: string): Promise<void>;
}

/** Starts a worker node and returns at once; it runs until {@link WorkerNode.shutdown} or a signal. */
export function startWorkerNode(opts: WorkerNodeOptions): WorkerNode {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const pool = new ScenarioPool(opts.threads !== undefined ? { threads: opts.threads } : {});
  const store = new RedisResultStore({ url: opts.redis });
  const consumerOpts: BullmqConsumerOptions = {
    url: opts.redis,
    ...(opts.queue ? { queue: opts.queue } : {}),
    ...(opts.lockDurationMs ? { lockDurationMs: opts.lockDurationMs } : {}),
    ...(opts.stalledIntervalMs ? { stalledIntervalMs: opts.stalledIntervalMs } : {}),
    ...(opts.name ? { name: opts.name } : {}),
  };
  const bullTelemetry = opts.telemetry ? bullmqTelemetry(opts.telemetry) : undefined;
  if (bullTelemetry) consumerOpts.telemetry = bullTelemetry;
  const consumer = new BullmqConsumer(consumerOpts);
  const executor = new ShardExecutor({
    pool,
    store,
    workerName: consumer.name,
    ...(opts.eventLog ? { eventLog: opts.eventLog } : {}),
    ...(opts.telemetry ? { telemetry: opts.telemetry } : {}),
  });
  const handler = opts.telemetry
    ? instrumentShardHandler(opts.telemetry, executor.handle, { clientId: consumer.name })
    : executor.handle;
  consumer.start(handler, { concurrency: opts.concurrency ?? pool.threads });
  log(`worker ${consumer.name}: ${pool.threads} threads, taking shard jobs from ${opts.redis}`);
  let health: Server | undefined;
  if (opts.healthPort !== undefined) {
    health = createServer((req, res) => {
      const w = consumer.bullWorker;
      const ready = !shuttingDown && w !== undefined && w.isRunning() && !w.closing;
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (req.url === '/readyz') {
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
      } else {
        res.writeHead(404).end();
      }
    });
    health.on('error', (e) => log(`worker ${consumer.name}: health server: ${e.message}`));
    health.listen(opts.healthPort, opts.healthHost ?? '0.0.0.0');
  }

  let resolveClosed: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  let shuttingDown: Promise<void> | undefined;
  const graceMs = opts.graceMs ?? 30_000;
  const shutdown = (reason = 'shutdown'): Promise<void> => {
    if (shuttingDown) return shuttingDown;
    log(`worker ${consumer.name}: ${reason}: finishing running shards (grace ${graceMs} ms)`);
    shuttingDown = (async () => {
      await consumer.close(graceMs);
      health?.close();
      await pool.close();
      await opts.eventLog?.close();
      await store.close();
      for (const [sig, h] of handlers) process.off(sig, h);
      log(`worker ${consumer.name}: stopped after ${executor.shardsRun} shards`);
      resolveClosed();
    })();
    return shuttingDown;
  };
  const handlers: [NodeJS.Signals, () => void][] = [];
  if (opts.handleSignals !== false) {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const h = (): void => {
        void shutdown(sig);
      };
      handlers.push([sig, h]);
      process.on(sig, h);
    }
  }
  return { name: consumer.name, executor, closed, shutdown };
}
