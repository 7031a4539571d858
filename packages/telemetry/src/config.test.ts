import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeTelemetry, parseResourceAttributes, resolveTelemetryConfig } from './config.ts';

const cfg = (env: Record<string, string>, extra: { trace?: boolean; traceFile?: string } = {}) =>
  resolveTelemetryConfig({ serviceName: 'dmasim-test', env, ...extra });

test('nothing configured: telemetry is off and the service name is the given one', () => {
  const c = cfg({});
  assert.equal(c.enabled, false);
  assert.deepEqual(c.traceExporters, []);
  assert.deepEqual(c.metricExporters, []);
  assert.equal(c.serviceName, 'dmasim-test');
  assert.equal(describeTelemetry(c), 'telemetry off');
});

test('OTEL_EXPORTER_OTLP_ENDPOINT turns traces and metrics on, with the signal paths appended', () => {
  const c = cfg({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' });
  assert.equal(c.enabled, true);
  assert.deepEqual(c.traceExporters, ['otlp']);
  assert.deepEqual(c.metricExporters, ['otlp']);
  assert.equal(c.otlpTracesTarget, 'http://collector:4318/v1/traces');
  assert.equal(c.otlpMetricsTarget, 'http://collector:4318/v1/metrics');
});

test('a signal-specific endpoint is used as is and only turns its own signal on', () => {
  const c = cfg({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:9999/custom' });
  assert.deepEqual(c.traceExporters, ['otlp']);
  assert.deepEqual(c.metricExporters, []);
  assert.equal(c.otlpTracesTarget, 'http://t:9999/custom');
});

test('--trace alone exports OTLP to the default endpoint; with a traceFile it writes the file instead', () => {
  const a = cfg({}, { trace: true });
  assert.deepEqual(a.traceExporters, ['otlp']);
  assert.equal(a.otlpTracesTarget, 'http://localhost:4318/v1/traces');
  const b = cfg({}, { trace: true, traceFile: '/tmp/x/trace.jsonl' });
  assert.deepEqual(b.traceExporters, ['file']);
  assert.deepEqual(b.metricExporters, ['file']);
  assert.equal(b.file, '/tmp/x/trace.jsonl');
  // An endpoint wins over the traceFile default.
  const c = cfg({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, { trace: true, traceFile: '/tmp/t.jsonl' });
  assert.deepEqual(c.traceExporters, ['otlp']);
  assert.equal(c.file, undefined);
});

test('DMASIM_TRACE_FILE writes the file, beside OTLP when an endpoint is set too', () => {
  assert.deepEqual(cfg({ DMASIM_TRACE_FILE: '/tmp/a.jsonl' }).traceExporters, ['file']);
  assert.deepEqual(
    cfg({ DMASIM_TRACE_FILE: '/tmp/a.jsonl', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }).traceExporters,
    ['otlp', 'file'],
  );
});

test('OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED switch signals off', () => {
  const a = cfg({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' });
  assert.deepEqual(a.traceExporters, []);
  assert.deepEqual(a.metricExporters, ['otlp']);
  const b = cfg({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'TRUE' }, { trace: true });
  assert.equal(b.enabled, false);
  assert.match(b.warnings.join('\n'), /OTEL_SDK_DISABLED=true: telemetry stays off although --trace was given/);
  assert.deepEqual(cfg({ OTEL_TRACES_EXPORTER: 'console' }).traceExporters, ['console']);
});

test('sampler and ratio come from OTEL_TRACES_SAMPLER(_ARG); bad values warn and fall back', () => {
  const a = cfg({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' });
  assert.equal(a.sampler, 'parentbased_traceidratio');
  assert.equal(a.samplerRatio, 0.25);
  const b = cfg({ OTEL_TRACES_SAMPLER: 'sometimes', OTEL_TRACES_SAMPLER_ARG: '3' });
  assert.equal(b.sampler, 'parentbased_always_on');
  assert.equal(b.samplerRatio, 1);
  assert.match(
    b.warnings[0]!,
    /OTEL_TRACES_SAMPLER: expected one of always_on, .* got "sometimes"; using parentbased_always_on/,
  );
  const c = cfg({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' });
  assert.equal(c.samplerRatio, 1);
  assert.match(c.warnings[0]!, /OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1, got "1.5"/);
});

test('OTEL_SERVICE_NAME beats service.name in OTEL_RESOURCE_ATTRIBUTES, which beats the option', () => {
  const a = cfg({
    OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs,deployment.environment.name=ci,k8s.pod.name=w%2D1',
  });
  assert.equal(a.serviceName, 'from-attrs');
  assert.deepEqual(a.resourceAttributes, { 'deployment.environment.name': 'ci', 'k8s.pod.name': 'w-1' });
  const b = cfg({ OTEL_SERVICE_NAME: 'svc', OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' });
  assert.equal(b.serviceName, 'svc');
});

test('resource attribute parsing reports malformed pairs', () => {
  const w: string[] = [];
  assert.deepEqual(parseResourceAttributes('a=1,,=x,b,c=%E0%A4%A', w), { a: '1', c: '%E0%A4%A' });
  assert.equal(w.length, 3);
  assert.match(w[0]!, /"=x" is not key=value/);
  assert.match(w[1]!, /"b" is not key=value/);
  assert.match(w[2]!, /the value of "c" is not valid percent-encoding/);
});

test('invalid numbers and URLs are reported with the variable, what was found and the default used', () => {
  const c = cfg({
    OTEL_BSP_SCHEDULE_DELAY: 'soon',
    OTEL_METRIC_EXPORT_INTERVAL: '-5',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  });
  assert.equal(c.bsp.scheduledDelayMillis, 1000);
  assert.equal(c.metricExportIntervalMillis, 60_000);
  assert.equal(c.enabled, false, 'an invalid endpoint is ignored, so nothing is configured');
  const all = c.warnings.join('\n');
  assert.match(all, /OTEL_BSP_SCHEDULE_DELAY: expected a whole number >= 0, got "soon"; using 1000/);
  assert.match(all, /OTEL_METRIC_EXPORT_INTERVAL: expected a whole number >= 1, got "-5"; using 60000/);
  assert.match(all, /OTEL_EXPORTER_OTLP_ENDPOINT: expected an http\(s\) URL, got "collector:4318"; ignored/);
  assert.match(all, /OTEL_EXPORTER_OTLP_PROTOCOL: dmasim exports OTLP over HTTP as JSON only/);
});

test('describeTelemetry names the destinations and the sampler', () => {
  const c = cfg({
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
    OTEL_TRACES_SAMPLER: 'traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.1',
  });
  assert.equal(
    describeTelemetry(c),
    'telemetry: traces -> OTLP http://c:4318/v1/traces (sampler traceidratio(0.1)); metrics -> OTLP http://c:4318/v1/metrics',
  );
});
