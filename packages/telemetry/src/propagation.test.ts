import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import {
  distinctLinks,
  extractContext,
  extractHeaders,
  injectContext,
  injectHeaders,
  spanContextOf,
  spanContextOfHeaders,
} from './propagation.ts';

const sc = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED };
const withSpan = trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext(sc));

test('inject gives a W3C carrier; extract gives back the same remote span context', () => {
  const carrier = injectContext(withSpan);
  assert.deepEqual(carrier, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  const back = trace.getSpanContext(extractContext(carrier, ROOT_CONTEXT));
  assert.deepEqual(back, { ...sc, isRemote: true });
  assert.deepEqual(spanContextOf(carrier), { ...sc, isRemote: true });
});

test('no span, no carrier; malformed carriers extract to the base context', () => {
  assert.equal(injectContext(ROOT_CONTEXT), undefined);
  assert.equal(injectContext(context.active()), undefined);
  assert.equal(extractContext(undefined, ROOT_CONTEXT), ROOT_CONTEXT);
  assert.equal(trace.getSpanContext(extractContext({ traceparent: 'nonsense' }, ROOT_CONTEXT)), undefined);
  assert.equal(spanContextOf({ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }), undefined);
});

test('headers: set on inject, read on extract (NATS MsgHdrs-like get returning "" when missing)', () => {
  const m = new Map<string, string>();
  const h = { set: (k: string, v: string) => m.set(k, v), get: (k: string) => m.get(k) ?? '' };
  assert.equal(injectHeaders(h, withSpan), true);
  assert.equal(m.get('traceparent'), '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
  assert.equal(spanContextOfHeaders(h)?.spanId, sc.spanId);
  assert.equal(trace.getSpanContext(extractHeaders({ get: () => '' }, ROOT_CONTEXT)), undefined);
  assert.equal(injectHeaders(h, ROOT_CONTEXT), false);
});

test('distinctLinks drops repeats and stops at the limit', () => {
  const a = { ...sc, spanId: '0000000000000001' };
  const b = { ...sc, spanId: '0000000000000002' };
  assert.deepEqual(
    distinctLinks([a, undefined, a, b, a]).map((l) => l.context.spanId),
    ['0000000000000001', '0000000000000002'],
  );
  assert.equal(distinctLinks([a, b], 1).length, 1);
});
