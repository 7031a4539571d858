/**
 * `dmasim replay` on local event logs written by a real scenario run: --verify passes on an intact log,
 * and fails (exit 1, naming the divergent events) on a changed event, a dropped frame, or a wrong record.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { eventFrameOf, FileEventLog } from '@dmasim/adapters';
import { decodeFrame, encodeFrame, eventsToNdjson, runScenario } from '@dmasim/core';
import { runCliSync } from './helpers/cli.ts';
import { t1ThreeImporters } from './helpers/scenarios.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dmasim-replay-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function spec(seed: number) {
  return t1ThreeImporters(
    seed,
    {
      buffers: { count: 3, size: { log2uniform: { min: '64KiB', max: '256MiB' } }, ranges: { min: 1, max: 2 } },
      operations: 60,
    },
    { checkpointEvery: 10 },
  );
}

/** Writes a sweep-like folder of `n` scenarios; `mutate` may change the frames before they are stored. */
async function writeLog(name: string, n: number, mutate?: (frames: Uint8Array[], id: string) => Uint8Array[]) {
  const dir = join(tmp, name);
  const log = new FileEventLog({ dir });
  for (let i = 0; i < n; i++) {
    const id = `s${i}`;
    let frames: Uint8Array[] = [];
    const s = runScenario(spec(100 + i), {
      scenarioId: id,
      attempt: 1,
      frameEvents: 40,
      onFrame: (f) => frames.push(f),
    });
    if (mutate) frames = mutate(frames, id);
    await log.publish('sw', frames.map(eventFrameOf));
    const total = frames.reduce((k, f) => k + decodeFrame(f).meta.count, 0);
    await log.recordScenario('sw', {
      scenarioId: id,
      attempt: 1,
      frames: frames.length,
      events: total,
      lastSeq: total - 1,
      stateHash: s.stateHash,
    });
  }
  await log.close();
  return dir;
}

const dmasim = (...args: string[]) => runCliSync(args);

test('replay --verify of an intact log: every state hash matches (exit 0)', async () => {
  const dir = await writeLog('ok', 5);
  const r = dmasim('replay', dir, '--verify');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /replayed 5 scenarios: \d+ events in \d+ frames/);
  assert.match(r.stdout, /verify: all 5 state hashes match/);
  const j = JSON.parse(dmasim('replay', join(dir, 'events.dmlog'), '--verify', '--json').stdout) as {
    ok: boolean;
    scenarios: { checkpoints: number }[];
  };
  assert.equal(j.ok, true);
  assert.ok(j.scenarios.every((s) => s.checkpoints >= 2));
});

test('a changed event fails --verify and names the range of the first divergent event', async () => {
  const dir = await writeLog('changed', 2, (frames, id) => {
    if (id !== 's1') return frames;
    // Re-encode the first frame after frame 0 that has a successful map: one SG entry moved to another
    // DMA address, a plausible but false event.
    for (let k = 1; k < frames.length; k++) {
      const { meta, events } = decodeFrame(frames[k]!);
      const i = events.findIndex((e) => e.type === 'dmabuf.map.end' && e.data.entries.length > 0);
      if (i < 0) continue;
      const e = events[i] as import('@dmasim/core').SimEvent<'dmabuf.map.end'>;
      const entries = e.data.entries.map((x, j) => (j === 0 ? { ...x, dmaAddress: x.dmaAddress + 0x1000n } : x));
      events[i] = { ...e, data: { ...e.data, entries } };
      frames[k] = encodeFrame(events, {
        scenarioId: meta.scenarioId,
        attempt: meta.attempt,
        frameIndex: meta.frameIndex,
      });
      break;
    }
    return frames;
  });
  const r = dmasim('replay', dir, '--verify');
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /ok {3}s0 attempt 1/);
  assert.match(
    r.stdout,
    /FAIL s1 attempt 1: STATE_HASH_MISMATCH: .*first divergent event lies in seq \d+\.\.\d+|FAIL s1 attempt 1: STATE_HASH_MISMATCH: event seq \d+/,
  );
  assert.match(r.stdout, /verify: 1 of 2 scenarios FAILED/);
  // Without --verify the log is still structurally sound.
  assert.equal(dmasim('replay', dir).code, 0);
});

test('a dropped frame is a gap (exit 1, EVENT_SEQ_GAP) even without --verify', async () => {
  const dir = await writeLog('gap', 1, (frames) => frames.filter((_, i) => i !== 1));
  const r = dmasim('replay', dir);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FAIL s0 attempt 1: EVENT_SEQ_GAP: .*frame 1/);
});

test('a record whose hash differs from the log fails --verify', async () => {
  const dir = await writeLog('record', 1);
  const f = join(dir, 'scenarios.ndjson');
  writeFileSync(f, readFileSync(f, 'utf8').replace(/"stateHash":"[0-9a-f]{16}"/, '"stateHash":"0123456789abcdef"'));
  const r = dmasim('replay', dir, '--verify');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /record's state hash 0123456789abcdef differs from the log's sim.end/);
});

test('--until, --show and --perfetto of one scenario; NDJSON input', async () => {
  const dir = await writeLog('show', 2);
  const r = dmasim('replay', dir, '--scenario', 's1', '--until', '20', '--show');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^timeline of scenario s1 attempt 1 \(21 events\)$/);
  assert.equal(lines.length, 23);
  assert.match(lines[2]!, /^\s+0\s+0\.000us cpu0 sim\.begin /);
  assert.equal(dmasim('replay', dir, '--show').code, 2, 'two scenarios need --scenario');
  const out = join(tmp, 'p.json');
  assert.equal(dmasim('replay', dir, '--scenario', 's0', '--perfetto', out).code, 0);
  const pj = JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: { ph: string; name: string }[] };
  assert.ok(pj.traceEvents.some((e) => e.ph === 'X' && e.name.startsWith('map ')));
  assert.ok(pj.traceEvents.some((e) => e.ph === 'b' && e.name.startsWith('mapping ')));
  assert.ok(pj.traceEvents.some((e) => e.ph === 'M' && e.name === 'thread_name'));
  const events: import('@dmasim/core').SimEvent[] = [];
  runScenario(spec(7), { scenarioId: 'nd', onEvent: (e) => events.push(e) });
  const nd = join(tmp, 'e.ndjson');
  writeFileSync(nd, eventsToNdjson(events));
  const rn = dmasim('replay', nd, '--verify');
  assert.equal(rn.code, 0, rn.stdout + rn.stderr);
  assert.match(rn.stdout, /ok {3}nd attempt 0: \d+ events/);
});

test('usage errors exit 2; a file that is no event log exits 3', () => {
  assert.equal(dmasim('replay').code, 2);
  assert.equal(dmasim('replay', '--nats', 'nats://127.0.0.1:1').code, 2);
  const bad = join(tmp, 'bad.bin');
  writeFileSync(bad, 'hello');
  const r = dmasim('replay', bad);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /EVENT_DECODE/);
});
