/**
 * An in-process OTLP/HTTP receiver for tests: a real `node:http` server on a free loopback port that
 * accepts `POST /v1/traces` and `POST /v1/metrics` and decodes the payloads the way a Collector does.
 *
 * Encoding: `@opentelemetry/exporter-trace-otlp-http` and `exporter-metrics-otlp-http` (0.301) send
 * OTLP/JSON (`Content-Type: application/json`; trace and span ids as hex strings, 64-bit integers and
 * nanosecond times as decimal strings or numbers, `Content-Encoding: gzip` when
 * `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`). That is what is decoded here, completely (every AnyValue form).
 * dmasim never sends OTLP/protobuf (see docs/TELEMETRY.md), so a protobuf body is answered 415 and
 * counted in `rejected`: a test that sees one has found a configuration bug.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';

/** An attribute value as OTLP AnyValue decodes to JavaScript (int64 values beyond 2^53 stay bigint). */
export type AttrValue =
  | string
  | number
  | bigint
  | boolean
  | Uint8Array
  | null
  | AttrValue[]
  | { [k: string]: AttrValue };
export type Attrs = Record<string, AttrValue>;

export const SPAN_KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;
export type ReceivedKind = (typeof SPAN_KINDS)[number];

/** One span as received. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Absent for a root span. */
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: ReceivedKind;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Attrs;
  readonly events: readonly { name: string; timeNs: bigint; attributes: Attrs }[];
  readonly links: readonly { traceId: string; spanId: string; attributes: Attrs }[];
  readonly status: { readonly code: 'UNSET' | 'OK' | 'ERROR'; readonly message?: string };
  readonly resource: Attrs;
  readonly scope: string;
}

/** One data point of a received metric. */
export interface ReceivedPoint {
  readonly attributes: Attrs;
  /** Sums and gauges. */
  readonly value?: number;
  /** Histograms. */
  readonly count?: number;
  readonly sum?: number;
  readonly bucketCounts?: readonly number[];
  readonly explicitBounds?: readonly number[];
}

/** One metric of one export request. */
export interface ReceivedMetric {
  readonly name: string;
  readonly unit: string;
  readonly type: 'sum' | 'gauge' | 'histogram' | 'exponentialHistogram' | 'summary';
  readonly points: readonly ReceivedPoint[];
  readonly resource: Attrs;
  readonly scope: string;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** Base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://127.0.0.1:PORT`). */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  readonly metrics: ReceivedMetric[];
  /** Every request: path, content type, encoding and the status answered. */
  readonly requests: { path: string; contentType: string; encoding: string; status: number }[];
  /** Requests answered with an error (bad payloads, protobuf). */
  readonly rejected: { path: string; reason: string }[];
  /** Resolves when `pred(spans)` holds (checked on every request), rejects after `timeoutMs` with `what`. */
  waitForSpans(pred: (spans: readonly ReceivedSpan[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Same, for metrics. */
  waitForMetrics(
    pred: (metrics: readonly ReceivedMetric[]) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<void>;
  close(): Promise<void>;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

function obj(v: Json | undefined): Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};
}
function arr(v: Json | undefined): Json[] {
  return Array.isArray(v) ? v : [];
}
function str(v: Json | undefined): string {
  return typeof v === 'string' ? v : '';
}

/** OTLP/JSON ids are hex; some encoders send base64 (the protobuf JSON mapping). Returns lower-case hex. */
export function decodeId(v: Json | undefined, bytes: number): string {
  const s = str(v);
  if (s === '') return '';
  if (new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(s)) return s.toLowerCase();
  const b = Buffer.from(s, 'base64');
  if (b.length === bytes) return b.toString('hex');
  throw new Error(`not a ${bytes}-byte id: ${JSON.stringify(s)}`);
}

function int64(v: Json | undefined): bigint {
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  return 0n;
}

function num(v: Json | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v !== '') return Number(v);
  return 0;
}

/** Decodes an OTLP AnyValue. */
export function anyValue(v: Json | undefined): AttrValue {
  const o = obj(v);
  if ('stringValue' in o) return str(o.stringValue);
  if ('boolValue' in o) return o.boolValue === true;
  if ('intValue' in o) {
    const b = int64(o.intValue);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  }
  if ('doubleValue' in o) return num(o.doubleValue);
  if ('bytesValue' in o) return new Uint8Array(Buffer.from(str(o.bytesValue), 'base64'));
  if ('arrayValue' in o) return arr(obj(o.arrayValue).values).map(anyValue);
  if ('kvlistValue' in o) return attributes(obj(o.kvlistValue).values);
  return null;
}

/** Decodes a list of OTLP KeyValue. */
export function attributes(list: Json | undefined): Attrs {
  const out: Attrs = {};
  for (const kv of arr(list)) {
    const o = obj(kv);
    out[str(o.key)] = anyValue(o.value);
  }
  return out;
}

function statusCode(v: Json | undefined): 'UNSET' | 'OK' | 'ERROR' {
  const c = typeof v === 'string' ? v : num(v);
  if (c === 1 || c === 'STATUS_CODE_OK') return 'OK';
  if (c === 2 || c === 'STATUS_CODE_ERROR') return 'ERROR';
  return 'UNSET';
}

function kindOf(v: Json | undefined): ReceivedKind {
  if (typeof v === 'string') {
    const k = v.replace(/^SPAN_KIND_/, '') as ReceivedKind;
    return (SPAN_KINDS as readonly string[]).includes(k) ? k : 'UNSPECIFIED';
  }
  return SPAN_KINDS[num(v)] ?? 'UNSPECIFIED';
}

/** Decodes an OTLP/JSON ExportTraceServiceRequest. */
export function decodeTraces(body: Json): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of arr(obj(body).resourceSpans)) {
    const resource = attributes(obj(obj(rs).resource).attributes);
    for (const ss of arr(obj(rs).scopeSpans)) {
      const scope = str(obj(obj(ss).scope).name);
      for (const sp of arr(obj(ss).spans)) {
        const s = obj(sp);
        const parent = str(s.parentSpanId) ? decodeId(s.parentSpanId, 8) : '';
        const status = obj(s.status);
        out.push({
          traceId: decodeId(s.traceId, 16),
          spanId: decodeId(s.spanId, 8),
          ...(parent && parent !== '0000000000000000' ? { parentSpanId: parent } : {}),
          name: str(s.name),
          kind: kindOf(s.kind),
          startNs: int64(s.startTimeUnixNano),
          endNs: int64(s.endTimeUnixNano),
          attributes: attributes(s.attributes),
          events: arr(s.events).map((e) => ({
            name: str(obj(e).name),
            timeNs: int64(obj(e).timeUnixNano),
            attributes: attributes(obj(e).attributes),
          })),
          links: arr(s.links).map((l) => ({
            traceId: decodeId(obj(l).traceId, 16),
            spanId: decodeId(obj(l).spanId, 8),
            attributes: attributes(obj(l).attributes),
          })),
          status: str(status.message)
            ? { code: statusCode(status.code), message: str(status.message) }
            : { code: statusCode(status.code) },
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

function points(dps: Json | undefined): ReceivedPoint[] {
  return arr(dps).map((d) => {
    const o = obj(d);
    const base = { attributes: attributes(o.attributes) };
    if ('asInt' in o) return { ...base, value: Number(int64(o.asInt)) };
    if ('asDouble' in o) return { ...base, value: num(o.asDouble) };
    return {
      ...base,
      count: Number(int64(o.count)),
      ...('sum' in o ? { sum: num(o.sum) } : {}),
      bucketCounts: arr(o.bucketCounts).map((c) => Number(int64(c))),
      explicitBounds: arr(o.explicitBounds).map(num),
    };
  });
}

/** Decodes an OTLP/JSON ExportMetricsServiceRequest. */
export function decodeMetrics(body: Json): ReceivedMetric[] {
  const out: ReceivedMetric[] = [];
  for (const rm of arr(obj(body).resourceMetrics)) {
    const resource = attributes(obj(obj(rm).resource).attributes);
    for (const sm of arr(obj(rm).scopeMetrics)) {
      const scope = str(obj(obj(sm).scope).name);
      for (const m of arr(obj(sm).metrics)) {
        const o = obj(m);
        const type =
          (['sum', 'gauge', 'histogram', 'exponentialHistogram', 'summary'] as const).find((t) => t in o) ?? 'gauge';
        out.push({
          name: str(o.name),
          unit: str(o.unit),
          type,
          points: points(obj(o[type]).dataPoints),
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Starts a receiver on 127.0.0.1 and a free port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metrics: ReceivedMetric[] = [];
  const requests: OtlpReceiver['requests'] = [];
  const rejected: OtlpReceiver['rejected'] = [];
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };

  const answer = (res: ServerResponse, status: number, body: object): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      const contentType = String(req.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim()
        .toLowerCase();
      const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
      const done = (status: number, body: object, reason?: string): void => {
        requests.push({ path, contentType, encoding, status });
        if (reason) rejected.push({ path, reason });
        answer(res, status, body);
        notify();
      };
      if (req.method !== 'POST' || (path !== '/v1/traces' && path !== '/v1/metrics' && path !== '/v1/logs')) {
        done(404, { message: `no such OTLP endpoint: ${req.method} ${path}` }, 'not found');
        return;
      }
      let raw = await readBody(req);
      try {
        if (encoding === 'gzip') raw = gunzipSync(raw);
        else if (encoding === 'deflate') raw = inflateSync(raw);
        else if (encoding !== 'identity') throw new Error(`unsupported content-encoding ${encoding}`);
      } catch (e) {
        done(400, { message: (e as Error).message }, `bad encoding: ${(e as Error).message}`);
        return;
      }
      if (contentType === 'application/x-protobuf') {
        done(415, { message: 'this test receiver decodes OTLP/JSON only' }, 'protobuf payload');
        return;
      }
      if (contentType !== 'application/json') {
        done(415, { message: `unsupported content-type ${contentType}` }, `content-type ${contentType}`);
        return;
      }
      let body: Json;
      try {
        body = JSON.parse(raw.toString('utf8')) as Json;
        if (path === '/v1/traces') spans.push(...decodeTraces(body));
        else if (path === '/v1/metrics') metrics.push(...decodeMetrics(body));
      } catch (e) {
        done(400, { message: (e as Error).message }, `bad payload: ${(e as Error).message}`);
        return;
      }
      done(200, { partialSuccess: {} });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const waitFor = <T>(
    list: readonly T[],
    pred: (l: readonly T[]) => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        let ok = false;
        try {
          ok = pred(list);
        } catch {
          ok = false;
        }
        if (ok) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `OTLP receiver: timed out after ${timeoutMs} ms waiting for ${what} (${spans.length} spans, ${metrics.length} metrics received)`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    metrics,
    requests,
    rejected,
    waitForSpans: (pred, what, timeoutMs = 20_000) => waitFor(spans, pred, what, timeoutMs),
    waitForMetrics: (pred, what, timeoutMs = 20_000) => waitFor(metrics, pred, what, timeoutMs),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
