/**
 * The event log behind a sweep: every frame of encoded events (`@dmasim/core` frame codec) that the
 * workers produce, stored durably so that a run can be replayed and verified long after the worker that
 * produced it is gone (issue 7, docs/EVENT-STREAM.md).
 *
 * Two implementations share the {@link EventLog} (write) and {@link EventLogReader} (read) interfaces:
 * {@link FileEventLog} (the embedded default: `events.dmlog` + `scenarios.ndjson` in the sweep's output
 * folder) and `JetStreamEventLog` (`jetstream.ts`: a NATS JetStream stream plus a KV bucket).
 *
 * Write protocol (the worker's): publish every frame of a shard's scenarios and await it, then
 * {@link EventLog.recordScenarios} for the shard's scenarios, then store the shard result. A scenario record is
 * therefore only ever written after all frames of that attempt are durable, and replay reads only the
 * recorded attempt of each scenario: a worker killed mid-publish leaves a scenario either complete (an
 * earlier or later attempt is recorded) or not recorded at all (it is retried), never half-counted.
 *
 * Read protocol: frames may arrive out of order or twice (a publish retried across a server restart, a
 * shard retried beyond the dedupe window). {@link FrameAssembler} puts each (scenario, attempt)'s frames
 * back in frame-index order, drops exact duplicates, and reports gaps and conflicting duplicates.
 */
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { appendFile, type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DmasimError,
  decodeFrameHeader,
  ErrorCode,
  EVENT_LOG_VERSION,
  eventLogHeader,
  eventLogRecord,
  type FrameMeta,
} from '@dmasim/core';

/** One encoded frame, as the worker hands it over. `bytes` is a whole frame (`encodeFrame`). */
export interface EventFrame {
  readonly scenarioId: string;
  readonly attempt: number;
  readonly frameIndex: number;
  /** `seq` of the frame's first event. */
  readonly firstSeq: number;
  /** Events in the frame. */
  readonly count: number;
  readonly bytes: Uint8Array;
}

/** Which attempt of a scenario produced its stored result, and how its event log ended. */
export interface ScenarioEventsRecord {
  readonly scenarioId: string;
  readonly attempt: number;
  /** Frames of that attempt (frame indexes 0 .. frames-1). */
  readonly frames: number;
  /** Events of that attempt (seqs 0 .. events-1). */
  readonly events: number;
  /** `seq` of the last event (events - 1; -1 for none). */
  readonly lastSeq: number;
  /** Final live state hash of the run (16 hex digits, `sim.end`). */
  readonly stateHash: string;
}

/** The write side of an event log. */
export interface EventLog {
  /** Publishes frames (bounded in-flight, backpressure); resolves when every frame is durably stored. */
  publish(sweepId: string, frames: readonly EventFrame[]): Promise<void>;
  /** Records which attempt of a scenario produced its stored result, with its final hash and last seq (KV). */
  recordScenario(sweepId: string, rec: ScenarioEventsRecord): Promise<void>;
  /**
   * {@link recordScenario} for each of `recs` (distinct scenarios) at once: one append and sync of the file
   * log, concurrent KV puts on JetStream. Resolves when every record is durable; on a failure, after the
   * others have settled.
   */
  recordScenarios(sweepId: string, recs: readonly ScenarioEventsRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** A frame read back from a log, with where it came from (for error messages). */
export interface StoredFrame {
  readonly meta: FrameMeta;
  readonly bytes: Uint8Array;
  /** `events.dmlog@1234` or `stream DMASIM_EVENTS seq 17`. */
  readonly source: string;
}

/** Which frames to read. */
export interface FrameFilter {
  /** Only this scenario. */
  readonly scenarioId?: string;
  /** Only this attempt (with `scenarioId`). */
  readonly attempt?: number;
}

/** The read side of an event log. */
export interface EventLogReader {
  /** Scenario records of the sweep, one per scenario (the latest record wins), sorted by scenario id. */
  scenarios(sweepId: string): Promise<ScenarioEventsRecord[]>;
  /** The sweep's frames in storage order (not necessarily frame order: see {@link FrameAssembler}). */
  frames(sweepId: string, filter?: FrameFilter): AsyncIterable<StoredFrame>;
  close(): Promise<void>;
}

/** The {@link EventFrame} of an encoded frame (its header read, events not decoded). */
export function eventFrameOf(bytes: Uint8Array): EventFrame {
  const m = decodeFrameHeader(bytes);
  return {
    scenarioId: m.scenarioId,
    attempt: m.attempt,
    frameIndex: m.frameIndex,
    firstSeq: m.firstSeq,
    count: m.count,
    bytes,
  };
}

/**
 * Checks that a frame's bytes say what its {@link EventFrame} fields say (a cheap header read), so a
 * frame can never be stored under the wrong id.
 * @throws DmasimError INVALID_ARGUMENT on any difference; EVENT_DECODE / EVENT_VERSION for bad bytes.
 */
export function checkEventFrame(f: EventFrame): FrameMeta {
  const m = decodeFrameHeader(f.bytes, `frame ${f.scenarioId}#${f.attempt}/${f.frameIndex}`);
  if (
    m.scenarioId !== f.scenarioId ||
    m.attempt !== f.attempt ||
    m.frameIndex !== f.frameIndex ||
    m.firstSeq !== f.firstSeq ||
    m.count !== f.count ||
    m.byteLength !== f.bytes.length
  ) {
    throw new DmasimError(
      ErrorCode.INVALID_ARGUMENT,
      `event frame fields (${f.scenarioId} attempt ${f.attempt} frame ${f.frameIndex} seq ${f.firstSeq}+${f.count}, ${f.bytes.length} bytes) differ from its header (${m.scenarioId} attempt ${m.attempt} frame ${m.frameIndex} seq ${m.firstSeq}+${m.count}, ${m.byteLength} bytes)`,
    );
  }
  return m;
}

/** Checks a scenario record's fields. @throws DmasimError INVALID_ARGUMENT. */
export function checkScenarioRecord(rec: ScenarioEventsRecord): void {
  const ok =
    typeof rec.scenarioId === 'string' &&
    rec.scenarioId.length > 0 &&
    Number.isSafeInteger(rec.attempt) &&
    rec.attempt >= 0 &&
    Number.isSafeInteger(rec.frames) &&
    rec.frames >= 0 &&
    Number.isSafeInteger(rec.events) &&
    rec.events >= 0 &&
    rec.lastSeq === rec.events - 1 &&
    /^[0-9a-f]{16}$/.test(rec.stateHash);
  if (!ok) {
    throw new DmasimError(
      ErrorCode.INVALID_ARGUMENT,
      `invalid scenario events record ${JSON.stringify(rec)} (expected a scenario id, attempt, frames, events, lastSeq = events - 1, and a 16-hex-digit stateHash)`,
    );
  }
}

function recordFromJson(v: unknown, where: string): ScenarioEventsRecord {
  const o = v as Record<string, unknown>;
  const rec: ScenarioEventsRecord = {
    scenarioId: o.scenarioId as string,
    attempt: o.attempt as number,
    frames: o.frames as number,
    events: o.events as number,
    lastSeq: o.lastSeq as number,
    stateHash: o.stateHash as string,
  };
  try {
    checkScenarioRecord(rec);
  } catch (e) {
    throw new DmasimError(ErrorCode.EVENT_DECODE, `${where}: ${(e as Error).message}`);
  }
  return rec;
}

/** Parses the scenario records of a `scenarios.ndjson` text: the latest line per scenario wins. */
export function parseScenarioRecords(text: string, file: string, sweepId?: string): ScenarioEventsRecord[] {
  const latest = new Map<string, ScenarioEventsRecord>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      // A torn last line (a crash mid-append) is not a record; anything else is corruption.
      if (i === lines.length - 1 && !text.endsWith('\n')) break;
      throw new DmasimError(ErrorCode.EVENT_DECODE, `${file}:${i + 1}: not JSON (${(e as Error).message})`);
    }
    const o = v as { sweepId?: unknown };
    if (sweepId !== undefined && o.sweepId !== undefined && o.sweepId !== sweepId) continue;
    const rec = recordFromJson(v, `${file}:${i + 1}`);
    latest.set(rec.scenarioId, rec);
  }
  return [...latest.values()].sort((a, b) => (a.scenarioId < b.scenarioId ? -1 : a.scenarioId > b.scenarioId ? 1 : 0));
}

const LOG_HEADER_BYTES = 12;

/**
 * Reads the records of an event log file in chunks (never the whole file in memory), yielding each
 * frame with its header checked. A torn last record (a writer killed mid-append) ends the file quietly
 * when `allowTruncatedTail` is set, else it is an error.
 * @throws DmasimError EVENT_DECODE, EVENT_VERSION.
 */
export async function* readLogFileFrames(
  file: string,
  opts: { allowTruncatedTail?: boolean; chunkBytes?: number } = {},
): AsyncGenerator<StoredFrame> {
  const fh = await open(file, 'r');
  try {
    const chunk = opts.chunkBytes ?? 1 << 22;
    let buf = new Uint8Array(chunk);
    let start = 0; // first unconsumed byte of buf
    let end = 0; // end of valid data in buf
    let filePos = 0; // file offset of buf[0]
    let eof = false;
    const fill = async (need: number): Promise<boolean> => {
      while (end - start < need && !eof) {
        if (start > 0) {
          buf.copyWithin(0, start, end);
          filePos += start;
          end -= start;
          start = 0;
        }
        if (buf.length - end < Math.max(need, chunk / 2)) {
          const bigger = new Uint8Array(Math.max(buf.length * 2, need + chunk));
          bigger.set(buf.subarray(0, end));
          buf = bigger;
        }
        const { bytesRead } = await fh.read(buf, end, buf.length - end, filePos + end);
        if (bytesRead === 0) eof = true;
        end += bytesRead;
      }
      return end - start >= need;
    };
    if (!(await fill(LOG_HEADER_BYTES))) {
      throw new DmasimError(ErrorCode.EVENT_DECODE, `${file}: not a dmasim event log (shorter than its header)`, {
        file,
      });
    }
    const head = eventLogHeader();
    for (let i = 0; i < 8; i++) {
      if (buf[i] !== head[i]) {
        throw new DmasimError(ErrorCode.EVENT_DECODE, `${file}: not a dmasim event log (expected magic "DMASIMEV")`, {
          file,
        });
      }
    }
    if (buf[8] !== EVENT_LOG_VERSION) {
      throw new DmasimError(
        ErrorCode.EVENT_VERSION,
        `${file}: event log version ${buf[8]}, this dmasim reads version ${EVENT_LOG_VERSION}`,
        { file },
      );
    }
    start = LOG_HEADER_BYTES;
    for (;;) {
      if (!(await fill(4))) {
        if (end - start === 0) return;
        if (opts.allowTruncatedTail) return;
        throw new DmasimError(ErrorCode.EVENT_DECODE, `${file}: byte ${filePos + start}: truncated record length`, {
          file,
          offset: filePos + start,
        });
      }
      const n = (buf[start]! | (buf[start + 1]! << 8) | (buf[start + 2]! << 16) | (buf[start + 3]! << 24)) >>> 0;
      if (!(await fill(4 + n))) {
        if (opts.allowTruncatedTail) return;
        throw new DmasimError(
          ErrorCode.EVENT_DECODE,
          `${file}: byte ${filePos + start}: truncated record: expected ${n} bytes, found ${end - start - 4}`,
          { file, offset: filePos + start },
        );
      }
      const at = filePos + start + 4;
      const bytes = buf.slice(start + 4, start + 4 + n);
      const source = `${file}@${at}`;
      const meta = decodeFrameHeader(bytes, source);
      if (meta.byteLength !== n) {
        throw new DmasimError(
          ErrorCode.EVENT_DECODE,
          `${file}: byte ${at - 4}: record length ${n} differs from the frame's own length ${meta.byteLength}`,
          { file, offset: at - 4 },
        );
      }
      start += 4 + n;
      yield { meta, bytes, source };
    }
  } finally {
    await fh.close();
  }
}

/**
 * Length of the complete part of an existing log file: the header plus every whole record. A torn last
 * record (crash mid-append) lies beyond it. Reads only the 4-byte length prefixes.
 * @throws DmasimError EVENT_DECODE when the file is not an event log.
 */
export function completeLogLength(file: string): number {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return 0;
    const head = new Uint8Array(LOG_HEADER_BYTES);
    const want = eventLogHeader();
    if (readSync(fd, head, 0, LOG_HEADER_BYTES, 0) < LOG_HEADER_BYTES || want.some((b, i) => i < 9 && head[i] !== b)) {
      throw new DmasimError(ErrorCode.EVENT_DECODE, `${file}: not a dmasim event log (version ${EVENT_LOG_VERSION})`, {
        file,
      });
    }
    const len = new Uint8Array(4);
    let at = LOG_HEADER_BYTES;
    while (at + 4 <= size) {
      readSync(fd, len, 0, 4, at);
      const n = (len[0]! | (len[1]! << 8) | (len[2]! << 16) | (len[3]! << 24)) >>> 0;
      if (at + 4 + n > size) break;
      at += 4 + n;
    }
    return at;
  } finally {
    closeSync(fd);
  }
}

/** Options of {@link FileEventLog}. */
export interface FileEventLogOptions {
  /** Folder of `events.dmlog` and `scenarios.ndjson` (created if missing). */
  dir: string;
  /** `fdatasync` after each publish and record, so "resolved" means "on disk". Default true. */
  fsync?: boolean;
}

/** File names inside a {@link FileEventLog} folder. */
export const EVENT_LOG_FILES = { events: 'events.dmlog', scenarios: 'scenarios.ndjson' } as const;

/**
 * The embedded event log: an append-only `events.dmlog` (the core's log layout: header, then
 * length-prefixed frames, the same frames JetStream would carry) and `scenarios.ndjson` (one
 * {@link ScenarioEventsRecord} per line, with its `sweepId`; the latest line per scenario wins).
 *
 * One process writes a folder (writes are serialised in this object). On the first write a torn last
 * record left by a killed writer is cut off, so later records stay aligned; the frames of that half
 * written attempt that did get in are harmless, since no scenario record names the attempt.
 */
export class FileEventLog implements EventLog, EventLogReader {
  readonly dir: string;
  readonly eventsFile: string;
  readonly scenariosFile: string;
  private readonly fsync: boolean;
  private fh: FileHandle | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Frames and bytes appended by this object. */
  readonly stats = { frames: 0, bytes: 0, records: 0 };

  constructor(opts: FileEventLogOptions) {
    this.dir = opts.dir;
    this.fsync = opts.fsync ?? true;
    this.eventsFile = join(opts.dir, EVENT_LOG_FILES.events);
    this.scenariosFile = join(opts.dir, EVENT_LOG_FILES.scenarios);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async handle(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    mkdirSync(this.dir, { recursive: true });
    const fresh = !existsSync(this.eventsFile);
    if (!fresh) {
      const keep = completeLogLength(this.eventsFile);
      const fd = openSync(this.eventsFile, 'r+');
      try {
        if (keep === 0) ftruncateSync(fd, 0);
        else if (fstatSync(fd).size > keep) ftruncateSync(fd, keep);
      } finally {
        closeSync(fd);
      }
    }
    const fh = await open(this.eventsFile, 'a');
    if ((await fh.stat()).size === 0) await fh.write(eventLogHeader());
    this.fh = fh;
    return fh;
  }

  private assertOpen(): void {
    if (this.closed) throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `event log ${this.dir} is closed`);
  }

  /**
   * Appends the frames (one write of all their records) and syncs the file.
   * @throws DmasimError INVALID_ARGUMENT for a frame whose fields disagree with its bytes.
   */
  async publish(_sweepId: string, frames: readonly EventFrame[]): Promise<void> {
    this.assertOpen();
    if (frames.length === 0) return;
    let total = 0;
    for (const f of frames) {
      checkEventFrame(f);
      total += 4 + f.bytes.length;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const f of frames) {
      out.set(eventLogRecord(f.bytes), at);
      at += 4 + f.bytes.length;
    }
    await this.serial(async () => {
      const fh = await this.handle();
      await fh.write(out);
      if (this.fsync) await fh.datasync();
      this.stats.frames += frames.length;
      this.stats.bytes += total;
    });
  }

  /** Appends one line to `scenarios.ndjson` (after every earlier publish has been written). */
  recordScenario(sweepId: string, rec: ScenarioEventsRecord): Promise<void> {
    return this.recordScenarios(sweepId, [rec]);
  }

  /** Appends the records' lines to `scenarios.ndjson` in one write (after every earlier publish). */
  async recordScenarios(sweepId: string, recs: readonly ScenarioEventsRecord[]): Promise<void> {
    this.assertOpen();
    if (recs.length === 0) return;
    let lines = '';
    for (const rec of recs) {
      checkScenarioRecord(rec);
      lines += `${JSON.stringify({ sweepId, ...rec })}\n`;
    }
    await this.serial(async () => {
      mkdirSync(this.dir, { recursive: true });
      await appendFile(this.scenariosFile, lines, { flush: this.fsync });
      this.stats.records += recs.length;
    });
  }

  async scenarios(sweepId?: string): Promise<ScenarioEventsRecord[]> {
    await this.chain;
    if (!existsSync(this.scenariosFile)) return [];
    return parseScenarioRecords(readFileSync(this.scenariosFile, 'utf8'), this.scenariosFile, sweepId);
  }

  async *frames(_sweepId?: string, filter: FrameFilter = {}): AsyncGenerator<StoredFrame> {
    await this.chain;
    if (!existsSync(this.eventsFile)) return;
    for await (const f of readLogFileFrames(this.eventsFile, { allowTruncatedTail: true })) {
      if (filter.scenarioId !== undefined && f.meta.scenarioId !== filter.scenarioId) continue;
      if (filter.attempt !== undefined && f.meta.attempt !== filter.attempt) continue;
      yield f;
    }
  }

  /** Waits for pending writes and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}

/** What {@link FrameAssembler} knows of one (scenario, attempt) at the end. */
export interface AssembledAttempt {
  readonly scenarioId: string;
  readonly attempt: number;
  /** Frames delivered in order (0 .. frames-1). */
  readonly frames: number;
  /** Events delivered in order. */
  readonly events: number;
  /** Frames still waiting for a missing predecessor. */
  readonly pending: readonly number[];
}

interface AttemptState {
  scenarioId: string;
  attempt: number;
  nextFrame: number;
  nextSeq: number;
  events: number;
  pending: Map<number, StoredFrame>;
  /** Checksums (last 4 bytes) of delivered frames, to tell a duplicate from a conflict. */
  sums: number[];
}

function frameSum(b: Uint8Array): number {
  const n = b.length;
  return (b[n - 4]! | (b[n - 3]! << 8) | (b[n - 2]! << 16) | (b[n - 1]! << 24)) >>> 0;
}

/**
 * Puts frames back in order per (scenario, attempt): a frame is released when it is the next frame
 * index and starts at the next seq; a later one waits (bounded by `maxPending` per attempt); a frame
 * seen before with the same bytes is dropped (counted in {@link duplicates}).
 */
export class FrameAssembler {
  private readonly states = new Map<string, AttemptState>();
  private readonly maxPending: number;
  /** Exact duplicates dropped. */
  duplicates = 0;

  constructor(opts: { maxPending?: number } = {}) {
    this.maxPending = opts.maxPending ?? 4096;
  }

  /**
   * Adds one frame; returns the frames now ready, in order (often just this one).
   * @throws DmasimError EVENT_DECODE for a frame index seen with different bytes; EVENT_SEQ_GAP when a
   * frame's first seq does not continue its predecessor, or too many frames wait for a missing one.
   */
  add(f: StoredFrame): StoredFrame[] {
    const m = f.meta;
    const key = `${m.scenarioId}\u0000${m.attempt}`;
    let st = this.states.get(key);
    if (!st) {
      st = {
        scenarioId: m.scenarioId,
        attempt: m.attempt,
        nextFrame: 0,
        nextSeq: 0,
        events: 0,
        pending: new Map(),
        sums: [],
      };
      this.states.set(key, st);
    }
    if (m.frameIndex < st.nextFrame) {
      if (st.sums[m.frameIndex] !== frameSum(f.bytes)) this.conflict(f, 'a delivered frame');
      this.duplicates++;
      return [];
    }
    if (m.frameIndex > st.nextFrame) {
      const have = st.pending.get(m.frameIndex);
      if (have) {
        if (frameSum(have.bytes) !== frameSum(f.bytes)) this.conflict(f, 'a waiting frame');
        this.duplicates++;
        return [];
      }
      if (st.pending.size >= this.maxPending) {
        throw new DmasimError(
          ErrorCode.EVENT_SEQ_GAP,
          `${f.source}: scenario ${m.scenarioId} attempt ${m.attempt}: frame ${st.nextFrame} is missing (${st.pending.size} later frames wait for it)`,
          { scenarioId: m.scenarioId, attempt: m.attempt, missingFrame: st.nextFrame },
        );
      }
      st.pending.set(m.frameIndex, f);
      return [];
    }
    const out: StoredFrame[] = [];
    let cur: StoredFrame | undefined = f;
    while (cur) {
      const cm = cur.meta;
      if (cm.firstSeq !== st.nextSeq) {
        throw new DmasimError(
          ErrorCode.EVENT_SEQ_GAP,
          `${cur.source}: scenario ${cm.scenarioId} attempt ${cm.attempt}: frame ${cm.frameIndex} starts at seq ${cm.firstSeq}, expected ${st.nextSeq}`,
          { scenarioId: cm.scenarioId, attempt: cm.attempt, frameIndex: cm.frameIndex, expectedSeq: st.nextSeq },
        );
      }
      st.sums.push(frameSum(cur.bytes));
      st.nextFrame++;
      st.nextSeq += cm.count;
      st.events += cm.count;
      out.push(cur);
      cur = st.pending.get(st.nextFrame);
      if (cur) st.pending.delete(st.nextFrame);
    }
    return out;
  }

  private conflict(f: StoredFrame, what: string): never {
    throw new DmasimError(
      ErrorCode.EVENT_DECODE,
      `${f.source}: scenario ${f.meta.scenarioId} attempt ${f.meta.attempt} frame ${f.meta.frameIndex} differs from ${what} with the same index (two different frames under one id)`,
      { scenarioId: f.meta.scenarioId, attempt: f.meta.attempt, frameIndex: f.meta.frameIndex },
    );
  }

  /** The state of one (scenario, attempt), or undefined if no frame of it was seen. */
  attempt(scenarioId: string, attempt: number): AssembledAttempt | undefined {
    const st = this.states.get(`${scenarioId}\u0000${attempt}`);
    return st && summary(st);
  }

  /** Every (scenario, attempt) seen. */
  attempts(): AssembledAttempt[] {
    return [...this.states.values()].map(summary);
  }
}

function summary(st: AttemptState): AssembledAttempt {
  return {
    scenarioId: st.scenarioId,
    attempt: st.attempt,
    frames: st.nextFrame,
    events: st.events,
    pending: [...st.pending.keys()].sort((a, b) => a - b),
  };
}
