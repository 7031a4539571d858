/**
 * Event stream benchmarks (issue 7), against a real nats-server started by the test helper:
 * (b) replay throughput from JetStream: frames of real scenario events read with an ordered consumer,
 *     reassembled, decoded and applied to the reducer (events/s; target >= 1,000,000);
 * (c) the server's raw JetStream publish rate with the same message sizes (messages/s and events/s),
 *     the ceiling to compare against.
 * (a), the same sweep with events to JetStream versus events off, is `sweep.events_to_jetstream_overhead`
 * in bench/sweep.bench.ts (it needs worker nodes).
 */
import { performance } from 'node:perf_hooks';
import { eventFrameOf, JetStreamEventLog } from '@dmasim/adapters';
import { decodeFrame, runScenario } from '@dmasim/core';
import { replayFrames } from '../packages/cli/src/commands/replay/replay-engine.ts';
import { t1ThreeImporters } from '../test/helpers/scenarios.ts';
import { startNats } from '../test/helpers/servers.ts';
import { type Benchmark, result } from './harness.ts';

const spec = (seed: number) =>
  t1ThreeImporters(seed, {
    buffers: { count: 8, size: { log2uniform: { min: '64KiB', max: '256MiB' } }, ranges: { min: 1, max: 3 } },
    operations: 2000,
  });

export const benchmarks: Benchmark[] = [
  {
    name: 'stream',
    async run() {
      const srv = await startNats();
      try {
        const frameEvents = 2000;
        const log = await JetStreamEventLog.connect({ url: srv.url, maxInFlight: 256 });
        const frames: Uint8Array[] = [];
        let events = 0;
        for (let i = 0; i < 40; i++) {
          const s = runScenario(spec(i), {
            scenarioId: `b${i}`,
            attempt: 1,
            frameEvents,
            onFrame: (f) => frames.push(f),
          });
          events += s.eventCount;
        }
        const bytes = frames.reduce((s, f) => s + f.length, 0);
        // (c) raw publish: the same frames, async, bounded in flight.
        const t0 = performance.now();
        await log.publish('bench', frames.map(eventFrameOf));
        const pubS = (performance.now() - t0) / 1000;
        // Decoding alone, in memory: best of 3 (the first run also compiles the decoders).
        let decodeS = Number.POSITIVE_INFINITY;
        let n = 0;
        for (let k = 0; k < 3; k++) {
          const t1 = performance.now();
          n = 0;
          for (const f of frames) n += decodeFrame(f).events.length;
          decodeS = Math.min(decodeS, (performance.now() - t1) / 1000);
        }
        // (b) replay from the stream: ordered consumer, reassembly, decode, reducer; best of 3.
        let best = Number.POSITIVE_INFINITY;
        let replayed = 0;
        for (let k = 0; k < 3; k++) {
          const t2 = performance.now();
          const rep = await replayFrames(log.frames('bench'), { verify: false });
          best = Math.min(best, (performance.now() - t2) / 1000);
          replayed = rep.events;
          if (!rep.ok) throw new Error('bench replay failed');
        }
        const readT = performance.now();
        let m = 0;
        for await (const _ of log.frames('bench')) m++;
        const readS = (performance.now() - readT) / 1000;
        await log.close();
        const extra = {
          frames: frames.length,
          eventsPerFrame: frameEvents,
          meanFrameBytes: Math.round(bytes / frames.length),
          events,
          server: log.serverVersion,
        };
        return [
          result('stream.replay.events_per_s', 'events/s', replayed / best, 1_000_000, {
            ...extra,
            target: 1_000_000,
            met: replayed / best >= 1_000_000,
          }),
          result('stream.read.frames_per_s', 'frames/s', m / readS, null, extra),
          result('stream.read.events_per_s', 'events/s', events / readS, null, extra),
          result('stream.decode_only.events_per_s', 'events/s', n / decodeS, null, extra),
          result('stream.publish.msgs_per_s', 'msgs/s', frames.length / pubS, null, extra),
          result('stream.publish.events_per_s', 'events/s', events / pubS, null, extra),
          result('stream.publish.mib_per_s', 'MiB/s', bytes / 1048576 / pubS, null, extra),
        ];
      } finally {
        await srv.stop();
      }
    },
  },
];
