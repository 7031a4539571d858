/**
 * The event schema compiled into flat descriptors that the codec, the NDJSON converter and the validator
 * walk. Built once at module load from {@link EVENT_SCHEMA}.
 */
import { EVENT_SCHEMA, type EventType } from './event-schema.ts';
import type { FieldKind } from './field-kinds.ts';

/** Numeric codes of field kinds (the codec switches on these). */
export const K = {
  U32: 0,
  NUM: 1,
  INT: 2,
  U64: 3,
  STR: 4,
  BOOL: 5,
  ENUM: 6,
  OPT: 7,
  LIST: 8,
  STRUCT: 9,
} as const;

/** A compiled field kind. */
export interface CKind {
  readonly code: number;
  /** ENUM: the values; index = encoded value. */
  readonly values?: readonly string[];
  readonly valueIndex?: ReadonlyMap<string, number>;
  /** OPT, LIST: the element kind. */
  readonly inner?: CKind;
  /** STRUCT: the fields in order. */
  readonly fields?: readonly CField[];
}

/** A compiled named field. */
export interface CField {
  readonly name: string;
  readonly kind: CKind;
}

/** A compiled event type. */
export interface CEvent {
  readonly type: EventType;
  readonly id: number;
  readonly fields: readonly CField[];
}

function compileKind(k: FieldKind): CKind {
  switch (k) {
    case 'u32':
      return { code: K.U32 };
    case 'num':
      return { code: K.NUM };
    case 'int':
      return { code: K.INT };
    case 'u64':
      return { code: K.U64 };
    case 'str':
      return { code: K.STR };
    case 'bool':
      return { code: K.BOOL };
  }
  if ('enum' in k) return { code: K.ENUM, values: k.enum, valueIndex: new Map(k.enum.map((v, i) => [v, i])) };
  if ('opt' in k) return { code: K.OPT, inner: compileKind(k.opt) };
  if ('list' in k) return { code: K.LIST, inner: compileKind(k.list) };
  return { code: K.STRUCT, fields: compileFields(k.struct) };
}

function compileFields(fields: { readonly [name: string]: FieldKind }): CField[] {
  return Object.entries(fields).map(([name, kind]) => ({ name, kind: compileKind(kind) }));
}

const byType = new Map<string, CEvent>();
const ids = new Set<number>();
for (const [type, def] of Object.entries(EVENT_SCHEMA)) {
  const ce: CEvent = { type: type as EventType, id: def.id, fields: compileFields(def.fields) };
  if (ids.has(def.id)) throw new Error(`event schema: id ${def.id} used twice`);
  byType.set(type, ce);
  ids.add(def.id);
}

/** The compiled event type named `type`, or undefined. */
export function compiledByType(type: string): CEvent | undefined {
  return byType.get(type);
}

/** Every compiled event type, in schema order. */
export function compiledEvents(): readonly CEvent[] {
  return [...byType.values()];
}
