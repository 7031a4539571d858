import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ErrorCode } from '../errors.ts';
import { ByteReader, ByteWriter, fnv1a32, murmur3x86, u64FromHalves } from './bytes.ts';

/** Unsigned LEB128 of a bigint, the slow and obvious way: the reference for the halves-based codec. */
function leb128(v: bigint): number[] {
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? byte : byte | 0x80);
  } while (v !== 0n);
  return out;
}

/** Every power of two and its neighbours: the edges of each varint byte and of the 32-bit halves. */
const edges: bigint[] = [];
for (let k = 0n; k <= 64n; k++) {
  for (const d of [-1n, 0n, 1n]) {
    const v = (1n << k) + d;
    if (v >= 0n && v < 1n << 64n) edges.push(v);
  }
}

test('u64 varints: the same bytes as plain LEB128 and back, at every bit edge and at random', () => {
  const check = (v: bigint) => {
    const w = new ByteWriter(4);
    w.varU64(v);
    const bytes = w.toBytes();
    assert.deepEqual([...bytes], leb128(v), `encoding of ${v}`);
    const r = new ByteReader(bytes, 'test');
    assert.equal(r.varU64(), v);
    assert.equal(r.pos, bytes.length);
  };
  for (const v of edges) check(v);
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), check), { numRuns: 2000 });
});

test('u64 varints: a value above 2^64 - 1 or longer than 10 bytes is rejected, a cut one is truncated', () => {
  const decode = (bytes: number[]) => new ByteReader(Uint8Array.from(bytes), 'f.bin').varU64();
  const expect = (bytes: number[], problem: RegExp) =>
    assert.throws(
      () => decode(bytes),
      (e: unknown) => (e as { code?: string }).code === ErrorCode.EVENT_DECODE && problem.test((e as Error).message),
    );
  expect([...leb128((1n << 64n) - 1n).slice(0, 9), 0x02], /larger than 2\^64 - 1/);
  expect([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00], /longer than 10 bytes/);
  for (const v of [200n, 1n << 30n, 1n << 40n, (1n << 64n) - 1n]) {
    const b = leb128(v);
    for (let cut = 0; cut < b.length; cut++) expect(b.slice(0, cut), /truncated/);
  }
});

test('u64FromHalves: right values through cache collisions, evictions and the empty-slot value', () => {
  // Many distinct values, each decoded twice in an interleaved order, so slots are shared and evicted.
  const values = fc.sample(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { numRuns: 5000, seed: 7 });
  values.push((1n << 64n) - 1n, 0n, 127n, 128n, 1n << 32n);
  for (let round = 0; round < 2; round++) {
    for (const v of values) {
      const lo = Number(v & 0xffffffffn);
      const hi = Number(v >> 32n);
      assert.equal(u64FromHalves(lo, hi), v);
    }
  }
});

test('frame checksums: MurmurHash3 x86_32 and FNV-1a 32 give their published values, at any offset', () => {
  const utf8 = (t: string) => new TextEncoder().encode(t);
  const murmur: [string, number][] = [
    ['', 0],
    ['a', 0x3c2569b2],
    ['ab', 0x9bbfd75f],
    ['abc', 0xb3dd93fa],
    ['hello', 0x248bfa47],
    ['The quick brown fox jumps over the lazy dog', 0x2e4ff723],
  ];
  const fnv: [string, number][] = [
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ];
  for (const [text, want] of murmur) {
    const b = utf8(text);
    assert.equal(murmur3x86(b, 0, b.length) >>> 0, want, `murmur3 of ${JSON.stringify(text)}`);
    // The same bytes inside a larger buffer, at an odd offset of an odd-offset view: words are unaligned.
    const big = new Uint8Array(b.length + 11);
    big.set(b, 5);
    const view = big.subarray(1);
    assert.equal(murmur3x86(view, 4, 4 + b.length) >>> 0, want, `murmur3 of ${JSON.stringify(text)} at offset 5`);
  }
  for (const [text, want] of fnv) {
    const b = utf8(text);
    assert.equal(fnv1a32(b, 0, b.length) >>> 0, want, `fnv1a32 of ${JSON.stringify(text)}`);
  }
});

test('the frame string table: exact lookups for short and long strings, hash collisions, truncate', async () => {
  const { FrameStrings } = await import('./string-table.ts');
  const st = new FrameStrings();
  // Two long strings with the same UTF-8 bytes (lone surrogates both become U+FFFD), so the same hash:
  // one bucket, told apart by the full comparison.
  const tail = ' of 0x00000 bytes mapped: device accesses beyond fault';
  const a = `only 0x\ud800${tail}`;
  const b = `only 0x\udbff${tail}`;
  assert.deepEqual(new TextEncoder().encode(a), new TextEncoder().encode(b));
  const built = (c: string) => ['only 0x', c, tail].join('');
  assert.equal(st.add('0000:04:00.0'), 1);
  assert.equal(st.add(a), 2);
  assert.equal(st.get(b), undefined);
  assert.equal(st.add(b), 3);
  assert.equal(st.get(built('\ud800')), 2);
  assert.equal(st.get(built('\udbff')), 3);
  assert.equal(st.get('0000:04:00.0'), 1);
  assert.equal(st.size, 3);
  st.truncate(1);
  assert.equal(st.get(a), undefined);
  assert.equal(st.get(b), undefined);
  assert.equal(st.get('0000:04:00.0'), 1);
  assert.equal(st.add(b), 2);
  assert.equal(st.get(b), 2);
  // ref: minus the new index when it adds, the index when the string is there (short and long).
  assert.equal(st.ref(a), -3);
  assert.equal(st.ref(built('\ud800')), 3);
  assert.equal(st.ref('0000:05:00.0'), -4);
  assert.equal(st.ref('0000:05:00.0'), 4);
  // Texts of one template that differ in one digit anywhere, and one longer than the hash's scratch.
  const pte = (pfn: number) => `ERROR: DMA PTE for vPFN 0x${pfn.toString(16)} already set`;
  for (let i = 0; i < 300; i++) assert.equal(st.ref(pte(0xffff00000 + i * 0x800)), -(5 + i));
  for (let i = 0; i < 300; i++) assert.equal(st.ref(pte(0xffff00000 + i * 0x800)), 5 + i);
  const huge = `${'\u00e9'.repeat(700)}x`;
  assert.equal(st.ref(huge), -305);
  assert.equal(st.ref(`${'\u00e9'.repeat(700)}x`), 305);
  assert.equal(st.get(`${'\u00e9'.repeat(700)}y`), undefined);
  st.clear();
  assert.equal(st.size, 0);
  assert.equal(st.get('0000:04:00.0'), undefined);
});

test('the frame string table agrees with a Map on any strings', async () => {
  const { FrameStrings } = await import('./string-table.ts');
  const pool = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', minLength: 30, maxLength: 90 }));
  fc.assert(
    fc.property(fc.array(fc.nat(40)), fc.array(pool, { minLength: 1, maxLength: 40 }), (picks, strs) => {
      const st = new FrameStrings();
      const ref = new Map<string, number>();
      for (const p of picks) {
        const s = strs[p % strs.length]!;
        const want = ref.get(s) ?? -(ref.size + 1);
        if (want < 0) ref.set(s, ref.size + 1);
        assert.equal(st.ref(s), want);
      }
    }),
    { numRuns: 300 },
  );
});

test('number varints: the same bytes as plain LEB128 and back, at every bit edge up to 2^53 - 1', () => {
  const check = (v: number) => {
    const w = new ByteWriter(4);
    w.varNum(v);
    const bytes = w.toBytes();
    assert.deepEqual([...bytes], leb128(BigInt(v)), `encoding of ${v}`);
    const r = new ByteReader(bytes, 'test');
    assert.equal(r.varNum(), v);
  };
  for (const e of edges) if (e <= BigInt(Number.MAX_SAFE_INTEGER)) check(Number(e));
  fc.assert(fc.property(fc.maxSafeNat(), check), { numRuns: 2000 });
});
