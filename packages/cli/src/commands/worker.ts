import { availableParallelism } from 'node:os';
import { JetStreamEventLog } from '@dmasim/adapters';
import { DmasimError, ErrorCode } from '@dmasim/core';
import { describeTelemetry, initTelemetry, injectContext } from '@dmasim/telemetry';
import { startWorkerNode } from '@dmasim/worker';
import { type Command, Option } from 'commander';
import { intOption } from '../options.ts';
import type { CliCommand } from './registry.ts';

/** `dmasim worker --redis URL`: a worker node that runs sweep shards from Redis until SIGINT/SIGTERM. */
export const workerCommand: CliCommand = {
  name: 'worker',
  summary: 'start a worker node that runs sweep shards from Redis',
  register(program: Command) {
    program
      .command('worker')
      .summary(this.summary)
      .description(
        'Starts a worker node: takes shard jobs from the BullMQ queue on Redis and runs their scenarios on a\n' +
          'thread pool. SIGINT or SIGTERM stop it gracefully: no new jobs, running shards get --grace to finish,\n' +
          'the rest go back to the queue for other workers.',
      )
      .addOption(
        new Option('--redis <url>', 'Redis URL (redis://host:port)').env('DMASIM_REDIS_URL').makeOptionMandatory(),
      )
      .addOption(
        new Option('--nats <url>', 'publish every event to NATS JetStream (nats://host:port)').env('DMASIM_NATS_URL'),
      )
      .addOption(
        new Option('--threads <n>', 'thread-pool size')
          .argParser(intOption('--threads', 1))
          .default(availableParallelism(), 'cores')
          .env('DMASIM_WORKER_THREADS'),
      )
      .addOption(
        new Option('--concurrency <n>', 'shard jobs in flight (default: threads)').argParser(
          intOption('--concurrency', 1),
        ),
      )
      .addOption(
        new Option('--grace <ms>', 'grace period for running shards at shutdown')
          .argParser(intOption('--grace', 0))
          .default(30_000)
          .env('DMASIM_WORKER_GRACE_MS'),
      )
      .addOption(
        new Option('--lock-duration <ms>', "BullMQ job lock duration (a killed worker's jobs are retaken after this)")
          .argParser(intOption('--lock-duration', 1000))
          .default(30_000),
      )
      .addOption(
        new Option('--stalled-interval <ms>', 'how often to look for stalled jobs')
          .argParser(intOption('--stalled-interval', 1000))
          .default(30_000),
      )
      .addOption(new Option('--name <name>', 'worker name in results (default host:pid)').env('DMASIM_WORKER_NAME'))
      .addOption(
        new Option('--health-port <port>', 'serve /healthz and /readyz on this port (Kubernetes probes)')
          .argParser(intOption('--health-port', 1, 65535))
          .env('DMASIM_HEALTH_PORT'),
      )
      .addOption(
        new Option('--health-host <addr>', 'address the health server binds to')
          .default('0.0.0.0')
          .env('DMASIM_HEALTH_HOST'),
      )
      .option('--trace', 'record traces and metrics (to the OTEL_EXPORTER_OTLP_* endpoint, else http://localhost:4318)')
      .action(
        async (o: {
          redis: string;
          threads: number;
          concurrency?: number;
          grace: number;
          lockDuration: number;
          stalledInterval: number;
          name?: string;
          healthPort?: number;
          healthHost: string;
          nats?: string;
          trace?: boolean;
        }) => {
          if (!/^rediss?:\/\//.test(o.redis))
            throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `--redis: expected redis://host:port, got "${o.redis}"`);
          const telemetry = initTelemetry({ serviceName: 'dmasim-worker', trace: o.trace === true });
          if (telemetry.config.enabled) process.stderr.write(`worker: ${describeTelemetry(telemetry.config)}\n`);
          const eventLog = o.nats
            ? await JetStreamEventLog.connect({ url: o.nats, traceHeaders: () => injectContext() })
            : undefined;
          if (eventLog)
            telemetry.metrics.observePublishBacklog(() => eventLog.pendingFrames, { 'messaging.system': 'nats' });
          const node = startWorkerNode({
            ...(eventLog ? { eventLog } : {}),
            redis: o.redis,
            threads: o.threads,
            ...(o.concurrency ? { concurrency: o.concurrency } : {}),
            graceMs: o.grace,
            lockDurationMs: o.lockDuration,
            stalledIntervalMs: o.stalledInterval,
            ...(o.name ? { name: o.name } : {}),
            ...(o.healthPort ? { healthPort: o.healthPort, healthHost: o.healthHost } : {}),
            telemetry,
          });
          await node.closed;
          await telemetry.shutdown();
        },
      );
  },
};
