/**
 * Specialised functions generated from the schema, once per event type at module load: the frame
 * encoder and decoder of each type's fields, and the copier that turns a step record into an event
 * payload. Generated code is straight-line (no per-field interpretation), which makes the codec several
 * times faster than walking the schema per value (bench/mapping.bench.ts, `codec.*`). The generated
 * functions check kinds as strictly as the interpreter in `event-json.ts` validates them.
 *
 * Only code built from the schema's own field names (identifiers checked below) is compiled; no input
 * data ever reaches `new Function`.
 */
import { type ByteReader, type ByteWriter, U64_SCRATCH, writeVarHalves, writeVarInt, writeVarNum } from './bytes.ts';
import { type CEvent, type CKind, compiledByType, compiledEvents, K } from './compiled-schema.ts';
import type { FrameStrings } from './string-table.ts';

/**
 * Encodes one event: its head (type id and origin, time delta, cpu) and its fields. `st` is the frame's
 * string table (string -> 1-based index); `dt` is checked by the caller (a safe integer >= 0).
 */
export type FieldsEncoder = (
  w: ByteWriter,
  d: Record<string, unknown>,
  st: FrameStrings,
  origin: string,
  dt: number,
  cpu: number,
) => void;

/** Largest size of an event head: type varint (2 bytes), time delta and cpu (8 bytes each). */
const HEAD_MAX = 18;
/** Decodes an event's fields. `strs` is the frame's string table so far. */
export type FieldsDecoder = (r: ByteReader, strs: string[]) => Record<string, unknown>;
/** Copies a step record's fields into a fresh payload in schema order (absent optional fields -> null). */
export type StepCopier = (s: Record<string, unknown>) => Record<string, unknown>;
/** Builds the step record an event payload was made from: `kind` (and its fixed fields), then the payload's fields. */
export type StepBuilder = (d: Record<string, unknown>) => Record<string, unknown>;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkName(n: string): string {
  if (!IDENT.test(n)) throw new Error(`event schema: field name ${JSON.stringify(n)} is not an identifier`);
  return n;
}

/** Helpers the generated code calls. */
function badValue(field: string, v: unknown, expected: string): never {
  const found = typeof v === 'bigint' ? `${v}n` : JSON.stringify(v);
  throw Object.assign(new Error(`frame encoder: field ${field}: expected ${expected}, found ${found}`), {
    badField: true,
  });
}

interface Gen {
  consts: unknown[];
  n: number;
}

function constRef(g: Gen, v: unknown): string {
  g.consts.push(v);
  return `C[${g.consts.length - 1}]`;
}

/** Largest number of bytes a value of kind `k` takes when written inline (lists and strings: 0, they ensure). */
function inlineMax(k: CKind): number {
  switch (k.code) {
    case K.U32:
    case K.NUM:
      return 8;
    case K.INT:
      return 9;
    case K.U64:
      return 10;
    case K.BOOL:
      return 1;
    case K.ENUM:
      return 2;
    case K.STR:
      return 1;
    case K.OPT:
      return 1 + inlineMax(k.inner!);
    case K.LIST:
      return 0;
    default:
      return k.fields!.reduce((n, f) => n + inlineMax(f.kind), 0);
  }
}

/**
 * Code writing `v` of kind `k` into the local buffer `b` at `p`. Inline writes rely on `w.ensure(M)` made
 * before (M = the event's inline maximum); anything that may need more (new strings, large string
 * references, lists) stores `p`, calls the writer, reloads `b` and `p` and ensures M again.
 */
function encodeKind(g: Gen, k: CKind, v: string, field: string, M: number): string {
  const bad = (expected: string) => `H.bad(${JSON.stringify(field)}, ${v}, ${JSON.stringify(expected)})`;
  const call = (code: string) => `w.pos = p; ${code} w.ensure(${M}); b = w.buf; p = w.pos;`;
  switch (k.code) {
    case K.U32:
      // (v >>> 0) === v exactly for the integers 0..2^32-1 (and -0, which the range test let through too).
      return `if (typeof ${v} !== 'number' || ${v} >>> 0 !== ${v}) ${bad('an integer 0..2^32-1')}; if (${v} < 128) b[p++] = ${v}; else p = H.vn(b, p, ${v});`;
    case K.NUM:
      return `if (typeof ${v} !== 'number' || !(${v} >= 0) || !Number.isSafeInteger(${v})) ${bad('a non-negative integer')}; if (${v} < 128) b[p++] = ${v}; else p = H.vn(b, p, ${v});`;
    case K.INT:
      return `if (typeof ${v} !== 'number' || !Number.isSafeInteger(${v})) ${bad('an integer')}; if (${v} >= 0 && ${v} < 64) b[p++] = ${v}; else p = H.vi(b, p, ${v});`;
    case K.U64: {
      const x = `n${g.n++}`;
      // The halves come from one store into a BigUint64Array (bytes.ts U64_SCRATCH): no Number(v).
      // asUintN(64, v) === v exactly for 0..2^64-1, and costs less than two bigint comparisons.
      return `if (typeof ${v} !== 'bigint' || BigInt.asUintN(64, ${v}) !== ${v}) ${bad('a bigint 0..2^64-1')}; { H.u64[0] = ${v}; const ${x} = H.u32[${U64_SCRATCH.lo}]; const h${x} = H.u32[${U64_SCRATCH.hi}]; if (h${x} === 0 && ${x} < 128) b[p++] = ${x}; else p = H.vh(b, p, ${x}, h${x}); }`;
    }
    case K.STR: {
      const r = `s${g.n++}`;
      return `if (typeof ${v} !== 'string') ${bad('a string')}; { const ${r} = st.ref(${v}); if (${r} > 0 && ${r} < 128) b[p++] = ${r}; else { ${call(`if (${r} > 0) w.varNum(${r}); else { w.u8(0); w.str(${v}); }`)} } }`;
    }
    case K.BOOL:
      return `if (${v} === true) b[p++] = 1; else if (${v} === false) b[p++] = 0; else ${bad('a boolean')};`;
    case K.ENUM: {
      const vals = k.values!;
      const r = `e${g.n++}`;
      if (vals.length <= 12) {
        // A chain of comparisons with the (interned) literal values beats a Map lookup.
        const chain = vals.map((x, i) => `${v} === ${JSON.stringify(x)} ? ${i} : `).join('');
        return `{ const ${r} = ${chain}-1; if (${r} < 0) ${bad(`one of ${vals.join(', ')}`)}; b[p++] = ${r}; }`;
      }
      const m = constRef(g, k.valueIndex);
      return `{ const ${r} = ${m}.get(${v}); if (${r} === undefined) ${bad(`one of ${vals.join(', ')}`)}; if (${r} < 128) b[p++] = ${r}; else p = H.vn(b, p, ${r}); }`;
    }
    case K.OPT:
      // An absent optional field (a step record's undefined) is written as null.
      return `if (${v} == null) b[p++] = 0; else { b[p++] = 1; ${encodeKind(g, k.inner!, v, field, M)} }`;
    case K.LIST: {
      // Items are written by their own generated function, which ensures room per item.
      const item = `x${g.n++}`;
      const im = inlineMax(k.inner!);
      const body = encodeKind(g, k.inner!, item, field, im);
      const fn = constRef(g, null);
      g.consts[g.consts.length - 1] =
        `function (w, ${item}, st) { w.ensure(${im}); let b = w.buf; let p = w.pos; ${body} w.pos = p; }`;
      const i = `i${g.n++}`;
      return `if (!Array.isArray(${v})) ${bad('an array')}; ${call(`w.varNum(${v}.length); for (let ${i} = 0; ${i} < ${v}.length; ${i}++) ${fn}(w, ${v}[${i}], st);`)}`;
    }
    default: {
      const parts = [`if (typeof ${v} !== 'object' || ${v} === null) ${bad('an object')};`];
      for (const f of k.fields!) {
        const x = `f${g.n++}`;
        parts.push(`{ const ${x} = ${v}.${checkName(f.name)}; ${encodeKind(g, f.kind, x, `${field}.${f.name}`, M)} }`);
      }
      return parts.join(' ');
    }
  }
}

function decodeKind(g: Gen, k: CKind): string {
  switch (k.code) {
    case K.U32:
      return 'H.u32(r)';
    case K.NUM:
      return 'r.varNum()';
    case K.INT:
      return 'r.varInt()';
    case K.U64:
      return 'r.varU64()';
    case K.STR:
      return 'H.str(r, strs)';
    case K.BOOL:
      return 'H.bool(r)';
    case K.ENUM:
      return `H.enumValue(r, ${constRef(g, k.values)})`;
    case K.OPT:
      return `(H.present(r) ? ${decodeKind(g, k.inner!)} : null)`;
    case K.LIST: {
      const item = `function (r, strs) { return ${decodeKind(g, k.inner!)}; }`;
      const fn = constRef(g, null);
      g.consts[g.consts.length - 1] = item;
      return `H.list(r, strs, ${fn})`;
    }
    default:
      return `{ ${k.fields!.map((f) => `${checkName(f.name)}: ${decodeKind(g, f.kind)}`).join(', ')} }`;
  }
}

const decodeHelpers = {
  u32(r: ByteReader): number {
    const v = r.varNum();
    if (v > 0xffffffff) r.fail(`value ${v} does not fit 32 bits`);
    return v;
  },
  str(r: ByteReader, strs: string[]): string {
    const ref = r.varNum();
    if (ref === 0) {
      const s = r.str();
      strs.push(s);
      return s;
    }
    const s = strs[ref - 1];
    if (s === undefined) r.fail(`string reference ${ref} before its definition`);
    return s;
  },
  bool(r: ByteReader): boolean {
    const b = r.u8();
    if (b > 1) r.fail(`boolean byte ${b}`);
    return b === 1;
  },
  enumValue(r: ByteReader, values: readonly string[]): string {
    const at = r.pos;
    const i = r.varNum();
    const v = values[i];
    if (v === undefined) r.fail(`enum index ${i} out of range (${values.length} values)`, at);
    return v;
  },
  present(r: ByteReader): boolean {
    const b = r.u8();
    if (b > 1) r.fail(`optional-field marker ${b}`);
    return b === 1;
  },
  list(r: ByteReader, strs: string[], item: (r: ByteReader, strs: string[]) => unknown): unknown[] {
    const n = r.varNum();
    if (n > r.end - r.pos) r.fail(`list of ${n} items cannot fit in the ${r.end - r.pos} bytes left`);
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = item(r, strs);
    return out;
  },
};

function compileEncoder(ce: CEvent): FieldsEncoder {
  const g: Gen = { consts: [], n: 0 };
  const M = ce.fields.reduce((n, f) => n + inlineMax(f.kind), 0);
  // The head, inline: varint (type id * 2 + origin is ftrace), varint dt, varint cpu (checked: u32).
  const head = [
    `const hd = ${ce.id * 2} + (origin === 'ftrace' ? 1 : 0); if (hd < 128) b[p++] = hd; else p = H.vn(b, p, hd);`,
    'if (dt < 128) b[p++] = dt; else p = H.vn(b, p, dt);',
    encodeKind(g, { code: K.U32 }, 'cpu', 'cpu', M),
  ].join('\n');
  const body = ce.fields
    .map((f) => `{ const v = d.${checkName(f.name)}; ${encodeKind(g, f.kind, 'v', f.name, M)} }`)
    .join('\n');
  const itemDecls = g.consts
    .map((c, i) => (typeof c === 'string' ? `C[${i}] = ${c};` : ''))
    .filter((x) => x !== '')
    .join('\n');
  const make = new Function(
    'H',
    'C',
    `${itemDecls}\nreturn function encode_${ce.id}(w, d, st, origin, dt, cpu) {\nw.ensure(${M + HEAD_MAX}); let b = w.buf; let p = w.pos;\n${head}\n${body}\nw.pos = p;\n};`,
  );
  return make(
    { bad: badValue, vn: writeVarNum, vi: writeVarInt, vh: writeVarHalves, u64: U64_SCRATCH.u64, u32: U64_SCRATCH.u32 },
    g.consts,
  ) as FieldsEncoder;
}

function compileDecoder(ce: CEvent): FieldsDecoder {
  const g: Gen = { consts: [], n: 0 };
  const expr = `{ ${ce.fields.map((f) => `${checkName(f.name)}: ${decodeKind(g, f.kind)}`).join(', ')} }`;
  // List item decoders were stored as source text; compile them in the same scope.
  const itemDecls = g.consts
    .map((c, i) => (typeof c === 'string' ? `C[${i}] = ${c};` : ''))
    .filter((s) => s !== '')
    .join('\n');
  const make = new Function('H', 'C', `${itemDecls}\nreturn function decode_${ce.id}(r, strs) { return ${expr}; };`);
  return make(decodeHelpers, g.consts) as FieldsDecoder;
}

function compileCopier(ce: CEvent): StepCopier {
  const fields = ce.fields.map((f) => {
    const n = checkName(f.name);
    return f.kind.code === K.OPT ? `${n}: s.${n} === undefined ? null : s.${n}` : `${n}: s.${n}`;
  });
  return new Function(`return function copy_${ce.id}(s) { return { ${fields.join(', ')} }; };`)() as StepCopier;
}

/**
 * The step record of a payload, as one object literal: `{ kind, ...fixed, ...d }` with the fields
 * spelled out, so every record of a type has one shape (a spread builds its object key by key).
 * `fixed` holds what the event type implies but the payload leaves out (`iova.queue`'s destination).
 */
function compileStepBuilder(ce: CEvent, kind: string, fixed: Readonly<Record<string, string>>): StepBuilder {
  const parts = [`kind: ${JSON.stringify(kind)}`];
  for (const [n, v] of Object.entries(fixed)) parts.push(`${checkName(n)}: ${JSON.stringify(v)}`);
  for (const f of ce.fields) {
    const n = checkName(f.name);
    if (n === 'kind' || n in fixed)
      throw new Error(`event schema: ${ce.type} has a field ${n} that its step record sets`);
    parts.push(`${n}: d.${n}`);
  }
  return new Function(`return function step_${ce.id}(d) { return { ${parts.join(', ')} }; };`)() as StepBuilder;
}

const encoders: (FieldsEncoder | undefined)[] = [];
const decoders: (FieldsDecoder | undefined)[] = [];
const copiers = new Map<string, StepCopier>();
for (const ce of compiledEvents()) {
  encoders[ce.id] = compileEncoder(ce);
  decoders[ce.id] = compileDecoder(ce);
  copiers.set(ce.type, compileCopier(ce));
}

/** The generated field encoder of event type id `id`. */
export function fieldsEncoder(id: number): FieldsEncoder {
  return encoders[id]!;
}

/** The generated field decoder of event type id `id`, or undefined for an unknown id. */
export function fieldsDecoder(id: number): FieldsDecoder | undefined {
  return decoders[id];
}

/**
 * The generated step-record builder of an event type: the record has `kind` = `kind` and the fields
 * `fixed` before the payload's own.
 */
export function stepBuilder(type: string, kind: string, fixed: Readonly<Record<string, string>> = {}): StepBuilder {
  const ce = compiledByType(type);
  if (!ce) throw new Error(`event schema: no event type ${type}`);
  return compileStepBuilder(ce, kind, fixed);
}

/** The generated step-record copier of an event type. */
export function stepCopier(type: string): StepCopier {
  return copiers.get(type)!;
}
