/**
 * The distributed event log: frames as NATS JetStream messages, scenario records in a JetStream KV
 * bucket (NATS.js v3 modular clients). Design and reasons in docs/EVENT-STREAM.md; in short:
 *
 * - one stream, {@link DEFAULT_STREAM} (`DMASIM_EVENTS`), subjects `dmasim.ev.>`, file storage, limits
 *   retention, `discard: new` (a full stream refuses new frames: the publisher fails loudly with
 *   STREAM_FULL instead of the server dropping old events silently), no age or count limit;
 * - one frame a message on `dmasim.ev.<sweep>.<scenario>.<attempt>` (tokens escaped by
 *   {@link subjectToken}), header `Nats-Msg-Id: <sweep>/<scenario>/<attempt>/<frameIndex>`, so a frame
 *   published twice within the stream's duplicate window is stored once;
 * - KV bucket {@link DEFAULT_BUCKET}: `<sweep>.meta` (sweep metadata) and `<sweep>.sc.<scenario>` (the
 *   {@link ScenarioEventsRecord} of the attempt that produced the stored result). Replay reads only
 *   that attempt, which covers retries beyond the duplicate window.
 *
 * Only nats-server 2.9 features are used (one filter subject per consumer, no stream metadata, no
 * per-message TTL), so Debian's server works; {@link JetStreamEventLog.serverVersion} reports the version.
 */
import { DmasimError, decodeFrameHeader, ErrorCode, type FrameMeta } from '@dmasim/core';
import {
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import {
  checkEventFrame,
  checkScenarioRecord,
  type EventFrame,
  type EventLog,
  type EventLogReader,
  type FrameFilter,
  type ScenarioEventsRecord,
  type StoredFrame,
} from './event-log.ts';

/** Default stream name. */
export const DEFAULT_STREAM = 'DMASIM_EVENTS';
/** Default subject prefix: frames go to `<prefix>.<sweep>.<scenario>.<attempt>`. */
export const DEFAULT_SUBJECT_PREFIX = 'dmasim.ev';
/** Default KV bucket of sweep metadata and scenario records. */
export const DEFAULT_BUCKET = 'dmasim_sweeps';

/**
 * A string as one subject token and KV key token: `[A-Za-z0-9_-]` kept, every other UTF-8 byte as
 * `=HH` (upper-case hex). Injective, so two ids never share a subject. The empty string is `=`.
 */
export function subjectToken(s: string): string {
  if (s === '') return '=';
  if (/^[A-Za-z0-9_-]+$/.test(s)) return s;
  let out = '';
  for (const b of new TextEncoder().encode(s)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Inverse of {@link subjectToken}. */
export function fromSubjectToken(t: string): string {
  if (t === '=') return '';
  if (!t.includes('=')) return t;
  const bytes: number[] = [];
  for (let i = 0; i < t.length; i++) {
    if (t[i] === '=') {
      bytes.push(Number.parseInt(t.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(t.charCodeAt(i));
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

/** The `Nats-Msg-Id` of a frame: stable across retries of the same attempt. */
export function frameMsgId(sweepId: string, f: { scenarioId: string; attempt: number; frameIndex: number }): string {
  return `${subjectToken(sweepId)}/${subjectToken(f.scenarioId)}/${f.attempt}/${f.frameIndex}`;
}

/** Options of {@link JetStreamEventLog.connect}. */
export interface JetStreamEventLogOptions {
  /** Server URL(s): `nats://host:port`, several separated by commas. */
  url: string;
  /** Stream name. Default {@link DEFAULT_STREAM}. */
  stream?: string;
  /** Subject prefix. Default {@link DEFAULT_SUBJECT_PREFIX}. */
  subjectPrefix?: string;
  /** KV bucket. Default {@link DEFAULT_BUCKET}. */
  bucket?: string;
  /** Stream `max_bytes` when this call creates it; -1 = bounded only by the server's storage. Default -1. */
  maxBytes?: number;
  /** Stream `duplicate_window`, ms, when this call creates it. Default 120000 (2 min, the server's). */
  duplicateWindowMs?: number;
  /** Publishes awaiting their acknowledgement at once (backpressure beyond). Default 256. */
  maxInFlight?: number;
  /** Time to wait for one publish acknowledgement, ms. Default 10000. */
  ackTimeoutMs?: number;
  /** How long a publish or record keeps retrying through disconnects and timeouts, ms. Default 120000. */
  retryForMs?: number;
  /** Connection name shown by the server. Default `dmasim-events`. */
  name?: string;
  /** Create the stream and bucket if missing (default true; false only binds to existing ones). */
  create?: boolean;
  /**
   * Extra headers for every published frame, asked once per `publish` call (telemetry: the W3C
   * `traceparent`/`tracestate` of the active publish span, `() => injectContext()` from @dmasim/telemetry).
   * `Nats-Msg-Id` is not affected.
   */
  traceHeaders?: () => Readonly<Record<string, string>> | undefined;
}

/** What the sweep metadata key holds (the adapter adds the codec facts). */
export type SweepEventsMeta = Readonly<Record<string, unknown>>;

/** Counters of a {@link JetStreamEventLog} (tests and benchmarks). */
export interface JetStreamStats {
  /** Frames acknowledged as new. */
  published: number;
  /** Frames the server reported as duplicates (same `Nats-Msg-Id` within the window). */
  duplicates: number;
  /** Publish attempts retried after a timeout or disconnect. */
  retries: number;
  bytes: number;
}

const STREAM_FULL_CODES = new Set([10023, 10002, 10047, 10028]);
const STREAM_FULL_TEXT =
  /maximum (bytes|messages|messages per subject) exceeded|insufficient resources|resource limits exceeded|no space left|storage.*(full|exhausted)/i;

/** True for an error meaning the stream (or the server's storage) refused a write because it is full. */
export function isStreamFullError(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown; cause?: unknown } | null;
  if (!err || typeof err !== 'object') return false;
  const name = (err as { name?: unknown }).name;
  if (name === 'JetStreamApiError' && typeof err.code === 'number' && STREAM_FULL_CODES.has(err.code)) return true;
  if (typeof err.message === 'string' && STREAM_FULL_TEXT.test(err.message)) return true;
  return err.cause !== undefined && err.cause !== e && isStreamFullError(err.cause);
}

/**
 * True for a failure that a retry of the same publish can cure (timeout, no responders, disconnect), looking
 * through the error's causes. "JetStream is not enabled" counts too: right after a nats-server restart the
 * server answers before JetStream has recovered its streams, and the client reports exactly that (its
 * cause is "no responders"); JetStream was checked at connect, so it is the restart, not a misconfiguration.
 */
function isTransient(e: unknown, depth = 0): boolean {
  if (isStreamFullError(e)) return false;
  const err = e as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown };
  const name = typeof err?.name === 'string' ? err.name : '';
  const msg = typeof err?.message === 'string' ? err.message : '';
  if (/Timeout|NoResponders|Closed|Connection|RequestError|Disconnect|JetStreamNotEnabled/i.test(name)) return true;
  if (err?.code === 503 || err?.code === '503') return true;
  if (
    /timeout|no responders|503|disconnect|connection (closed|lost|refused)|reconnect|stale|jetstream is not enabled/i.test(
      msg,
    )
  )
    return true;
  return depth < 4 && err?.cause !== undefined && err.cause !== e && isTransient(err.cause, depth + 1);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** NATS message headers holding `extra` (a fresh object per message: the client adds Nats-Msg-Id to it). */
function headersOf(extra: Readonly<Record<string, string>>): ReturnType<typeof natsHeaders> {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(extra)) h.set(k, v);
  return h;
}

/** A counting semaphore: at most `n` holders; the rest wait in order. */
class Slots {
  private free: number;
  private readonly waiters: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
  }
  give(): void {
    const w = this.waiters.shift();
    if (w) w();
    else this.free++;
  }
}

/** The event log on NATS JetStream. Use {@link JetStreamEventLog.connect}. */
export class JetStreamEventLog implements EventLog, EventLogReader {
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly bucketName: string;
  /** nats-server version (from the INFO the server sent). */
  readonly serverVersion: string;
  /** The server's `max_payload`: no frame may be larger. */
  readonly maxPayload: number;
  readonly stats: JetStreamStats = { published: 0, duplicates: 0, retries: 0, bytes: 0 };
  private readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;
  private readonly kv: KV;
  private readonly slots: Slots;
  private readonly ackTimeoutMs: number;
  private readonly retryForMs: number;
  private readonly traceHeaders: (() => Readonly<Record<string, string>> | undefined) | undefined;
  private backlog = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    nc: NatsConnection,
    js: JetStreamClient,
    jsm: JetStreamManager,
    kv: KV,
    o: Required<Pick<JetStreamEventLogOptions, 'stream' | 'subjectPrefix' | 'bucket'>> & JetStreamEventLogOptions,
  ) {
    this.nc = nc;
    this.js = js;
    this.jsm = jsm;
    this.kv = kv;
    this.stream = o.stream;
    this.subjectPrefix = o.subjectPrefix;
    this.bucketName = o.bucket;
    this.serverVersion = nc.info?.version ?? 'unknown';
    this.maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    this.slots = new Slots(o.maxInFlight ?? 256);
    this.ackTimeoutMs = o.ackTimeoutMs ?? 10_000;
    this.retryForMs = o.retryForMs ?? 120_000;
    this.traceHeaders = o.traceHeaders;
  }

  /**
   * Connects, and creates (or binds to) the stream and the KV bucket.
   * @throws DmasimError SERVICE_UNAVAILABLE when the server cannot be reached or has no JetStream;
   * INVALID_ARGUMENT for a bad URL or an existing stream that does not take our subjects.
   */
  static async connect(opts: JetStreamEventLogOptions): Promise<JetStreamEventLog> {
    const servers = opts.url.split(',').map((s) => s.trim());
    for (const s of servers) {
      if (!/^(nats|tls):\/\/[^\s/]+$/.test(s) && !/^[^\s/:]+:\d+$/.test(s)) {
        throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `not a NATS URL: "${s}" (expected nats://host:port)`);
      }
    }
    const o = {
      ...opts,
      stream: opts.stream ?? DEFAULT_STREAM,
      subjectPrefix: opts.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX,
      bucket: opts.bucket ?? DEFAULT_BUCKET,
    };
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        name: opts.name ?? 'dmasim-events',
        maxReconnectAttempts: -1,
        reconnectTimeWait: 200,
        timeout: 5000,
        // Without this the client builds two Error objects (with stack traces) for every request in case it
        // fails: a quarter of the client's CPU time on a worker's main thread in a profile of the sweep
        // benchmark (DMASIM_BENCH_CPU_PROF). Failures keep their types (TimeoutError, RequestError with its
        // cause), which is all isTransient looks at; they lose the stack of where the request was made.
        noAsyncTraces: true,
      });
    } catch (e) {
      throw new DmasimError(
        ErrorCode.SERVICE_UNAVAILABLE,
        `cannot connect to NATS at ${opts.url}: ${(e as Error).message}`,
        { url: opts.url },
        { cause: e },
      );
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout: opts.ackTimeoutMs ?? 10_000 });
      const js = jsm.jetstream();
      await ensureStream(jsm, o.stream, o.subjectPrefix, opts);
      const kvm = new Kvm(js);
      const kv =
        opts.create === false ? await kvm.open(o.bucket) : await kvm.create(o.bucket, { history: 1, storage: 'file' });
      return new JetStreamEventLog(nc, js, jsm, kv, o);
    } catch (e) {
      await nc.close().catch(() => undefined);
      if (e instanceof DmasimError) throw e;
      throw new DmasimError(
        ErrorCode.SERVICE_UNAVAILABLE,
        `NATS at ${opts.url}: cannot set up JetStream stream ${o.stream} / bucket ${o.bucket}: ${(e as Error).message} (is JetStream enabled: nats-server -js?)`,
        { url: opts.url },
        { cause: e },
      );
    }
  }

  /** Subject of a (sweep, scenario, attempt). */
  subject(sweepId: string, scenarioId: string, attempt: number): string {
    return `${this.subjectPrefix}.${subjectToken(sweepId)}.${subjectToken(scenarioId)}.${attempt}`;
  }

  private async retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.retryForMs;
    let wait = 50;
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (isStreamFullError(e)) {
          throw new DmasimError(
            ErrorCode.STREAM_FULL,
            `${what}: JetStream stream ${this.stream} is full (${(e as Error).message}); no event was dropped: raise the stream's max_bytes or the server's max_file_store, or remove old sweeps`,
            { stream: this.stream },
            { cause: e },
          );
        }
        if (!isTransient(e) || this.closing !== undefined || Date.now() >= deadline) {
          const transient = isTransient(e);
          throw new DmasimError(
            transient ? ErrorCode.SERVICE_UNAVAILABLE : ErrorCode.INTERNAL,
            `${what}: ${(e as Error).message}${transient ? ` (gave up after ${this.retryForMs} ms)` : ''}`,
            { stream: this.stream },
            { cause: e },
          );
        }
        this.stats.retries++;
        await sleep(wait);
        wait = Math.min(wait * 2, 1000);
      }
    }
  }

  /**
   * Publishes frames with at most `maxInFlight` unacknowledged at a time, each with its `Nats-Msg-Id`,
   * retrying through timeouts and reconnects (the id makes a retry harmless). Resolves when the server
   * has stored (acknowledged) every frame.
   * @throws DmasimError STREAM_FULL (final), SERVICE_UNAVAILABLE (the server stayed away past
   * `retryForMs`), INVALID_ARGUMENT (a frame larger than max_payload, or fields that disagree with it).
   */
  async publish(sweepId: string, frames: readonly EventFrame[]): Promise<void> {
    if (this.closing) throw new DmasimError(ErrorCode.INVALID_ARGUMENT, 'JetStreamEventLog is closed');
    for (const f of frames) {
      checkEventFrame(f);
      if (f.bytes.length > this.maxPayload - 512) {
        throw new DmasimError(
          ErrorCode.INVALID_ARGUMENT,
          `frame ${f.scenarioId} attempt ${f.attempt} #${f.frameIndex} is ${f.bytes.length} bytes, more than the server's max_payload ${this.maxPayload} allows: use smaller frames (fewer events a frame)`,
        );
      }
    }
    const extra = this.traceHeaders?.();
    this.backlog += frames.length;
    let settled = 0;
    try {
      await this.eachInFlight(frames, (f) => {
        const subject = this.subject(sweepId, f.scenarioId, f.attempt);
        const msgID = frameMsgId(sweepId, f);
        return this.retrying(`publish ${msgID}`, () =>
          this.js.publish(subject, f.bytes, {
            msgID,
            timeout: this.ackTimeoutMs,
            expect: { streamName: this.stream },
            ...(extra ? { headers: headersOf(extra) } : {}),
          }),
        )
          .then((ack) => {
            if (ack.duplicate) this.stats.duplicates++;
            else this.stats.published++;
            this.stats.bytes += f.bytes.length;
          })
          .finally(() => {
            settled++;
            this.backlog--;
          });
      });
    } finally {
      // Frames that never started (after a failure) leave the backlog too.
      this.backlog -= frames.length - settled;
    }
  }

  /**
   * Runs `run(item)` for each item with at most `maxInFlight` running at a time (across every caller of
   * this log). After a failure no further item starts; the running ones settle, then the first failure is
   * thrown.
   */
  private async eachInFlight<T>(items: readonly T[], run: (item: T) => Promise<void>): Promise<void> {
    let failure: unknown;
    const running: Promise<void>[] = [];
    for (const item of items) {
      if (failure !== undefined) break;
      await this.slots.take();
      if (failure !== undefined) {
        this.slots.give();
        break;
      }
      running.push(
        run(item).then(
          () => this.slots.give(),
          (e: unknown) => {
            failure ??= e;
            this.slots.give();
          },
        ),
      );
    }
    await Promise.all(running);
    if (failure !== undefined) throw failure;
  }

  /** Writes the scenario's record under `<sweep>.sc.<scenario>` (retrying through disconnects). */
  async recordScenario(sweepId: string, rec: ScenarioEventsRecord): Promise<void> {
    checkScenarioRecord(rec);
    const key = `${subjectToken(sweepId)}.sc.${subjectToken(rec.scenarioId)}`;
    const value = JSON.stringify(rec);
    await this.retrying(`record ${key}`, () => this.kv.put(key, value));
  }

  /**
   * {@link recordScenario} for each record, at most `maxInFlight` puts at a time instead of one after the
   * other (a shard's records cost about one round trip, not one each). After a failure no further put
   * starts; the running ones settle, then the first failure is thrown.
   */
  async recordScenarios(sweepId: string, recs: readonly ScenarioEventsRecord[]): Promise<void> {
    for (const rec of recs) checkScenarioRecord(rec);
    await this.eachInFlight(recs, (rec) => this.recordScenario(sweepId, rec));
  }

  /** Writes the sweep's metadata under `<sweep>.meta`. */
  async recordSweep(sweepId: string, meta: SweepEventsMeta): Promise<void> {
    const key = `${subjectToken(sweepId)}.meta`;
    const value = JSON.stringify({ sweepId, stream: this.stream, ...meta });
    await this.retrying(`record ${key}`, () => this.kv.put(key, value));
  }

  /** The sweep's metadata, or undefined. */
  async sweepMeta(sweepId: string): Promise<Record<string, unknown> | undefined> {
    const e = await this.kv.get(`${subjectToken(sweepId)}.meta`);
    if (e?.operation !== 'PUT') return undefined;
    return e.json<Record<string, unknown>>();
  }

  /**
   * The latest record of every scenario of the sweep, read from the bucket's stream with one ordered
   * consumer (last value per key), sorted by scenario id.
   */
  async scenarios(sweepId: string): Promise<ScenarioEventsRecord[]> {
    const stream = `KV_${this.bucketName}`;
    const filter = `$KV.${this.bucketName}.${subjectToken(sweepId)}.sc.>`;
    const out = new Map<string, ScenarioEventsRecord>();
    for await (const m of this.ordered(stream, filter, DeliverPolicy.All)) {
      const op = m.headers?.get('KV-Operation');
      const token = m.subject.slice(filter.length - 1);
      if (op === 'DEL' || op === 'PURGE') {
        out.delete(fromSubjectToken(token));
        continue;
      }
      const rec = JSON.parse(new TextDecoder().decode(m.data)) as ScenarioEventsRecord;
      checkScenarioRecord(rec);
      out.set(rec.scenarioId, rec);
    }
    return [...out.values()].sort((a, b) => (a.scenarioId < b.scenarioId ? -1 : a.scenarioId > b.scenarioId ? 1 : 0));
  }

  /**
   * The sweep's frames in stream order, read with an ordered consumer (one filter subject: 2.9 has no
   * more): the whole sweep, one scenario, or one scenario attempt. Ends at the last message present when
   * the read started.
   */
  async *frames(sweepId: string, filter: FrameFilter = {}): AsyncGenerator<StoredFrame> {
    let subj = `${this.subjectPrefix}.${subjectToken(sweepId)}.`;
    if (filter.scenarioId === undefined) subj += '>';
    else subj += `${subjectToken(filter.scenarioId)}.${filter.attempt ?? '*'}`;
    for await (const m of this.ordered(this.stream, subj, DeliverPolicy.All)) {
      const bytes = m.data;
      const source = `stream ${this.stream} seq ${m.seq}`;
      const meta: FrameMeta = decodeFrameHeader(bytes, source);
      // The W3C context the publisher put in the headers (telemetry: replay links back to it).
      const traceparent = m.headers?.get('traceparent');
      const tracestate = m.headers?.get('tracestate');
      const frame: StoredFrame & { readonly trace?: Readonly<Record<string, string>> } = traceparent
        ? { meta, bytes, source, trace: tracestate ? { traceparent, tracestate } : { traceparent } }
        : { meta, bytes, source };
      yield frame;
    }
  }

  /** Reads `filter` of `stream` with an ordered consumer until nothing is pending. */
  private async *ordered(
    stream: string,
    filter: string,
    policy: DeliverPolicy,
  ): AsyncGenerator<{
    subject: string;
    seq: number;
    data: Uint8Array;
    headers: { get(k: string): string } | undefined;
  }> {
    const consumer = await this.js.consumers.get(stream, { filter_subjects: filter, deliver_policy: policy });
    try {
      const info = await consumer.info(true);
      if (info.num_pending === 0) return;
      const iter = await consumer.consume({ max_bytes: 16 * 1024 * 1024 });
      try {
        for await (const m of iter) {
          yield { subject: m.subject, seq: m.seq, data: m.data, headers: m.headers };
          if (m.info.pending === 0) break;
        }
      } finally {
        await iter.close();
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  /** Stream facts: messages and bytes stored, and its configuration. */
  async streamInfo(): Promise<{ messages: number; bytes: number; config: StreamConfig }> {
    const si = await this.jsm.streams.info(this.stream);
    return { messages: si.state.messages, bytes: si.state.bytes, config: si.config };
  }

  /** Deletes every frame and record of a sweep (the stream and bucket stay). */
  async purgeSweep(sweepId: string): Promise<void> {
    await this.jsm.streams.purge(this.stream, { filter: `${this.subjectPrefix}.${subjectToken(sweepId)}.>` });
    await this.jsm.streams.purge(`KV_${this.bucketName}`, {
      filter: `$KV.${this.bucketName}.${subjectToken(sweepId)}.>`,
    });
  }

  /** Frames handed to {@link publish} and not acknowledged yet (telemetry: the publish backlog). */
  get pendingFrames(): number {
    return this.backlog;
  }

  /** Waits for in-flight publishes, then drains and closes the connection. Idempotent. */
  async close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
    })();
    await this.closing;
  }
}

async function ensureStream(
  jsm: JetStreamManager,
  name: string,
  prefix: string,
  opts: JetStreamEventLogOptions,
): Promise<void> {
  const subject = `${prefix}.>`;
  let existing: StreamConfig | undefined;
  try {
    existing = (await jsm.streams.info(name)).config;
  } catch (e) {
    if ((e as { name?: string }).name !== 'StreamNotFoundError' && !/not found/i.test((e as Error).message)) throw e;
  }
  if (existing) {
    if (!existing.subjects?.includes(subject)) {
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `JetStream stream ${name} exists but does not take subject ${subject} (its subjects: ${existing.subjects?.join(', ') ?? 'none'})`,
      );
    }
    return;
  }
  if (opts.create === false) {
    throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `JetStream stream ${name} does not exist`);
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [subject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.New,
      max_bytes: opts.maxBytes ?? -1,
      max_msgs: -1,
      max_age: 0,
      max_msg_size: -1,
      num_replicas: 1,
      duplicate_window: (opts.duplicateWindowMs ?? 120_000) * 1_000_000,
    });
  } catch (e) {
    // Another worker created it at the same moment.
    if (!/already in use|already exists/i.test((e as Error).message)) throw e;
  }
}
