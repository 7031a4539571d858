/**
 * Reading structured input files (YAML or JSON) with positions: parse, validate against a JSON Schema with
 * ajv, and turn any problem into a {@link DmasimError} that names the file, the line and column, the field
 * (as a JSON pointer) and what was expected. Pure: takes text, does no I/O.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { type Document, isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { type ErrorCode, parseError } from './errors.ts';

/** A parsed file that can map a JSON pointer back to a line and column. */
export interface StructuredFile {
  readonly file: string;
  readonly value: unknown;
  /** 1-based line and column of the value at `pointer` (`/axes/0/path`), or of its closest ancestor. */
  locate(pointer: string): { line: number; column: number } | undefined;
}

/** Parses YAML (a superset of JSON, so JSON files work too) keeping source positions. */
export function parseStructured(text: string, file: string, code: ErrorCode): StructuredFile {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true, intAsBigInt: false });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    throw parseError(
      code,
      { file, line: pos?.line, column: pos?.col },
      `not valid YAML/JSON: ${first.message.split('\n')[0]}`,
    );
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  return {
    file,
    value,
    locate(pointer: string) {
      const parts = pointer
        .split('/')
        .slice(1)
        .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
      return locateInYaml(doc, lineCounter, parts);
    },
  };
}

/**
 * 1-based line and column where the value at `path` (object keys and list indexes) starts in a parsed YAML
 * document, or where its closest existing ancestor does; undefined when the document has no positions.
 */
export function locateInYaml(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
): { line: number; column: number } | undefined {
  let node: unknown = doc.contents;
  let best: YamlNode | undefined = (doc.contents as YamlNode | null) ?? undefined;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((it) => {
        const k = it.key as { value?: unknown } | null;
        return k !== null && typeof k === 'object' && String(k.value) === String(part);
      });
      if (!pair) break;
      node = pair.value;
      best = (pair.value as YamlNode | null) ?? (pair.key as YamlNode | null) ?? best;
    } else if (isSeq(node)) {
      const item = node.items[Number(part)];
      if (item === undefined) break;
      node = item;
      best = item as YamlNode;
    } else {
      break;
    }
  }
  const offset = best?.range?.[0];
  if (offset === undefined) return undefined;
  const lp = lineCounter.linePos(offset);
  return { line: lp.line, column: lp.col };
}

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
const compiled = new WeakMap<object, ValidateFunction>();

function describe(e: ErrorObject): string {
  const where = e.instancePath === '' ? 'the document' : e.instancePath;
  switch (e.keyword) {
    case 'required':
      return `${where}: missing required field "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'additionalProperties':
      return `${where}: unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    case 'enum':
      return `${where}: expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${where}: expected ${(e.message ?? 'a valid value').replace(/^must (be )?/, '')}`;
  }
}

/**
 * Validates `f.value` against `schema` (a JSON Schema object, compiled once) and returns it typed as `T`.
 * On failure throws a {@link DmasimError} with `code`, naming file:line:col and the JSON pointer.
 */
export function validateStructured<T>(f: StructuredFile, schema: object, code: ErrorCode): T {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (!validate(f.value)) {
    const e = validate.errors?.[0];
    if (!e) throw parseError(code, { file: f.file }, 'invalid');
    const pointer =
      e.keyword === 'additionalProperties'
        ? `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}`
        : e.instancePath;
    const pos = f.locate(pointer) ?? f.locate(e.instancePath);
    throw parseError(code, { file: f.file, line: pos?.line, column: pos?.column }, describe(e));
  }
  return f.value as T;
}
