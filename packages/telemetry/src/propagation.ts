/**
 * W3C trace context (`traceparent`, `tracestate`) into and out of plain carriers: a shard job's `trace`
 * field, a pool task, NATS message headers. It uses its own W3C propagator, not the global one, so it works
 * the same whether or not `initTelemetry` registered anything, and it never throws.
 */
import {
  type Context,
  context,
  type Link,
  type SpanContext,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** A plain carrier of trace context: `{ traceparent: '00-<32 hex>-<16 hex>-01', tracestate?: '...' }`. */
export type TraceCarrier = Readonly<Record<string, string>>;

/** Header-like objects (NATS `MsgHdrs`, `Headers`): `set` to inject, `get` to extract. */
export interface HeaderSetter {
  set(key: string, value: string): void;
}
export interface HeaderGetter {
  get(key: string): string | null | undefined;
}

const w3c = new W3CTraceContextPropagator();

const recordSetter: TextMapSetter<Record<string, string>> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};
const recordGetter: TextMapGetter<TraceCarrier> = {
  keys: (c) => Object.keys(c),
  get: (c, k) => c[k],
};
const headerSetter: TextMapSetter<HeaderSetter> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};
const headerGetter: TextMapGetter<HeaderGetter> = {
  keys: () => ['traceparent', 'tracestate'],
  get: (c, k) => {
    const v = c.get(k);
    return v ? v : undefined;
  },
};

/**
 * The W3C context of `ctx` (default: the active context) as a plain carrier, or undefined when there is no
 * valid span in it (tracing off, or outside any span).
 */
export function injectContext(ctx: Context = context.active()): TraceCarrier | undefined {
  const span = trace.getSpan(ctx);
  if (!span || !trace.isSpanContextValid(span.spanContext())) return undefined;
  const out: Record<string, string> = {};
  try {
    w3c.inject(ctx, out, recordSetter);
  } catch {
    return undefined;
  }
  return out.traceparent ? out : undefined;
}

/** Sets `traceparent` (and `tracestate`) of `ctx` on a header object; returns whether it set anything. */
export function injectHeaders(headers: HeaderSetter, ctx: Context = context.active()): boolean {
  const span = trace.getSpan(ctx);
  if (!span || !trace.isSpanContextValid(span.spanContext())) return false;
  try {
    w3c.inject(ctx, headers, headerSetter);
    return true;
  } catch {
    return false;
  }
}

/**
 * A context whose parent is the remote span of `carrier` (over `base`, default the root context). A
 * missing or malformed carrier gives `base` unchanged.
 */
export function extractContext(carrier: TraceCarrier | undefined, base: Context = context.active()): Context {
  if (!carrier) return base;
  try {
    return w3c.extract(base, carrier, recordGetter);
  } catch {
    return base;
  }
}

/** Like {@link extractContext}, from headers (NATS `MsgHdrs`). */
export function extractHeaders(headers: HeaderGetter | undefined, base: Context = context.active()): Context {
  if (!headers) return base;
  try {
    return w3c.extract(base, headers, headerGetter);
  } catch {
    return base;
  }
}

/** The remote span context of a carrier, or undefined when it has none (or a malformed one). */
export function spanContextOf(carrier: TraceCarrier | undefined): SpanContext | undefined {
  const sc = trace.getSpanContext(extractContext(carrier, context.active()));
  return sc && trace.isSpanContextValid(sc) && sc.isRemote ? sc : undefined;
}

/** The remote span context of a header object, or undefined. */
export function spanContextOfHeaders(headers: HeaderGetter | undefined): SpanContext | undefined {
  const sc = trace.getSpanContext(extractHeaders(headers, context.active()));
  return sc && trace.isSpanContextValid(sc) && sc.isRemote ? sc : undefined;
}

/**
 * Links to the distinct span contexts among `contexts` (many frames published by one span share its
 * context), at most `max` (the SDK's default link limit is 128).
 */
export function distinctLinks(contexts: Iterable<SpanContext | undefined>, max = 128): Link[] {
  const seen = new Set<string>();
  const links: Link[] = [];
  for (const c of contexts) {
    if (!c) continue;
    const key = `${c.traceId}-${c.spanId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    links.push({ context: c });
    if (links.length >= max) break;
  }
  return links;
}
