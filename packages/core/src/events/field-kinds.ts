/**
 * The vocabulary of field kinds that the event schema is written in. One table of these kinds
 * ({@link EVENT_SCHEMA} in `event-schema.ts`) is the single source of the TypeScript event types, of the
 * binary codec, of the NDJSON form and of event validation, so the four can never disagree.
 */

/**
 * The kind of one field.
 *
 * - `u32`: integer 0 .. 2^32 - 1 (number): page counts, bins, nents, CPU numbers, prot bits.
 * - `num`: non-negative safe integer (number): ids, counts, nanoseconds.
 * - `int`: safe integer that may be negative (number): kernel results (0 or -errno), distances.
 * - `u64`: unsigned 64-bit quantity (bigint): addresses, sizes in bytes, pfns, masks (kernel-model.md 0).
 * - `str`, `bool`: as named.
 * - `{ enum: [...] }`: one of the listed strings.
 * - `{ opt: K }`: a K or `null`.
 * - `{ list: K }`: an array of K.
 * - `{ struct: { name: K, ... } }`: an object with exactly these fields, in this order.
 */
export type FieldKind =
  | 'u32'
  | 'num'
  | 'int'
  | 'u64'
  | 'str'
  | 'bool'
  | { readonly enum: readonly string[] }
  | { readonly opt: FieldKind }
  | { readonly list: FieldKind }
  | { readonly struct: Fields };

/** An ordered set of named fields (object key order is the encoding order). */
export type Fields = { readonly [name: string]: FieldKind };

/** The TypeScript type of a value of kind `K`. */
export type KindType<K> = K extends 'u32' | 'num' | 'int'
  ? number
  : K extends 'u64'
    ? bigint
    : K extends 'str'
      ? string
      : K extends 'bool'
        ? boolean
        : K extends { readonly enum: readonly (infer E)[] }
          ? E
          : K extends { readonly opt: infer I }
            ? KindType<I> | null
            : K extends { readonly list: infer I }
              ? KindType<I>[]
              : K extends { readonly struct: infer S }
                ? FieldsType<S>
                : never;

/** The object type described by a {@link Fields} table. */
export type FieldsType<S> = { -readonly [P in keyof S]: KindType<S[P]> };

/** `{ enum: values }`, typed so that the values stay literal types. */
export function oneOf<const E extends readonly string[]>(...values: E): { readonly enum: E } {
  return { enum: values };
}

/** `{ opt: kind }`. */
export function opt<const K extends FieldKind>(kind: K): { readonly opt: K } {
  return { opt: kind };
}

/** `{ list: kind }`. */
export function list<const K extends FieldKind>(kind: K): { readonly list: K } {
  return { list: kind };
}

/** `{ struct: fields }`. */
export function struct<const S extends Fields>(fields: S): { readonly struct: S } {
  return { struct: fields };
}

/** A one-line description of a kind for documentation (`u64`, `list of {paddr: u64, len: u64}`). */
export function describeKind(k: FieldKind): string {
  if (typeof k === 'string') return k;
  if ('enum' in k) return k.enum.map((v) => `\`${v}\``).join(' \\| ');
  if ('opt' in k) return `${describeKind(k.opt)} or null`;
  if ('list' in k) return `list of ${describeKind(k.list)}`;
  return `{${Object.entries(k.struct)
    .map(([n, f]) => `${n}: ${describeKind(f)}`)
    .join(', ')}}`;
}
