/**
 * Conformance: every IOVA vector file recorded from the real kernel (../shared/vectors/iova/) replays on
 * a fresh domain with every result equal to its `expect`, with the indexed search and with the literal
 * kernel walk. Also: malformed files are reported with file:line and the field.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  describeMismatch,
  ErrorCode,
  IovaDomain,
  isDmasimError,
  parseIovaVectors,
  replayIovaVectors,
} from '@dmasim/core';

const dir = new URL('../../shared/vectors/iova/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.ndjson'))
  .sort();

describe('IOVA conformance vectors (../shared/vectors/iova)', () => {
  test('the public set is there', () => {
    assert.ok(files.length >= 12, `expected at least 12 vector files, found ${files.length}`);
  });
  for (const f of files) {
    for (const search of ['indexed', 'linear'] as const) {
      test(`${f} (${search} search)`, () => {
        const vf = parseIovaVectors(readFileSync(new URL(f, dir), 'utf8'), f);
        const d = new IovaDomain({
          granule: BigInt(vf.header.granule),
          startPfn: BigInt(vf.header.startPfn),
          cpus: vf.header.cpus,
          depotTrim: false,
          search,
        });
        const r = replayIovaVectors(vf, d);
        assert.ok(r.ok, r.mismatch ? `${f}: ${describeMismatch(r.mismatch)}` : f);
        assert.equal(r.opsReplayed, vf.ops.length);
        assert.equal(
          r.compared,
          vf.ops.filter((o) => o.op === 'alloc' || o.op === 'alloc_fast' || o.op === 'reserve').length,
        );
      });
    }
  }
});

describe('IOVA vector files: mismatches and malformed input', () => {
  const header =
    '{"kind":"iova-vectors","version":1,"source":"x","commit":"y","granule":4096,"start_pfn":1,"cpus":1,"name":"t","description":"d"}';

  test('a wrong expectation is reported with its line, expected and got', () => {
    const text = `${header}\n{"op":"alloc","id":1,"size":1,"limit_pfn":100,"size_aligned":false,"expect":{"pfn_lo":100,"pfn_hi":100}}\n{"op":"alloc","id":2,"size":1,"limit_pfn":100,"size_aligned":false,"expect":{"pfn_lo":98,"pfn_hi":98}}\n`;
    const r = replayIovaVectors(parseIovaVectors(text, 'bad.ndjson'));
    assert.equal(r.ok, false);
    assert.deepEqual(r.mismatch, {
      line: 3,
      op: 'alloc',
      id: 2,
      expected: { pfnLo: 98, pfnHi: 98 },
      got: { pfnLo: 99, pfnHi: 99 },
    });
    assert.equal(describeMismatch(r.mismatch!), 'line 3 (alloc id 2): expected [0x62, 0x62], got [0x63, 0x63]');
  });

  const cases: [string, string, RegExp][] = [
    ['not JSON', `${header}\n{"op":`, /^m\.ndjson:2: expected one JSON object per line/],
    ['no header', '{"op":"free","id":1}', /^m\.ndjson:1 \(kind\): expected a header line/],
    ['unknown op', `${header}\n{"op":"grow","id":1}`, /^m\.ndjson:2 \(op\): expected one of .* found "grow"/],
    [
      'missing size',
      `${header}\n{"op":"alloc","id":1,"limit_pfn":5,"size_aligned":true,"expect":null}`,
      /^m\.ndjson:2 \(size\): expected an integer >= 1 below 2\^53, found nothing/,
    ],
    [
      'mistyped flag',
      `${header}\n{"op":"alloc_fast","id":1,"size":1,"limit_pfn":5,"flush_rcache":"yes"}`,
      /^m\.ndjson:2 \(flush_rcache\): expected true or false, found "yes"/,
    ],
    [
      'free of an unknown id',
      `${header}\n{"op":"free","id":7}`,
      /^m\.ndjson:2 \(id\): expected the id of an earlier allocation, found 7/,
    ],
    [
      'bad expect',
      `${header}\n{"op":"alloc","id":1,"size":1,"limit_pfn":5,"size_aligned":true,"expect":{"pfn_lo":-1,"pfn_hi":1}}`,
      /^m\.ndjson:2 \(expect\.pfn_lo\): expected an integer/,
    ],
    [
      'ids not increasing',
      `${header}\n{"op":"reserve","id":3,"pfn_lo":1,"pfn_hi":2}\n{"op":"reserve","id":2,"pfn_lo":4,"pfn_hi":5}`,
      /^m\.ndjson:3 \(id\): expected a new id above 3, found 2/,
    ],
  ];
  for (const [name, text, re] of cases) {
    test(`malformed: ${name}`, () => {
      assert.throws(
        () => parseIovaVectors(text, 'm.ndjson'),
        (e: unknown) => isDmasimError(e) && e.code === ErrorCode.VECTOR_PARSE && re.test(e.message),
      );
    });
  }
});
