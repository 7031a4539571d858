import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isDmasimError } from '../../errors.ts';
import { buildTopology } from '../topology.ts';
import { detectKind } from './detect.ts';
import {
  importTopology,
  parseAcsDefaultOption,
  parseCpuOption,
  parseHostBridgeIdOption,
  parseLabelOption,
  parseNumaNodeOption,
} from './import-topology.ts';
import type { ImportInput } from './import-types.ts';

const REAL = new URL('../../../../../../shared/topologies/real/', import.meta.url);
const FIXTURES = new URL('../../../../../test/fixtures/topology/', import.meta.url);
const input = (base: URL, path: string): ImportInput => ({
  file: path,
  text: readFileSync(new URL(path, base), 'utf8'),
});
const wrx90 = ['lspci.txt', 'lspci-vvv.txt', 'acs.txt', 'nvidia-smi.txt', 'nvidia-smi-topo.txt'].map((f) =>
  input(REAL, `stelline-puget-wrx90/${f}`),
);
const hp = [input(REAL, 'hwloc-hp-sl390s-g7/24em64t-2n6c2t-pci.xml')];
const skylakeVvv = input(FIXTURES, 'skylake-2s/lspci-vvv.txt');

const fn = (r: ReturnType<typeof importTopology>, bdf: string) => {
  const f = r.spec.functions.find((x) => x.bdf === bdf);
  assert.ok(f, `${bdf} present`);
  return f;
};

test('kinds are detected from content', () => {
  assert.deepEqual(
    wrx90.map((i) => detectKind(i.text!)),
    ['lspci-tree', 'lspci-verbose', 'lspci-acsctl', 'nvidia-smi-gpus', 'nvidia-smi-topo'],
  );
  assert.equal(detectKind(hp[0]!.text!), 'hwloc-xml');
  assert.equal(detectKind('just words'), undefined);
  assert.throws(
    () => importTopology([{ file: 'x.txt', text: 'just words\n' }]),
    (e: unknown) =>
      isDmasimError(e) &&
      e.code === 'TOPOLOGY_PARSE' &&
      /^x\.txt:1:1: expected lspci \(-t or -vvv\), hwloc XML or nvidia-smi output, found "just words"/.test(e.message),
  );
});

test('wrx90 from its five files: one machine, details merged, facts assumed and said so', () => {
  const r = importTopology(wrx90);
  assert.equal(r.spec.id, 'stelline-puget-wrx90');
  assert.deepEqual(
    r.spec.hostBridges.map((h) => [h.segment, h.rootBus]),
    [
      [0, 0x00],
      [0, 0x20],
      [0, 0xc0],
      [0, 0xe0],
    ],
  );
  assert.equal(r.spec.functions.length, 113);
  assert.deepEqual(r.spec.platform.cpu, { vendor: 'amd', family: 0x19 });
  const cpu = r.assumed.find((a) => a.field === 'platform.cpu');
  assert.match(cpu!.why, /host bridge 0000:00:00\.0 is 1022:14a4, an AMD root complex of family 0x19/);
  assert.equal(cpu!.flag, '--cpu vendor:family');
  // Details from -vvv on top of the tree.
  const gpu = fn(r, '0000:c1:00.0');
  assert.deepEqual(
    [gpu.parent, gpu.type, gpu.driver, gpu.classCode, gpu.label, gpu.deviceClass, gpu.numaNode],
    ['0000:c0:01.1', 'endpoint', 'nvidia', '0x030000', 'GPU0', 'gpu', 0],
  );
  assert.equal(gpu.bars?.find((b) => b.index === 1)?.length, '0x1000000000');
  assert.deepEqual([fn(r, '0000:21:00.0').acsCap, fn(r, '0000:21:00.0').acsCtrl], [true, 0]);
  assert.deepEqual([fn(r, '0000:c0:01.1').type, fn(r, '0000:c0:01.1').acsCap], ['root_port', false]);
  // acs.txt shows every ACSCtl register without redirect bits: no ACS assumption, a note instead.
  assert.equal(
    r.assumed.find((a) => a.field === 'acsCtrl'),
    undefined,
  );
  assert.match(
    r.warnings.join('\n'),
    /acs\.txt show 26 ACSCtl registers and none has ReqRedir, CmpltRedir or EgressCtrl set/,
  );
  assert.deepEqual(
    r.labels.map((l) => [l.label, l.bdf]),
    [
      ['GPU0', '0000:c1:00.0'],
      ['GPU1', '0000:c2:00.0'],
      ['NIC0', '0000:21:00.0'],
      ['NIC1', '0000:21:00.1'],
    ],
  );
  assert.ok(r.assumed.some((a) => a.field === 'label NIC0' && a.flag === '--label NIC0=ssss:bb:dd.f'));
  assert.equal(r.spec.hostBridges[2]!.numaNode, 0, 'the GPUs NUMA affinity 0 holds for their host bridge');
  assert.deepEqual(r.spec.assumed, r.assumed);
  assert.equal(buildTopology(r.spec).functions.length, 113);
});

test('without acs.txt the ACS default is an assumption with its flag; --acs-default on sets root and downstream ports', () => {
  const noAcs = importTopology(wrx90.filter((i) => !i.file.endsWith('acs.txt')));
  const acs = noAcs.assumed.find((a) => a.field === 'acsCtrl');
  assert.equal(acs?.value, 'off: no ACS capability');
  assert.equal(acs?.flag, '--acs-default off|on');
  const on = importTopology(
    wrx90.filter((i) => !i.file.endsWith('acs.txt')),
    { acsDefault: 'on' },
  );
  assert.deepEqual([fn(on, '0000:c0:01.1').acsCap, fn(on, '0000:c0:01.1').acsCtrl], [true, 0x1d]);
  assert.deepEqual([fn(on, '0000:02:00.0').type, fn(on, '0000:02:00.0').acsCtrl], ['downstream', 0x1d]);
  assert.deepEqual([fn(on, '0000:01:00.0').type, fn(on, '0000:01:00.0').acsCap], ['upstream', false]);
  assert.deepEqual(
    [fn(on, '0000:21:00.0').acsCap, fn(on, '0000:21:00.0').acsCtrl],
    [true, 0],
    'read from -vvv, not defaulted',
  );
  assert.match(on.assumed.find((a) => a.field === 'acsCtrl')!.value, /^on: 33 root and downstream ports/);
});

test('lspci -vvv alone rebuilds the tree from bus numbers (root buses, switch, VFs from SR-IOV)', () => {
  const r = importTopology([skylakeVvv]);
  assert.deepEqual(
    r.spec.hostBridges.map((h) => [h.rootBus, h.numaNode]),
    [
      [0x00, 0],
      [0x16, 0],
      [0x85, 1],
    ],
  );
  assert.equal(fn(r, '0000:19:00.0').parent, '0000:18:08.0');
  assert.equal(fn(r, '0000:18:08.0').parent, '0000:17:00.0');
  assert.equal(fn(r, '0000:17:00.0').parent, '0000:16:00.0');
  assert.equal(fn(r, '0000:16:00.0').parent, null);
  assert.equal(fn(r, '0000:86:00.0').hostBridge, 2);
  // 2 VFs enabled: 1a:00.2 is listed, 1a:00.3 is added; both carry the PF's parent and come after the PF.
  assert.deepEqual([fn(r, '0000:1a:00.2').physfn, fn(r, '0000:1a:00.2').parent], ['0000:1a:00.0', '0000:18:10.0']);
  assert.deepEqual([fn(r, '0000:1a:00.3').physfn, fn(r, '0000:1a:00.3').device], ['0000:1a:00.0', '0x1018']);
  const bus1a = r.spec.functions.filter((f) => f.bdf.startsWith('0000:1a:')).map((f) => f.bdf);
  assert.deepEqual(bus1a, ['0000:1a:00.0', '0000:1a:00.2', '0000:1a:00.3']);
  assert.match(r.warnings.join('\n'), /root buses 0000:00, 0000:16, 0000:85: no input names them/);
  assert.match(
    r.warnings.join('\n'),
    /0000:1a:00\.0 has 2 VFs enabled \(SR-IOV capability\); 1 not listed in the data were added/,
  );
  assert.deepEqual(r.spec.platform.cpu, { vendor: 'intel', family: 6 });
  assert.equal(r.spec.platform.numaNodes, 2);
  assert.ok(r.assumed.some((a) => a.field === 'platform.numaNodes' && a.value === '2'));
  buildTopology(r.spec);
});

test('sources disagreeing on a fact: the more trusted one is kept and the difference reported', () => {
  const tree = {
    file: 'tree.txt',
    text: '-[0000:00]-+-00.0  Intel Corporation Device 2020\n           \\-01.0-[01]----00.0  NVIDIA Corporation Device 2330\n',
  };
  const vvv = {
    file: 'vvv.txt',
    text: '00:00.0 Host bridge: Intel Corporation Device 2021\n01:00.0 3D controller: NVIDIA Corporation Device 2330\n',
  };
  const r = importTopology([tree, vvv]);
  assert.equal(fn(r, '0000:00:00.0').device, '0x2021');
  assert.match(
    r.warnings.join('\n'),
    /0000:00:00\.0: device is 0x2021 in vvv\.txt but 0x2020 in tree\.txt; the first is kept/,
  );
  assert.equal(fn(r, '0000:01:00.0').classCode, '0x030200');
});

test('hwloc data: the missing 00.0 host-bridge function is an assumption; --host-bridge-id adds it first on its root bus', () => {
  const r = importTopology(hp);
  const a = r.assumed.find((x) => x.field === 'hostBridges[0].id');
  assert.ok(a);
  assert.equal(a.value, '0000:00:01.0 8086:3408 (root_port)');
  assert.equal(a.flag, '--host-bridge-id 0000:00=vvvv:dddd');
  assert.deepEqual(r.spec.platform.cpu, { vendor: 'intel', family: 6 });
  assert.equal(r.spec.id, 'mirage004');
  const set = importTopology(hp, { hostBridgeIds: [parseHostBridgeIdOption('0000:00=8086:3406')] });
  const first = set.spec.functions.find((f) => f.hostBridge === 0)!;
  assert.deepEqual([first.bdf, first.vendor, first.device, first.parent], ['0000:00:00.0', '0x8086', '0x3406', null]);
  assert.equal(set.assumed.find((x) => x.field === 'hostBridges[0].id')?.why, 'set by --host-bridge-id (0000:00:00.0)');
  assert.ok(
    set.assumed.some((x) => x.field === 'hostBridges[1].id' && x.value.startsWith('0000:10:03.0')),
    'the other root bus keeps its note',
  );
  const t = buildTopology(set.spec);
  assert.equal(t.hostBridges[0]!.firstFunction?.bdf, '0000:00:00.0');
});

test('--cpu and --label win over the data and are recorded', () => {
  const r = importTopology(wrx90, { cpu: parseCpuOption('intel:6'), labels: { NIC0: '0000:21:00.1' } });
  assert.deepEqual(r.spec.platform.cpu, { vendor: 'intel', family: 6 });
  assert.deepEqual(
    r.assumed.find((a) => a.field === 'platform.cpu'),
    { field: 'platform.cpu', value: 'intel:0x6', why: 'set by --cpu', flag: '--cpu intel:0x6' },
  );
  assert.equal(r.labels.find((l) => l.label === 'NIC0')?.bdf, '0000:21:00.1');
  assert.equal(r.labels.find((l) => l.label === 'NIC0')?.how, '--label');
  assert.throws(
    () => importTopology(wrx90, { labels: { NIC0: '0000:99:00.0' } }),
    (e: unknown) => isDmasimError(e) && e.code === 'DEVICE_NOT_FOUND',
  );
});

test('nvidia-smi alone holds no PCI function', () => {
  assert.throws(
    () => importTopology([wrx90[4]!]),
    (e: unknown) => isDmasimError(e) && e.code === 'TOPOLOGY_INVALID' && /no PCI functions/.test(e.message),
  );
  assert.throws(
    () => importTopology([]),
    (e: unknown) => isDmasimError(e) && e.code === 'INVALID_ARGUMENT',
  );
});

test('the CPU deduced from host-bridge vendors', () => {
  const one = (id: string) => importTopology([{ file: 'm/lspci.txt', text: `-[0000:00]---00.0  ${id}\n` }]);
  assert.deepEqual(one('1022:1480').spec.platform.cpu, { vendor: 'amd', family: 0x17 });
  assert.deepEqual(one('1022:153a').spec.platform.cpu, { vendor: 'amd', family: 0x1a });
  const unknownAmd = one('1022:9999');
  assert.deepEqual(unknownAmd.spec.platform.cpu, { vendor: 'amd', family: 0x17 });
  assert.match(
    unknownAmd.assumed.find((a) => a.field === 'platform.cpu')!.why,
    /not a root complex dmasim knows; .* 0x17 assumed/,
  );
  assert.deepEqual(one('1d94:1450').spec.platform.cpu, { vendor: 'hygon', family: 0x18 });
  assert.deepEqual(one('1014:03dc').spec.platform.cpu, { vendor: 'other', family: 0 });
  assert.deepEqual(one('1af4:1234').spec.platform.cpu, { vendor: 'intel', family: 6 });
  assert.equal(one('1af4:1234').spec.id, 'm');
});

test('option parsers', () => {
  assert.deepEqual(parseCpuOption('amd:0x19'), { vendor: 'amd', family: 0x19 });
  assert.deepEqual(parseCpuOption('AMD:25'), { vendor: 'amd', family: 25 });
  assert.deepEqual(parseCpuOption('intel'), { vendor: 'intel', family: 6 });
  assert.deepEqual(parseHostBridgeIdOption('8086:2020'), { vendor: 0x8086, device: 0x2020 });
  assert.deepEqual(parseHostBridgeIdOption('80=8086:2020'), {
    segment: 0,
    rootBus: 0x80,
    vendor: 0x8086,
    device: 0x2020,
  });
  assert.deepEqual(parseHostBridgeIdOption('0001:00=1d17:1003'), {
    segment: 1,
    rootBus: 0,
    vendor: 0x1d17,
    device: 0x1003,
  });
  assert.equal(parseAcsDefaultOption('ON'), 'on');
  assert.deepEqual(parseLabelOption('NIC0=21:00.1'), { label: 'NIC0', bdf: '0000:21:00.1' });
  for (const [f, v] of [
    [parseCpuOption, 'arm:1'],
    [parseCpuOption, 'amd:0x100'],
    [parseHostBridgeIdOption, '8086-2020'],
    [parseAcsDefaultOption, 'maybe'],
    [parseLabelOption, 'NIC0'],
    [parseLabelOption, 'NIC0=zz'],
  ] as const) {
    assert.throws(
      () => (f as (s: string) => unknown)(v),
      (e: unknown) => isDmasimError(e) && e.code === 'TOPOLOGY_PARAMS_INVALID' && e.message.includes(JSON.stringify(v)),
    );
  }
});

test('NUMA nodes: nvidia-smi affinity for GPUs, host bridges between known ones of one node, --numa-node; Intel ids from names', () => {
  const tree = [
    '-+-[0000:00]-+-00.0  Intel Corporation Sky Lake-E DMI3 Registers',
    ' |           \\-1f.0  Intel Corporation C620 Series Chipset Family LPC Controller',
    ' +-[0000:17]---00.0-[18]----00.0  NVIDIA Corporation GV100GL [Tesla V100 SXM2 32GB]',
    ' +-[0000:3a]---00.0-[3b]----00.0  Mellanox Technologies MT28800 Family [ConnectX-5 Ex]',
    ' +-[0000:85]---00.0-[86]----00.0  NVIDIA Corporation GV100GL [Tesla V100 SXM2 32GB]',
    ' \\-[0000:ae]---00.0-[af]----00.0  Mellanox Technologies MT28800 Family [ConnectX-5 Ex]',
  ].join('\n');
  const gpus = 'index, pci.bus_id\n0, 00000000:18:00.0\n1, 00000000:86:00.0\n';
  const topo = '\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\nGPU0\t X \tSYS\t0-19\t0\nGPU1\tSYS\t X \t20-39\t1\n';
  const inputs = [
    { file: 'm/lspci.txt', text: tree },
    { file: 'm/nvidia-smi.csv', text: gpus },
    { file: 'm/nvidia-smi-topo.txt', text: topo },
  ];
  const r = importTopology(inputs);
  assert.equal(fn(r, '0000:00:00.0').device, '0x2020', 'pci.ids name of a whitelisted host bridge');
  assert.deepEqual(
    r.spec.hostBridges.map((h) => [h.rootBus, h.numaNode]),
    [
      [0x00, 0],
      [0x17, 0],
      [0x3a, undefined],
      [0x85, 1],
      [0xae, 1],
    ],
  );
  assert.equal(r.spec.platform.numaNodes, 2);
  assert.deepEqual(r.assumed.find((a) => a.field === 'hostBridges[].numaNode')?.value, '0000:00=0, 0000:ae=1');
  assert.equal(fn(r, '0000:af:00.0').numaNode, 1);
  assert.equal(fn(r, '0000:3b:00.0').numaNode, undefined, 'between node 0 and node 1: left unknown');
  const set = importTopology(inputs, { hostBridgeNuma: [parseNumaNodeOption('0000:3a=0')] });
  assert.equal(set.spec.hostBridges[2]!.numaNode, 0);
  assert.equal(fn(set, '0000:3b:00.0').numaNode, 0);
  assert.ok(set.assumed.some((a) => a.field === 'hostBridges[2].numaNode' && a.why === 'set by --numa-node'));
  assert.deepEqual(parseNumaNodeOption('80=1'), { segment: 0, rootBus: 0x80, node: 1 });
  assert.throws(
    () => parseNumaNodeOption('80'),
    (e: unknown) => isDmasimError(e) && e.code === 'TOPOLOGY_PARAMS_INVALID',
  );
});

test('lspci -tv names: Sky Lake-E root ports standing first on a stack get their whitelisted ids; AMD root complexes their family', () => {
  const skl = importTopology([
    {
      file: 'skl/lspci.txt',
      text: [
        '-+-[0000:00]-+-00.0  Intel Corporation Sky Lake-E DMI3 Registers',
        ' |           \\-05.0  Intel Corporation Sky Lake-E VT-d',
        ' +-[0000:17]-+-00.0-[18]----00.0  NVIDIA Corporation GV100GL [Tesla V100 SXM2 32GB]',
        ' |           \\-05.0  Intel Corporation Sky Lake-E VT-d',
        ' \\-[0000:3a]-+-02.0-[3b]----00.0  Mellanox Technologies MT28800 Family [ConnectX-5 Ex]',
        '             \\-05.0  Intel Corporation Sky Lake-E VT-d',
      ].join('\n'),
    },
  ]);
  assert.deepEqual([fn(skl, '0000:17:00.0').vendor, fn(skl, '0000:17:00.0').device], ['0x8086', '0x2030']);
  assert.deepEqual([fn(skl, '0000:3a:02.0').vendor, fn(skl, '0000:3a:02.0').device], ['0x8086', '0x2032']);
  assert.equal(
    skl.assumed.find((a) => a.field === 'hostBridges[].id')?.value,
    '0000:17:00.0=8086:2030, 0000:3a:02.0=8086:2032',
  );
  const t = skl.topology;
  assert.equal(t.hostBridges[1]!.firstFunction?.isRootPort, true);
  const amd = importTopology([
    {
      file: 'rome/lspci.txt',
      text: '-[0000:00]---00.0  Advanced Micro Devices, Inc. [AMD] Starship/Matisse Root Complex\n',
    },
  ]);
  assert.equal(fn(amd, '0000:00:00.0').device, '0x1480');
  assert.match(
    amd.assumed.find((a) => a.field === 'platform.cpu')!.why,
    /1022:1480, an AMD root complex of family 0x17 parts/,
  );
});
