import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isDmasimError } from '../../errors.ts';
import { looksLikeLspciTree, parseLspciTree } from './lspci-tree.ts';

const REAL = new URL('../../../../../../shared/topologies/real/', import.meta.url);
const wrx90Tree = readFileSync(new URL('stelline-puget-wrx90/lspci.txt', REAL), 'utf8');

function fn(frag: ReturnType<typeof parseLspciTree>, bdf: string) {
  const f = frag.functions.find((x) => x.bdf === bdf);
  assert.ok(f, `${bdf} parsed`);
  return f;
}

function parseFails(text: string, re: RegExp): void {
  assert.throws(
    () => parseLspciTree(text, 't.txt'),
    (e: unknown) => isDmasimError(e) && e.code === 'TOPOLOGY_PARSE' && re.test(e.message),
  );
}

test('the wrx90 tree: four root buses, every function, parents from the drawing', () => {
  const t = parseLspciTree(wrx90Tree, 'lspci.txt');
  assert.equal(t.functions.length, 113);
  assert.deepEqual(
    t.rootBuses.map((r) => [r.segment, r.bus, r.where.line]),
    [
      [0, 0x00, 1],
      [0, 0x20, 36],
      [0, 0xc0, 54],
      [0, 0xe0, 67],
    ],
  );
  assert.deepEqual(t.warnings, []);
  // GPU0 below root port c0:01.1, whose bus range is the single bus c1.
  assert.equal(fn(t, '0000:c1:00.0').parent, '0000:c0:01.1');
  assert.equal(fn(t, '0000:c0:01.1').parent, null);
  assert.equal(fn(t, '0000:c0:01.1').secondaryBus, 0xc1);
  assert.equal(fn(t, '0000:c0:01.1').subordinateBus, 0xc1);
  // A bridge range [01-13] and a chain of single children on one line.
  assert.deepEqual([fn(t, '0000:00:03.1').secondaryBus, fn(t, '0000:00:03.1').subordinateBus], [0x01, 0x13]);
  assert.equal(fn(t, '0000:05:00.0').parent, '0000:04:10.0');
  assert.equal(fn(t, '0000:04:10.0').parent, '0000:03:00.0');
  assert.equal(fn(t, '0000:03:00.0').parent, '0000:02:00.0');
  // Continuation lines at deeper columns return to the right list.
  assert.equal(fn(t, '0000:0b:00.0').parent, '0000:0a:00.0');
  assert.equal(fn(t, '0000:02:1c.0').parent, '0000:01:00.0');
  // Empty bridges ('-[12]--', '-[28-57]--').
  assert.equal(fn(t, '0000:10:15.0').secondaryBus, 0x12);
  assert.equal(t.functions.filter((f) => f.parent === '0000:10:15.0').length, 0);
  assert.deepEqual([fn(t, '0000:23:00.0').secondaryBus, fn(t, '0000:23:00.0').subordinateBus], [0x28, 0x57]);
  // The one-line chain under e0:05.2.
  assert.equal(fn(t, '0000:e2:00.0').parent, '0000:e1:00.0');
  assert.equal(fn(t, '0000:e1:00.0').parent, '0000:e0:05.2');
  // Names give vendor ids (and device ids where pci.ids has none): the AMD host bridge.
  assert.equal(fn(t, '0000:00:00.0').vendor, 0x1022);
  assert.equal(fn(t, '0000:00:00.0').device, 0x14a4);
  assert.equal(fn(t, '0000:c1:00.0').vendor, 0x10de);
  assert.equal(fn(t, '0000:c1:00.0').device, undefined);
  assert.equal(fn(t, '0000:21:00.1').name, 'Mellanox Technologies MT2910 Family [ConnectX-7]');
  assert.equal(fn(t, '0000:00:03.1').name, undefined, 'lspci prints no name for bridges');
});

test('single root bus, single device, -tvnn ids, -tn ids, 5-digit domains', () => {
  const one = parseLspciTree('-[0000:00]---00.0  Intel Corporation Device [8086:2020]\n', 'a.txt');
  assert.equal(one.functions.length, 1);
  assert.equal(one.functions[0]!.vendor, 0x8086);
  assert.equal(one.functions[0]!.device, 0x2020);
  assert.equal(one.functions[0]!.name, 'Intel Corporation Device');
  const vmd = parseLspciTree(
    [
      '-+-[0000:00]-+-00.0  8086:2020',
      ' |           \\-0e.0  8086:28c0',
      ' \\-[10000:e0]-+-17.0-[e1]----00.0  144d:a808',
      '              \\-1d.0-[e2]--',
    ].join('\n'),
    'vmd.txt',
  );
  assert.deepEqual(
    vmd.functions.map((f) => [f.bdf, f.parent]),
    [
      ['0000:00:00.0', null],
      ['0000:00:0e.0', null],
      ['10000:e0:17.0', null],
      ['10000:e1:00.0', '10000:e0:17.0'],
      ['10000:e0:1d.0', null],
    ],
  );
  assert.equal(vmd.functions[3]!.vendor, 0x144d);
  assert.equal(vmd.rootBuses[1]!.segment, 0x10000);
});

test('lspci -tvvv BAR lines attach to the device above them; -tvv ones are counted and ignored', () => {
  const text = [
    '-[0000:00]-+-00.0  Intel Corporation Device 2020',
    '           |   Region 0: Memory at 90000000 (64-bit, prefetchable) [size=16M]',
    '           +-01.0-[01]----00.0  NVIDIA Corporation Device 20b5',
    '           |                      Region 1: Memory at 38000000000 (64-bit, prefetchable) [size=64G]',
    '           |                      Memory at 91000000 (32-bit, non-prefetchable) [size=16M]',
    '           \\-02.0  Intel Corporation Device 2021',
  ].join('\n');
  const t = parseLspciTree(text, 'tvvv.txt');
  assert.deepEqual(fn(t, '0000:01:00.0').bars, [
    { index: 1, memory: true, is64: true, prefetchable: true, cpuStart: '0x38000000000', length: '0x1000000000' },
  ]);
  assert.equal(fn(t, '0000:00:00.0').bars?.[0]?.length, '0x1000000');
  assert.match(t.warnings.join('\n'), /1 BAR line\(s\) without 'Region N:'/);
});

test('a bus listed under a bridge but not its secondary bus is left for the combiner to place', () => {
  const t = parseLspciTree(
    [
      '-[0000:00]-+-00.0',
      '           \\-01.0-[01-05]--+-[0000:01]---00.0',
      `${' '.repeat(27)}\\-[0000:03]---00.0`,
    ].join('\n'),
    'multi.txt',
  );
  assert.equal(fn(t, '0000:01:00.0').parent, '0000:00:01.0');
  assert.equal(fn(t, '0000:03:00.0').parent, undefined);
  assert.match(t.warnings.join('\n'), /bus 0000:03 is listed under bridge 0000:00:01.0/);
  assert.doesNotMatch(t.warnings.join('\n'), /bus 0000:01 /);
});

test('markdown fences and prompts around the tree are skipped with a warning', () => {
  const t = parseLspciTree(
    ['```', '$ lspci -tv', '-[0000:00]---00.0  Intel Corporation Device 2020', '```'].join('\n'),
    'md.txt',
  );
  assert.equal(t.functions.length, 1);
  assert.match(t.warnings[0]!, /3 line\(s\) that are not tree lines/);
});

test('malformed trees fail with file:line:col and what was expected', () => {
  parseFails('-[0000:00]-+-00.0\n   +-01.0\n', /^t\.txt:2:4: a '\+-' at column 4 continues no open list/);
  parseFails(
    '-[0000:00]-+-00.0\n           \\-01.0\n           +-02.0\n',
    /^t\.txt:3:12: the list at column 12 \(line 1\) was already closed/,
  );
  parseFails('-[0000:zz]---00.0\n', /^t\.txt:1:2: expected a bus '\[dddd:bb\]-'/);
  parseFails('-[0000:00]---20.0\n', /^t\.txt:1:14: expected a device number 00-1f/);
  parseFails('-[0000:00]---00.0-[05-03]--\n', /^t\.txt:1:19: expected a bus range with subordinate >= secondary/);
  parseFails('-[0000:00]---00.0 x\n', /^t\.txt:1:18: expected a bus range '-\[bb-bb\]-', two spaces and a name/);
  parseFails('-[0000:00]-+-00.0\n           garbage\n', /^t\.txt:2:12: expected a tree line/);
  parseFails('no tree here\n', /^t\.txt:1: expected lspci -t output/);
  parseFails('', /^t\.txt:1: expected lspci -t output/);
});

test('detection: tree text is recognised, lspci -vvv is not', () => {
  assert.ok(looksLikeLspciTree(wrx90Tree));
  assert.ok(looksLikeLspciTree('-[0000:00]---00.0\n'));
  assert.ok(!looksLikeLspciTree('00:00.0 Host bridge: Intel Corporation Device 2020\n'));
});
