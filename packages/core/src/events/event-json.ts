/**
 * The readable forms of events: plain JSON objects (u64 fields as `"0x…"` lowercase hex strings, all
 * else as in memory) and NDJSON files (a header line, then one event per line). Also the validator that
 * checks an in-memory event against the schema (exact field set, kinds, ranges), used by the NDJSON
 * reader and by tests on every event the simulator emits.
 */
import { DmasimError, ErrorCode, parseError } from '../errors.ts';
import { type CField, type CKind, compiledByType, K } from './compiled-schema.ts';
import { EVENT_SCHEMA_VERSION, type SimEvent } from './event-schema.ts';

/** First line of an NDJSON event file. */
export interface EventsNdjsonHeader {
  kind: 'dmasim-events';
  schemaVersion: number;
  /** Scenario of the events (informational; every line names its own). */
  scenarioId?: string;
}

const HEX = /^0x[0-9a-f]+$/;

function kindToJson(k: CKind, v: unknown): unknown {
  switch (k.code) {
    case K.U64:
      return `0x${(v as bigint).toString(16)}`;
    case K.OPT:
      return v === null ? null : kindToJson(k.inner!, v);
    case K.LIST:
      return (v as unknown[]).map((x) => kindToJson(k.inner!, x));
    case K.STRUCT:
      return fieldsToJson(k.fields!, v as Record<string, unknown>);
    default:
      return v;
  }
}

function fieldsToJson(fields: readonly CField[], o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f.name] = kindToJson(f.kind, o[f.name]);
  return out;
}

/** The JSON-safe form of an event (what NDJSON lines and `--json` outputs hold). */
export function eventToJson(e: SimEvent): Record<string, unknown> {
  const ce = compiledByType(e.type);
  if (!ce) throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `unknown event type ${e.type}`);
  return {
    scenarioId: e.scenarioId,
    seq: e.seq,
    tNs: e.tNs,
    cpu: e.cpu,
    origin: e.origin,
    type: e.type,
    data: fieldsToJson(ce.fields, e.data as unknown as Record<string, unknown>),
  };
}

type Fail = (path: string, expected: string, found: unknown) => never;

function show(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Checks (and, with `fromJson`, converts) one value of kind `k`. In-memory mode expects bigints for u64;
 * JSON mode expects `"0x…"` strings and returns bigints.
 */
function checkKind(k: CKind, v: unknown, path: string, fromJson: boolean, fail: Fail): unknown {
  switch (k.code) {
    case K.U32:
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
        fail(path, 'an integer 0..2^32-1', v);
      return v;
    case K.NUM:
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(path, 'a non-negative safe integer', v);
      return v;
    case K.INT:
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(path, 'a safe integer', v);
      return v;
    case K.U64:
      if (fromJson) {
        if (typeof v !== 'string' || !HEX.test(v)) fail(path, 'a "0x…" lowercase hex string', v);
        const b = BigInt(v);
        if (b > 0xffffffffffffffffn) fail(path, 'a value below 2^64', v);
        return b;
      }
      if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn) fail(path, 'a bigint 0..2^64-1', v);
      return v;
    case K.STR:
      if (typeof v !== 'string') fail(path, 'a string', v);
      return v;
    case K.BOOL:
      if (typeof v !== 'boolean') fail(path, 'true or false', v);
      return v;
    case K.ENUM:
      if (typeof v !== 'string' || !k.valueIndex!.has(v)) fail(path, `one of ${k.values!.join(', ')}`, v);
      return v;
    case K.OPT:
      return v === null ? null : checkKind(k.inner!, v, path, fromJson, fail);
    case K.LIST:
      if (!Array.isArray(v)) fail(path, 'an array', v);
      return v.map((x, i) => checkKind(k.inner!, x, `${path}[${i}]`, fromJson, fail));
    default:
      return checkFields(k.fields!, v, path, fromJson, fail);
  }
}

function checkFields(
  fields: readonly CField[],
  v: unknown,
  path: string,
  fromJson: boolean,
  fail: Fail,
): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'an object', v);
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (!Object.hasOwn(o, f.name)) fail(`${path}.${f.name}`, 'the field to be present', undefined);
    out[f.name] = checkKind(f.kind, o[f.name], `${path}.${f.name}`, fromJson, fail);
  }
  for (const key of Object.keys(o)) {
    if (!fields.some((f) => f.name === key)) fail(`${path}.${key}`, 'no such field', o[key]);
  }
  return out;
}

function checkEnvelope(o: Record<string, unknown>, fail: Fail): void {
  if (typeof o.scenarioId !== 'string') fail('scenarioId', 'a string', o.scenarioId);
  for (const f of ['seq', 'tNs', 'cpu'] as const) {
    const v = o[f];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(f, 'a non-negative safe integer', v);
  }
  if (o.origin !== 'sim' && o.origin !== 'ftrace') fail('origin', '"sim" or "ftrace"', o.origin);
  for (const key of Object.keys(o)) {
    if (!['scenarioId', 'seq', 'tNs', 'cpu', 'origin', 'type', 'data'].includes(key))
      fail(key, 'no such field', o[key]);
  }
}

function throwingFail(prefix: string): Fail {
  return (path, expected, found) => {
    throw new DmasimError(
      ErrorCode.EVENT_DECODE,
      `${prefix}${path}: expected ${expected}, found ${found === undefined ? 'nothing' : show(found)}`,
    );
  };
}

/**
 * Checks that an in-memory event matches the schema exactly (envelope, type, every field present with
 * the right kind, no extra field).
 * @throws DmasimError EVENT_DECODE naming the offending field.
 */
export function validateEvent(e: SimEvent): void {
  const fail = throwingFail(`event seq ${(e as { seq?: unknown }).seq} (${(e as { type?: unknown }).type}): `);
  const o = e as unknown as Record<string, unknown>;
  checkEnvelope(o, fail);
  const ce = compiledByType(String(o.type));
  if (!ce) fail('type', 'a known event type', o.type);
  else checkFields(ce.fields, o.data, 'data', false, fail);
}

/**
 * The event that {@link eventToJson} produced `json` from.
 * @throws DmasimError EVENT_DECODE naming `where` and the offending field.
 */
export function eventFromJson(json: unknown, where = 'event'): SimEvent {
  const fail = throwingFail(`${where}: `);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('', 'an event object', json);
  const o = json as Record<string, unknown>;
  checkEnvelope(o, fail);
  const ce = compiledByType(String(o.type));
  if (!ce) return fail('type', 'a known event type', o.type);
  const data = checkFields(ce.fields, o.data, 'data', true, fail);
  return {
    scenarioId: o.scenarioId as string,
    seq: o.seq as number,
    tNs: o.tNs as number,
    cpu: o.cpu as number,
    origin: o.origin as 'sim' | 'ftrace',
    type: ce.type,
    data,
  } as SimEvent;
}

/** NDJSON text of `events`: a header line, then one line per event. */
export function eventsToNdjson(events: Iterable<SimEvent>, scenarioId?: string): string {
  const header: EventsNdjsonHeader = {
    kind: 'dmasim-events',
    schemaVersion: EVENT_SCHEMA_VERSION,
    ...(scenarioId !== undefined ? { scenarioId } : {}),
  };
  const lines = [JSON.stringify(header)];
  for (const e of events) lines.push(JSON.stringify(eventToJson(e)));
  return `${lines.join('\n')}\n`;
}

/**
 * Parses an NDJSON event file. Checks the header (kind and schema version), every event against the
 * schema, and the order: per scenario, `seq` consecutive from the first line's value, `tNs` non-decreasing.
 * @throws DmasimError EVENT_DECODE (file:line: what was found, what was expected), EVENT_VERSION,
 *   EVENT_SEQ_GAP.
 */
export function parseEventsNdjson(text: string, file: string): SimEvent[] {
  const lines = text.split('\n');
  const events: SimEvent[] = [];
  const next = new Map<string, { seq: number; tNs: number }>();
  let header = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (e) {
      throw parseError(ErrorCode.EVENT_DECODE, { file, line: i + 1 }, `not valid JSON (${(e as Error).message})`);
    }
    if (!header) {
      const h = json as Partial<EventsNdjsonHeader> | null;
      if (h?.kind !== 'dmasim-events') {
        throw parseError(
          ErrorCode.EVENT_DECODE,
          { file, line: i + 1 },
          `expected the header {"kind":"dmasim-events",...}, found ${show(json)}`,
        );
      }
      if (h.schemaVersion !== EVENT_SCHEMA_VERSION) {
        throw parseError(
          ErrorCode.EVENT_VERSION,
          { file, line: i + 1 },
          `event schema version ${show(h.schemaVersion)}, this dmasim reads version ${EVENT_SCHEMA_VERSION}`,
        );
      }
      header = true;
      continue;
    }
    const ev = eventFromJson(json, `${file}:${i + 1}`);
    const want = next.get(ev.scenarioId);
    if (want && ev.seq !== want.seq) {
      throw parseError(
        ErrorCode.EVENT_SEQ_GAP,
        { file, line: i + 1 },
        `scenario ${ev.scenarioId}: expected seq ${want.seq}, found ${ev.seq}`,
      );
    }
    if (want && ev.tNs < want.tNs) {
      throw parseError(
        ErrorCode.EVENT_DECODE,
        { file, line: i + 1 },
        `scenario ${ev.scenarioId}: time goes backwards (${ev.tNs} ns after ${want.tNs} ns)`,
      );
    }
    next.set(ev.scenarioId, { seq: ev.seq + 1, tNs: ev.tNs });
    events.push(ev);
  }
  if (!header) throw parseError(ErrorCode.EVENT_DECODE, { file, line: 1 }, 'empty file: expected the header line');
  return events;
}
