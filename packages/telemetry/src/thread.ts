/**
 * Spans recorded inside a piscina pool thread (`@dmasim/telemetry/thread`). This module imports nothing
 * from the OpenTelemetry SDK, so a pool thread pays no SDK start-up and holds no exporter, batch queue or
 * timer of its own (which a thread that piscina may stop at any time could not flush anyway).
 *
 * Design: the pool task carries the W3C context of the shard's CONSUMER span; a {@link ThreadRecorder}
 * records the thread's spans as plain data (ids, epoch times, attributes, status, events), the task returns
 * them with its result (structured clone), and the worker's main thread hands them to its exporters with
 * `Telemetry.exportThreadSpans`. Sampling follows the parent: a thread records only when the carrier's
 * `sampled` flag is set, so at `parentbased_*` samplers threads add no work to unsampled traces.
 */

import { randomFillSync } from 'node:crypto';
import { General } from './attributes.ts';

export { Dmasim, General, SpanName } from './attributes.ts';

/** A plain W3C carrier (`traceparent`, `tracestate`), as produced by `injectContext`. */
export type ThreadCarrier = Readonly<Record<string, string>>;

/** Attribute values a thread span may carry. */
export type ThreadAttributeValue = string | number | boolean;
export type ThreadAttributes = Record<string, ThreadAttributeValue>;

/** A finished span recorded in a thread, as plain data that survives structured cloning. */
export interface ThreadSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  /** W3C trace flags of the trace (1 = sampled). */
  readonly traceFlags: number;
  readonly traceState?: string;
  readonly name: string;
  /** Milliseconds since the Unix epoch (fractional: microsecond resolution). */
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: ThreadAttributes;
  /** 0 unset, 1 ok, 2 error (OpenTelemetry `SpanStatusCode`). */
  readonly statusCode: 0 | 1 | 2;
  readonly statusMessage?: string;
  readonly events: readonly { name: string; timeMs: number; attributes?: ThreadAttributes }[];
}

/** A span being recorded in a thread. */
export interface ThreadSpanHandle {
  /** False when the trace is not sampled (every method is then a cheap no-op). */
  readonly recording: boolean;
  setAttribute(key: string, value: ThreadAttributeValue): void;
  setAttributes(attrs: ThreadAttributes): void;
  addEvent(name: string, attrs?: ThreadAttributes): void;
  /** Marks the span failed with an `exception` event and `error.type` = the error's `code` or class. */
  recordError(e: unknown): void;
  /** The W3C carrier of this span, to pass on (for example to event frames published for it). */
  carrier(): ThreadCarrier | undefined;
  end(): void;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

const TIME_ORIGIN = performance.timeOrigin;

/** Epoch milliseconds with sub-millisecond resolution (comparable across threads and processes on one host). */
export function epochMs(): number {
  return TIME_ORIGIN + performance.now();
}

// Span ids come from one buffer of random bytes refilled 1024 ids at a time: the random source costs
// microseconds per call on some machines, whatever the size asked for.
const idBuf = new Uint8Array(8192);
let idPos = idBuf.length;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function randomSpanId(): string {
  for (;;) {
    if (idPos + 8 > idBuf.length) {
      randomFillSync(idBuf);
      idPos = 0;
    }
    let s = '';
    let nonZero = false;
    for (let i = 0; i < 8; i++) {
      const b = idBuf[idPos++]!;
      if (b !== 0) nonZero = true;
      s += HEX[b];
    }
    if (nonZero) return s;
  }
}

const NOOP_HANDLE: ThreadSpanHandle = {
  recording: false,
  setAttribute() {},
  setAttributes() {},
  addEvent() {},
  recordError() {},
  carrier: () => undefined,
  end() {},
};

/** Records spans of one pool task. */
export class ThreadRecorder {
  /** True when the carrier had a valid, sampled context. */
  readonly recording: boolean;
  private readonly traceId: string;
  private readonly rootParent: string;
  private readonly traceFlags: number;
  private readonly traceState: string | undefined;
  private readonly finished: ThreadSpan[] = [];
  private readonly stack: string[] = [];

  constructor(carrier: ThreadCarrier | undefined) {
    const m = carrier?.traceparent ? TRACEPARENT.exec(carrier.traceparent) : null;
    const flags = m ? Number.parseInt(m[3]!, 16) : 0;
    this.recording = m !== null && m[1] !== '0'.repeat(32) && m[2] !== '0'.repeat(16) && (flags & 1) === 1;
    this.traceId = m?.[1] ?? '';
    this.rootParent = m?.[2] ?? '';
    this.traceFlags = flags;
    this.traceState = carrier?.tracestate || undefined;
  }

  /**
   * Starts a span, a child of `parent`, else of the innermost span still open in {@link run}, else of the
   * carrier's span. `startMs` defaults to now (epoch ms).
   */
  start(
    name: string,
    attributes: ThreadAttributes = {},
    opts: { parent?: ThreadSpanHandle; startMs?: number } = {},
  ): ThreadSpanHandle {
    if (!this.recording) return NOOP_HANDLE;
    const spanId = randomSpanId();
    const parentSpanId =
      (opts.parent as RecordingHandle | undefined)?.spanId ?? this.stack[this.stack.length - 1] ?? this.rootParent;
    return new RecordingHandle(this, name, spanId, parentSpanId, { ...attributes }, opts.startMs ?? epochMs());
  }

  /** Runs `fn` in a span (synchronously); a throw marks the span failed and is rethrown. */
  run<T>(name: string, attributes: ThreadAttributes, fn: (span: ThreadSpanHandle) => T): T {
    if (!this.recording) return fn(NOOP_HANDLE);
    const span = this.start(name, attributes) as RecordingHandle;
    this.stack.push(span.spanId);
    try {
      return fn(span);
    } catch (e) {
      span.recordError(e);
      throw e;
    } finally {
      this.stack.pop();
      span.end();
    }
  }

  /** The spans finished so far, removed from the recorder (call once, when the task returns). */
  take(): ThreadSpan[] {
    return this.finished.splice(0, this.finished.length);
  }

  /** @internal */
  finish(s: ThreadSpan): void {
    this.finished.push(s);
  }

  /** @internal */
  carrierOf(spanId: string): ThreadCarrier {
    const tp = `00-${this.traceId}-${spanId}-${this.traceFlags.toString(16).padStart(2, '0')}`;
    return this.traceState ? { traceparent: tp, tracestate: this.traceState } : { traceparent: tp };
  }

  /** @internal */
  get ids(): { traceId: string; traceFlags: number; traceState: string | undefined } {
    return { traceId: this.traceId, traceFlags: this.traceFlags, traceState: this.traceState };
  }
}

class RecordingHandle implements ThreadSpanHandle {
  readonly recording = true;
  readonly spanId: string;
  private readonly rec: ThreadRecorder;
  private readonly name: string;
  private readonly parentSpanId: string;
  private readonly attributes: ThreadAttributes;
  private readonly startMs: number;
  private readonly events: { name: string; timeMs: number; attributes?: ThreadAttributes }[] = [];
  private statusCode: 0 | 1 | 2 = 0;
  private statusMessage: string | undefined;
  private ended = false;

  constructor(
    rec: ThreadRecorder,
    name: string,
    spanId: string,
    parentSpanId: string,
    attributes: ThreadAttributes,
    startMs: number,
  ) {
    this.rec = rec;
    this.name = name;
    this.spanId = spanId;
    this.parentSpanId = parentSpanId;
    this.attributes = attributes;
    this.startMs = startMs;
  }

  setAttribute(key: string, value: ThreadAttributeValue): void {
    if (!this.ended) this.attributes[key] = value;
  }

  setAttributes(attrs: ThreadAttributes): void {
    if (!this.ended) Object.assign(this.attributes, attrs);
  }

  addEvent(name: string, attrs?: ThreadAttributes): void {
    if (!this.ended)
      this.events.push(attrs ? { name, timeMs: epochMs(), attributes: { ...attrs } } : { name, timeMs: epochMs() });
  }

  recordError(e: unknown): void {
    if (this.ended) return;
    const err = e as { code?: unknown; name?: unknown; message?: unknown; stack?: unknown };
    const type = typeof err?.code === 'string' ? err.code : typeof err?.name === 'string' ? err.name : 'Error';
    const message = typeof err?.message === 'string' ? err.message : String(e);
    this.statusCode = 2;
    this.statusMessage = message;
    this.attributes[General.ERROR_TYPE] = type;
    this.addEvent('exception', {
      'exception.type': type,
      'exception.message': message,
      ...(typeof err?.stack === 'string' ? { 'exception.stacktrace': err.stack } : {}),
    });
  }

  carrier(): ThreadCarrier {
    return this.rec.carrierOf(this.spanId);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const { traceId, traceFlags, traceState } = this.rec.ids;
    this.rec.finish({
      traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      traceFlags,
      ...(traceState ? { traceState } : {}),
      name: this.name,
      startMs: this.startMs,
      endMs: Math.max(this.startMs, epochMs()),
      attributes: this.attributes,
      statusCode: this.statusCode,
      ...(this.statusMessage !== undefined ? { statusMessage: this.statusMessage } : {}),
      events: this.events,
    });
  }
}
