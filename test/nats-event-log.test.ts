/**
 * The JetStream event log against a real nats-server (2.9 on Debian): round trip of thousands of
 * scenarios, dedupe of a retried shard, publishing across a server restart, a full stream, and a worker
 * killed mid-publish. Each test uses its own server (fresh data directory).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import {
  type EventFrame,
  eventFrameOf,
  FrameAssembler,
  frameMsgId,
  fromSubjectToken,
  JetStreamEventLog,
  type ScenarioEventsRecord,
  subjectToken,
} from '@dmasim/adapters';
import { encodeFrame, fnv1a64Hex, type SimEvent } from '@dmasim/core';
import { type RunningServer, startNats } from './helpers/servers.ts';

/** Frames of one synthetic scenario: `nFrames` frames of `per` schema-valid events each. */
function scenarioFrames(scenarioId: string, attempt: number, nFrames: number, per: number): EventFrame[] {
  const out: EventFrame[] = [];
  let seq = 0;
  for (let f = 0; f < nFrames; f++) {
    const evs: SimEvent[] = [];
    for (let i = 0; i < per; i++, seq++) {
      evs.push({
        scenarioId,
        seq,
        tNs: seq * 250,
        cpu: seq % 4,
        origin: 'sim',
        type: 'kernel.log',
        data: {
          device: '0000:21:00.0',
          level: 'info',
          text: `${scenarioId} event ${seq}`,
          msg: 'test.line',
          once: null,
        },
      } as SimEvent);
    }
    out.push(eventFrameOf(encodeFrame(evs, { scenarioId, attempt, frameIndex: f })));
  }
  return out;
}

function recordOf(frames: readonly EventFrame[]): ScenarioEventsRecord {
  const last = frames[frames.length - 1]!;
  const events = last.firstSeq + last.count;
  return {
    scenarioId: last.scenarioId,
    attempt: last.attempt,
    frames: frames.length,
    events,
    lastSeq: events - 1,
    stateHash: fnv1a64Hex(last.scenarioId),
  };
}

const hex = (b: Uint8Array): string => fnv1a64Hex(Buffer.from(b).toString('base64'));

/** Reads the sweep back, assembling frames; returns per (scenario#attempt) the hashes of the frames in order. */
async function readBack(log: JetStreamEventLog, sweepId: string) {
  const asm = new FrameAssembler();
  const got = new Map<string, string[]>();
  let messages = 0;
  for await (const f of log.frames(sweepId)) {
    messages++;
    for (const r of asm.add(f)) {
      const k = `${r.meta.scenarioId}#${r.meta.attempt}`;
      const list = got.get(k) ?? [];
      list.push(hex(r.bytes));
      got.set(k, list);
    }
  }
  return { asm, got, messages };
}

describe('JetStream event log (real nats-server)', () => {
  let srv: RunningServer;
  before(async () => {
    srv = await startNats();
  });
  after(async () => {
    await srv?.stop();
  });

  it('subject tokens are injective and reversible', () => {
    for (const s of ['plain', 'a.b', 'a b', 'x=y', '*', '>', 'ü-ß', '', 'sw-01_A']) {
      const t = subjectToken(s);
      assert.match(t, /^[A-Za-z0-9_=-]+$/);
      assert.equal(fromSubjectToken(t), s);
    }
    assert.notEqual(subjectToken('a.b'), subjectToken('a=2Eb'));
    assert.equal(frameMsgId('sw.1', { scenarioId: 's 2', attempt: 3, frameIndex: 4 }), 'sw=2E1/s=202/3/4');
  });

  it('round trip: 2000 scenarios x 3 frames come back complete, in order, byte for byte, with their records', async () => {
    const log = await JetStreamEventLog.connect({ url: srv.url, stream: 'RT', subjectPrefix: 'rt.ev', bucket: 'rt' });
    try {
      const sweepId = 'sweep.rt';
      const want = new Map<string, string[]>();
      const records: ScenarioEventsRecord[] = [];
      for (let s = 0; s < 2000; s += 100) {
        const batch: EventFrame[] = [];
        for (let i = s; i < s + 100; i++) {
          const id = `sc-${String(i).padStart(5, '0')}`;
          const fr = scenarioFrames(id, 1, 3, 40);
          want.set(
            `${id}#1`,
            fr.map((f) => hex(f.bytes)),
          );
          batch.push(...fr);
          records.push(recordOf(fr));
        }
        await log.publish(sweepId, batch);
        for (const r of records.slice(s, s + 100)) await log.recordScenario(sweepId, r);
      }
      assert.equal(log.stats.published, 6000);
      assert.equal(log.stats.duplicates, 0);
      const { asm, got, messages } = await readBack(log, sweepId);
      assert.equal(messages, 6000);
      assert.equal(asm.duplicates, 0);
      assert.deepEqual(got, want);
      for (const a of asm.attempts()) assert.deepEqual(a.pending, []);
      const recs = await log.scenarios(sweepId);
      assert.equal(recs.length, 2000);
      assert.deepEqual(recs, records);
      // One scenario alone, through its own filter subject.
      let one = 0;
      for await (const f of log.frames(sweepId, { scenarioId: 'sc-01234', attempt: 1 })) {
        assert.equal(f.meta.scenarioId, 'sc-01234');
        one++;
      }
      assert.equal(one, 3);
    } finally {
      await log.close();
    }
  });

  it('a retried shard (same message ids) is stored once', async () => {
    const log = await JetStreamEventLog.connect({ url: srv.url, stream: 'DD', subjectPrefix: 'dd.ev', bucket: 'dd' });
    try {
      const frames = Array.from({ length: 50 }, (_, i) => scenarioFrames(`s${i}`, 1, 2, 10)).flat();
      await log.publish('sw', frames);
      await log.publish('sw', frames); // the retry of the same shard attempt
      await log.publish('sw', frames.slice(10, 30)); // and a partial one
      assert.equal(log.stats.published, 100);
      assert.equal(log.stats.duplicates, 120);
      assert.equal((await log.streamInfo()).messages, 100);
      const { asm, messages } = await readBack(log, 'sw');
      assert.equal(messages, 100);
      assert.equal(asm.duplicates, 0);
    } finally {
      await log.close();
    }
  });

  it('replay uses only the recorded attempt: a retry beyond the dedupe window is not double counted', async () => {
    const log = await JetStreamEventLog.connect({ url: srv.url, stream: 'RA', subjectPrefix: 'ra.ev', bucket: 'ra' });
    try {
      const a1 = scenarioFrames('s', 1, 4, 10);
      const a2 = scenarioFrames('s', 2, 4, 10);
      await log.publish('sw', a1.slice(0, 2)); // attempt 1 died after two frames
      await log.publish('sw', a2);
      await log.recordScenario('sw', recordOf(a2));
      const [rec] = await log.scenarios('sw');
      assert.equal(rec?.attempt, 2);
      const { asm } = await readBack(log, 'sw');
      assert.equal(asm.attempt('s', 2)?.frames, 4);
      assert.equal(asm.attempt('s', 1)?.frames, 2); // present, but no record names it
    } finally {
      await log.close();
    }
  });

  it('publishing continues across a nats-server restart: no frame lost, none duplicated', async () => {
    const log = await JetStreamEventLog.connect({
      url: srv.url,
      stream: 'RS',
      subjectPrefix: 'rs.ev',
      bucket: 'rs',
      ackTimeoutMs: 1000,
      maxInFlight: 64,
    });
    try {
      const scenarios = 400;
      const all = new Map<string, string[]>();
      let done = 0;
      const publisher = (async () => {
        for (let s = 0; s < scenarios; s += 10) {
          const batch: EventFrame[] = [];
          for (let i = s; i < s + 10; i++) {
            const fr = scenarioFrames(`r${i}`, 1, 5, 20);
            all.set(
              `r${i}#1`,
              fr.map((f) => hex(f.bytes)),
            );
            batch.push(...fr);
          }
          await log.publish('sw', batch);
          for (let i = s; i < s + 10; i++) await log.recordScenario('sw', recordOf(scenarioFrames(`r${i}`, 1, 5, 20)));
          done = s + 10;
        }
      })();
      while (done < 60) await new Promise((r) => setTimeout(r, 5));
      const pidBefore = srv.pid;
      await srv.restart();
      const atRestart = done;
      await publisher;
      assert.notEqual(srv.pid, pidBefore);
      assert.ok(atRestart < scenarios, `the server restarted while frames were still being published (${atRestart})`);
      assert.equal(done, scenarios);
      const info = await log.streamInfo();
      assert.equal(info.messages, scenarios * 5, 'every frame stored exactly once');
      const { asm, got } = await readBack(log, 'sw');
      assert.equal(asm.duplicates, 0);
      assert.deepEqual(got, all);
      assert.equal((await log.scenarios('sw')).length, scenarios);
    } finally {
      await log.close();
    }
  });

  it('a full stream fails loudly with STREAM_FULL', async () => {
    const log = await JetStreamEventLog.connect({
      url: srv.url,
      stream: 'FULL',
      subjectPrefix: 'full.ev',
      bucket: 'full',
      maxBytes: 256 * 1024,
    });
    try {
      let err: unknown;
      let stored = 0;
      try {
        for (let i = 0; i < 200; i++) {
          await log.publish('sw', scenarioFrames(`f${i}`, 1, 2, 100));
          stored += 2;
        }
      } catch (e) {
        err = e;
      }
      assert.ok(err, 'publishing into a full stream must fail');
      assert.equal((err as { code?: string }).code, 'STREAM_FULL');
      assert.match((err as Error).message, /is full .*no event was dropped/);
      // Nothing was discarded to make room: the frames acknowledged before are all still there.
      const info = await log.streamInfo();
      assert.ok(info.messages >= stored && info.bytes <= 256 * 1024);
      let n = 0;
      for await (const _ of log.frames('sw')) n++;
      assert.equal(n, info.messages);
      const first = log.frames('sw', { scenarioId: 'f0', attempt: 1 });
      let firstCount = 0;
      for await (const _ of first) firstCount++;
      assert.equal(firstCount, 2, 'the oldest frames were kept (discard: new)');
    } finally {
      await log.close();
    }
  });

  it('a worker killed mid-publish leaves its scenario unrecorded; the retry completes it', async () => {
    const url = srv.url;
    // A child process publishes attempt 1 of scenario "k" frame by frame, slowly, and is killed.
    const code = `
      import { JetStreamEventLog, eventFrameOf } from '@dmasim/adapters';
      import { encodeFrame } from '@dmasim/core';
      const log = await JetStreamEventLog.connect({ url: ${JSON.stringify(url)}, stream: 'KL', subjectPrefix: 'kl.ev', bucket: 'kl' });
      for (let f = 0; f < 1000; f++) {
        const evs = [];
        for (let i = 0; i < 10; i++) {
          const seq = f * 10 + i;
          evs.push({ scenarioId: 'k', seq, tNs: seq, cpu: 0, origin: 'sim', type: 'kernel.log', data: { device: null, level: 'info', text: 'x', msg: 'm', once: null } });
        }
        await log.publish('sw', [eventFrameOf(encodeFrame(evs, { scenarioId: 'k', attempt: 1, frameIndex: f }))]);
        if (f === 5) process.stdout.write('published\\n');
        await new Promise((r) => setTimeout(r, 5));
      }
      await log.recordScenario('sw', { scenarioId: 'k', attempt: 1, frames: 1000, events: 10000, lastSeq: 9999, stateHash: '0000000000000000' });
    `;
    const child = spawn(process.execPath, ['--conditions=@dmasim/source', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('published')) resolve();
      });
      child.once('exit', (c) => reject(new Error(`child exited early with ${c}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const log = await JetStreamEventLog.connect({ url, stream: 'KL', subjectPrefix: 'kl.ev', bucket: 'kl' });
    try {
      assert.deepEqual(await log.scenarios('sw'), [], 'the killed attempt recorded nothing');
      const before = new FrameAssembler();
      for await (const f of log.frames('sw')) before.add(f);
      const partial = before.attempt('k', 1);
      assert.ok(partial && partial.frames >= 6 && partial.frames < 1000, `attempt 1 is partial (${partial?.frames})`);
      // The queue retries the shard: attempt 2 publishes everything, then records.
      const a2 = scenarioFrames('k', 2, 20, 10);
      await log.publish('sw', a2);
      await log.recordScenario('sw', recordOf(a2));
      const recs = await log.scenarios('sw');
      assert.deepEqual(
        recs.map((r) => [r.scenarioId, r.attempt, r.frames]),
        [['k', 2, 20]],
      );
      const asm = new FrameAssembler();
      for await (const f of log.frames('sw', { scenarioId: 'k', attempt: 2 })) asm.add(f);
      assert.equal(asm.attempt('k', 2)?.frames, 20);
      assert.equal(asm.attempt('k', 1), undefined);
    } finally {
      await log.close();
    }
  });
});
