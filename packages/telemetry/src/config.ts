/**
 * Telemetry configuration: the standard `OTEL_*` environment variables, `DMASIM_TRACE_FILE` and the options a
 * service passes (its name, whether `--trace` was given) are resolved into one validated, normalised
 * {@link TelemetryConfig}. Invalid values never stop a service: as the OpenTelemetry SDK specification asks,
 * each is reported in `warnings` (with the variable, what was found and what was expected) and its default
 * is used.
 */

/** Environment variables, as `process.env` (tests pass their own). */
export type Env = Readonly<Record<string, string | undefined>>;

/** Where spans (and metrics) go. */
export type ExporterKind = 'otlp' | 'file' | 'console';

/** Sampler names of `OTEL_TRACES_SAMPLER` that dmasim supports (all the spec's built-in ones). */
export const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** Options of `initTelemetry` that shape the configuration. */
export interface TelemetryOptions {
  /** `service.name` when `OTEL_SERVICE_NAME` is not set (`dmasim-coordinator`, `dmasim-worker`). */
  readonly serviceName: string;
  /** `service.version` (default: the dmasim version). */
  readonly serviceVersion?: string;
  /**
   * The `--trace` flag: turn tracing and metrics on even when no exporter is configured. They then go to the
   * OTLP endpoint of the environment, or `DMASIM_TRACE_FILE`, or `traceFile`, or OTLP's default
   * `http://localhost:4318` (the Collector of `deploy/compose.yaml`), in that order.
   */
  readonly trace?: boolean;
  /** JSON-lines file `--trace` writes to when no OTLP endpoint and no `DMASIM_TRACE_FILE` is set. */
  readonly traceFile?: string;
  /** Upper bound of `shutdown()`, ms (default 5000). */
  readonly shutdownTimeoutMs?: number;
  /** Environment (default `process.env`). */
  readonly env?: Env;
}

/** The resolved configuration. */
export interface TelemetryConfig {
  /** False when `OTEL_SDK_DISABLED=true`, or when nothing asks for telemetry. */
  readonly enabled: boolean;
  readonly serviceName: string;
  readonly serviceVersion: string;
  /** From `OTEL_RESOURCE_ATTRIBUTES` (percent-decoded), without `service.name` (see `serviceName`). */
  readonly resourceAttributes: Readonly<Record<string, string>>;
  /** Span exporters in use (empty: tracing off). */
  readonly traceExporters: readonly ExporterKind[];
  /** Metric exporters in use (empty: metrics off). */
  readonly metricExporters: readonly ExporterKind[];
  /**
   * Where OTLP spans go: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, or `OTEL_EXPORTER_OTLP_ENDPOINT` +
   * `/v1/traces`, or `http://localhost:4318/v1/traces` (the spec's rules).
   */
  readonly otlpTracesTarget: string;
  readonly otlpMetricsTarget: string;
  /** JSON-lines file for spans and metrics (`DMASIM_TRACE_FILE` or `traceFile`). */
  readonly file: string | undefined;
  readonly sampler: SamplerName;
  /** Ratio of `traceidratio` samplers, 0..1 (`OTEL_TRACES_SAMPLER_ARG`, default 1). */
  readonly samplerRatio: number;
  /** Batch span processor (`OTEL_BSP_*`). */
  readonly bsp: {
    readonly scheduledDelayMillis: number;
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
    readonly exportTimeoutMillis: number;
  };
  /** Periodic metric reader (`OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_METRIC_EXPORT_TIMEOUT`), ms. */
  readonly metricExportIntervalMillis: number;
  readonly metricExportTimeoutMillis: number;
  readonly shutdownTimeoutMs: number;
  /** Invalid settings that were replaced by their defaults, one message each. */
  readonly warnings: readonly string[];
}

/** The dmasim version recorded as `service.version` by default. */
export const DMASIM_VERSION = '0.1.0';

const DEFAULT_OTLP_BASE = 'http://localhost:4318';

function nonEmpty(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/** Parses `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`, values percent-encoded). Bad pairs are warned about. */
export function parseResourceAttributes(raw: string | undefined, warnings: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const key = eq > 0 ? part.slice(0, eq).trim() : '';
    if (!key) {
      warnings.push(`OTEL_RESOURCE_ATTRIBUTES: "${part}" is not key=value; ignored`);
      continue;
    }
    let value = part.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      warnings.push(`OTEL_RESOURCE_ATTRIBUTES: the value of "${key}" is not valid percent-encoding; used as is`);
    }
    out[key] = value;
  }
  return out;
}

function intFromEnv(env: Env, name: string, def: number, min: number, warnings: string[]): number {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min) {
    warnings.push(`${name}: expected a whole number >= ${min}, got "${raw}"; using ${def}`);
    return def;
  }
  return Number(raw);
}

function exporterList(env: Env, name: string, warnings: string[]): { kinds: Set<string>; explicit: boolean } {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return { kinds: new Set(['otlp']), explicit: false };
  const kinds = new Set<string>();
  for (const k of raw.split(',').map((s) => s.trim().toLowerCase())) {
    if (k === 'otlp' || k === 'console' || k === 'none') kinds.add(k);
    else if (k) warnings.push(`${name}: unsupported exporter "${k}" (expected otlp, console or none); ignored`);
  }
  if (kinds.has('none')) return { kinds: new Set(), explicit: true };
  return { kinds, explicit: true };
}

function validUrl(env: Env, name: string, warnings: string[]): string | undefined {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return undefined;
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    return raw;
  } catch {
    warnings.push(`${name}: expected an http(s) URL, got "${raw}"; ignored`);
    return undefined;
  }
}

function signalUrl(base: string, path: string): string {
  return `${base.endsWith('/') ? base : `${base}/`}${path}`;
}

/** Resolves the configuration from the environment and the service's options. Never throws. */
export function resolveTelemetryConfig(opts: TelemetryOptions): TelemetryConfig {
  const env = opts.env ?? process.env;
  const warnings: string[] = [];
  const resourceAttributes = parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES, warnings);
  const serviceName = nonEmpty(env, 'OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'] ?? opts.serviceName;
  delete resourceAttributes['service.name'];
  const serviceVersion = resourceAttributes['service.version'] ?? opts.serviceVersion ?? DMASIM_VERSION;
  delete resourceAttributes['service.version'];

  for (const name of [
    'OTEL_EXPORTER_OTLP_PROTOCOL',
    'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
  ]) {
    const p = nonEmpty(env, name);
    if (p !== undefined && p !== 'http/json') {
      warnings.push(`${name}: dmasim exports OTLP over HTTP as JSON only (http/json), got "${p}"; using http/json`);
    }
  }

  let sampler: SamplerName = 'parentbased_always_on';
  const rawSampler = nonEmpty(env, 'OTEL_TRACES_SAMPLER');
  if (rawSampler !== undefined) {
    if ((SAMPLERS as readonly string[]).includes(rawSampler)) sampler = rawSampler as SamplerName;
    else
      warnings.push(
        `OTEL_TRACES_SAMPLER: expected one of ${SAMPLERS.join(', ')}, got "${rawSampler}"; using ${sampler}`,
      );
  }
  let samplerRatio = 1;
  const rawArg = nonEmpty(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (rawArg !== undefined && sampler.endsWith('traceidratio')) {
    const r = Number(rawArg);
    if (Number.isFinite(r) && r >= 0 && r <= 1) samplerRatio = r;
    else warnings.push(`OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1, got "${rawArg}"; using 1`);
  }

  const bsp = {
    scheduledDelayMillis: intFromEnv(env, 'OTEL_BSP_SCHEDULE_DELAY', 1000, 0, warnings),
    maxQueueSize: intFromEnv(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 8192, 1, warnings),
    maxExportBatchSize: intFromEnv(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512, 1, warnings),
    exportTimeoutMillis: intFromEnv(env, 'OTEL_BSP_EXPORT_TIMEOUT', 10_000, 1, warnings),
  };
  if (bsp.maxExportBatchSize > bsp.maxQueueSize) {
    warnings.push(
      `OTEL_BSP_MAX_EXPORT_BATCH_SIZE (${bsp.maxExportBatchSize}) exceeds OTEL_BSP_MAX_QUEUE_SIZE (${bsp.maxQueueSize}); using ${bsp.maxQueueSize}`,
    );
    bsp.maxExportBatchSize = bsp.maxQueueSize;
  }
  const metricExportIntervalMillis = intFromEnv(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60_000, 1, warnings);
  let metricExportTimeoutMillis = intFromEnv(env, 'OTEL_METRIC_EXPORT_TIMEOUT', 30_000, 1, warnings);
  if (metricExportTimeoutMillis > metricExportIntervalMillis) metricExportTimeoutMillis = metricExportIntervalMillis;

  const base = validUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT', warnings);
  const tracesUrl = validUrl(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', warnings);
  const metricsUrl = validUrl(env, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', warnings);
  const otlpTracesTarget = tracesUrl ?? signalUrl(base ?? DEFAULT_OTLP_BASE, 'v1/traces');
  const otlpMetricsTarget = metricsUrl ?? signalUrl(base ?? DEFAULT_OTLP_BASE, 'v1/metrics');
  const envFile = env.DMASIM_TRACE_FILE?.trim() || undefined;
  const traceFlag = opts.trace === true;
  const file = envFile ?? (traceFlag && !base && !tracesUrl ? opts.traceFile : undefined);

  const tracesList = exporterList(env, 'OTEL_TRACES_EXPORTER', warnings);
  const metricsList = exporterList(env, 'OTEL_METRICS_EXPORTER', warnings);

  // Per signal: OTLP when an endpoint is configured, when OTEL_*_EXPORTER names otlp explicitly, or when
  // --trace asks and there is no file to write to; the file whenever one is set (unless the exporter list
  // is "none"); the console when listed.
  const pick = (list: { kinds: Set<string>; explicit: boolean }, endpointSet: boolean): ExporterKind[] => {
    const kinds: ExporterKind[] = [];
    if (list.kinds.has('otlp') && (endpointSet || list.explicit || (traceFlag && file === undefined)))
      kinds.push('otlp');
    if (file !== undefined && !(list.explicit && list.kinds.size === 0)) kinds.push('file');
    if (list.kinds.has('console')) kinds.push('console');
    return kinds;
  };
  const disabled = (nonEmpty(env, 'OTEL_SDK_DISABLED') ?? '').toLowerCase() === 'true';
  const t = pick(tracesList, base !== undefined || tracesUrl !== undefined);
  const m = pick(metricsList, base !== undefined || metricsUrl !== undefined);
  if (disabled && traceFlag) warnings.push('OTEL_SDK_DISABLED=true: telemetry stays off although --trace was given');
  const traceExporters = disabled ? [] : t;
  const metricExporters = disabled ? [] : m;
  return {
    enabled: traceExporters.length > 0 || metricExporters.length > 0,
    serviceName,
    serviceVersion,
    resourceAttributes,
    traceExporters,
    metricExporters,
    otlpTracesTarget,
    otlpMetricsTarget,
    file,
    sampler,
    samplerRatio,
    bsp,
    metricExportIntervalMillis,
    metricExportTimeoutMillis,
    shutdownTimeoutMs: Math.max(0, opts.shutdownTimeoutMs ?? 5000),
    warnings,
  };
}

/** One line saying where telemetry goes, for a service's start-up log. */
export function describeTelemetry(c: TelemetryConfig): string {
  if (!c.enabled) return 'telemetry off';
  const where = (kinds: readonly ExporterKind[], otlp: string): string =>
    kinds.length === 0
      ? 'off'
      : kinds.map((k) => (k === 'otlp' ? `OTLP ${otlp}` : k === 'file' ? `file ${c.file}` : 'console')).join(' + ');
  const sampler = c.sampler.endsWith('traceidratio') ? `${c.sampler}(${c.samplerRatio})` : c.sampler;
  return `telemetry: traces -> ${where(c.traceExporters, c.otlpTracesTarget)} (sampler ${sampler}); metrics -> ${where(c.metricExporters, c.otlpMetricsTarget)}`;
}
