/**
 * The dmasim topology file (JSON or YAML; schema in `dmasim-topology.schema.json`, documented in
 * docs/TOPOLOGY.md): {@link parseTopologyFile} reads one with errors that name `file:line:col`, and
 * {@link formatTopology} writes one, round-trip exact (`parse(format(spec))` deep-equals `spec`, and
 * `format(parse(format(spec)))` is the same text). Pure: takes text, does no I/O.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, stringify as yamlStringify } from 'yaml';
import { DmasimError, ErrorCode, isDmasimError, parseError } from '../errors.ts';
import { locateInYaml } from '../structured-file.ts';
import schema from './dmasim-topology.schema.json' with { type: 'json' };
import { buildTopologyFrom, formatSpecPath, type SpecPath, type Topology } from './topology.ts';
import type { TopologySpec } from './topology-spec.ts';

/** The JSON Schema of the dmasim topology file (draft-07), as shipped in `dmasim-topology.schema.json`. */
export const TOPOLOGY_SCHEMA: Readonly<Record<string, unknown>> = schema;

/** Text formats of the topology file. */
export type TopologyFormat = 'json' | 'yaml';

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
const validate = ajv.compile(schema);

/** Largest input accepted (bytes of text); a 10,000-device topology is about 6 MB of JSON. */
export const MAX_TOPOLOGY_TEXT = 256 * 1024 * 1024;

/** The format of `text`: by file extension (`.json`, `.yaml`, `.yml`), else by content (`{` first: JSON). */
export function detectTopologyFormat(text: string, file: string): TopologyFormat {
  const lower = file.toLowerCase();
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.yaml') || lower.endsWith('.yml')) return 'yaml';
  return /^\s*[{[]/.test(text) ? 'json' : 'yaml';
}

interface Located {
  line: number;
  column: number;
}

/** 1-based line and column of a character offset. */
function lineColOf(text: string, offset: number): Located {
  let line = 1;
  let last = -1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    last = i;
  }
  return { line, column: offset - last };
}

/**
 * Offset of the value at `path` (or of its closest existing ancestor) in valid JSON text, by a scan that only
 * skips values: linear and allocation-free, so an error in a 10 MB file is located in milliseconds (the YAML
 * parser would take seconds).
 */
export function locateJsonOffset(text: string, path: SpecPath): number {
  const n = text.length;
  let i = 0;
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== 32 && c !== 10 && c !== 13 && c !== 9) break;
      i++;
    }
  };
  const skipString = () => {
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 92) i += 2;
      else if (c === 34) {
        i++;
        return;
      } else i++;
    }
  };
  const skipValue = () => {
    ws();
    const c = text.charCodeAt(i);
    if (c === 34) return skipString();
    if (c === 123 || c === 91) {
      let depth = 0;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 34) {
          skipString();
          continue;
        }
        if (d === 123 || d === 91) depth++;
        else if (d === 125 || d === 93) {
          depth--;
          if (depth === 0) {
            i++;
            return;
          }
        }
        i++;
      }
      return;
    }
    while (i < n) {
      const d = text.charCodeAt(i);
      if (d === 44 || d === 125 || d === 93 || d === 32 || d === 10 || d === 13 || d === 9) return;
      i++;
    }
  };
  ws();
  let best = i;
  for (const part of path) {
    const open = text.charCodeAt(i);
    if (typeof part === 'number' && open === 91) {
      i++;
      let k = 0;
      let found = false;
      for (;;) {
        ws();
        if (text.charCodeAt(i) === 93) break;
        if (k === part) {
          found = true;
          break;
        }
        skipValue();
        ws();
        if (text.charCodeAt(i) !== 44) break;
        i++;
        k++;
      }
      if (!found) return best;
    } else if (typeof part === 'string' && open === 123) {
      i++;
      let found = false;
      for (;;) {
        ws();
        if (text.charCodeAt(i) !== 34) break;
        const start = i;
        skipString();
        const key = JSON.parse(text.slice(start, i)) as string;
        ws();
        i++; // ':'
        ws();
        if (key === part) {
          found = true;
          break;
        }
        skipValue();
        ws();
        if (text.charCodeAt(i) !== 44) break;
        i++;
      }
      if (!found) return best;
    } else {
      return best;
    }
    best = i;
  }
  return best;
}

/** Where the value at `path` starts in `text` (or its closest existing ancestor). */
function locate(text: string, path: SpecPath, format: TopologyFormat): Located | undefined {
  if (format === 'json') {
    try {
      return lineColOf(text, locateJsonOffset(text, path));
    } catch {
      return undefined;
    }
  }
  return locateYaml(text, path);
}

/** Where the value at `path` starts in YAML text (or its closest existing ancestor), using node ranges. */
function locateYaml(text: string, path: SpecPath): Located | undefined {
  try {
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false });
    return locateInYaml(doc, lc, path);
  } catch {
    return undefined;
  }
}

function pointerToPath(pointer: string): SpecPath {
  if (pointer === '') return [];
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((p) => (/^(0|[1-9][0-9]*)$/.test(p) ? Number(p) : p));
}

function describeSchemaError(e: ErrorObject, value: unknown): string {
  const found = value === undefined ? 'nothing' : JSON.stringify(value)?.slice(0, 80);
  switch (e.keyword) {
    case 'required':
      return `missing field "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'additionalProperties':
      return `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    case 'enum':
      return `expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}, found ${found}`;
    case 'const':
      return `expected ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}, found ${found}`;
    case 'pattern': {
      const hint = typeof value === 'number' ? ' (quote hex values in YAML: "0x10de")' : '';
      return `expected a string matching ${(e.params as { pattern: string }).pattern}, found ${found}${hint}`;
    }
    case 'type': {
      const hint =
        typeof value === 'number' && (e.params as { type: string }).type === 'string'
          ? ' (quote hex values in YAML: "0x10de")'
          : '';
      return `expected ${(e.params as { type: string }).type}, found ${found}${hint}`;
    }
    default:
      return `${e.message ?? 'invalid'}, found ${found}`;
  }
}

function valueAt(root: unknown, path: SpecPath): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

function decode(text: string, file: string, format: TopologyFormat): unknown {
  if (format === 'json') {
    try {
      return JSON.parse(text);
    } catch (e) {
      const msg = (e as Error).message;
      const m = /line (\d+) column (\d+)/.exec(msg);
      const pos = /position (\d+)/.exec(msg);
      const where = m
        ? { line: Number(m[1]), column: Number(m[2]) }
        : pos
          ? lineColOf(text, Number(pos[1]))
          : lineColOf(text, text.length);
      const detail = msg.replace(/\s*\(line \d+ column \d+\)/, '').replace(/ in JSON at position \d+/, '');
      throw parseError(ErrorCode.TOPOLOGY_PARSE, { file, ...where }, `not valid JSON: ${detail}`);
    }
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const p = lc.linePos(first.pos[0]);
    throw parseError(
      ErrorCode.TOPOLOGY_PARSE,
      { file, line: p.line, column: p.col },
      `not valid YAML: ${first.message.split('\n')[0]}`,
    );
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw parseError(ErrorCode.TOPOLOGY_PARSE, { file }, `not valid YAML: ${(e as Error).message}`);
  }
}

function parseAndBuild(text: string, file: string, adopt: boolean): { spec: TopologySpec; topology: Topology } {
  if (typeof text !== 'string')
    throw parseError(ErrorCode.TOPOLOGY_PARSE, { file }, 'expected the text of a topology file');
  if (text.length > MAX_TOPOLOGY_TEXT) {
    throw parseError(
      ErrorCode.TOPOLOGY_PARSE,
      { file },
      `file too large: ${text.length} characters, at most ${MAX_TOPOLOGY_TEXT}`,
    );
  }
  const format = detectTopologyFormat(text, file);
  const value = decode(text, file, format);
  if (!validate(value)) {
    const e = (validate.errors ?? [])[0];
    const path = e ? pointerToPath(e.instancePath) : [];
    const where = locate(text, path, format);
    const problem = e ? describeSchemaError(e, valueAt(value, path)) : 'not a dmasim topology';
    throw parseError(
      ErrorCode.TOPOLOGY_PARSE,
      { file, ...where, field: path.length ? formatSpecPath(path) : undefined },
      problem,
    );
  }
  const spec = value as unknown as TopologySpec;
  try {
    // With `adopt` the parsed object is handed to the model, which freezes it in place instead of copying it.
    const topology = buildTopologyFrom(spec, file, adopt);
    return { spec: adopt ? topology.spec : spec, topology };
  } catch (e) {
    if (isDmasimError(e) && e.code === ErrorCode.TOPOLOGY_INVALID) {
      const path = (e.details?.path as SpecPath | undefined) ?? [];
      const where = locate(text, path, format);
      if (where) {
        const prefix = `${file} (${formatSpecPath(path)}): `;
        const problem = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
        throw parseError(ErrorCode.TOPOLOGY_INVALID, { file, ...where, field: formatSpecPath(path) }, problem);
      }
    }
    throw e;
  }
}

function guard<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isDmasimError(e)) throw e;
    // Anything else (stack overflow on absurd nesting, engine limits) is still a malformed file.
    throw new DmasimError(
      ErrorCode.TOPOLOGY_PARSE,
      `${file}: cannot read topology: ${(e as Error)?.message ?? String(e)}`,
      { file },
      { cause: e },
    );
  }
}

/**
 * Reads a dmasim topology file (JSON or YAML, by extension or content), validates it against the schema and
 * for consistency, and returns the plain spec (a fresh, mutable object).
 *
 * @param text the file's text.
 * @param file its name, for messages and for choosing the format.
 * @throws DmasimError `TOPOLOGY_PARSE` (`file:line:col: ...`) for text that is not JSON/YAML or does not fit the
 *   schema; `TOPOLOGY_INVALID` (`file:line:col (functions[3].parent): ...`) for an inconsistent topology.
 */
export function parseTopologyFile(text: string, file: string): TopologySpec {
  return guard(file, () => parseAndBuild(text, file, false).spec);
}

/**
 * As {@link parseTopologyFile}, returning the built model too. The file is built once and the parsed spec is
 * adopted by the model (returned frozen; `structuredClone` it for a mutable copy): the fast path for big files.
 * @throws DmasimError as {@link parseTopologyFile}.
 */
export function loadTopologyFile(text: string, file: string): { spec: TopologySpec; topology: Topology } {
  return guard(file, () => parseAndBuild(text, file, true));
}

type SchemaNode = { properties?: Record<string, SchemaNode>; items?: SchemaNode; $ref?: string };

function resolveRef(n: SchemaNode | undefined): SchemaNode | undefined {
  if (n?.$ref?.startsWith('#/definitions/')) {
    return (schema.definitions as Record<string, SchemaNode>)[n.$ref.slice('#/definitions/'.length)];
  }
  return n;
}

/** A copy of `v` with keys in the schema's order (unknown keys last, in their order) and no undefined values. */
function canonical(v: unknown, node: SchemaNode | undefined): unknown {
  const n = resolveRef(node);
  if (Array.isArray(v)) return v.map((x) => canonical(x, resolveRef(n?.items)));
  if (v !== null && typeof v === 'object') {
    const src = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    const order = n?.properties ? Object.keys(n.properties) : [];
    for (const k of order) if (src[k] !== undefined) out[k] = canonical(src[k], n?.properties?.[k]);
    for (const k of Object.keys(src)) if (!(k in out) && src[k] !== undefined) out[k] = canonical(src[k], undefined);
    return out;
  }
  return v;
}

/**
 * Writes a spec as a dmasim topology file: keys in schema order; JSON with one line per top-level field and per
 * host bridge, function and assumed default, or YAML (hex strings and device names quoted); ending in a newline. Does not validate; {@link parseTopologyFile} of the result gives back
 * a spec deep-equal to `spec` when `spec` is valid.
 */
export function formatTopology(spec: TopologySpec, format: TopologyFormat): string {
  const c = canonical(spec, schema as SchemaNode) as Record<string, unknown>;
  if (format === 'json') {
    // One line per top-level field, and one line per element of the big arrays: readable, diffable, and half the
    // size of fully indented JSON (which matters for 10,000-device topologies).
    const parts = Object.entries(c).map(([k, v]) => {
      if (Array.isArray(v) && v.length > 0)
        return `  ${JSON.stringify(k)}: [\n${v.map((x) => `    ${JSON.stringify(x)}`).join(',\n')}\n  ]`;
      return `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`;
    });
    return `{\n${parts.join(',\n')}\n}\n`;
  }
  // Quoting for YAML 1.1 as well keeps the file unambiguous to 1.1 readers too (PyYAML would read an unquoted
  // 0000:00:00.0 as a sexagesimal number and 0x10de as an int); the text is read back as YAML 1.2.
  return yamlStringify(c, { lineWidth: 0, version: '1.1' });
}
