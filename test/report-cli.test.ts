/**
 * `dmasim report` as a user runs it: on a small sweep's output folder, on its report.json, with each format,
 * --json and --compare, and the exit codes of wrong usage (2) and bad input (3). report.json is validated
 * against its published JSON Schema.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPORT_SCHEMA } from '@dmasim/core';
import { Ajv } from 'ajv';
import { runCliProcess } from './helpers/cli.ts';

let dir = '';
let out = '';

const SWEEP = `kind: dmasim-sweep
version: 1
id: small
base:
  kind: dmasim-scenario
  version: 1
  seed: 1
  topology: { generate: { sockets: 2, devices: 8, seed: 1 } }
  importers: [{ device: NIC0 }, { device: NIC2 }]
  exporters: [{ device: GPU0, bar: 1 }]
  workload:
    buffers: { count: 4, size: { log2uniform: { min: 64KiB, max: 256MiB } }, ranges: { min: 1, max: 3 } }
    attach: { pattern: all }
    churn: { map: 4, unmap: 3 }
    operations: 80
axes:
  - name: iommu
    path: iommu.mode
    values: [dma-fq, identity]
  - name: mask
    path: importers[0].dmaMask
    values: [64, 32]
seeds: { start: 1, count: 2 }
groupBy: [iommu]
`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dmasim-report-cli-'));
  writeFileSync(join(dir, 'small.yaml'), SWEEP);
  out = join(dir, 'small');
  const r = await runCliProcess(['sweep', join(dir, 'small.yaml'), '--out', out, '--no-progress', '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const withoutRun = (r: Record<string, unknown>): Record<string, unknown> => {
  const { run: _run, ...rest } = r;
  return rest;
};

test('report on a sweep folder writes html, md and json; report.json follows its schema and the sweep’s own', async () => {
  const target = join(dir, 'rep');
  const r = await runCliProcess(['report', out, '--out', target]);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['report.html', 'report.md', 'report.json']) {
    assert.ok(existsSync(join(target, f)), f);
    assert.match(r.stdout, new RegExp(`wrote .*${f.replace('.', '\\.')}`));
  }
  const mine = JSON.parse(readFileSync(join(target, 'report.json'), 'utf8')) as Record<string, unknown>;
  const validate = new Ajv({ strict: true, allowUnionTypes: true }).compile(REPORT_SCHEMA);
  assert.ok(validate(mine), JSON.stringify(validate.errors));
  const sweeps = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(withoutRun(mine), withoutRun(sweeps));
  const html = readFileSync(join(target, 'report.html'), 'utf8');
  assert.match(html, /<title>dmasim report: small<\/title>/);
  // Replay commands name the results folder the user gave.
  assert.doesNotMatch(html, /<script/);
});

test('report on a report.json, one format at a time, and --json', async () => {
  const target = join(dir, 'md-only');
  const r = await runCliProcess(['report', join(out, 'report.json'), '--out', target, '--format', 'md']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(target, 'report.md')));
  assert.ok(!existsSync(join(target, 'report.html')));
  const j = await runCliProcess([
    'report',
    join(out, 'report.json'),
    '--out',
    join(dir, 'j'),
    '--format',
    'html',
    '--json',
  ]);
  assert.equal(j.code, 0, j.stderr);
  assert.equal((JSON.parse(j.stdout) as { sweepId: string }).sweepId, 'small');
});

test('--compare of a result set with itself finds no difference; with a changed copy it finds it', async () => {
  const same = await runCliProcess(['report', '--compare', out, join(out, 'report.json'), '--out', join(dir, 'c1')]);
  assert.equal(same.code, 0, same.stderr);
  const html = readFileSync(join(dir, 'c1', 'compare.html'), 'utf8');
  assert.match(html, /data-k="compare.changed" data-v="0"/);
  const b = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
    overall: { whatIf: Record<string, number> };
  };
  b.overall.whatIf.bytesMigrated = 2 ** 30;
  writeFileSync(join(dir, 'b.json'), JSON.stringify(b));
  const diff = await runCliProcess(['report', '--compare', out, join(dir, 'b.json'), '--out', join(dir, 'c2')]);
  assert.equal(diff.code, 0, diff.stderr);
  assert.match(readFileSync(join(dir, 'c2', 'compare.html'), 'utf8'), /data-k="compare.changed" data-v="1"/);
});

test('wrong usage exits 2, bad input exits 3 naming the file', async () => {
  assert.equal((await runCliProcess(['report'])).code, 2);
  const fmt = await runCliProcess(['report', out, '--format', 'html,xls']);
  assert.equal(fmt.code, 2);
  assert.match(fmt.stderr, /--format: "xls" is not one of/);
  assert.equal((await runCliProcess(['report', '--compare', out])).code, 2);
  const missing = await runCliProcess(['report', join(dir, 'nothing-here')]);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /nothing-here: no such file or folder/);
  writeFileSync(join(dir, 'bad.json'), '{"kind":"dmasim-sweep"}');
  const bad = await runCliProcess(['report', join(dir, 'bad.json')]);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /REPORT_INVALID: .*bad\.json: expected a dmasim report .* found kind "dmasim-sweep"/);
  const broken = join(dir, 'broken');
  mkdirSync(broken);
  writeFileSync(join(broken, 'sweep.json'), readFileSync(join(out, 'sweep.json')));
  writeFileSync(join(broken, 'results.ndjson'), `${readFileSync(join(out, 'results.ndjson'), 'utf8')}{not json\n`);
  const nd = await runCliProcess(['report', broken, '--out', join(dir, 'x')]);
  assert.equal(nd.code, 3);
  assert.match(nd.stderr, /results\.ndjson:\d+:1: not a JSON shard result/);
});
