/**
 * JetStream round trip of real scenario runs and `dmasim replay --nats URL --sweep ID --verify` against a
 * real nats-server: every scenario's rebuilt state hash equals the recorded one; a retried attempt is
 * replayed instead of the half-published one.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventFrameOf, JetStreamEventLog } from '@dmasim/adapters';
import { runScenario } from '@dmasim/core';
import { runCliSync } from './helpers/cli.ts';
import { t1ThreeImporters } from './helpers/scenarios.ts';
import { type RunningServer, startNats } from './helpers/servers.ts';

let srv: RunningServer;
before(async () => {
  srv = await startNats();
});
after(async () => {
  await srv?.stop();
});

const spec = (seed: number) =>
  t1ThreeImporters(
    seed,
    { buffers: { count: 2, size: { log2uniform: { min: '64KiB', max: '64MiB' } } }, operations: 30 },
    { checkpointEvery: 10 },
  );

const dmasim = (...args: string[]) => runCliSync(args);

test('round trip of 300 scenario runs through JetStream; dmasim replay --nats --verify passes', async () => {
  const log = await JetStreamEventLog.connect({ url: srv.url });
  try {
    for (let i = 0; i < 300; i++) {
      const id = `scn-${i}`;
      const attempt = i === 7 ? 2 : 1;
      if (i === 7) {
        // Attempt 1 died after publishing part of its frames: never recorded.
        const partial: Uint8Array[] = [];
        runScenario(spec(i), { scenarioId: id, attempt: 1, frameEvents: 20, onFrame: (f) => partial.push(f) });
        await log.publish('sweep-nr', partial.slice(0, 3).map(eventFrameOf));
      }
      const frames: Uint8Array[] = [];
      const s = runScenario(spec(i), { scenarioId: id, attempt, frameEvents: 20, onFrame: (f) => frames.push(f) });
      await log.publish('sweep-nr', frames.map(eventFrameOf));
      await log.recordScenario('sweep-nr', {
        scenarioId: id,
        attempt,
        frames: frames.length,
        events: s.eventCount,
        lastSeq: s.eventCount - 1,
        stateHash: s.stateHash,
      });
    }
  } finally {
    await log.close();
  }
  const r = dmasim('replay', '--nats', srv.url, '--sweep', 'sweep-nr', '--verify', '--json');
  assert.equal(r.code, 0, r.stderr + r.stdout.slice(0, 2000));
  const j = JSON.parse(r.stdout) as {
    ok: boolean;
    scenarios: { scenarioId: string; attempt: number }[];
    skippedFrames: number;
  };
  assert.equal(j.ok, true);
  assert.equal(j.scenarios.length, 300);
  assert.equal(j.scenarios.find((s) => s.scenarioId === 'scn-7')?.attempt, 2);
  assert.equal(j.skippedFrames, 3, 'the unrecorded attempt is not replayed');
  const one = dmasim('replay', '--nats', srv.url, '--sweep', 'sweep-nr', '--scenario', 'scn-42', '--verify');
  assert.equal(one.code, 0, one.stderr);
  assert.match(
    one.stdout,
    /replayed 1 scenario: .*\nok {3}scn-42 attempt 1: \d+ events, state [0-9a-f]{16}, \d+ checkpoints verified/,
  );
  const missing = dmasim('replay', '--nats', srv.url, '--sweep', 'sweep-nr', '--scenario', 'nope');
  assert.equal(missing.code, 3);
});
