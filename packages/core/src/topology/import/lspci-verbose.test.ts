import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isDmasimError } from '../../errors.ts';
import {
  looksLikeAcsctlOnly,
  looksLikeLspciListing,
  parseAcsFlags,
  parseLspciVerbose,
  parseRegionLine,
} from './lspci-verbose.ts';

const REAL = new URL('../../../../../../shared/topologies/real/', import.meta.url);
const FIXTURES = new URL('../../../../../test/fixtures/topology/', import.meta.url);
const wrx90 = readFileSync(new URL('stelline-puget-wrx90/lspci-vvv.txt', REAL), 'utf8');
const skylake = readFileSync(new URL('skylake-2s/lspci-vvv.txt', FIXTURES), 'utf8');

function fn(frag: ReturnType<typeof parseLspciVerbose>, bdf: string) {
  const f = frag.functions.find((x) => x.bdf === bdf);
  assert.ok(f, `${bdf} parsed`);
  return f;
}

function fails(text: string, re: RegExp): void {
  assert.throws(
    () => parseLspciVerbose(text, 'v.txt'),
    (e: unknown) => isDmasimError(e) && e.code === 'TOPOLOGY_PARSE' && re.test(e.message),
  );
}

test('the wrx90 per-device -vvv blocks inside Markdown: BARs, port types, ACS, SR-IOV, drivers, links', () => {
  const v = parseLspciVerbose(wrx90, 'lspci-vvv.txt');
  assert.deepEqual(
    v.functions.map((f) => f.bdf),
    ['0000:c1:00.0', '0000:c2:00.0', '0000:21:00.0', '0000:11:00.0'],
  );
  const gpu = fn(v, '0000:c1:00.0');
  assert.equal(gpu.vendor, 0x10de);
  assert.equal(gpu.classCode, 0x030000);
  assert.equal(gpu.className, 'VGA compatible controller');
  assert.equal(gpu.type, 'endpoint', 'Legacy Endpoint is a PCIe endpoint');
  assert.equal(gpu.acsCap, false, 'extended capabilities were read and none is ACS');
  assert.equal(gpu.driver, 'nvidia');
  assert.equal(gpu.link, '16GT/s x16 (running 2.5GT/s x16)');
  assert.deepEqual(gpu.bars?.[1], {
    index: 1,
    memory: true,
    is64: true,
    prefetchable: true,
    cpuStart: '0x13000000000',
    length: '0x1000000000',
  });
  assert.deepEqual(
    gpu.bars?.map((b) => [b.index, b.memory]),
    [
      [0, true],
      [1, true],
      [3, true],
      [5, false],
    ],
  );
  const nic = fn(v, '0000:21:00.0');
  assert.equal(nic.acsCap, true);
  assert.equal(nic.acsCtrl, 0);
  assert.deepEqual(nic.sriov, { totalVfs: 16, numVfs: 0, vfOffset: 2, vfStride: 1, vfDevice: 0x101e });
  assert.equal(nic.bars?.length, 1, "the SR-IOV capability's VF BAR is not a BAR of the PF");
  assert.equal(nic.driver, 'mlx5_core');
  assert.match(v.warnings.join('\n'), /18 line\(s\) that are neither lspci device lines/);
});

test('a full lspci -vvv -D -nn listing: bridges, bus numbers, port types, ACS bits, NUMA, IOMMU groups', () => {
  const v = parseLspciVerbose(skylake, 'lspci-vvv.txt');
  assert.equal(v.functions.length, 11);
  const rp = fn(v, '0000:16:00.0');
  assert.deepEqual([rp.vendor, rp.device, rp.classCode], [0x8086, 0x2030, 0x060400]);
  assert.equal(rp.type, 'root_port');
  assert.deepEqual([rp.primaryBus, rp.secondaryBus, rp.subordinateBus], [0x16, 0x17, 0x1a]);
  assert.equal(rp.acsCap, true);
  assert.equal(rp.acsCtrl, 0x01 | 0x04 | 0x08 | 0x10);
  assert.equal(rp.numaNode, 0);
  assert.equal(rp.iommuGroup, 20);
  assert.equal(rp.link, '8GT/s x16');
  assert.equal(fn(v, '0000:17:00.0').type, 'upstream');
  assert.equal(fn(v, '0000:18:08.0').type, 'downstream');
  assert.equal(fn(v, '0000:18:08.0').acsCtrl, 0x1d);
  assert.equal(fn(v, '0000:18:10.0').acsCtrl, 0);
  assert.equal(fn(v, '0000:00:00.0').type, 'rc_endpoint');
  assert.equal(fn(v, '0000:00:1f.0').acsCap, undefined, 'no Capabilities lines: ACS unknown');
  assert.equal(fn(v, '0000:86:00.0').classCode, 0x010802);
  assert.equal(fn(v, '0000:86:00.0').numaNode, 1);
  assert.deepEqual(fn(v, '0000:1a:00.0').sriov, { totalVfs: 8, numVfs: 2, vfOffset: 2, vfStride: 1, vfDevice: 0x1018 });
});

test('plain lspci, lspci -n and lspci -m lines, and access-denied capabilities', () => {
  const v = parseLspciVerbose(
    [
      '00:00.0 Host bridge: Intel Corporation Sky Lake-E DMI3 Registers (rev 04)',
      '17:00.0 0604: 10b5:8747 (rev ca)',
      '18:08.0 "PCI bridge [0604]" "PLX Technology, Inc. [10b5]" "PEX 8747 [8747]" -rca -p00 "" ""',
      '19:00.0 3D controller: NVIDIA Corporation GV100GL [Tesla V100 PCIe 32GB] (rev a1)',
      '\tCapabilities: <access denied>',
      '\tKernel driver in use: nvidia',
    ].join('\n'),
    'plain.txt',
  );
  assert.equal(fn(v, '0000:00:00.0').vendor, 0x8086);
  assert.equal(fn(v, '0000:00:00.0').classCode, 0x060000);
  assert.deepEqual(
    [fn(v, '0000:17:00.0').vendor, fn(v, '0000:17:00.0').device, fn(v, '0000:17:00.0').classCode],
    [0x10b5, 0x8747, 0x060400],
  );
  assert.deepEqual(
    [fn(v, '0000:18:08.0').vendor, fn(v, '0000:18:08.0').device, fn(v, '0000:18:08.0').classCode],
    [0x10b5, 0x8747, 0x060400],
  );
  const gpu = fn(v, '0000:19:00.0');
  assert.equal(gpu.acsCap, undefined, 'capabilities not readable: ACS unknown');
  assert.equal(gpu.type, undefined);
  assert.equal(gpu.driver, 'nvidia');
});

test('lspci -vvv | grep ACSCtl becomes an ACS summary', () => {
  const a = parseLspciVerbose(
    '$ lspci -vvv | grep ACSCtl\n\t\tACSCtl:\tSrcValid- TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd- EgressCtrl- DirectTrans-\n\t\tACSCtl:\tSrcValid- TransBlk- ReqRedir- CmpltRedir- UpstreamFwd- EgressCtrl- DirectTrans-\n',
    'acs.txt',
  );
  assert.equal(a.kind, 'lspci-acsctl');
  assert.deepEqual(a.acsSummary, { lines: 2, redirecting: 1 });
  assert.ok(looksLikeAcsctlOnly(readFileSync(new URL('stelline-puget-wrx90/acs.txt', REAL), 'utf8')));
  assert.ok(!looksLikeAcsctlOnly(skylake));
  assert.ok(looksLikeLspciListing(skylake));
});

test('ACS flags and BAR lines', () => {
  assert.equal(
    parseAcsFlags('ACSCtl: SrcValid+ TransBlk- ReqRedir- CmpltRedir- UpstreamFwd- EgressCtrl+ DirectTrans-', 'f', 1, 1),
    0x21,
  );
  assert.equal(parseRegionLine('Region 0: Memory at <unassigned> (64-bit, prefetchable)', 'f', 1, 1), undefined);
  assert.equal(parseRegionLine('Memory at 90000000 (32-bit, non-prefetchable) [size=1M]', 'f', 1, 1), 'no-index');
  assert.deepEqual(parseRegionLine('Region 2: I/O ports at e000 [size=32]', 'f', 1, 1), {
    index: 2,
    memory: false,
    is64: false,
    prefetchable: false,
    cpuStart: '0xe000',
    length: '0x20',
  });
  assert.equal(
    (
      parseRegionLine('Region 4: [virtual] Memory at 38000000000 (64-bit, prefetchable) [size=2T]', 'f', 1, 1) as {
        length: string;
      }
    ).length,
    '0x20000000000',
  );
});

test('malformed lines dmasim reads fail with file:line:col', () => {
  fails(
    '00:01.0 PCI bridge: Intel Corporation Device 2030\n\tBus: primary=00, secondary=zz\n',
    /^v\.txt:2:2: expected 'Bus: primary=bb, secondary=bb, subordinate=bb'/,
  );
  fails(
    '00:01.0 PCI bridge: Intel Corporation Device 2030\n\tCapabilities: [110 v1] Access Control Services\n\t\tACSCtl:\tSrcValid+\n',
    /^v\.txt:3:3: expected 'ReqRedir\+' or 'ReqRedir-'/,
  );
  fails(
    '00:01.0 PCI bridge: Intel Corporation Device 2030\n\tNUMA node: x\n',
    /^v\.txt:2:13: expected a number after 'NUMA node:'/,
  );
  fails(
    '00:01.0 PCI bridge: Intel Corporation Device 2030\n\tRegion 7: Memory at 0 (32-bit, prefetchable) [size=1M]\n',
    /^v\.txt:2:2: expected a BAR index 0-5/,
  );
  fails(
    '00:01.0 PCI bridge: Intel Corporation Device 2030\n\tRegion 0: Memory at 0 (bogus)\n',
    /^v\.txt:2:2: expected 'Memory at ADDR/,
  );
  fails(
    '00:21.0 PCI bridge: Intel Corporation Device 2030\n',
    /^v\.txt:1:1: expected a device name bb:dd\.f with dd <= 1f/,
  );
  fails('00:01.0 PCI bridge Intel\n', /^v\.txt:1:9: expected 'class: vendor device'/);
  fails('hello\nworld\n', /^v\.txt:1: expected lspci output/);
});
