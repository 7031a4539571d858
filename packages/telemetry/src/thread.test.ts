import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThreadRecorder } from './thread.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const sampled = { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'dmasim=1' };

test('records nested spans under the carrier span, with the trace id, flags and state of the carrier', () => {
  const rec = new ThreadRecorder(sampled);
  assert.equal(rec.recording, true);
  const out = rec.run('dmasim.pool.task', { 'dmasim.pool.task.start': 0 }, () =>
    [0, 1].map((i) =>
      rec.run('dmasim.scenario', { 'dmasim.scenario.index': i }, (s) => {
        s.setAttribute('dmasim.scenario.events', 10 + i);
        return i * 2;
      }),
    ),
  );
  assert.deepEqual(out, [0, 2]);
  const spans = rec.take();
  assert.equal(spans.length, 3);
  const task = spans.find((s) => s.name === 'dmasim.pool.task')!;
  const scen = spans.filter((s) => s.name === 'dmasim.scenario');
  assert.equal(task.parentSpanId, PARENT);
  for (const s of spans) {
    assert.equal(s.traceId, TRACE);
    assert.equal(s.traceFlags, 1);
    assert.equal(s.traceState, 'dmasim=1');
    assert.match(s.spanId, /^[0-9a-f]{16}$/);
    assert.ok(s.endMs >= s.startMs);
  }
  for (const s of scen) assert.equal(s.parentSpanId, task.spanId);
  assert.deepEqual(
    scen.map((s) => s.attributes['dmasim.scenario.events']),
    [10, 11],
  );
  assert.notEqual(scen[0]!.spanId, scen[1]!.spanId);
  assert.deepEqual(rec.take(), [], 'take drains');
});

test('a throw marks the span failed with the error code and is rethrown', () => {
  const rec = new ThreadRecorder(sampled);
  const err = Object.assign(new Error('bad scenario'), { code: 'SCENARIO_INVALID' });
  assert.throws(
    () =>
      rec.run('dmasim.scenario', {}, () => {
        throw err;
      }),
    err,
  );
  const [s] = rec.take();
  assert.equal(s!.statusCode, 2);
  assert.equal(s!.statusMessage, 'bad scenario');
  assert.equal(s!.attributes['error.type'], 'SCENARIO_INVALID');
  assert.equal(s!.events[0]!.name, 'exception');
  assert.equal(s!.events[0]!.attributes!['exception.type'], 'SCENARIO_INVALID');
});

test('unsampled, missing or malformed carriers record nothing and cost nothing', () => {
  for (const c of [
    undefined,
    { traceparent: `00-${TRACE}-${PARENT}-00` },
    { traceparent: 'garbage' },
    { traceparent: `00-${'0'.repeat(32)}-${PARENT}-01` },
    { traceparent: `00-${TRACE}-${'0'.repeat(16)}-01` },
  ]) {
    const rec = new ThreadRecorder(c);
    assert.equal(rec.recording, false);
    assert.equal(
      rec.run('x', {}, (s) => (s.recording ? 1 : 2)),
      2,
    );
    assert.deepEqual(rec.take(), []);
  }
});

test('a span handle gives a carrier that parents further work on that span', () => {
  const rec = new ThreadRecorder(sampled);
  const h = rec.start('dmasim.scenario');
  const c = h.carrier();
  assert.ok(c);
  const child = new ThreadRecorder(c);
  child.run('publish', {}, () => undefined);
  h.end();
  h.end();
  const [mine] = rec.take();
  const [theirs] = child.take();
  assert.equal(theirs!.parentSpanId, mine!.spanId);
  assert.equal(theirs!.traceId, TRACE);
  assert.deepEqual(rec.take(), [], 'ending twice records once');
});

test('an explicit start time and parent are honoured', () => {
  const rec = new ThreadRecorder(sampled);
  const parent = rec.start('a', {}, { startMs: 1000 });
  const child = rec.start('b', {}, { parent, startMs: 1001 });
  child.end();
  parent.end();
  const [b, a] = rec.take();
  assert.equal(a!.startMs, 1000);
  assert.equal(b!.parentSpanId, a!.spanId);
});
