import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isDmasimError } from '../../errors.ts';
import {
  looksLikeNvidiaSmiGpus,
  looksLikeNvidiaSmiTopo,
  parseNvidiaSmiGpus,
  parseNvidiaSmiTopo,
} from './nvidia-smi.ts';

const REAL = new URL('../../../../../../shared/topologies/real/', import.meta.url);
const FIXTURES = new URL('../../../../../test/fixtures/topology/', import.meta.url);
const wrx90Topo = readFileSync(new URL('stelline-puget-wrx90/nvidia-smi-topo.txt', REAL), 'utf8');

function fails(text: string, re: RegExp): void {
  assert.throws(
    () => parseNvidiaSmiTopo(text, 'topo.txt'),
    (e: unknown) => isDmasimError(e) && e.code === 'TOPOLOGY_PARSE' && re.test(e.message),
  );
}

test('the wrx90 matrix (space-aligned, multi-word trailing columns, NIC legend)', () => {
  const t = parseNvidiaSmiTopo(wrx90Topo, 'nvidia-smi-topo.txt').topo!;
  assert.deepEqual(t.labels, ['GPU0', 'GPU1', 'NIC0', 'NIC1']);
  assert.deepEqual(t.cells, [
    ['X', 'PHB', 'NODE', 'NODE'],
    ['PHB', 'X', 'NODE', 'NODE'],
    ['NODE', 'NODE', 'X', 'PIX'],
    ['NODE', 'NODE', 'PIX', 'X'],
  ]);
  assert.deepEqual(t.nicNames, { NIC0: 'mlx5_0', NIC1: 'mlx5_1' });
  assert.deepEqual(t.numaAffinity, { GPU0: '0', GPU1: '0' });
  assert.deepEqual(t.rowLines, [2, 3, 4, 5]);
});

test('the same matrix tab-separated with ANSI escapes reads the same', () => {
  const tabbed = readFileSync(new URL('skylake-2s/nvidia-smi-topo.txt', FIXTURES), 'utf8');
  assert.ok(tabbed.includes('\t') && tabbed.includes('\x1b['));
  const t = parseNvidiaSmiTopo(tabbed, 'tabs.txt').topo!;
  assert.deepEqual(t.labels, ['GPU0', 'NIC0', 'NIC1']);
  assert.deepEqual(t.cells[0], ['X', 'PIX', 'PIX']);
  assert.deepEqual(t.nicNames, { NIC0: 'mlx5_0', NIC1: 'mlx5_1' });
  assert.deepEqual(t.numaAffinity, { GPU0: '0' });
  const converted = wrx90Topo.replace(/ {2,}/g, '\t').replace(/^(\tGPU0.*)$/m, '\x1b[4m$1\x1b[0m');
  assert.deepEqual(
    parseNvidiaSmiTopo(converted, 'c.txt').topo!.cells,
    parseNvidiaSmiTopo(wrx90Topo, 'w.txt').topo!.cells,
  );
});

test('old matrices: NIC device names as columns, SOC, NVLink cells, no trailing columns', () => {
  const old = [
    '\tGPU0\tGPU1\tmlx5_0\tCPU Affinity',
    'GPU0\t X \tNV2\tSOC\t0-11',
    'GPU1\tNV2\t X \tSOC\t0-11',
    'mlx5_0\tSOC\tSOC\t X \t',
  ].join('\n');
  const t = parseNvidiaSmiTopo(old, 'old.txt').topo!;
  assert.deepEqual(t.labels, ['GPU0', 'GPU1', 'mlx5_0']);
  assert.equal(t.cells[0]![1], 'NV2');
  assert.equal(t.cells[2]![0], 'SOC');
  const bare = parseNvidiaSmiTopo('\tGPU0\tGPU1\nGPU0\t X \tSYS\nGPU1\tSYS\t X \n', 'bare.txt').topo!;
  assert.deepEqual(bare.cells, [
    ['X', 'SYS'],
    ['SYS', 'X'],
  ]);
});

test('an asymmetric matrix is reported, not fixed', () => {
  const f = parseNvidiaSmiTopo('\tGPU0\tGPU1\nGPU0\t X \tSYS\nGPU1\tPHB\t X \n', 'asym.txt');
  assert.match(f.warnings.join('\n'), /asym\.txt:3: GPU1-GPU0 is PHB but GPU0-GPU1 is SYS/);
});

test('malformed matrices fail with file:line:col', () => {
  fails('no matrix\n', /^topo\.txt:1:1: expected an nvidia-smi topo -m header/);
  fails(
    '\tGPU0\tGPU1\tCPU Affinity\nGPU0\t X \tPHX\t0-3\nGPU1\tPHB\t X \t0-3\n',
    /^topo\.txt:2:10: expected a link class .* for GPU0-GPU1, found "PHX"/,
  );
  fails('\tGPU0\tGPU1\tCPU Affinity\nGPU0\t X \tPHB\t0-3\n', /^topo\.txt:2: expected a row for GPU1/);
  fails('\tGPU0\tGPU1\tCPU Affinity\nGPU0\t X\n', /^topo\.txt:2:\d+: expected 2 link classes in row GPU0, found 1/);
  fails('\tGPU0\tGPU0\tCPU Affinity\nGPU0\t X \tX\t0\n', /^topo\.txt:1:1: expected distinct column labels/);
});

test('GPU bus ids from plain nvidia-smi, nvidia-smi -q and the csv query', () => {
  const plain = parseNvidiaSmiGpus(
    readFileSync(new URL('stelline-puget-wrx90/nvidia-smi.txt', REAL), 'utf8'),
    'nvidia-smi.txt',
  );
  assert.deepEqual(
    plain.gpus!.map((g) => [g.index, g.bdf, g.name]),
    [
      [0, '0000:c1:00.0', 'NVIDIA RTX 6000 Ada Gene...'],
      [1, '0000:c2:00.0', 'NVIDIA RTX 6000 Ada Gene...'],
    ],
  );
  const q = parseNvidiaSmiGpus(readFileSync(new URL('skylake-2s/nvidia-smi-q.txt', FIXTURES), 'utf8'), 'q.txt');
  assert.deepEqual(
    q.gpus!.map((g) => [g.index, g.bdf]),
    [[0, '0000:19:00.0']],
  );
  const csv = parseNvidiaSmiGpus(
    'index, name, pci.bus_id\n1, NVIDIA H100, 00000000:9A:00.0\n0, NVIDIA H100, 00000000:18:00.0\n',
    'csv.txt',
  );
  assert.deepEqual(
    csv.gpus!.map((g) => [g.index, g.bdf, g.name]),
    [
      [1, '0000:9a:00.0', 'NVIDIA H100'],
      [0, '0000:18:00.0', 'NVIDIA H100'],
    ],
  );
  assert.throws(
    () => parseNvidiaSmiGpus('index, pci.bus_id\n0, 00000000:ZZ:00.0\n', 'bad.txt'),
    (e: unknown) => isDmasimError(e) && /^bad\.txt:2:4: expected a bus id/.test(e.message),
  );
  assert.throws(
    () => parseNvidiaSmiGpus('index, pci.bus_id\n0, 00000000:18:00.0\n0, 00000000:19:00.0\n', 'dup.txt'),
    (e: unknown) => isDmasimError(e) && /^dup\.txt:3:\d+: GPU 0 is listed twice/.test(e.message),
  );
});

test('detection', () => {
  assert.ok(looksLikeNvidiaSmiTopo(wrx90Topo));
  assert.ok(!looksLikeNvidiaSmiTopo(readFileSync(new URL('stelline-puget-wrx90/nvidia-smi.txt', REAL), 'utf8')));
  assert.ok(looksLikeNvidiaSmiGpus(readFileSync(new URL('stelline-puget-wrx90/nvidia-smi.txt', REAL), 'utf8')));
  assert.ok(looksLikeNvidiaSmiGpus(readFileSync(new URL('skylake-2s/nvidia-smi-q.txt', FIXTURES), 'utf8')));
});
