/**
 * The P2PDMA conformance vector files (`shared/vectors/p2p/*.ndjson`, format in their README): parsing, and
 * replaying every pair through {@link calcMapTypeAndDist} exactly as the README's "How to use" says: for each
 * pair, an empty cache, the computation with `verbose = true` compared on `mapType`, `distance`, `acsList` and
 * `log`, then once more with `verbose = false` compared on `logQuiet`.
 */
import { ErrorCode, isDmasimError, parseError } from '../errors.ts';
import { buildTopology, type Topology } from '../topology/topology.ts';
import { fromVectorTopology } from '../topology/vector-topology.ts';
import { calcMapTypeAndDistFn, type KernelLogLine } from './calc-map-type.ts';
import { type P2pOptions, resolveP2pOptions } from './p2p-options.ts';

/** Line 1 of a vector file. */
export interface P2pVectorHeader {
  readonly kind: 'p2p-vectors';
  readonly version: 1;
  readonly source?: string;
  readonly repo?: string;
  readonly commit?: string;
  readonly name?: string;
  readonly description?: string;
}

/** One pair asked of a topology, with what the kernel answered. */
export interface P2pVectorPair {
  readonly provider: string;
  readonly client: string;
  readonly mapType: 'BUS_ADDR' | 'THRU_HOST_BRIDGE' | 'NOT_SUPPORTED';
  readonly distance: number;
  readonly acsList: string;
  readonly log: readonly string[];
  readonly logQuiet: readonly string[];
}

/** One topology line, already built. */
export interface P2pVectorCase {
  readonly id: string;
  readonly note: string;
  /** 1-based line in the file. */
  readonly line: number;
  readonly topology: Topology;
  readonly pairs: readonly P2pVectorPair[];
}

/** A parsed vector file. */
export interface P2pVectorFile {
  readonly file: string;
  readonly header: P2pVectorHeader;
  readonly cases: readonly P2pVectorCase[];
}

const MAP_TYPES = new Set(['BUS_ADDR', 'THRU_HOST_BRIDGE', 'NOT_SUPPORTED']);

function isStrArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/**
 * Parses a p2p vector file (NDJSON). Every topology is validated with {@link buildTopology}.
 * @throws DmasimError `VECTOR_PARSE` naming `file:line` (and the field) for malformed JSON, a wrong header, a
 *   missing or mistyped field, or an invalid topology (the topology problem is quoted).
 */
export function parseP2pVectorFile(text: string, file: string): P2pVectorFile {
  const lines = text.split('\n');
  let header: P2pVectorHeader | null = null;
  const cases: P2pVectorCase[] = [];
  const seenIds = new Set<string>();
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const s = raw.trim();
    if (s === '') return;
    let o: unknown;
    try {
      o = JSON.parse(s);
    } catch (e) {
      throw parseError(
        ErrorCode.VECTOR_PARSE,
        { file, line: lineNo },
        `expected one JSON object per line: ${(e as Error).message}`,
      );
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) {
      throw parseError(ErrorCode.VECTOR_PARSE, { file, line: lineNo }, 'expected a JSON object');
    }
    const obj = o as Record<string, unknown>;
    if (header === null) {
      if (obj.kind !== 'p2p-vectors' || obj.version !== 1) {
        throw parseError(
          ErrorCode.VECTOR_PARSE,
          { file, line: lineNo, field: 'kind' },
          `expected a header {"kind":"p2p-vectors","version":1}, found kind ${JSON.stringify(obj.kind)} version ${JSON.stringify(obj.version)}`,
        );
      }
      header = obj as unknown as P2pVectorHeader;
      return;
    }
    const id = obj.id;
    if (typeof id !== 'string' || id === '')
      throw parseError(ErrorCode.VECTOR_PARSE, { file, line: lineNo, field: 'id' }, 'expected a topology id');
    if (seenIds.has(id))
      throw parseError(ErrorCode.VECTOR_PARSE, { file, line: lineNo, field: 'id' }, `duplicate topology id ${id}`);
    seenIds.add(id);
    let topology: Topology;
    try {
      topology = buildTopology(fromVectorTopology(obj.topology, id, file), `${file}:${lineNo}`);
    } catch (e) {
      if (isDmasimError(e)) {
        throw parseError(ErrorCode.VECTOR_PARSE, { file, line: lineNo, field: `${id}.topology` }, e.message);
      }
      throw e;
    }
    if (!Array.isArray(obj.pairs))
      throw parseError(
        ErrorCode.VECTOR_PARSE,
        { file, line: lineNo, field: `${id}.pairs` },
        'expected an array of pairs',
      );
    const pairs = obj.pairs.map((p: unknown, j: number): P2pVectorPair => {
      const field = `${id}.pairs[${j}]`;
      const bad = (what: string) => parseError(ErrorCode.VECTOR_PARSE, { file, line: lineNo, field }, what);
      if (p === null || typeof p !== 'object') throw bad('expected a pair object');
      const q = p as Record<string, unknown>;
      for (const k of ['provider', 'client'] as const) {
        if (typeof q[k] !== 'string') throw bad(`expected ${k} to be a device name`);
        if (!topology.has(q[k] as string)) throw bad(`${k} ${String(q[k])} is not in topology ${id}`);
      }
      if (typeof q.mapType !== 'string' || !MAP_TYPES.has(q.mapType))
        throw bad(`expected mapType BUS_ADDR, THRU_HOST_BRIDGE or NOT_SUPPORTED, found ${JSON.stringify(q.mapType)}`);
      if (typeof q.distance !== 'number' || !Number.isInteger(q.distance))
        throw bad(`expected an integer distance, found ${JSON.stringify(q.distance)}`);
      if (typeof q.acsList !== 'string') throw bad('expected acsList to be a string');
      if (!isStrArray(q.log)) throw bad('expected log to be an array of strings');
      if (!isStrArray(q.logQuiet)) throw bad('expected logQuiet to be an array of strings');
      return q as unknown as P2pVectorPair;
    });
    cases.push({ id, note: typeof obj.note === 'string' ? obj.note : '', line: lineNo, topology, pairs });
  });
  if (header === null)
    throw parseError(ErrorCode.VECTOR_PARSE, { file, line: 1 }, 'empty file: expected a p2p-vectors header line');
  return { file, header, cases };
}

/** One field that differs from the recording. */
export interface P2pVectorMismatch {
  readonly file: string;
  readonly line: number;
  readonly topology: string;
  readonly provider: string;
  readonly client: string;
  readonly field: 'mapType' | 'distance' | 'acsList' | 'log' | 'logQuiet';
  readonly expected: unknown;
  readonly got: unknown;
}

/** The result of replaying one file. */
export interface P2pVectorReport {
  readonly file: string;
  /** Pairs whose every field matched. */
  readonly passed: number;
  /** Pairs with at least one differing field. */
  readonly failed: number;
  /** Every differing field, in file order. */
  readonly mismatches: readonly P2pVectorMismatch[];
}

function formatLog(lines: readonly KernelLogLine[]): string[] {
  return lines.map((l) => `${l.device}: ${l.text}`);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Replays every pair of a parsed vector file and compares every field.
 * @param opts tree variants; the public vectors were recorded from the PCI tree (the defaults).
 */
export function checkP2pVectors(vectors: P2pVectorFile, opts?: P2pOptions): P2pVectorReport {
  const o = resolveP2pOptions(opts);
  let passed = 0;
  let failed = 0;
  const mismatches: P2pVectorMismatch[] = [];
  for (const c of vectors.cases) {
    for (const p of c.pairs) {
      const provider = c.topology.get(p.provider);
      const client = c.topology.get(p.client);
      const loud = calcMapTypeAndDistFn(c.topology.platform, provider, client, true, o);
      const quiet = calcMapTypeAndDistFn(c.topology.platform, provider, client, false, o);
      const base = { file: vectors.file, line: c.line, topology: c.id, provider: p.provider, client: p.client };
      const found: P2pVectorMismatch[] = [];
      if (loud.result !== p.mapType) found.push({ ...base, field: 'mapType', expected: p.mapType, got: loud.result });
      if (loud.distance !== p.distance)
        found.push({ ...base, field: 'distance', expected: p.distance, got: loud.distance });
      if (loud.acsList !== p.acsList) found.push({ ...base, field: 'acsList', expected: p.acsList, got: loud.acsList });
      const log = formatLog(loud.log);
      if (!sameList(log, p.log)) found.push({ ...base, field: 'log', expected: p.log, got: log });
      const logQuiet = formatLog(quiet.log);
      if (!sameList(logQuiet, p.logQuiet))
        found.push({ ...base, field: 'logQuiet', expected: p.logQuiet, got: logQuiet });
      if (found.length === 0) passed++;
      else {
        failed++;
        mismatches.push(...found);
      }
    }
  }
  return { file: vectors.file, passed, failed, mismatches };
}

/**
 * Parses and replays one vector file.
 * @throws DmasimError `VECTOR_PARSE` as {@link parseP2pVectorFile}.
 */
export function checkP2pVectorFile(text: string, file: string, opts?: P2pOptions): P2pVectorReport {
  return checkP2pVectors(parseP2pVectorFile(text, file), opts);
}

/** Formats a mismatch as one line: `file:line topology provider -> client: field expected X, got Y`. */
export function formatP2pVectorMismatch(m: P2pVectorMismatch): string {
  return `${m.file}:${m.line} ${m.topology} ${m.provider} -> ${m.client}: ${m.field} expected ${JSON.stringify(m.expected)}, got ${JSON.stringify(m.got)}`;
}
