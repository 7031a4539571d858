/**
 * The canonical state hash: FNV-1a 64 over the UTF-8 bytes of the canonical JSON of a state snapshot
 * (`canonicalJson` of `hash.ts`: object keys sorted, bigint as `"0x…"` hex strings, `undefined` fields
 * dropped). Defined that way it is stable across runs, machines and Node versions, and anyone can
 * recompute it with `fnv1a64Hex(canonicalJson(snapshot))`.
 *
 * {@link stateHash} computes exactly that value without building the JSON text: it streams the same
 * characters into the hash, so hashing the state of a run with a million live mappings needs no
 * gigabyte string. A test checks the two agree.
 */
import { Fnv1a64 } from '../hash.ts';

const SAFE_STRING = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

/** A key list, its sorted copy, and the `"key":` text of each sorted key. */
interface KeyOrder {
  readonly keys: readonly string[];
  readonly sorted: readonly string[];
  /** `"key":` of each sorted key, as canonical JSON writes it (the key's JSON string and the colon). */
  readonly heads: readonly string[];
}

/**
 * Sorted copies of key lists, by first key and length, each kept with the list it was made from: a
 * snapshot holds thousands of objects of a few shapes (the IOVA range caches alone 12 per CPU and
 * domain), and sorting their keys anew for each was most of the time of a state hash. A hit is checked
 * key by key against the list it was made from, so the order is always the sorted order of `keys`.
 */
const keyOrders = new Map<string, KeyOrder[]>();

function keyHead(k: string): string {
  return `${SAFE_STRING.test(k) ? `"${k}"` : JSON.stringify(k)}:`;
}

function keyOrder(keys: string[]): KeyOrder {
  const first = keys[0]!;
  let list = keyOrders.get(first);
  if (list !== undefined) {
    for (const c of list) {
      if (c.keys.length !== keys.length) continue;
      let same = true;
      for (let i = 1; i < keys.length; i++) {
        if (c.keys[i] !== keys[i]) {
          same = false;
          break;
        }
      }
      if (same) return c;
    }
  }
  const sorted = keys.length < 2 ? keys : [...keys].sort();
  const order = { keys, sorted, heads: sorted.map(keyHead) };
  // Bounded: objects with data-dependent keys (maps turned into objects) must not grow it forever.
  if (list === undefined && keyOrders.size < 4096) {
    list = [];
    keyOrders.set(first, list);
  }
  if (list !== undefined && list.length < 16) list.push(order);
  return order;
}

/** Scratch for the decimal digits of an integer (at most 16 for a safe integer). */
const DIGITS = new Uint8Array(16);

/** Feeds `JSON.stringify(v)` of a number that is an integer 0 <= v <= 2^53 - 1, without the string. */
function feedNatural(h: Fnv1a64, v: number): void {
  let n = 0;
  do {
    const q = Math.floor(v / 10);
    DIGITS[n++] = 0x30 + (v - q * 10);
    v = q;
  } while (v > 0);
  while (n > 0) h.byte(DIGITS[--n]!);
}

function feed(h: Fnv1a64, v: unknown): void {
  if (v === null || v === undefined) {
    h.text('null');
  } else if (typeof v === 'string') {
    if (SAFE_STRING.test(v)) {
      h.byte(0x22);
      h.text(v);
      h.byte(0x22);
    } else {
      h.text(JSON.stringify(v));
    }
  } else if (typeof v === 'number') {
    if (v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) feedNatural(h, v);
    else h.text(JSON.stringify(v));
  } else if (typeof v === 'boolean') {
    h.text(v ? 'true' : 'false');
  } else if (typeof v === 'bigint') {
    h.text('"0x');
    h.text(v.toString(16));
    h.byte(0x22);
  } else if (Array.isArray(v)) {
    h.byte(0x5b);
    for (let i = 0; i < v.length; i++) {
      if (i > 0) h.byte(0x2c);
      feed(h, v[i]);
    }
    h.byte(0x5d);
  } else if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    h.byte(0x7b);
    const all = Object.keys(o);
    if (all.length > 0) {
      const { sorted, heads } = keyOrder(all);
      let first = true;
      for (let i = 0; i < sorted.length; i++) {
        const x = o[sorted[i]!];
        if (x === undefined) continue;
        if (!first) h.byte(0x2c);
        first = false;
        h.text(heads[i]!);
        feed(h, x);
      }
    }
    h.byte(0x7d);
  } else {
    throw new TypeError(`stateHash: cannot hash a ${typeof v}`);
  }
}

/**
 * `fnv1a64Hex(canonicalJson(snapshot))`, streamed: 16 lowercase hex digits.
 * @throws TypeError for values canonical JSON cannot hold (functions, symbols).
 */
export function stateHash(snapshot: unknown): string {
  const h = new Fnv1a64();
  feed(h, snapshot);
  return h.hex();
}
