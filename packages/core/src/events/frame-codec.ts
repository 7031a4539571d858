/**
 * The compact binary form of events: frames. A frame is a header (codec version, schema version,
 * scenario id, attempt, frame index, first seq, count, base time) followed by many events encoded
 * positionally from the schema, and a checksum. Frames are self-contained (each has its own string
 * table), so any one can be decoded alone: issue 7 publishes them as NATS JetStream messages and appends
 * them, length-prefixed (`event-log.ts`), to local log files.
 *
 * Layout (little-endian; "varint" = unsigned LEB128; docs/EVENTS.md has the full description):
 *
 * ```
 * "DMEV"  u8 codecVersion  u16 schemaVersion  u8 flags(0)  u32 frameLength (all bytes, checksum included)
 * str scenarioId  varint attempt  varint frameIndex  varint firstSeq  varint count  varint baseTNs
 * count x event: varint (typeId * 2 + originIsFtrace)  varint dt (tNs - previous tNs)  varint cpu  fields...
 * i32 checksum of every byte before it: MurmurHash3 x86_32, seed 0 (codec version 1: FNV-1a 32)
 * ```
 *
 * Field encodings: u32/num varint; int a signed varint (sign and 6 bits in the first byte); u64 varint (up to 10 bytes); bool one byte; enum
 * varint index; opt one byte 0/1 then the value; list varint count then the items; struct its fields in
 * order; str a varint reference into the frame's string table: 0 = a new string follows (length-prefixed
 * UTF-8) and takes the next index, n > 0 = the (n-1)th string of this frame.
 *
 * Measured against msgpackr (pure-JS build, records on) on the same events: see bench/mapping.bench.ts
 * and docs/EVENTS.md for the figures and the command that produced them.
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import { ByteReader, ByteWriter, fnv1a32, murmur3x86 } from './bytes.ts';
import { type FieldsDecoder, type FieldsEncoder, fieldsDecoder, fieldsEncoder } from './codegen.ts';
import { compiledEvents } from './compiled-schema.ts';
import { EVENT_SCHEMA_VERSION, type EventOrigin, type SimEvent } from './event-schema.ts';
import { FrameStrings } from './string-table.ts';

/**
 * Version of the frame layout above, the one this dmasim writes. Raised on any change to it; every
 * version in {@link READABLE_CODEC_VERSIONS} is still read. Version 2 changed only the checksum (FNV-1a
 * to MurmurHash3, test/golden/events-CHANGES.md).
 */
export const CODEC_VERSION = 2;

/** Codec versions this dmasim decodes. */
export const READABLE_CODEC_VERSIONS: readonly number[] = [1, 2];

/** The frame checksum of a codec version over `bytes[start, end)`. */
function frameChecksum(codecVersion: number, bytes: Uint8Array, start: number, end: number): number {
  return codecVersion === 1 ? fnv1a32(bytes, start, end) : murmur3x86(bytes, start, end);
}

const MAGIC = [0x44, 0x4d, 0x45, 0x56]; // "DMEV"
const MAGIC_BYTES = Uint8Array.from(MAGIC);
const FIXED_HEADER = 12;

/** What a frame header says. */
export interface FrameMeta {
  codecVersion: number;
  schemaVersion: number;
  scenarioId: string;
  /** Run attempt (a retried scenario writes attempt 1, 2, ...). */
  attempt: number;
  /** Position of the frame in its scenario's log, from 0. */
  frameIndex: number;
  /** `seq` of the first event in the frame. */
  firstSeq: number;
  /** Number of events in the frame. */
  count: number;
  /** `tNs` of the first event (0 for an empty frame). */
  firstTNs: number;
  /** Size of the encoded frame in bytes. */
  byteLength: number;
}

/** What identifies where a frame goes: filled in by the encoder. */
export interface FrameTarget {
  scenarioId: string;
  attempt: number;
  frameIndex: number;
}

/** Event type -> its generated encoder: one lookup per event. */
const encoders = new Map<string, FieldsEncoder>(compiledEvents().map((c) => [c.type, fieldsEncoder(c.id)]));

/** Event type id -> type and generated field decoder (undefined for ids the schema does not have). */
const decodeInfo: ({ type: string; decode: FieldsDecoder } | undefined)[] = [];
for (const c of compiledEvents()) decodeInfo[c.id] = { type: c.type, decode: fieldsDecoder(c.id)! };

/**
 * What a {@link FrameEncoder} in framing mode does with full frames: every `frameEvents` events it
 * finishes a frame of `scenarioId`/`attempt` (frame indexes 0, 1, ...) and hands it to `onFrame`.
 */
export interface FramingOptions {
  readonly scenarioId: string;
  readonly attempt: number;
  readonly frameEvents: number;
  /**
   * A frame is also cut once its events take this many bytes, so a frame stays far below a NATS server's
   * `max_payload` (1 MiB by default) whatever its events hold. @defaultValue {@link DEFAULT_MAX_FRAME_BYTES}
   */
  readonly maxFrameBytes?: number;
  readonly onFrame: (frame: Uint8Array, meta: FrameMeta) => void;
}

/** Default byte bound of a frame's events in framing mode (256 KiB). */
export const DEFAULT_MAX_FRAME_BYTES = 256 * 1024;

/**
 * Encodes events into one frame at a time, reusing its buffers. Not thread-safe; one per producer. With
 * {@link FramingOptions} it cuts the frames itself, so a producer can hand it events directly (the
 * simulator's event sink) without a wrapper call per event; {@link flushFrame} emits the last one.
 */
export class FrameEncoder {
  private readonly framing: FramingOptions | undefined;
  /** Framing mode: events per frame (0 = never cut). */
  private readonly limit: number;
  /** Framing mode: bytes of events after which the frame is cut (Infinity = never). */
  private readonly byteLimit: number;
  /** Framing mode: index of the next frame. */
  private nextFrameIndex = 0;
  private readonly body = new ByteWriter(1 << 16);
  private readonly head = new ByteWriter(128);
  private readonly strings = new FrameStrings();
  private count = 0;
  private firstSeq = 0;
  private baseTNs = 0;
  private lastTNs = 0;
  private nextSeq = 0;
  /** Header of the frame {@link finish} returned last (null before the first). */
  lastMeta: FrameMeta | null = null;

  constructor(framing?: FramingOptions) {
    this.framing = framing;
    this.limit = framing ? Math.max(1, framing.frameEvents) : 0;
    this.byteLimit = framing ? Math.max(1, framing.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES) : Number.POSITIVE_INFINITY;
  }

  /** Framing mode: finishes the frame being built, if it has events, and hands it to `onFrame`. */
  flushFrame(): void {
    const f = this.framing;
    if (!f || this.count === 0) return;
    const frame = this.finish({ scenarioId: f.scenarioId, attempt: f.attempt, frameIndex: this.nextFrameIndex++ });
    f.onFrame(frame, this.lastMeta!);
  }

  /** Number of events in the frame being built. */
  get size(): number {
    return this.count;
  }

  /** Encoded size of the events so far (bytes). */
  get bodyBytes(): number {
    return this.body.pos;
  }

  /**
   * Adds one event. Events of a frame must have consecutive `seq` and non-decreasing `tNs`.
   * @throws DmasimError INVALID_ARGUMENT when an event breaks that order or does not fit the schema.
   */
  push(ev: SimEvent): void {
    this.pushParts(ev.type, ev.seq, ev.tNs, ev.cpu, ev.origin, ev.data as unknown as Record<string, unknown>);
  }

  /**
   * {@link push} from the parts of an event, for producers that never build the event object. `data` may
   * carry fields the schema does not have (they are not written) and lack optional ones (written as null).
   */
  pushParts(
    type: string,
    seq: number,
    tNs: number,
    cpu: number,
    origin: EventOrigin,
    data: Record<string, unknown>,
  ): void {
    const encode = encoders.get(type);
    if (encode === undefined)
      throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `frame encoder: unknown event type ${type}`);
    if (this.count === 0) {
      this.firstSeq = seq;
      this.baseTNs = tNs;
      this.lastTNs = tNs;
    } else if (seq !== this.nextSeq) {
      throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `frame encoder: event seq ${seq} after ${this.nextSeq - 1}`);
    }
    const dt = tNs - this.lastTNs;
    if (!(dt >= 0) || !Number.isSafeInteger(tNs)) {
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `frame encoder: event seq ${seq} has time ${tNs} ns, before ${this.lastTNs} ns`,
      );
    }
    const w = this.body;
    const start = w.pos;
    const strings = this.strings.size;
    try {
      encode(w, data, this.strings, origin, dt, cpu);
    } catch (e) {
      // Undo the partial event: its bytes and the strings it defined.
      w.pos = start;
      this.strings.truncate(strings);
      if ((e as { badField?: boolean }).badField) {
        throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `${(e as Error).message} (event seq ${seq}, ${type})`);
      }
      throw e;
    }
    this.lastTNs = tNs;
    this.nextSeq = seq + 1;
    if (++this.count === this.limit || w.pos >= this.byteLimit) this.flushFrame();
  }

  /** Finishes the frame, returns its bytes and starts a new, empty one. */
  finish(target: FrameTarget): Uint8Array {
    const h = this.head;
    h.reset();
    h.bytes(MAGIC_BYTES);
    h.u8(CODEC_VERSION);
    h.u8(EVENT_SCHEMA_VERSION & 0xff);
    h.u8(EVENT_SCHEMA_VERSION >>> 8);
    h.u8(0);
    h.u32le(0); // frame length, patched below
    h.str(target.scenarioId);
    h.varNum(target.attempt);
    h.varNum(target.frameIndex);
    h.varNum(this.count === 0 ? this.nextSeq : this.firstSeq);
    h.varNum(this.count);
    h.varNum(this.count === 0 ? 0 : this.baseTNs);
    const total = h.pos + this.body.pos + 4;
    const out = new Uint8Array(total);
    out.set(h.buf.subarray(0, h.pos), 0);
    out.set(this.body.buf.subarray(0, this.body.pos), h.pos);
    out[8] = total & 0xff;
    out[9] = (total >>> 8) & 0xff;
    out[10] = (total >>> 16) & 0xff;
    out[11] = (total >>> 24) & 0xff;
    const sum = frameChecksum(CODEC_VERSION, out, 0, total - 4);
    out[total - 4] = sum & 0xff;
    out[total - 3] = (sum >>> 8) & 0xff;
    out[total - 2] = (sum >>> 16) & 0xff;
    out[total - 1] = (sum >>> 24) & 0xff;
    this.lastMeta = {
      codecVersion: CODEC_VERSION,
      schemaVersion: EVENT_SCHEMA_VERSION,
      scenarioId: target.scenarioId,
      attempt: target.attempt,
      frameIndex: target.frameIndex,
      firstSeq: this.count === 0 ? this.nextSeq : this.firstSeq,
      count: this.count,
      firstTNs: this.count === 0 ? 0 : this.baseTNs,
      byteLength: total,
    };
    this.body.reset();
    this.strings.clear();
    this.count = 0;
    return out;
  }
}

/** Encodes `events` (consecutive seq) as one frame. */
export function encodeFrame(events: readonly SimEvent[], target: FrameTarget): Uint8Array {
  const enc = new FrameEncoder();
  for (const e of events) enc.push(e);
  return enc.finish(target);
}

function readHeader(r: ByteReader): FrameMeta {
  const start = r.pos;
  for (let i = 0; i < 4; i++) {
    if (r.u8() !== MAGIC[i]) r.fail('not a dmasim event frame (expected magic "DMEV")', start);
  }
  const codecVersion = r.u8();
  if (!READABLE_CODEC_VERSIONS.includes(codecVersion)) {
    throw new DmasimError(
      ErrorCode.EVENT_VERSION,
      `${r.source}: frame codec version ${codecVersion}, this dmasim reads versions ${READABLE_CODEC_VERSIONS.join(', ')}`,
      { source: r.source, codecVersion },
    );
  }
  const schemaVersion = r.u8() | (r.u8() << 8);
  if (schemaVersion !== EVENT_SCHEMA_VERSION) {
    throw new DmasimError(
      ErrorCode.EVENT_VERSION,
      `${r.source}: event schema version ${schemaVersion}, this dmasim reads version ${EVENT_SCHEMA_VERSION}`,
      { source: r.source, schemaVersion },
    );
  }
  r.u8();
  const byteLength = r.u32le();
  if (start + byteLength > r.end) {
    r.fail(`truncated frame: header says ${byteLength} bytes, only ${r.end - start} present`, start);
  }
  const scenarioId = r.str();
  const attempt = r.varNum();
  const frameIndex = r.varNum();
  const firstSeq = r.varNum();
  const count = r.varNum();
  const firstTNs = r.varNum();
  return { codecVersion, schemaVersion, scenarioId, attempt, frameIndex, firstSeq, count, firstTNs, byteLength };
}

/**
 * Reads the header of the frame at `bytes[offset]` without decoding its events.
 * @throws DmasimError EVENT_DECODE (truncated, not a frame), EVENT_VERSION (unknown codec or schema).
 */
export function decodeFrameHeader(bytes: Uint8Array, source = 'frame', offset = 0): FrameMeta {
  return readHeader(new ByteReader(bytes, source, offset));
}

/**
 * Decodes the events of a frame body into `events` (length = the count). A function that ends with its
 * loop: V8 compiles a long loop on stack replacement before the code after it has ever run, and the
 * checks after the loop then deoptimised on every frame.
 */
function decodeEvents(body: ByteReader, meta: FrameMeta, events: SimEvent[]): void {
  let tNs = meta.firstTNs;
  const strings: string[] = [];
  for (let i = 0; i < events.length; i++) {
    const at = body.pos;
    const head = body.varNum();
    const id = Math.floor(head / 2);
    const info = decodeInfo[id];
    if (info === undefined) body.fail(`unknown event type id ${id}`, at);
    tNs += body.varNum();
    const cpu = body.varNum();
    const origin: EventOrigin = head % 2 === 1 ? 'ftrace' : 'sim';
    const data = info.decode(body, strings);
    events[i] = {
      scenarioId: meta.scenarioId,
      seq: meta.firstSeq + i,
      tNs,
      cpu,
      origin,
      type: info.type,
      data,
    } as SimEvent;
  }
}

/**
 * Decodes one frame (the checksum is verified first).
 * @throws DmasimError EVENT_DECODE (truncated, corrupted, unknown event type), EVENT_VERSION.
 */
export function decodeFrame(bytes: Uint8Array, source = 'frame', offset = 0): { meta: FrameMeta; events: SimEvent[] } {
  const r = new ByteReader(bytes, source, offset);
  const meta = readHeader(r);
  const end = offset + meta.byteLength;
  if (meta.byteLength < FIXED_HEADER + 4) r.fail(`frame length ${meta.byteLength} is too small`, offset);
  const stored = bytes[end - 4]! | (bytes[end - 3]! << 8) | (bytes[end - 2]! << 16) | (bytes[end - 1]! << 24);
  if (frameChecksum(meta.codecVersion, bytes, offset, end - 4) !== stored)
    r.fail('frame checksum mismatch (corrupted frame)', offset);
  const body = new ByteReader(bytes, source, r.pos, end - 4);
  // Every event takes at least 3 bytes (type, time delta, cpu): a larger count is a corrupt header.
  if (meta.count > (body.end - body.pos) / 3) {
    r.fail(
      `frame header says ${meta.count} events, its ${body.end - body.pos} body bytes hold at most a third of that`,
    );
  }
  const events: SimEvent[] = new Array(meta.count);
  decodeEvents(body, meta, events);
  if (body.pos !== body.end) body.fail(`${body.end - body.pos} bytes left after ${meta.count} events`);
  return { meta, events };
}
