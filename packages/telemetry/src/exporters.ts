/**
 * Exporters and the guard around them. Telemetry never breaks a sweep: every exporter is wrapped in a
 * guard that catches what it throws, reports its first failure once (through the reporter given to
 * `initTelemetry`, stderr by default) and stays quiet after that. The JSON-lines file exporter writes one
 * span or one metric per line to `DMASIM_TRACE_FILE` (the format is in docs/TELEMETRY.md).
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Attributes, HrTime } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  type InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

/** Receives one message per distinct telemetry problem. */
export type Reporter = (message: string) => void;

/** Calls `report` once per key; later failures with the same key are ignored. */
export class ReportOnce {
  private readonly seen = new Set<string>();
  private readonly report: Reporter;
  constructor(report: Reporter) {
    this.report = report;
  }
  /** Reports `message` unless `key` was reported before. Never throws. */
  once(key: string, message: string): void {
    if (this.seen.has(key)) return;
    this.seen.add(key);
    try {
      this.report(message);
    } catch {
      // A broken reporter must not break the caller either.
    }
  }
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${e.message}${typeof code === 'string' && !e.message.includes(code) ? ` (${code})` : ''}`;
  }
  return String(e);
}

/** What {@link GuardedExporter} wraps: a span or a push metric exporter. */
interface InnerExporter<T> {
  export(items: T, done: (r: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

/**
 * An exporter that never throws and reports its first failure of each kind once: an export hands `done`
 * exactly one result whatever the inner exporter does (a throw becomes a FAILED result), and a failed
 * flush or shutdown is reported, not thrown.
 */
class GuardedExporter<T> {
  private readonly inner: InnerExporter<T>;
  private readonly name: string;
  private readonly reports: ReportOnce;
  /** `span` or `metric`: the report keys and messages. */
  private readonly kind: string;
  /** Export calls that failed (tests, diagnostics). */
  failures = 0;

  constructor(inner: InnerExporter<T>, name: string, reports: ReportOnce, kind: 'span' | 'metric') {
    this.inner = inner;
    this.name = name;
    this.reports = reports;
    this.kind = kind;
  }

  export(items: T, done: (r: ExportResult) => void): void {
    let called = false;
    const finish = (r: ExportResult): void => {
      if (called) return;
      called = true;
      if (r.code !== ExportResultCode.SUCCESS) {
        this.failures++;
        this.reports.once(
          `${this.kind}:${this.name}`,
          `telemetry: exporting ${this.kind}s to ${this.name} failed: ${describe(r.error ?? 'unknown error')}; ` +
            'the sweep goes on, later failures of this exporter are not reported',
        );
      }
      done(r);
    };
    try {
      this.inner.export(items, finish);
    } catch (e) {
      finish({ code: ExportResultCode.FAILED, error: e instanceof Error ? e : new Error(String(e)) });
    }
  }

  shutdown(): Promise<void> {
    return this.guarded('shutdown', 'closing', () => this.inner.shutdown());
  }

  forceFlush(): Promise<void> {
    return this.guarded('flush', 'flushing', async () => {
      await this.inner.forceFlush?.();
    });
  }

  private async guarded(op: string, doing: string, call: () => Promise<void>): Promise<void> {
    try {
      await call();
    } catch (e) {
      this.reports.once(
        `${this.kind}-${op}:${this.name}`,
        `telemetry: ${doing} the ${this.kind} exporter ${this.name} failed: ${describe(e)}`,
      );
    }
  }
}

/** A span exporter that never throws and reports its first failure once. */
export class GuardedSpanExporter extends GuardedExporter<ReadableSpan[]> implements SpanExporter {
  constructor(inner: SpanExporter, name: string, reports: ReportOnce) {
    super(inner, name, reports, 'span');
  }
}

/** A metric exporter that never throws and reports its first failure once. */
export class GuardedMetricExporter extends GuardedExporter<ResourceMetrics> implements PushMetricExporter {
  private readonly metrics: PushMetricExporter;

  constructor(inner: PushMetricExporter, name: string, reports: ReportOnce) {
    super(inner, name, reports, 'metric');
    this.metrics = inner;
  }

  selectAggregationTemporality(t: InstrumentType): AggregationTemporality {
    return this.metrics.selectAggregationTemporality?.(t) ?? AggregationTemporality.CUMULATIVE;
  }
}

/** Appends lines to one file, in order, creating its folder first. Shared by the span and metric exporters. */
export class JsonLinesFile {
  readonly path: string;
  private tail: Promise<void> = Promise.resolve();
  private ready: Promise<void> | undefined;

  constructor(path: string) {
    this.path = path;
  }

  /** Appends the lines; resolves when they are written, rejects with the file system's error. */
  write(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return this.tail;
    this.ready ??= mkdir(dirname(this.path), { recursive: true }).then(() => undefined);
    const text = `${lines.join('\n')}\n`;
    const next = this.tail.then(
      () => this.ready!.then(() => appendFile(this.path, text)),
      () => this.ready!.then(() => appendFile(this.path, text)),
    );
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Resolves when every write so far has finished. */
  flush(): Promise<void> {
    return this.tail;
  }
}

/** Nanoseconds since the epoch of an HrTime, as a decimal string (exact; JSON numbers would round). */
export function hrTimeToNanoString(t: HrTime): string {
  return (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();
}

const KIND_NAMES = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;

/** The JSON form of a span in the trace file. */
export interface FileSpan {
  readonly signal: 'span';
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: (typeof KIND_NAMES)[number];
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly durationMs: number;
  readonly attributes: Attributes;
  readonly status: { readonly code: 'UNSET' | 'OK' | 'ERROR'; readonly message?: string };
  readonly events: readonly { name: string; timeUnixNano: string; attributes?: Attributes }[];
  readonly links: readonly { traceId: string; spanId: string; attributes?: Attributes }[];
  readonly resource: Attributes;
  readonly scope: string;
}

/** Converts a finished span to its trace-file form. */
export function toFileSpan(s: ReadableSpan): FileSpan {
  const ctx = s.spanContext();
  const parent = s.parentSpanContext?.spanId;
  return {
    signal: 'span',
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    ...(parent ? { parentSpanId: parent } : {}),
    name: s.name,
    kind: KIND_NAMES[s.kind] ?? 'INTERNAL',
    startTimeUnixNano: hrTimeToNanoString(s.startTime),
    endTimeUnixNano: hrTimeToNanoString(s.endTime),
    durationMs: s.duration[0] * 1000 + s.duration[1] / 1e6,
    attributes: s.attributes,
    status: {
      code: s.status.code === 2 ? 'ERROR' : s.status.code === 1 ? 'OK' : 'UNSET',
      ...(s.status.message ? { message: s.status.message } : {}),
    },
    events: s.events.map((e) => ({
      name: e.name,
      timeUnixNano: hrTimeToNanoString(e.time),
      ...(e.attributes ? { attributes: e.attributes } : {}),
    })),
    links: s.links.map((l) => ({
      traceId: l.context.traceId,
      spanId: l.context.spanId,
      ...(l.attributes ? { attributes: l.attributes } : {}),
    })),
    resource: s.resource.attributes,
    scope: s.instrumentationScope.name,
  };
}

/** Writes finished spans as JSON lines. */
export class JsonLinesSpanExporter implements SpanExporter {
  private readonly file: JsonLinesFile;
  constructor(file: JsonLinesFile) {
    this.file = file;
  }
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.file.write(spans.map((s) => JSON.stringify(toFileSpan(s)))).then(
      () => done({ code: ExportResultCode.SUCCESS }),
      (error: Error) => done({ code: ExportResultCode.FAILED, error }),
    );
  }
  shutdown(): Promise<void> {
    return this.file.flush();
  }
  forceFlush(): Promise<void> {
    return this.file.flush();
  }
}

/** The JSON form of one metric in the trace file. */
export interface FileMetric {
  readonly signal: 'metric';
  readonly name: string;
  readonly unit: string;
  readonly type: 'sum' | 'gauge' | 'histogram' | 'exponential_histogram';
  readonly points: readonly {
    attributes: Attributes;
    startTimeUnixNano: string;
    timeUnixNano: string;
    value?: number;
    count?: number;
    sum?: number;
    min?: number;
    max?: number;
    boundaries?: readonly number[];
    counts?: readonly number[];
  }[];
  readonly resource: Attributes;
  readonly scope: string;
}

/** Converts collected metrics to trace-file lines (one per metric). */
export function toFileMetrics(rm: ResourceMetrics): FileMetric[] {
  const out: FileMetric[] = [];
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      const type =
        m.dataPointType === DataPointType.SUM
          ? 'sum'
          : m.dataPointType === DataPointType.GAUGE
            ? 'gauge'
            : m.dataPointType === DataPointType.HISTOGRAM
              ? 'histogram'
              : 'exponential_histogram';
      out.push({
        signal: 'metric',
        name: m.descriptor.name,
        unit: m.descriptor.unit,
        type,
        points: m.dataPoints.map((p) => {
          const base = {
            attributes: p.attributes,
            startTimeUnixNano: hrTimeToNanoString(p.startTime),
            timeUnixNano: hrTimeToNanoString(p.endTime),
          };
          const v = p.value as unknown;
          if (typeof v === 'number') return { ...base, value: v };
          const h = v as {
            count: number;
            sum?: number;
            min?: number;
            max?: number;
            buckets?: { boundaries: number[]; counts: number[] };
          };
          return {
            ...base,
            count: h.count,
            ...(h.sum !== undefined ? { sum: h.sum } : {}),
            ...(h.min !== undefined ? { min: h.min } : {}),
            ...(h.max !== undefined ? { max: h.max } : {}),
            ...(h.buckets ? { boundaries: h.buckets.boundaries, counts: h.buckets.counts } : {}),
          };
        }),
        resource: rm.resource.attributes,
        scope: sm.scope.name,
      });
    }
  }
  return out;
}

/** Writes collected metrics as JSON lines (cumulative temporality). */
export class JsonLinesMetricExporter implements PushMetricExporter {
  private readonly file: JsonLinesFile;
  constructor(file: JsonLinesFile) {
    this.file = file;
  }
  export(metrics: ResourceMetrics, done: (r: ExportResult) => void): void {
    this.file.write(toFileMetrics(metrics).map((m) => JSON.stringify(m))).then(
      () => done({ code: ExportResultCode.SUCCESS }),
      (error: Error) => done({ code: ExportResultCode.FAILED, error }),
    );
  }
  selectAggregationTemporality(): AggregationTemporality {
    return AggregationTemporality.CUMULATIVE;
  }
  forceFlush(): Promise<void> {
    return this.file.flush();
  }
  shutdown(): Promise<void> {
    return this.file.flush();
  }
}
