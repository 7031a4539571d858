import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isDmasimError } from '../errors.ts';
import { parseSweepFile, Sweep, type SweepSpec } from './sweep.ts';

const yaml = `kind: dmasim-sweep
version: 1
id: rack-a
base:
  topology: { file: machine.yaml }
  iommu: { mode: dma-fq }
  importers:
    - bdf: "0000:21:00.0"
      dmaMask: 64
axes:
  - name: iommu
    path: iommu.mode
    values: [dma-fq, dma, identity]
  - path: importers[0].dmaMask
    values: [64, 32]
seeds: { start: 7, count: 4 }
shardSize: 5
`;

test('a sweep expands lazily: size, shard ranges and every point from its index', () => {
  const s = parseSweepFile(yaml, 'rack.yaml');
  assert.equal(s.size, 3 * 2 * 4);
  assert.equal(s.shardCount, 5);
  assert.deepEqual(s.shardRange(4), { start: 20, end: 24 });
  const p = s.scenarioAt(0);
  assert.equal(p.seed, 7);
  assert.deepEqual(p.scenario.iommu, { mode: 'dma-fq' });
  const q = s.scenarioAt(4 * 2 + 4 + 3); // iommu index 1, mask index 1, seed index 3
  assert.equal(q.seed, 10);
  assert.deepEqual(q.values, ['dma', 32]);
  assert.deepEqual((q.scenario.importers as { dmaMask: number }[])[0]!.dmaMask, 32);
  assert.equal((q.scenario.importers as { bdf: string }[])[0]!.bdf, '0000:21:00.0');
  // the base is never modified
  assert.deepEqual(s.spec.base.iommu, { mode: 'dma-fq' });
  assert.deepEqual(q.group, { iommu: '"dma"', 'importers[0].dmaMask': '32' });
});

test('scenario ids are stable, distinct, and do not depend on the order of the other values', () => {
  const s = parseSweepFile(yaml, 'rack.yaml');
  const ids = new Set<string>();
  for (let i = 0; i < s.size; i++) ids.add(s.scenarioAt(i).id);
  assert.equal(ids.size, s.size);
  for (const id of ids) assert.match(id, /^rack-a-[0-9a-f]{16}$/);
  // reversing the order of one axis' values keeps every scenario's id
  const reordered = yaml.replace('[dma-fq, dma, identity]', '[identity, dma-fq, dma]');
  const t = parseSweepFile(reordered, 'rack.yaml');
  const ids2 = new Set<string>();
  for (let i = 0; i < t.size; i++) ids2.add(t.scenarioAt(i).id);
  assert.deepEqual([...ids2].sort(), [...ids].sort());
});

test('representatives cover every axis value without expanding the product', () => {
  const s = parseSweepFile(yaml, 'rack.yaml');
  const reps = [...s.representatives()];
  assert.equal(reps.length, 1 + 2 + 1);
  const modes = new Set(reps.map((r) => (r.scenario.iommu as { mode: string }).mode));
  assert.deepEqual([...modes].sort(), ['dma', 'dma-fq', 'identity']);
});

test('a 10^6-scenario sweep is addressable without materialising it', () => {
  const spec: SweepSpec = {
    kind: 'dmasim-sweep',
    version: 1,
    id: 'big',
    base: {},
    axes: [{ path: 'a', values: Array.from({ length: 1000 }, (_, i) => i) }],
    seeds: { count: 1000 },
  };
  const s = new Sweep(spec);
  assert.equal(s.size, 1_000_000);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: s.size - 1 }), (i) => {
      const p = s.scenarioAt(i);
      return p.index === i && p.scenario.a === Math.floor(i / 1000) && p.seed === 1 + (i % 1000);
    }),
    { numRuns: 1000 },
  );
});

function errorOf(text: string): string {
  try {
    parseSweepFile(text, 'bad.yaml');
  } catch (e) {
    assert.ok(isDmasimError(e));
    assert.equal(e.code, 'SWEEP_SPEC_INVALID');
    return e.message;
  }
  assert.fail('expected an error');
}

test('invalid sweep files fail with the file, the line and what was expected', () => {
  assert.equal(
    errorOf(yaml.replace('id: rack-a', 'id: Rack.A')),
    'bad.yaml:3:5: /id: expected match pattern "^[a-z0-9][a-z0-9_-]{0,63}$"',
  );
  assert.match(errorOf(yaml.replace('shardSize: 5', 'shardSize: 0')), /^bad\.yaml:17:12: \/shardSize: expected >= 1$/);
  assert.match(
    errorOf(yaml.replace('    path: iommu.mode', '    path: iommu..mode')),
    /^bad\.yaml:12:11: \/axes\/0\/path: expected match pattern/,
  );
  assert.match(
    errorOf(yaml.replace('[dma-fq, dma, identity]', '[dma-fq, dma, dma-fq]')),
    /^bad\.yaml:13:\d+: axis "iommu" lists the value "dma-fq" twice/,
  );
  assert.match(errorOf(`${yaml}groupBy: [nope]\n`), /^bad\.yaml:18:\d+: "nope" is not the name of an axis/);
  assert.equal(
    errorOf(yaml.replace('seeds: { start: 7, count: 4 }', 'seed: 3')),
    'bad.yaml:1:1: the document: missing required field "seeds"',
  );
  assert.match(errorOf(`${yaml}shards: 3\n`), /^bad\.yaml:18:9: the document: unknown field "shards"$/);
  assert.match(errorOf('kind: dmasim-sweep\nversion: [1\n'), /^bad\.yaml:\d+:\d+: not valid YAML/);
});

test('a set axis replaces several top-level fields at once', () => {
  const s = new Sweep({
    kind: 'dmasim-sweep',
    version: 1,
    id: 'm',
    base: { iommu: { mode: 'dma' }, importers: [] },
    axes: [
      {
        name: 'machine',
        set: [
          { topology: { file: 'a' }, importers: [{ device: 'NIC0' }] },
          { topology: { file: 'b' }, importers: [{ device: 'NIC1' }] },
        ],
      },
      { path: 'iommu.mode', values: ['dma', 'identity'] },
    ],
    seeds: [1],
  });
  assert.equal(s.size, 4);
  const p = s.scenarioAt(3);
  assert.deepEqual(p.scenario, {
    iommu: { mode: 'identity' },
    importers: [{ device: 'NIC1' }],
    topology: { file: 'b' },
    seed: 1,
  });
  assert.deepEqual(
    s.axes.map((a) => a.name),
    ['machine', 'iommu.mode'],
  );
  assert.throws(
    () =>
      parseSweepFile(
        'kind: dmasim-sweep\nversion: 1\nid: x\nbase: {}\nseeds: [1]\naxes:\n  - path: a\n    set: [{a: 1}]\n',
        'x.yaml',
      ),
    /x\.yaml:\d+:\d+/,
  );
});
