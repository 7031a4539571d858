/**
 * The local append-only event log file: a file header, then frames (`frame-codec.ts`), each prefixed by
 * its length so that a reader can skip frames and can tell a torn last write from corruption. Pure: the
 * functions build and read bytes; the caller (CLI, EventLog adapter of issue 7) writes and reads files.
 *
 * ```
 * file   := "DMASIMEV" u8 logVersion(1) u8 0 u8 0 u8 0  record*
 * record := u32 frameLength (little-endian)  frame (frameLength bytes)
 * ```
 *
 * Frames of several scenarios (and attempts) may be interleaved in one file; within one
 * (scenario, attempt) frames must come in order: frame index 0, 1, 2 ... and each frame's first seq equal
 * to the previous frame's first seq plus its count. {@link FrameOrderChecker} enforces that.
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import type { SimEvent } from './event-schema.ts';
import { decodeFrame, decodeFrameHeader, type FrameMeta } from './frame-codec.ts';

/** Version of the log file layout. */
export const EVENT_LOG_VERSION = 1;

const LOG_MAGIC = new TextEncoder().encode('DMASIMEV');
const LOG_HEADER_BYTES = 12;

/** The 12 bytes every event log file starts with. */
export function eventLogHeader(): Uint8Array {
  const h = new Uint8Array(LOG_HEADER_BYTES);
  h.set(LOG_MAGIC, 0);
  h[8] = EVENT_LOG_VERSION;
  return h;
}

/** One log record: the frame prefixed by its length. Append it to the file after the header. */
export function eventLogRecord(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + frame.length);
  const n = frame.length;
  out[0] = n & 0xff;
  out[1] = (n >>> 8) & 0xff;
  out[2] = (n >>> 16) & 0xff;
  out[3] = (n >>> 24) & 0xff;
  out.set(frame, 4);
  return out;
}

/** A whole log file's bytes: header plus one record per frame. */
export function encodeEventLog(frames: Iterable<Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [eventLogHeader()];
  let total = LOG_HEADER_BYTES;
  for (const f of frames) {
    const rec = eventLogRecord(f);
    parts.push(rec);
    total += rec.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One frame found in a log file. */
export interface LogRecord {
  /** Byte offset of the frame (after its length prefix) in the file. */
  offset: number;
  frame: Uint8Array;
  meta: FrameMeta;
}

/** Options of {@link readEventLogRecords}. */
export interface ReadLogOptions {
  /**
   * Stop quietly at a torn last record (a writer that crashed mid-append) instead of failing. Default
   * false. The number of bytes ignored is reported in {@link EventLogContents.truncatedTailBytes}.
   */
  allowTruncatedTail?: boolean;
}

/**
 * Checks the order of frames, per (scenario, attempt): frame indexes 0, 1, 2 ..., sequence numbers
 * continuing without a gap.
 */
export class FrameOrderChecker {
  private readonly next = new Map<string, { frameIndex: number; seq: number }>();

  /** @throws DmasimError EVENT_SEQ_GAP when `meta` does not continue its scenario's sequence. */
  check(meta: FrameMeta, source: string): void {
    const key = `${meta.scenarioId}\u0000${meta.attempt}`;
    const want = this.next.get(key) ?? { frameIndex: 0, seq: 0 };
    if (meta.frameIndex !== want.frameIndex || meta.firstSeq !== want.seq) {
      throw new DmasimError(
        ErrorCode.EVENT_SEQ_GAP,
        `${source}: scenario ${meta.scenarioId} attempt ${meta.attempt}: expected frame ${want.frameIndex} starting at seq ${want.seq}, found frame ${meta.frameIndex} starting at seq ${meta.firstSeq}`,
        {
          source,
          scenarioId: meta.scenarioId,
          attempt: meta.attempt,
          expected: want,
          found: { frameIndex: meta.frameIndex, seq: meta.firstSeq },
        },
      );
    }
    this.next.set(key, { frameIndex: meta.frameIndex + 1, seq: meta.firstSeq + meta.count });
  }
}

/**
 * The records of a log file, in file order, with their headers checked (not their events).
 * @throws DmasimError EVENT_DECODE (not a log, torn or corrupt record), EVENT_VERSION.
 */
export function* readEventLogRecords(bytes: Uint8Array, file: string, opts: ReadLogOptions = {}): Generator<LogRecord> {
  if (bytes.length < LOG_HEADER_BYTES || LOG_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new DmasimError(ErrorCode.EVENT_DECODE, `${file}: not a dmasim event log (expected magic "DMASIMEV")`, {
      file,
    });
  }
  if (bytes[8] !== EVENT_LOG_VERSION) {
    throw new DmasimError(
      ErrorCode.EVENT_VERSION,
      `${file}: event log version ${bytes[8]}, this dmasim reads version ${EVENT_LOG_VERSION}`,
      { file },
    );
  }
  let at = LOG_HEADER_BYTES;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) {
      if (opts.allowTruncatedTail) return;
      throw new DmasimError(ErrorCode.EVENT_DECODE, `${file}: byte ${at}: truncated record length`, {
        file,
        offset: at,
      });
    }
    const n = (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
    if (at + 4 + n > bytes.length) {
      if (opts.allowTruncatedTail) return;
      throw new DmasimError(
        ErrorCode.EVENT_DECODE,
        `${file}: byte ${at}: truncated record: expected ${n} bytes, found ${bytes.length - at - 4}`,
        { file, offset: at },
      );
    }
    const frame = bytes.subarray(at + 4, at + 4 + n);
    const meta = decodeFrameHeader(frame, `${file}@${at + 4}`);
    if (meta.byteLength !== n) {
      throw new DmasimError(
        ErrorCode.EVENT_DECODE,
        `${file}: byte ${at}: record length ${n} differs from the frame's own length ${meta.byteLength}`,
        { file, offset: at },
      );
    }
    yield { offset: at + 4, frame, meta };
    at += 4 + n;
  }
}

/** What a decoded log file holds. */
export interface EventLogContents {
  frames: FrameMeta[];
  events: SimEvent[];
  /** Bytes of a torn last record that were ignored (only with `allowTruncatedTail`). */
  truncatedTailBytes: number;
}

/**
 * Decodes a whole log file: every frame, in order, checked with {@link FrameOrderChecker}.
 * @throws DmasimError EVENT_DECODE, EVENT_VERSION, EVENT_SEQ_GAP.
 */
export function decodeEventLog(bytes: Uint8Array, file: string, opts: ReadLogOptions = {}): EventLogContents {
  const order = new FrameOrderChecker();
  const frames: FrameMeta[] = [];
  const events: SimEvent[] = [];
  let end = 12;
  for (const rec of readEventLogRecords(bytes, file, opts)) {
    const source = `${file}@${rec.offset}`;
    order.check(rec.meta, source);
    const { meta, events: evs } = decodeFrame(rec.frame, source);
    frames.push(meta);
    for (const e of evs) events.push(e);
    end = rec.offset + rec.frame.length;
  }
  return { frames, events, truncatedTailBytes: bytes.length - end };
}
