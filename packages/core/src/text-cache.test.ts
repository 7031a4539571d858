import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TextCache } from './text-cache.ts';

test('TextCache keeps one string per key and starts again empty when full', () => {
  const c = new TextCache<bigint>(3);
  assert.equal(c.get(1n), undefined);
  const t = c.set(1n, `a${1}`);
  assert.equal(c.get(1n), t);
  c.set(2n, 'b');
  c.set(3n, 'c');
  assert.equal(c.get(3n), 'c');
  c.set(4n, 'd'); // full: cleared first
  assert.equal(c.get(1n), undefined);
  assert.equal(c.get(4n), 'd');
});
