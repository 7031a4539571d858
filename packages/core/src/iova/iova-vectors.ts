/**
 * IOVA conformance vector files (`../shared/vectors/iova/README.md`): NDJSON, a header line then one
 * operation per line, recorded from the real `drivers/iommu/iova.c`. Parsing ({@link parseIovaVectors}),
 * replaying on a fresh {@link IovaDomain} and comparing every `expect` exactly
 * ({@link replayIovaVectors}), and writing files in the same format ({@link formatIovaVectors}).
 *
 * Pure: takes text and a file name (for messages), never reads files.
 */
import { DmasimError, ErrorCode, parseError } from '../errors.ts';
import { IovaDomain } from './iova-domain.ts';

/** Header line of a vector file (unknown keys are kept in `extra` and otherwise ignored). */
export interface IovaVectorHeader {
  readonly kind: 'iova-vectors';
  readonly version: 1;
  /** Granule in bytes. */
  readonly granule: number;
  readonly startPfn: number;
  readonly cpus: number;
  readonly name: string;
  readonly description: string;
  readonly extra: Readonly<Record<string, unknown>>;
}

/** Expected result of an allocating operation: a range, or null. */
export type IovaVectorExpect = { readonly pfnLo: number; readonly pfnHi: number } | null;

/** One operation line. `expect` is undefined when the line has none (benchmark traces). */
export type IovaVectorOp =
  | {
      readonly op: 'alloc';
      readonly line: number;
      readonly id: number;
      readonly size: number;
      readonly limitPfn: number;
      readonly sizeAligned: boolean;
      readonly expect?: IovaVectorExpect;
    }
  | {
      readonly op: 'alloc_fast';
      readonly line: number;
      readonly id: number;
      readonly size: number;
      readonly limitPfn: number;
      readonly flushRcache: boolean;
      /** CPU the call runs on (an extension of the format; default 0). */
      readonly cpu: number;
      readonly expect?: IovaVectorExpect;
    }
  | { readonly op: 'free'; readonly line: number; readonly id: number }
  | { readonly op: 'free_fast'; readonly line: number; readonly id: number; readonly cpu: number }
  | {
      readonly op: 'reserve';
      readonly line: number;
      readonly id: number;
      readonly pfnLo: number;
      readonly pfnHi: number;
      readonly expect?: IovaVectorExpect;
    };

/** A parsed vector file. */
export interface IovaVectorFile {
  readonly file: string;
  readonly header: IovaVectorHeader;
  readonly ops: readonly IovaVectorOp[];
}

/** The first operation whose result differs from its `expect`. */
export interface IovaVectorMismatch {
  /** 1-based line in the file. */
  readonly line: number;
  readonly op: IovaVectorOp['op'];
  readonly id: number;
  readonly expected: IovaVectorExpect;
  readonly got: IovaVectorExpect;
}

/** Outcome of replaying one file. */
export interface IovaVectorReport {
  readonly file: string;
  readonly ok: boolean;
  /** Operations replayed (up to and including the first mismatch). */
  readonly opsReplayed: number;
  /** Operations compared against an `expect`. */
  readonly compared: number;
  readonly mismatch: IovaVectorMismatch | null;
}

type Json = Record<string, unknown>;

function fail(file: string, line: number, field: string | undefined, problem: string): DmasimError {
  return parseError(ErrorCode.VECTOR_PARSE, field === undefined ? { file, line } : { file, line, field }, problem);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function intField(o: Json, key: string, file: string, line: number, min = 0): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw fail(file, line, key, `expected an integer >= ${min} below 2^53, found ${describe(v)}`);
  }
  return v;
}

function boolField(o: Json, key: string, file: string, line: number): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw fail(file, line, key, `expected true or false, found ${describe(v)}`);
  return v;
}

function optCpu(o: Json, file: string, line: number, cpus: number): number {
  if (o.cpu === undefined) return 0;
  const cpu = intField(o, 'cpu', file, line);
  if (cpu >= cpus) throw fail(file, line, 'cpu', `expected a CPU below the header's cpus (${cpus}), found ${cpu}`);
  return cpu;
}

function expectField(o: Json, file: string, line: number): IovaVectorExpect | undefined {
  if (!('expect' in o)) return undefined;
  const e = o.expect;
  if (e === null) return null;
  if (typeof e !== 'object' || Array.isArray(e)) {
    throw fail(file, line, 'expect', `expected {"pfn_lo":..,"pfn_hi":..} or null, found ${describe(e)}`);
  }
  const x = e as Json;
  const pfnLo = x.pfn_lo;
  const pfnHi = x.pfn_hi;
  if (typeof pfnLo !== 'number' || !Number.isSafeInteger(pfnLo) || pfnLo < 0) {
    throw fail(file, line, 'expect.pfn_lo', `expected an integer >= 0 below 2^53, found ${describe(pfnLo)}`);
  }
  if (typeof pfnHi !== 'number' || !Number.isSafeInteger(pfnHi) || pfnHi < 0) {
    throw fail(file, line, 'expect.pfn_hi', `expected an integer >= 0 below 2^53, found ${describe(pfnHi)}`);
  }
  return { pfnLo, pfnHi };
}

const HEADER_KEYS = new Set(['kind', 'version', 'granule', 'start_pfn', 'cpus', 'name', 'description']);

/**
 * Parses a vector file. Throws VECTOR_PARSE naming `file:line (field)`, what was found and what was
 * expected, for: bad JSON, a wrong or missing header, an unknown op, a missing or mistyped field, ids that
 * do not increase, and frees of ids that are unknown, failed, already freed, reservations, or (for
 * `free_fast`) not `alloc_fast` ids. `expect` is optional (a file without it can be benchmarked, not checked).
 */
export function parseIovaVectors(text: string, file: string): IovaVectorFile {
  const lines = text.split('\n');
  let header: IovaVectorHeader | undefined;
  const ops: IovaVectorOp[] = [];
  /** id -> kind of the allocation made under it and whether it is live. */
  const ids = new Map<number, { op: string; live: boolean }>();
  let lastId = -1;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    const line = i + 1;
    if (raw === '') continue;
    let o: Json;
    try {
      const v: unknown = JSON.parse(raw);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      o = v as Json;
    } catch (e) {
      throw fail(
        file,
        line,
        undefined,
        `expected one JSON object per line, found ${describe(raw)} (${(e as Error).message})`,
      );
    }
    if (header === undefined) {
      if (o.kind !== 'iova-vectors') {
        throw fail(file, line, 'kind', `expected a header line with "kind":"iova-vectors", found ${describe(o.kind)}`);
      }
      if (o.version !== 1) throw fail(file, line, 'version', `expected version 1, found ${describe(o.version)}`);
      const granule = intField(o, 'granule', file, line, 1);
      if (!Number.isInteger(Math.log2(granule))) {
        throw fail(file, line, 'granule', `expected a power of two, found ${granule}`);
      }
      const extra: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) if (!HEADER_KEYS.has(k)) extra[k] = v;
      header = {
        kind: 'iova-vectors',
        version: 1,
        granule,
        startPfn: intField(o, 'start_pfn', file, line, 1),
        cpus: intField(o, 'cpus', file, line, 1),
        name: typeof o.name === 'string' ? o.name : '',
        description: typeof o.description === 'string' ? o.description : '',
        extra,
      };
      continue;
    }
    const op = o.op;
    const id = intField(o, 'id', file, line);
    if (op === 'alloc' || op === 'alloc_fast' || op === 'reserve') {
      if (id <= lastId) throw fail(file, line, 'id', `expected a new id above ${lastId}, found ${id}`);
      lastId = id;
    }
    switch (op) {
      case 'alloc': {
        const expect = expectField(o, file, line);
        ops.push({
          op,
          line,
          id,
          size: intField(o, 'size', file, line, 1),
          limitPfn: intField(o, 'limit_pfn', file, line),
          sizeAligned: boolField(o, 'size_aligned', file, line),
          ...(expect === undefined ? {} : { expect }),
        });
        ids.set(id, { op, live: expect !== null });
        break;
      }
      case 'alloc_fast': {
        const expect = expectField(o, file, line);
        ops.push({
          op,
          line,
          id,
          size: intField(o, 'size', file, line, 1),
          limitPfn: intField(o, 'limit_pfn', file, line),
          flushRcache: boolField(o, 'flush_rcache', file, line),
          cpu: optCpu(o, file, line, header.cpus),
          ...(expect === undefined ? {} : { expect }),
        });
        ids.set(id, { op, live: expect !== null });
        break;
      }
      case 'reserve': {
        const expect = expectField(o, file, line);
        const pfnLo = intField(o, 'pfn_lo', file, line);
        const pfnHi = intField(o, 'pfn_hi', file, line);
        if (pfnLo > pfnHi) throw fail(file, line, 'pfn_hi', `expected pfn_hi >= pfn_lo (${pfnLo}), found ${pfnHi}`);
        ops.push({ op, line, id, pfnLo, pfnHi, ...(expect === undefined ? {} : { expect }) });
        ids.set(id, { op, live: false });
        break;
      }
      case 'free':
      case 'free_fast': {
        const a = ids.get(id);
        if (a === undefined) throw fail(file, line, 'id', `expected the id of an earlier allocation, found ${id}`);
        if (a.op === 'reserve') throw fail(file, line, 'id', `expected an allocation id, found reservation ${id}`);
        if (op === 'free_fast' && a.op !== 'alloc_fast') {
          throw fail(file, line, 'id', `expected an alloc_fast id for free_fast, found ${a.op} id ${id}`);
        }
        if (!a.live) throw fail(file, line, 'id', `expected a live allocation, found id ${id} failed or already freed`);
        a.live = false;
        ops.push(op === 'free' ? { op, line, id } : { op, line, id, cpu: optCpu(o, file, line, header.cpus) });
        break;
      }
      default:
        throw fail(
          file,
          line,
          'op',
          `expected one of "alloc", "alloc_fast", "free", "free_fast", "reserve", found ${describe(op)}`,
        );
    }
  }
  if (header === undefined) throw fail(file, 1, 'kind', 'expected a header line, found an empty file');
  return { file, header, ops };
}

/** A fresh domain for a vector file's header, with the depot trim job off (as the vectors were recorded). */
export function domainForVectors(header: IovaVectorHeader): IovaDomain {
  return new IovaDomain({
    granule: BigInt(header.granule),
    startPfn: BigInt(header.startPfn),
    cpus: header.cpus,
    depotTrim: false,
  });
}

function same(a: IovaVectorExpect, b: IovaVectorExpect): boolean {
  return a === null || b === null ? a === b : a.pfnLo === b.pfnLo && a.pfnHi === b.pfnHi;
}

/**
 * Replays a parsed file on a fresh domain (or `domain`) and compares every `expect` exactly, stopping at
 * the first difference. A free of an id whose allocation returned something other than expected frees what
 * was actually returned (it never happens: replay stops at the first difference).
 */
export function replayIovaVectors(
  vf: IovaVectorFile,
  domain: IovaDomain = domainForVectors(vf.header),
): IovaVectorReport {
  const d = domain;
  /** id -> range returned, size requested and whether by alloc_fast, of live allocations. */
  const live = new Map<number, { lo: number; hi: number; size: number; fast: boolean; node: number }>();
  const node = { lo: 0, hi: 0 };
  let compared = 0;
  let replayed = 0;
  for (const op of vf.ops) {
    replayed++;
    let got: IovaVectorExpect | undefined;
    switch (op.op) {
      case 'alloc': {
        const pfn = d.allocIovaN(op.size, op.limitPfn, op.sizeAligned);
        got = pfn < 0 ? null : { pfnLo: pfn, pfnHi: pfn + op.size - 1 };
        if (got) live.set(op.id, { lo: got.pfnLo, hi: got.pfnHi, size: op.size, fast: false, node: d.lastOp.node });
        break;
      }
      case 'alloc_fast': {
        const pfn = d.allocIovaFastN(op.size, op.limitPfn, op.flushRcache, op.cpu);
        if (pfn === 0) got = null;
        else {
          const hi = d.findIovaN(pfn, node) ? node.hi : -1;
          got = { pfnLo: pfn, pfnHi: hi };
          live.set(op.id, { lo: pfn, hi, size: op.size, fast: true, node: -1 });
        }
        break;
      }
      case 'reserve': {
        const lo = d.reserveIovaN(op.pfnLo, op.pfnHi);
        got = lo < 0 ? null : { pfnLo: d.lastOp.pfnLo, pfnHi: d.lastOp.pfnHi };
        break;
      }
      case 'free': {
        const a = live.get(op.id);
        if (a === undefined) throw new DmasimError(ErrorCode.INTERNAL, `${vf.file}:${op.line}: id ${op.id} not live`);
        live.delete(op.id);
        // __free_iova gets the struct iova the allocation returned: the node, whatever reserve_iova did to it.
        if (a.fast) d.freeIovaN(a.lo);
        else d.freeIovaHandleN(a.node);
        break;
      }
      case 'free_fast': {
        const a = live.get(op.id);
        if (a === undefined) throw new DmasimError(ErrorCode.INTERNAL, `${vf.file}:${op.line}: id ${op.id} not live`);
        live.delete(op.id);
        d.freeIovaFastN(a.lo, a.size, op.cpu);
        break;
      }
    }
    if (got !== undefined && 'expect' in op && op.expect !== undefined) {
      compared++;
      if (!same(op.expect, got)) {
        return {
          file: vf.file,
          ok: false,
          opsReplayed: replayed,
          compared,
          mismatch: { line: op.line, op: op.op, id: op.id, expected: op.expect, got },
        };
      }
    }
  }
  return { file: vf.file, ok: true, opsReplayed: replayed, compared, mismatch: null };
}

function hexRange(e: IovaVectorExpect): string {
  return e === null ? 'null' : `[0x${e.pfnLo.toString(16)}, 0x${e.pfnHi.toString(16)}]`;
}

/** One line describing a mismatch: `line 12 (alloc id 7): expected [0x.., 0x..], got null`. */
export function describeMismatch(m: IovaVectorMismatch): string {
  return `line ${m.line} (${m.op} id ${m.id}): expected ${hexRange(m.expected)}, got ${hexRange(m.got)}`;
}

/** Writes a vector file (header + ops) in the NDJSON format; `expect` is written where an op has one. */
export function formatIovaVectors(
  header: Omit<IovaVectorHeader, 'kind' | 'version'>,
  ops: readonly IovaVectorOp[],
): string {
  const out: string[] = [
    JSON.stringify({
      kind: 'iova-vectors',
      version: 1,
      granule: header.granule,
      start_pfn: header.startPfn,
      cpus: header.cpus,
      name: header.name,
      description: header.description,
      ...header.extra,
    }),
  ];
  const exp = (e: IovaVectorExpect | undefined) =>
    e === undefined ? {} : { expect: e === null ? null : { pfn_lo: e.pfnLo, pfn_hi: e.pfnHi } };
  for (const op of ops) {
    switch (op.op) {
      case 'alloc':
        out.push(
          JSON.stringify({
            op: op.op,
            id: op.id,
            size: op.size,
            limit_pfn: op.limitPfn,
            size_aligned: op.sizeAligned,
            ...exp(op.expect),
          }),
        );
        break;
      case 'alloc_fast':
        out.push(
          JSON.stringify({
            op: op.op,
            id: op.id,
            size: op.size,
            limit_pfn: op.limitPfn,
            flush_rcache: op.flushRcache,
            ...(op.cpu !== 0 ? { cpu: op.cpu } : {}),
            ...exp(op.expect),
          }),
        );
        break;
      case 'free':
        out.push(JSON.stringify({ op: op.op, id: op.id }));
        break;
      case 'free_fast':
        out.push(JSON.stringify({ op: op.op, id: op.id, ...(op.cpu !== 0 ? { cpu: op.cpu } : {}) }));
        break;
      case 'reserve':
        out.push(JSON.stringify({ op: op.op, id: op.id, pfn_lo: op.pfnLo, pfn_hi: op.pfnHi, ...exp(op.expect) }));
        break;
    }
  }
  return `${out.join('\n')}\n`;
}
