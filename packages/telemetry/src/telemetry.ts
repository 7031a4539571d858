/**
 * `initTelemetry`: sets up OpenTelemetry tracing and metrics for one dmasim process (coordinator, worker,
 * CLI) from the standard `OTEL_*` variables (see config.ts), and returns a {@link Telemetry} handle.
 *
 * - Off unless something asks for it (an OTLP endpoint, `DMASIM_TRACE_FILE`, `OTEL_*_EXPORTER`, `--trace`);
 *   off always with `OTEL_SDK_DISABLED=true`. Off means the API's no-op tracer and meter: no globals are
 *   registered, nothing is exported, helpers cost a few nanoseconds.
 * - On: a TracerProvider (sampler from `OTEL_TRACES_SAMPLER`), batch span processors, a MeterProvider with a
 *   periodic reader per exporter, the AsyncLocalStorage context manager and the W3C propagator, all
 *   registered globally (BullMQ's `bullmq-otel` and any library instrumentation use the globals).
 * - Failures never reach the caller: each exporter is guarded (reported once, then ignored).
 * - `shutdown()` is idempotent and bounded (`shutdownTimeoutMs`): it flushes, then unregisters the globals
 *   so that a later `initTelemetry` in the same process (tests) starts afresh.
 */
import { hostname } from 'node:os';
import {
  type Attributes,
  context,
  createNoopMeter,
  type HrTime,
  type Meter,
  metrics,
  ProxyTracerProvider,
  propagation,
  type SpanContext,
  SpanKind,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  SimpleSpanProcessor,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { General, INSTRUMENTATION_SCOPE } from './attributes.ts';
import { resolveTelemetryConfig, type TelemetryConfig, type TelemetryOptions } from './config.ts';
import {
  GuardedMetricExporter,
  GuardedSpanExporter,
  JsonLinesFile,
  JsonLinesMetricExporter,
  JsonLinesSpanExporter,
  type Reporter,
  ReportOnce,
} from './exporters.ts';
import { DmasimMetrics } from './metrics.ts';
import type { ThreadSpan } from './thread.ts';

/** Options of {@link initTelemetry}. */
export interface InitTelemetryOptions extends TelemetryOptions {
  /** Where telemetry problems go, one message per problem (default: a line on stderr). */
  readonly report?: Reporter;
}

/** The telemetry of one process. */
export interface Telemetry {
  readonly config: TelemetryConfig;
  /** True when spans are recorded and exported. */
  readonly tracing: boolean;
  /** True when metrics are exported. */
  readonly metering: boolean;
  /** dmasim's tracer (the no-op tracer when tracing is off). */
  readonly tracer: Tracer;
  /** dmasim's meter (the no-op meter when metrics are off). */
  readonly meter: Meter;
  /** dmasim's instruments. */
  readonly metrics: DmasimMetrics;
  /** The resource every span and metric carries (service.name, service.instance.id, ...). */
  readonly resource: Resource | undefined;
  /** Hands spans recorded in a pool thread (see thread.ts) to this process's span processors. */
  exportThreadSpans(spans: readonly ThreadSpan[] | undefined): void;
  /** Exports everything recorded so far; bounded by the shutdown timeout; never rejects. */
  forceFlush(): Promise<void>;
  /** Flushes and stops; idempotent (every call returns the same promise); bounded; never rejects. */
  shutdown(): Promise<void>;
}

let active: Telemetry | undefined;

const defaultReport: Reporter = (m) => {
  process.stderr.write(`dmasim: ${m}\n`);
};

function samplerFor(c: TelemetryConfig): Sampler {
  switch (c.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(c.samplerRatio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(c.samplerRatio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** Resolves after `ms`, without keeping the process alive. */
function delay(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve('timeout'), ms);
    t.unref();
  });
}

function msToHrTime(ms: number): HrTime {
  const sec = Math.floor(ms / 1000);
  const ns = Math.round((ms - sec * 1000) * 1e6);
  return ns >= 1e9 ? [sec + 1, ns - 1e9] : [sec, ns];
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/** A {@link ReadableSpan} of a span recorded in a pool thread, as the exporters want it. */
export function threadSpanToReadable(
  s: ThreadSpan,
  resource: Resource,
  scopeVersion: string,
): ReadableSpan | undefined {
  if (!TRACE_ID.test(s.traceId) || !SPAN_ID.test(s.spanId) || !SPAN_ID.test(s.parentSpanId)) return undefined;
  const start = msToHrTime(s.startMs);
  const end = msToHrTime(Math.max(s.startMs, s.endMs));
  const durNs = Math.max(0, Math.round((s.endMs - s.startMs) * 1e6));
  const ctx: SpanContext = { traceId: s.traceId, spanId: s.spanId, traceFlags: s.traceFlags };
  const parent: SpanContext = { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: s.traceFlags, isRemote: true };
  return {
    name: s.name,
    kind: SpanKind.INTERNAL,
    spanContext: () => ctx,
    parentSpanContext: parent,
    startTime: start,
    endTime: end,
    status: s.statusMessage !== undefined ? { code: s.statusCode, message: s.statusMessage } : { code: s.statusCode },
    attributes: s.attributes as Attributes,
    links: [],
    events: s.events.map((e) => ({
      name: e.name,
      time: msToHrTime(e.timeMs),
      ...(e.attributes ? { attributes: e.attributes as Attributes } : {}),
    })),
    duration: [Math.floor(durNs / 1e9), durNs % 1e9],
    ended: true,
    resource,
    instrumentationScope: { name: INSTRUMENTATION_SCOPE, version: scopeVersion },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

function otlpTimeout(
  env: NodeJS.ProcessEnv | Readonly<Record<string, string | undefined>>,
  signal: 'TRACES' | 'METRICS',
): number {
  const raw = env[`OTEL_EXPORTER_OTLP_${signal}_TIMEOUT`] ?? env.OTEL_EXPORTER_OTLP_TIMEOUT;
  const n = raw !== undefined && /^\d+$/.test(raw.trim()) ? Number(raw) : 10_000;
  return n > 0 ? n : 10_000;
}

function disabledTelemetry(config: TelemetryConfig): Telemetry {
  const meter = createNoopMeter();
  return {
    config,
    tracing: false,
    metering: false,
    tracer: new ProxyTracerProvider().getTracer(INSTRUMENTATION_SCOPE),
    meter,
    metrics: new DmasimMetrics(meter),
    resource: undefined,
    exportThreadSpans() {},
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

/**
 * Sets up telemetry for this process. A second call before `shutdown()` returns the first handle (one
 * provider per process). Never throws: a configuration problem is reported and its default used.
 */
export function initTelemetry(opts: InitTelemetryOptions): Telemetry {
  if (active) return active;
  const config = resolveTelemetryConfig(opts);
  const reports = new ReportOnce(opts.report ?? defaultReport);
  for (const w of config.warnings) reports.once(`config:${w}`, `telemetry: ${w}`);
  if (!config.enabled) return disabledTelemetry(config);
  const env = opts.env ?? process.env;

  const resource = resourceFromAttributes({
    [General.SERVICE_INSTANCE_ID]: `${hostname()}:${process.pid}`,
    [General.HOST_NAME]: hostname(),
    [General.PROCESS_PID]: process.pid,
    ...config.resourceAttributes,
    [General.SERVICE_NAME]: config.serviceName,
    [General.SERVICE_VERSION]: config.serviceVersion,
  });
  const file = config.file !== undefined ? new JsonLinesFile(config.file) : undefined;

  const processors: SpanProcessor[] = [];
  for (const kind of config.traceExporters) {
    if (kind === 'otlp') {
      const exporter = new OTLPTraceExporter({
        url: config.otlpTracesTarget,
        timeoutMillis: otlpTimeout(env, 'TRACES'),
      });
      processors.push(
        new BatchSpanProcessor({
          exporter: new GuardedSpanExporter(exporter, config.otlpTracesTarget, reports),
          ...config.bsp,
        }),
      );
    } else if (kind === 'file' && file) {
      processors.push(
        new BatchSpanProcessor({
          exporter: new GuardedSpanExporter(new JsonLinesSpanExporter(file), file.path, reports),
          ...config.bsp,
        }),
      );
    } else if (kind === 'console') {
      processors.push(
        new SimpleSpanProcessor({
          exporter: new GuardedSpanExporter(new ConsoleSpanExporter(), 'the console', reports),
        }),
      );
    }
  }
  const tracing = processors.length > 0;

  const readers: PeriodicExportingMetricReader[] = [];
  for (const kind of config.metricExporters) {
    const exporter =
      kind === 'otlp'
        ? new GuardedMetricExporter(
            new OTLPMetricExporter({ url: config.otlpMetricsTarget, timeoutMillis: otlpTimeout(env, 'METRICS') }),
            config.otlpMetricsTarget,
            reports,
          )
        : kind === 'file' && file
          ? new GuardedMetricExporter(new JsonLinesMetricExporter(file), file.path, reports)
          : new GuardedMetricExporter(new ConsoleMetricExporter(), 'the console', reports);
    readers.push(
      new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: config.metricExportIntervalMillis,
        exportTimeoutMillis: config.metricExportTimeoutMillis,
      }),
    );
  }
  const metering = readers.length > 0;

  const tracerProvider = tracing
    ? new TracerProvider({ resource, sampler: samplerFor(config), spanProcessors: processors })
    : undefined;
  const meterProvider = metering ? new MeterProvider({ resource, readers }) : undefined;

  // Globals: the context manager and propagator are needed for spans to nest across awaits and for
  // bullmq-otel; the providers so that library instrumentation (bullmq-otel) reports into the same place.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  if (tracerProvider) trace.setGlobalTracerProvider(tracerProvider);
  if (meterProvider) metrics.setGlobalMeterProvider(meterProvider);

  const tracer = tracerProvider
    ? tracerProvider.getTracer(INSTRUMENTATION_SCOPE, config.serviceVersion)
    : new ProxyTracerProvider().getTracer(INSTRUMENTATION_SCOPE);
  const meter = meterProvider
    ? meterProvider.getMeter(INSTRUMENTATION_SCOPE, config.serviceVersion)
    : createNoopMeter();

  const bounded = async (work: Promise<unknown>): Promise<void> => {
    await Promise.race([
      work.then(
        () => undefined,
        () => undefined,
      ),
      delay(config.shutdownTimeoutMs),
    ]);
  };
  let stopping: Promise<void> | undefined;
  const self: Telemetry = {
    config,
    tracing,
    metering,
    tracer,
    meter,
    metrics: new DmasimMetrics(meter),
    resource,
    exportThreadSpans(spans) {
      if (!tracing || !spans || stopping) return;
      for (const s of spans) {
        const r = threadSpanToReadable(s, resource, config.serviceVersion);
        if (!r) continue;
        for (const p of processors) {
          try {
            p.onEnd(r);
          } catch {
            // A processor that throws loses this span, nothing more.
          }
        }
      }
    },
    forceFlush() {
      if (stopping) return stopping;
      return bounded(
        Promise.allSettled([tracerProvider?.forceFlush(), meterProvider?.forceFlush()].filter((p) => p !== undefined)),
      );
    },
    shutdown() {
      stopping ??= (async () => {
        await bounded(
          Promise.allSettled([tracerProvider?.shutdown(), meterProvider?.shutdown()].filter((p) => p !== undefined)),
        );
        if (active === self) {
          trace.disable();
          metrics.disable();
          propagation.disable();
          context.disable();
          active = undefined;
        }
      })();
      return stopping;
    },
  };
  active = self;
  return self;
}

/** The telemetry set up by {@link initTelemetry} in this process, if any and not shut down. */
export function currentTelemetry(): Telemetry | undefined {
  return active;
}
