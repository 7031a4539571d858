import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DmasimError, ErrorCode, fromPlainError, isDmasimError, parseError, toPlainError } from './errors.ts';

test('errors survive a structured clone as plain data and keep their code', () => {
  const e = new DmasimError(ErrorCode.IOVA_EXHAUSTED, 'no IOVA below 0xfffff', { pages: 512 });
  const plain = structuredClone(toPlainError(e));
  assert.equal(plain.code, 'IOVA_EXHAUSTED');
  assert.equal(plain.retryable, false);
  assert.deepEqual(plain.details, { pages: 512 });
  const back = fromPlainError(plain);
  assert.ok(back instanceof DmasimError);
  assert.ok(isDmasimError(plain));
  assert.equal(back.message, e.message);
});

test('only service errors are retryable', () => {
  assert.equal(new DmasimError(ErrorCode.SERVICE_UNAVAILABLE, 'redis down').retryable, true);
  assert.equal(new DmasimError(ErrorCode.SWEEP_SPEC_INVALID, 'bad').retryable, false);
  assert.equal(toPlainError(new TypeError('boom')).code, 'INTERNAL');
});

test('parse errors name file, line, column and field', () => {
  const e = parseError(
    ErrorCode.TOPOLOGY_PARSE,
    { file: 'a.txt', line: 3, column: 7 },
    'expected a bus number, found "zz"',
  );
  assert.equal(e.message, 'a.txt:3:7: expected a bus number, found "zz"');
  assert.equal(
    parseError(ErrorCode.SWEEP_SPEC_INVALID, { file: 's.yaml', field: 'axes' }, 'x').message,
    's.yaml (axes): x',
  );
});
