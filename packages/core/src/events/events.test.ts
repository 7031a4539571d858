import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { canonicalJson, fnv1a64Hex } from '../hash.ts';
import { fnv1a32, murmur3x86 } from './bytes.ts';
import { type CKind, compiledEvents, K } from './compiled-schema.ts';
import { eventFromJson, eventsToNdjson, eventToJson, parseEventsNdjson, validateEvent } from './event-json.ts';
import { decodeEventLog, encodeEventLog, FrameOrderChecker, readEventLogRecords } from './event-log.ts';
import { EVENT_SCHEMA, EVENT_SCHEMA_VERSION, type SimEvent } from './event-schema.ts';
import {
  CODEC_VERSION,
  decodeFrame,
  decodeFrameHeader,
  encodeFrame,
  FrameEncoder,
  READABLE_CODEC_VERSIONS,
} from './frame-codec.ts';
import { stateHash } from './state-hash.ts';

const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 0xffffn }),
  fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.constantFrom(0n, (1n << 64n) - 1n, 1n << 63n, (1n << 53n) - 1n, 1n << 53n),
);

function arbKind(k: CKind): fc.Arbitrary<unknown> {
  switch (k.code) {
    case K.U32:
      return fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constant(0xffffffff), fc.nat({ max: 0xffffffff }));
    case K.NUM:
      return fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
    case K.INT:
      return fc.oneof(fc.integer({ min: -130, max: 130 }), fc.maxSafeInteger());
    case K.U64:
      return u64;
    case K.STR:
      return fc.oneof(
        fc.constantFrom('0000:21:00.0', '0000:c1:00.0', ''),
        fc.string({ unit: 'grapheme', maxLength: 200 }),
      );
    case K.BOOL:
      return fc.boolean();
    case K.ENUM:
      return fc.constantFrom(...k.values!);
    case K.OPT:
      return fc.option(arbKind(k.inner!), { nil: null });
    case K.LIST:
      return fc.array(arbKind(k.inner!), { maxLength: 4 });
    default:
      return fc.record(Object.fromEntries(k.fields!.map((f) => [f.name, arbKind(f.kind)])));
  }
}

const arbData = (type: string) => {
  const ce = compiledEvents().find((c) => c.type === type)!;
  return fc.record(Object.fromEntries(ce.fields.map((f) => [f.name, arbKind(f.kind)])));
};

/** A gapless run of random events of every type, with non-decreasing times. */
const arbEvents = fc
  .array(
    fc.constantFrom(...compiledEvents().map((c) => c.type)).chain((type) =>
      fc.record({
        type: fc.constant(type),
        data: arbData(type),
        dt: fc.oneof(fc.constant(0), fc.nat({ max: 1_000_000 }), fc.nat({ max: 2 ** 40 })),
        cpu: fc.nat({ max: 255 }),
        ftrace: fc.boolean(),
      }),
    ),
    { minLength: 0, maxLength: 40 },
  )
  .chain((items) =>
    fc.record({ first: fc.nat({ max: 1_000_000 }), t0: fc.nat({ max: 2 ** 40 }) }).map(({ first, t0 }) => {
      let t = t0;
      return items.map((it, i) => {
        t += it.dt;
        return {
          scenarioId: 'scen-1',
          seq: first + i,
          tNs: t,
          cpu: it.cpu,
          origin: it.ftrace ? 'ftrace' : 'sim',
          type: it.type,
          data: it.data,
        } as SimEvent;
      });
    }),
  );

const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));

test('every schema id is unique and every field list is non-empty', () => {
  const ids = Object.values(EVENT_SCHEMA).map((d) => d.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const [t, d] of Object.entries(EVENT_SCHEMA)) assert.ok(Object.keys(d.fields).length > 0, t);
});

test('binary frames round-trip any schema-valid events exactly', () => {
  fc.assert(
    fc.property(arbEvents, fc.nat({ max: 9 }), fc.nat({ max: 1000 }), (events, attempt, frameIndex) => {
      for (const e of events) validateEvent(e);
      const bytes = encodeFrame(events, { scenarioId: 'scen-1', attempt, frameIndex });
      const { meta, events: back } = decodeFrame(bytes);
      assert.equal(meta.count, events.length);
      assert.equal(meta.attempt, attempt);
      assert.equal(meta.frameIndex, frameIndex);
      assert.equal(meta.byteLength, bytes.length);
      assert.equal(show(back), show(events));
    }),
    { numRuns: 300 },
  );
});

test('NDJSON round-trips any schema-valid events exactly', () => {
  fc.assert(
    fc.property(arbEvents, (events) => {
      const text = eventsToNdjson(events, 'scen-1');
      assert.equal(show(parseEventsNdjson(text, 'e.ndjson')), show(events));
      for (const e of events) assert.equal(show(eventFromJson(JSON.parse(JSON.stringify(eventToJson(e))))), show(e));
    }),
    { numRuns: 200 },
  );
});

test('a truncated frame is rejected at every cut, with EVENT_DECODE', () => {
  const events = fc.sample(
    arbEvents.filter((e) => e.length > 3),
    { numRuns: 1, seed: 7 },
  )[0]!;
  const bytes = encodeFrame(events, { scenarioId: 'scen-1', attempt: 0, frameIndex: 0 });
  for (let cut = 0; cut < bytes.length; cut++) {
    assert.throws(
      () => decodeFrame(bytes.subarray(0, cut)),
      (e: { code?: string }) => e.code === 'EVENT_DECODE',
      `cut at ${cut}`,
    );
  }
});

test('a corrupted byte anywhere is detected (checksum or structure)', () => {
  const events = fc.sample(
    arbEvents.filter((e) => e.length > 3),
    { numRuns: 1, seed: 11 },
  )[0]!;
  const bytes = encodeFrame(events, { scenarioId: 'scen-1', attempt: 0, frameIndex: 0 });
  for (let i = 0; i < bytes.length; i++) {
    const bad = bytes.slice();
    bad[i]! ^= 0x41;
    assert.throws(
      () => decodeFrame(bad),
      (e: { code?: string }) => e.code === 'EVENT_DECODE' || e.code === 'EVENT_VERSION',
      `byte ${i}`,
    );
  }
});

test('unknown codec and schema versions are rejected with EVENT_VERSION', () => {
  const bytes = encodeFrame([], { scenarioId: 's', attempt: 0, frameIndex: 0 });
  const codec = bytes.slice();
  codec[4] = CODEC_VERSION + 1;
  assert.throws(
    () => decodeFrameHeader(codec, 'f'),
    new RegExp(`frame codec version ${CODEC_VERSION + 1}, this dmasim reads versions 1, 2`),
  );
  const schema = bytes.slice();
  schema[5] = EVENT_SCHEMA_VERSION + 1;
  assert.throws(
    () => decodeFrame(schema, 'f'),
    (e: { code?: string }) => e.code === 'EVENT_VERSION',
  );
  const nd = `{"kind":"dmasim-events","schemaVersion":${EVENT_SCHEMA_VERSION + 1}}\n`;
  assert.throws(() => parseEventsNdjson(nd, 'x.ndjson'), /x\.ndjson:1: event schema version 2/);
});

test('frames of codec version 1 (FNV-1a checksum) still decode; their checksum is still checked', () => {
  assert.equal(CODEC_VERSION, 2);
  assert.deepEqual(READABLE_CODEC_VERSIONS, [1, 2]);
  const events = [attachEvent(0, 10), attachEvent(1, 20)];
  const v2 = encodeFrame(events, { scenarioId: 's', attempt: 0, frameIndex: 0 });
  // The same frame as version 1 wrote it: version byte 1 and an FNV-1a checksum.
  const v1 = v2.slice();
  v1[4] = 1;
  const sum = fnv1a32(v1, 0, v1.length - 4);
  for (let i = 0; i < 4; i++) v1[v1.length - 4 + i] = (sum >>> (8 * i)) & 0xff;
  const back = decodeFrame(v1, 'old.dmlog');
  assert.equal(back.meta.codecVersion, 1);
  assert.equal(show(back.events), show(events));
  // A version-2 frame relabelled as version 1 (or the reverse) fails its checksum.
  const relabelled = v2.slice();
  relabelled[4] = 1;
  assert.throws(() => decodeFrame(relabelled, 'f'), /checksum mismatch/);
  const v1as2 = v1.slice();
  v1as2[4] = 2;
  assert.throws(() => decodeFrame(v1as2, 'f'), /checksum mismatch/);
});

test('a frame header whose event count cannot fit its body is refused before decoding', () => {
  const frame = encodeFrame([attachEvent(0, 10), attachEvent(1, 20)], { scenarioId: 's', attempt: 0, frameIndex: 0 });
  // Header: 12 fixed bytes, scenario id (length 1 + "s"), attempt, frame index, first seq, count.
  assert.equal(frame[17], 2);
  const lying = frame.slice();
  lying[17] = 100;
  const sum = murmur3x86(lying, 0, lying.length - 4);
  for (let i = 0; i < 4; i++) lying[lying.length - 4 + i] = (sum >>> (8 * i)) & 0xff;
  assert.throws(
    () => decodeFrame(lying, 'f.dmlog'),
    (e: { code?: string; message?: string }) =>
      e.code === 'EVENT_DECODE' && /header says 100 events/.test(e.message ?? ''),
  );
});

function attachEvent(seq: number, tNs: number): SimEvent {
  return {
    scenarioId: 's',
    seq,
    tNs,
    cpu: 0,
    origin: 'sim',
    type: 'dmabuf.attach',
    data: { dmabufId: 1, attachmentId: seq, importer: '0000:21:00.0', isDynamic: true, peer2peer: true, result: 0 },
  };
}

test('frames out of order, or with a gap in seq, are rejected with EVENT_SEQ_GAP', () => {
  const f0 = encodeFrame([attachEvent(0, 0), attachEvent(1, 5)], { scenarioId: 's', attempt: 0, frameIndex: 0 });
  const f1 = encodeFrame([attachEvent(2, 5)], { scenarioId: 's', attempt: 0, frameIndex: 1 });
  const f1gap = encodeFrame([attachEvent(3, 5)], { scenarioId: 's', attempt: 0, frameIndex: 1 });
  assert.equal(decodeEventLog(encodeEventLog([f0, f1]), 'ok.log').events.length, 3);
  assert.throws(
    () => decodeEventLog(encodeEventLog([f1, f0]), 'rev.log'),
    /rev\.log@16: scenario s attempt 0: expected frame 0 starting at seq 0, found frame 1 starting at seq 2/,
  );
  assert.throws(
    () => decodeEventLog(encodeEventLog([f0, f1gap]), 'gap.log'),
    (e: { code?: string }) => e.code === 'EVENT_SEQ_GAP',
  );
  // Interleaved scenarios and attempts are fine as long as each continues its own sequence.
  const other = encodeFrame([{ ...attachEvent(0, 0), scenarioId: 't' }], {
    scenarioId: 't',
    attempt: 0,
    frameIndex: 0,
  });
  const retry = encodeFrame([attachEvent(0, 0)], { scenarioId: 's', attempt: 1, frameIndex: 0 });
  assert.equal(decodeEventLog(encodeEventLog([f0, other, retry, f1]), 'mix.log').frames.length, 4);
  const checker = new FrameOrderChecker();
  checker.check(decodeFrameHeader(f0), 'a');
  assert.throws(() => checker.check(decodeFrameHeader(f0), 'a'), /expected frame 1 starting at seq 2, found frame 0/);
});

test('within a frame, seq must be consecutive and time non-decreasing', () => {
  const enc = new FrameEncoder();
  enc.push(attachEvent(0, 10));
  assert.throws(() => enc.push(attachEvent(2, 10)), /seq 2 after 0/);
  assert.throws(() => enc.push(attachEvent(1, 9)), /time 9 ns, before 10 ns/);
});

test('NDJSON order and content errors name file:line', () => {
  const head = `{"kind":"dmasim-events","schemaVersion":${EVENT_SCHEMA_VERSION}}`;
  const line = (e: SimEvent) => JSON.stringify(eventToJson(e));
  assert.throws(
    () => parseEventsNdjson(`${head}\n${line(attachEvent(0, 0))}\n${line(attachEvent(2, 1))}\n`, 'a.ndjson'),
    /a\.ndjson:3: scenario s: expected seq 1, found 2/,
  );
  assert.throws(
    () => parseEventsNdjson(`${head}\n${line(attachEvent(0, 5))}\n${line(attachEvent(1, 4))}\n`, 'b.ndjson'),
    /b\.ndjson:3: scenario s: time goes backwards/,
  );
  const bad = JSON.parse(line(attachEvent(0, 0)));
  bad.data.result = 'x';
  assert.throws(
    () => parseEventsNdjson(`${head}\n${JSON.stringify(bad)}\n`, 'c.ndjson'),
    /c\.ndjson:2: data\.result: expected a safe integer, found "x"/,
  );
  delete bad.data.result;
  assert.throws(
    () => parseEventsNdjson(`${head}\n${JSON.stringify(bad)}\n`, 'd.ndjson'),
    /data\.result: expected the field to be present/,
  );
  assert.throws(() => parseEventsNdjson(`${head}\n{oops\n`, 'e.ndjson'), /e\.ndjson:2: not valid JSON/);
  assert.throws(() => parseEventsNdjson('', 'f.ndjson'), /f\.ndjson:1: empty file/);
});

test('validateEvent rejects extra fields, wrong kinds and unknown types', () => {
  const e = attachEvent(0, 0);
  assert.throws(
    () => validateEvent({ ...e, data: { ...e.data, extra: 1 } } as unknown as SimEvent),
    /data\.extra: expected no such field/,
  );
  assert.throws(
    () => validateEvent({ ...e, data: { ...e.data, dmabufId: 1n } } as unknown as SimEvent),
    /data\.dmabufId/,
  );
  assert.throws(
    () => validateEvent({ ...e, type: 'nope' } as unknown as SimEvent),
    /type: expected a known event type/,
  );
});

test('log files: torn tail is an error unless allowed', () => {
  const f0 = encodeFrame([attachEvent(0, 0)], { scenarioId: 's', attempt: 0, frameIndex: 0 });
  const log = encodeEventLog([f0, f0]);
  const torn = log.subarray(0, log.length - 5);
  assert.throws(() => decodeEventLog(torn, 't.log'), /t\.log: byte \d+: truncated record: expected \d+ bytes/);
  const res = decodeEventLog(torn, 't.log', { allowTruncatedTail: true });
  assert.equal(res.events.length, 1);
  assert.equal(res.truncatedTailBytes, log.length - 5 - 12 - 4 - f0.length);
  assert.throws(() => [...readEventLogRecords(new Uint8Array(20), 'z.log')], /z\.log: not a dmasim event log/);
});

test('stateHash equals fnv1a64Hex(canonicalJson(x)) on any JSON-like value with bigints', () => {
  const leaf = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    u64,
  );
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(fc.string({ maxLength: 6 }), tie('node'), { maxKeys: 4 }),
    ),
  })).node;
  fc.assert(
    fc.property(value, (v) => stateHash(v) === fnv1a64Hex(canonicalJson(v))),
    { numRuns: 500 },
  );
  assert.equal(stateHash({ b: 1, a: [2n, 'x'] }), fnv1a64Hex('{"a":["0x2","x"],"b":1}'));
});

test('stateHash orders keys exactly as canonical JSON does, whatever shapes came before', () => {
  const shapes: Record<string, unknown>[] = [
    { b: 1, a: 2 },
    { a: 2, b: 1 },
    { b: 1, c: 3 },
    { b: 1, a: undefined },
    { b: undefined, a: 5 },
    { b: [{ z: 1n, y: null }], a: { d: 'x', c: 'y' } },
    { k: 1 },
    {},
    { '10': 1, '9': 2, a: 3 },
  ];
  // Twice, so the second round finds every key order cached.
  for (let round = 0; round < 2; round++) {
    for (const o of shapes) assert.equal(stateHash(o), fnv1a64Hex(canonicalJson(o)), JSON.stringify(Object.keys(o)));
  }
  // Many shapes behind one first key, more than the cache keeps per key.
  for (let i = 0; i < 40; i++) {
    const o = { a: i, [`k${i}`]: i, [`j${40 - i}`]: -i };
    assert.equal(stateHash(o), fnv1a64Hex(canonicalJson(o)));
  }
});

test('the generated encoder rejects values of the wrong kind and undoes the partial event', () => {
  const enc = new FrameEncoder();
  enc.push(attachEvent(0, 0));
  const bad = {
    ...attachEvent(1, 1),
    data: { ...attachEvent(1, 1).data, importer: 'new-name', result: 1.5 },
  } as SimEvent;
  assert.throws(() => enc.push(bad), /field result: expected an integer, found 1\.5 \(event seq 1, dmabuf\.attach\)/);
  const u64bad = {
    ...attachEvent(1, 1),
    type: 'iommu.map',
    data: { domainId: 1, iova: -1n, paddr: 0n, size: 0n, prot: 0, collision: 'none' },
  } as SimEvent;
  assert.throws(() => enc.push(u64bad), /field iova: expected a bigint 0\.\.2\^64-1/);
  const enumBad = {
    ...attachEvent(1, 1),
    type: 'iommu.map',
    data: { domainId: 1, iova: 0n, paddr: 0n, size: 0n, prot: 0, collision: 'smash' },
  } as unknown as SimEvent;
  assert.throws(() => enc.push(enumBad), /field collision: expected one of none, overwrite, keep/);
  enc.push({ ...attachEvent(1, 2), data: { ...attachEvent(1, 2).data, importer: 'new-name' } } as SimEvent);
  const { events } = decodeFrame(enc.finish({ scenarioId: 's', attempt: 0, frameIndex: 0 }));
  assert.deepStrictEqual(
    events.map((e) => (e.data as { importer: string }).importer),
    ['0000:21:00.0', 'new-name'],
  );
});
