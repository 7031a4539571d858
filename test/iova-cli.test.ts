/** `dmasim iova check` and `dmasim iova bench`, run as a user runs them (a child process, from source). */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCliProcess, SHARED } from './helpers/cli.ts';

const vectors = join(SHARED, 'vectors', 'iova');
const files = readdirSync(vectors)
  .filter((f) => f.endsWith('.ndjson'))
  .sort()
  .map((f) => join(vectors, f));
const tmp = mkdtempSync(join(tmpdir(), 'dmasim-iova-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const header = '{"kind":"iova-vectors","version":1,"granule":4096,"start_pfn":1,"cpus":1,"name":"t","description":"d"}';

describe('dmasim iova check', () => {
  test('every public vector file passes', async () => {
    const r = await runCliProcess(['iova', 'check', ...files]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, files.length + 1);
    for (const [i, f] of files.entries())
      assert.match(lines[i]!, new RegExp(`^${f}: ok \\(\\d+ ops, \\d+ results compared\\)$`));
    assert.equal(lines.at(-1), `${files.length} passed, 0 failed`);
  });

  test('a differing file names the line, expected and got; malformed files count as failed; exit 1', async () => {
    const wrong = join(tmp, 'wrong.ndjson');
    writeFileSync(
      wrong,
      `${header}\n{"op":"alloc","id":1,"size":2,"limit_pfn":255,"size_aligned":true,"expect":{"pfn_lo":252,"pfn_hi":253}}\n`,
    );
    const bad = join(tmp, 'bad.ndjson');
    writeFileSync(bad, `${header}\n{"op":"alloc","id":1,"size":2,"limit_pfn":"x","size_aligned":true}\n`);
    const r = await runCliProcess(['iova', 'check', files[0]!, wrong, bad, join(tmp, 'missing.ndjson')]);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /: ok /);
    assert.equal(lines[1], `${wrong}: line 2 (alloc id 1): expected [0xfc, 0xfd], got [0xfe, 0xff]`);
    assert.equal(
      lines[2],
      `${bad}: error: VECTOR_PARSE: ${bad}:2 (limit_pfn): expected an integer >= 0 below 2^53, found "x"`,
    );
    assert.match(lines[3]!, /missing\.ndjson: error: INVALID_ARGUMENT: .*cannot read \(ENOENT\)/);
    assert.equal(lines[4], '1 passed, 3 failed');
  });

  test('the literal kernel walk gives the same verdicts', async () => {
    const r = await runCliProcess(['iova', 'check', '--search', 'linear', ...files]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${files.length} passed, 0 failed\\n$`));
  });
});

describe('dmasim iova bench', () => {
  test('writes a generated trace in the vector format, which check accepts and bench times', async () => {
    const out = join(tmp, 'fast-random.ndjson');
    const w = await runCliProcess(['iova', 'bench', '--generate', 'fast-random', '--ops', '3000', '--out', out]);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout, `${out}: 3000 ops of trace-fast-random\n`);
    const c = await runCliProcess(['iova', 'check', out]);
    assert.equal(c.code, 0, c.stdout);
    assert.match(c.stdout, /: ok \(3000 ops, 0 results compared\)/);
    const b = await runCliProcess(['iova', 'bench', out, '--repeat', '1', '--json']);
    assert.equal(b.code, 0, b.stderr);
    const [f] = JSON.parse(b.stdout) as Record<string, number | string | null>[];
    assert.equal(f!.name, 'trace-fast-random');
    assert.equal(f!.ops, 3000);
    assert.equal(f!.allocations, 3000, 'fewer ops than the 65,536 live target: all allocations');
    assert.equal(f!.failures, 0);
    assert.equal(f!.baseline, null);
    assert.ok((f!.opsPerSec as number) > 0);
    assert.ok((f!.heapBytesPerLive as number) > 0);
  });

  test('a short generated trace prints rate, cost and memory', async () => {
    const r = await runCliProcess(['iova', 'bench', '-g', 'slow-oldest', '--ops', '2000', '--repeat', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^trace-slow-oldest: 2,000 ops, best of 1 \(indexed search\): [\d.]+ s, [\d,]+ ops\/s/);
    assert.match(r.stdout, /2,000 allocations, 0 failed; the kernel's walk visits 1.0 nodes per allocation/);
    assert.match(r.stdout, /heap per live allocation: \d+ B/);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await runCliProcess(['iova', 'bench'])).code, 2);
    assert.equal((await runCliProcess(['iova', 'bench', '-g', 'nope'])).code, 2);
    assert.equal((await runCliProcess(['iova', 'bench', '-g', 'all', '--out', join(tmp, 'x')])).code, 2);
    assert.equal((await runCliProcess(['iova', 'check'])).code, 2);
  });
});
