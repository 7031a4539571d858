import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { canonicalJson, fnv1a64Hex, fnv1a64HexReference } from './hash.ts';

test('FNV-1a 64 matches the published test vectors', () => {
  assert.equal(fnv1a64Hex(''), 'cbf29ce484222325');
  assert.equal(fnv1a64Hex('a'), 'af63dc4c8601ec8c');
  assert.equal(fnv1a64Hex('foobar'), '85944171f73967e8');
});

test('the fast FNV-1a equals the bigint reference on any string', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => fnv1a64Hex(s) === fnv1a64HexReference(s)),
    { numRuns: 1000 },
  );
});

test('canonical JSON sorts keys at every level and encodes bigint as hex', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [3n, 'x'], c: null } }), '{"a":{"c":null,"d":["0x3","x"]},"b":1}');
  assert.equal(canonicalJson({ x: undefined, y: 2 }), '{"y":2}');
});
