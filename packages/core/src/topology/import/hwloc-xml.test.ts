import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isDmasimError } from '../../errors.ts';
import { looksLikeHwlocXml, parseHwlocXml } from './hwloc-xml.ts';

const REAL = new URL('../../../../../../shared/topologies/real/', import.meta.url);
const read = (p: string): string => readFileSync(new URL(p, REAL), 'utf8');

function fn(frag: ReturnType<typeof parseHwlocXml>, bdf: string) {
  const f = frag.functions.find((x) => x.bdf === bdf);
  assert.ok(f, `${bdf} parsed`);
  return f;
}

test('HP SL390s G7 (v3 file): two IOH host bridges with their NUMA nodes, root ports, GPUs, OS devices', () => {
  const h = parseHwlocXml(read('hwloc-hp-sl390s-g7/24em64t-2n6c2t-pci.xml'), 'hp.xml');
  assert.equal(h.filtered, true);
  assert.equal(h.hostname, 'mirage004');
  assert.deepEqual(
    h.rootBuses.map((r) => [r.segment, r.bus, r.subordinate, r.numaNode, r.socket]),
    [
      [0, 0x00, 0x0f, 0, 0],
      [0, 0x10, 0x1f, 1, 1],
    ],
  );
  assert.equal(h.numaNodes, 2);
  assert.equal(h.onlineCpus, 24);
  assert.equal(h.functions.length, 15);
  const rp = fn(h, '0000:00:07.0');
  assert.deepEqual(
    [rp.vendor, rp.device, rp.classCode, rp.secondaryBus, rp.subordinateBus, rp.parent],
    [0x8086, 0x340e, 0x060400, 6, 8, null],
  );
  const gpus = h.functions.filter((f) => f.vendor === 0x10de);
  assert.deepEqual(
    gpus.map((g) => [g.bdf, g.parent, g.numaNode]),
    [
      ['0000:06:00.0', '0000:00:07.0', 0],
      ['0000:14:00.0', '0000:10:03.0', 1],
      ['0000:11:00.0', '0000:10:07.0', 1],
    ],
  );
  assert.deepEqual(fn(h, '0000:05:00.0').osNames, ['eth2', 'ib0', 'mlx4_0']);
  assert.equal(fn(h, '0000:04:00.0').name, 'Intel Corporation 82576 Gigabit Network Connection');
  assert.equal(fn(h, '0000:00:01.0').link, '0.4 GB/s');
  assert.equal(h.cpu, undefined, 'the file names no CPU (only Architecture x86_64)');
});

test('IBM POWER8 Minsky: one PCI domain per GPU, a non-x86 CPU, NVML names', () => {
  const p = parseHwlocXml(read('hwloc-ibm-power8-minsky/power8gpudistances.xml'), 'p8.xml');
  assert.deepEqual(
    p.rootBuses.map((r) => r.segment),
    [2, 3, 0xa, 0xb],
  );
  assert.equal(p.functions.length, 8);
  assert.equal(fn(p, '000a:00:00.0').vendor, 0x1014);
  assert.equal(fn(p, '000a:01:00.0').parent, '000a:00:00.0');
  assert.deepEqual(fn(p, '0002:01:00.0').osNames, ['cuda0', 'opencl0d0', 'nvml0']);
  assert.equal(fn(p, '0002:01:00.0').name, 'NVIDIA Corporation Tesla P100-SXM2-16GB', 'named by its CUDA OS device');
  assert.equal(p.cpu?.cpu.vendor, 'other');
  assert.equal(p.cpu?.familyAssumed, undefined);
});

test('Supermicro X9DRG (filtered export): the duplicated ConnectX-4 under the wrong root port is reported and dropped', () => {
  const c = parseHwlocXml(read('hwloc-supermicro-x9drg-conan/32em64t-2n8c2t-pci-normalio.xml'), 'conan.xml');
  assert.equal(c.functions.length, 15);
  assert.equal(fn(c, '0000:04:00.0').vendor, 0x8086, 'the first listing (line 100) stands');
  assert.deepEqual(c.warnings, [
    'conan.xml:247: 0000:04:00.0 is listed again (first at line 100); this listing and what is below it are ignored',
  ]);
  assert.equal(c.cpu?.cpu.vendor, 'intel');
  assert.equal(c.cpu?.familyAssumed, true);
  assert.equal(fn(c, '0000:84:00.1').vendor, 0x1002);
});

test('a v1 file: NUMANode ancestors give the node; CPUVendor/CPUFamilyNumber give the CPU', () => {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE topology SYSTEM "hwloc.dtd">
<topology>
  <object type="Machine" os_index="0">
    <object type="NUMANode" os_index="1">
      <object type="Socket" os_index="1">
        <info name="CPUVendor" value="AuthenticAMD"/>
        <info name="CPUFamilyNumber" value="25"/>
        <info name="CPUModel" value="AMD EPYC 7763 64-Core Processor"/>
      </object>
      <object type="Bridge" os_index="0" bridge_type="0-1" depth="0" bridge_pci="0000:[40-4f]">
        <object type="Bridge" os_index="1" bridge_type="1-1" depth="1" bridge_pci="0000:[41-41]" pci_busid="0000:40:01.1" pci_type="0604 [1022:1483] [0000:0000] 00">
          <object type="PCIDev" os_index="2" pci_busid="0000:41:00.0" pci_type="0302 [10de:20b0] [10de:134f] a1">
            <object type="OSDev" name="nvml1" osdev_type="12"/>
          </object>
        </object>
      </object>
    </object>
  </object>
</topology>
`;
  const v1 = parseHwlocXml(xml, 'v1.xml');
  assert.deepEqual(v1.cpu, {
    cpu: { vendor: 'amd', family: 25, model: 'AMD EPYC 7763 64-Core Processor' },
    evidence: v1.cpu!.evidence,
  });
  assert.equal(fn(v1, '0000:41:00.0').numaNode, 1);
  assert.equal(fn(v1, '0000:41:00.0').classCode, 0x030200);
  assert.equal(v1.rootBuses[0]!.numaNode, 1);
  assert.deepEqual(fn(v1, '0000:41:00.0').osNames, ['nvml1']);
});

test('a device deeper than the secondary bus of its bridge (hwloc dropped the bridges between) is placed later by bus number', () => {
  const xml = `<topology version="2.0"><object type="Machine" nodeset="0x1">
  <object type="Bridge" bridge_type="0-1" bridge_pci="0000:[00-0f]">
    <object type="Bridge" bridge_type="1-1" bridge_pci="0000:[01-05]" pci_busid="0000:00:01.0" pci_type="0604 [8086:2030] [0000:0000] 00 00">
      <object type="PCIDev" pci_busid="0000:03:00.0" pci_type="0200 [15b3:1017] [15b3:0007] 00 00"/>
    </object>
  </object></object></topology>`;
  const f = parseHwlocXml(xml, 'deep.xml');
  assert.equal(fn(f, '0000:03:00.0').parent, undefined);
  assert.equal(fn(f, '0000:03:00.0').numaNode, 0);
});

test('malformed XML and attributes fail with file:line(:col)', () => {
  const bad = (text: string, re: RegExp): void =>
    assert.throws(
      () => parseHwlocXml(text, 'h.xml'),
      (e: unknown) => isDmasimError(e) && e.code === 'TOPOLOGY_PARSE' && re.test(e.message),
    );
  bad('<topology>\n<object type="Machine">\n</topology>', /^h\.xml:3:\d+: not well-formed XML: /);
  bad(
    '<topology>\n  <object type="PCIDev" pci_busid="0000:zz:00.0"/>\n</topology>',
    /^h\.xml:2: expected pci_busid="dddd:bb:dd\.f", found "0000:zz:00\.0"/,
  );
  bad(
    '<topology>\n\n  <object type="Bridge" bridge_type="0-1" bridge_pci="0000:[05-01]"/>\n</topology>',
    /^h\.xml:3: expected a bus range/,
  );
  bad(
    '<topology>\n  <object type="PCIDev" pci_busid="0000:01:00.0" pci_type="junk"/>\n</topology>',
    /^h\.xml:2: expected pci_type=/,
  );
  bad('<topology>\n  <object/>\n</topology>', /^h\.xml:2: expected a type="\.\.\." attribute/);
  bad('<notatopology/>', /^h\.xml:1:1: expected an hwloc <topology> root element/);
});

test('detection', () => {
  assert.ok(looksLikeHwlocXml(read('hwloc-hp-sl390s-g7/24em64t-2n6c2t-pci.xml')));
  assert.ok(looksLikeHwlocXml('<topology version="2.0"></topology>'));
  assert.ok(!looksLikeHwlocXml('<?xml version="1.0"?><svg/>'));
});
