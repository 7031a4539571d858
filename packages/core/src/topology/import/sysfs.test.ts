import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDmasimError } from '../../errors.ts';
import { importTopology } from './import-topology.ts';
import type { SysfsEntry } from './import-types.ts';
import { decodeConfig } from './pci-config.ts';
import { looksLikeSysfs, parseSysfsSnapshot } from './sysfs.ts';

interface ConfigSpec {
  vendor: number;
  device: number;
  classCode: number;
  bridge?: [number, number, number];
  pcieType?: number;
  acsCtrl?: number;
  sriov?: { total: number; num: number; offset: number; stride: number; vfDevice: number };
  size: 64 | 256 | 4096;
}

/** A configuration space dump laid out as the PCI spec says (standard header, PCIe cap at 0x40, ext caps at 0x100). */
function config(c: ConfigSpec): Uint8Array {
  const b = new Uint8Array(4096);
  const w16 = (o: number, v: number): void => {
    b[o] = v & 0xff;
    b[o + 1] = (v >> 8) & 0xff;
  };
  const w32 = (o: number, v: number): void => {
    w16(o, v & 0xffff);
    w16(o + 2, (v >>> 16) & 0xffff);
  };
  w16(0, c.vendor);
  w16(2, c.device);
  w16(6, 0x10);
  b[9] = c.classCode & 0xff;
  b[10] = (c.classCode >> 8) & 0xff;
  b[11] = (c.classCode >> 16) & 0xff;
  b[0x0e] = c.bridge ? 1 : 0;
  if (c.bridge) [b[0x18], b[0x19], b[0x1a]] = c.bridge;
  b[0x34] = 0x40;
  b[0x40] = 0x10;
  b[0x41] = 0;
  w16(0x42, 2 | ((c.pcieType ?? 0) << 4));
  let off = 0x100;
  if (c.acsCtrl !== undefined) {
    w32(off, 0x000d | (1 << 16) | ((c.sriov ? 0x140 : 0) << 20));
    w16(off + 6, c.acsCtrl);
    off = 0x140;
  }
  if (c.sriov) {
    w32(off, 0x0010 | (1 << 16));
    w16(off + 0x0c, c.sriov.total);
    w16(off + 0x0e, c.sriov.total);
    w16(off + 0x10, c.sriov.num);
    w16(off + 0x14, c.sriov.offset);
    w16(off + 0x16, c.sriov.stride);
    w16(off + 0x1a, c.sriov.vfDevice);
  }
  return b.slice(0, c.size);
}

const R = 'sys/devices/pci0000:00';
const RP1 = `${R}/0000:00:01.0`;
const GPU = `${RP1}/0000:01:00.0`;
const RP2 = `${R}/0000:00:02.0`;
const PF = `${RP2}/0000:02:00.0`;
const VF = `${RP2}/0000:02:00.1`;

function snapshot(): Map<string, SysfsEntry> {
  return new Map<string, SysfsEntry>([
    [
      'proc/cpuinfo',
      'processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel name\t: AMD EPYC 9554 64-Core Processor\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\n',
    ],
    ['sys/devices/system/node/node0', ''],
    [`${R}/0000:00:00.0/vendor`, '0x1022\n'],
    [`${R}/0000:00:00.0/device`, '0x14a4\n'],
    [`${R}/0000:00:00.0/class`, '0x060000\n'],
    [
      `${R}/0000:00:00.0/config`,
      config({ vendor: 0x1022, device: 0x14a4, classCode: 0x060000, pcieType: 9, size: 4096 }),
    ],
    [`${R}/0000:00:00.0/numa_node`, '0\n'],
    [
      `${RP1}/config`,
      config({
        vendor: 0x1022,
        device: 0x14a5,
        classCode: 0x060400,
        bridge: [0, 1, 1],
        pcieType: 4,
        acsCtrl: 0x1d,
        size: 4096,
      }),
    ],
    [`${RP1}/iommu_group`, { link: '../../../kernel/iommu_groups/3' }],
    [`${RP1}/driver`, { link: '../../../bus/pci/drivers/pcieport' }],
    [`${RP1}/pci_bus/0000:01`, ''],
    [`${GPU}/vendor`, '0x10de\n'],
    [`${GPU}/device`, '0x2330\n'],
    [`${GPU}/class`, '0x030200\n'],
    [`${GPU}/config`, config({ vendor: 0x10de, device: 0x2330, classCode: 0x030200, size: 256 })],
    [
      `${GPU}/resource`,
      '0x00000000f0000000 0x00000000f0ffffff 0x0000000000040200\n0x0000038000000000 0x00000387ffffffff 0x000000000014220c\n0x0000000000000000 0x0000000000000000 0x0000000000000000\n',
    ],
    [`${GPU}/numa_node`, '0\n'],
    [`${GPU}/dma_mask_bits`, '47\n'],
    [`${GPU}/max_link_speed`, '32.0 GT/s PCIe\n'],
    [`${GPU}/max_link_width`, '16\n'],
    [`${GPU}/current_link_speed`, '2.5 GT/s PCIe\n'],
    [`${GPU}/current_link_width`, '16\n'],
    [`${GPU}/driver`, { link: '../../../../bus/pci/drivers/nvidia' }],
    [`${GPU}/iommu_group`, { link: '../../../../kernel/iommu_groups/4' }],
    [
      `${RP2}/config`,
      config({
        vendor: 0x1022,
        device: 0x14a5,
        classCode: 0x060400,
        bridge: [0, 2, 2],
        pcieType: 4,
        acsCtrl: 0,
        size: 4096,
      }),
    ],
    [`${RP2}/secondary_bus_number`, '2\n'],
    [`${RP2}/subordinate_bus_number`, '2\n'],
    [
      `${PF}/config`,
      config({
        vendor: 0x15b3,
        device: 0x101d,
        classCode: 0x020000,
        pcieType: 0,
        acsCtrl: 0,
        sriov: { total: 8, num: 1, offset: 1, stride: 1, vfDevice: 0x101e },
        size: 4096,
      }),
    ],
    [`${PF}/infiniband/mlx5_0`, ''],
    [`${PF}/net/ens1f0np0`, ''],
    [`${PF}/virtfn0`, { link: '../0000:02:00.1' }],
    [`${PF}/numa_node`, '-1\n'],
    [`${VF}/vendor`, '0x15b3\n'],
    [`${VF}/device`, '0x101e\n'],
    [`${VF}/class`, '0x020000\n'],
    [`${VF}/config`, config({ vendor: 0x15b3, device: 0x101e, classCode: 0x020000, size: 64 })],
    [`${VF}/physfn`, { link: '../0000:02:00.0' }],
    [`${VF}/infiniband/mlx5_1`, ''],
  ]);
}

function fn(frag: ReturnType<typeof parseSysfsSnapshot>, bdf: string) {
  const f = frag.functions.find((x) => x.bdf === bdf);
  assert.ok(f, `${bdf} parsed`);
  return f;
}

test('config space decoding: ids, header, bus numbers, port type, ACS and SR-IOV only when the dump is long enough', () => {
  const full = decodeConfig(
    config({
      vendor: 0x1022,
      device: 0x14a5,
      classCode: 0x060400,
      bridge: [0, 1, 3],
      pcieType: 6,
      acsCtrl: 0x2c,
      size: 4096,
    }),
  );
  assert.deepEqual(full, {
    vendor: 0x1022,
    device: 0x14a5,
    classCode: 0x060400,
    headerType: 1,
    primaryBus: 0,
    secondaryBus: 1,
    subordinateBus: 3,
    type: 'downstream',
    acsCap: true,
    acsCtrl: 0x2c,
  });
  const std = decodeConfig(config({ vendor: 0x10de, device: 1, classCode: 0x030200, pcieType: 0, size: 256 }));
  assert.equal(std.type, 'endpoint');
  assert.equal(std.acsCap, undefined, 'no extended space: ACS unknown');
  const short = decodeConfig(config({ vendor: 0x10de, device: 1, classCode: 0x030200, pcieType: 0, size: 64 }));
  assert.equal(short.type, undefined, 'the PCIe capability is beyond 64 bytes');
  assert.equal(short.vendor, 0x10de);
  const noAcs = decodeConfig(config({ vendor: 0x8086, device: 2, classCode: 0x060000, size: 4096 }));
  assert.deepEqual([noAcs.acsCap, noAcs.acsCtrl], [false, 0]);
  assert.deepEqual(decodeConfig(new Uint8Array(0)), {});
  const loop = config({ vendor: 1, device: 2, classCode: 0, size: 4096 });
  loop[0x41] = 0x40; // capability list pointing at itself
  loop[0x100] = 0x0d;
  loop[0x102] = 0x01;
  loop[0x103] = 0x10; // extended list pointing at itself (0x100)
  assert.equal(decodeConfig(loop).acsCap, true, 'loops end; the capability found is kept');
});

test('a snapshot: hierarchy from directories, config, resource, links, OS names, cpuinfo', () => {
  const s = parseSysfsSnapshot(snapshot(), 'snap');
  assert.deepEqual(
    s.rootBuses.map((r) => [r.segment, r.bus]),
    [[0, 0]],
  );
  assert.deepEqual(s.cpu?.cpu, { vendor: 'amd', family: 25, model: 'AMD EPYC 9554 64-Core Processor' });
  assert.equal(s.onlineCpus, 2);
  assert.equal(s.numaNodes, 1);
  const rp = fn(s, '0000:00:01.0');
  assert.deepEqual(
    [rp.parent, rp.type, rp.acsCap, rp.acsCtrl, rp.secondaryBus, rp.subordinateBus, rp.iommuGroup, rp.driver],
    [null, 'root_port', true, 0x1d, 1, 1, 3, 'pcieport'],
  );
  const gpu = fn(s, '0000:01:00.0');
  assert.equal(gpu.parent, '0000:00:01.0');
  assert.equal(gpu.type, 'endpoint');
  assert.equal(gpu.acsCap, undefined);
  assert.equal(gpu.dmaMask, '0x7fffffffffff');
  assert.equal(gpu.link, '32.0GT/s x16 (running 2.5GT/s x16)');
  assert.deepEqual(gpu.bars, [
    { index: 0, memory: true, is64: false, prefetchable: false, cpuStart: '0xf0000000', length: '0x1000000' },
    { index: 1, memory: true, is64: true, prefetchable: true, cpuStart: '0x38000000000', length: '0x800000000' },
  ]);
  const pf = fn(s, '0000:02:00.0');
  assert.deepEqual(pf.osNames, ['ens1f0np0', 'mlx5_0']);
  assert.equal(pf.numaNode, null);
  assert.deepEqual(pf.sriov, { totalVfs: 8, numVfs: 1, vfOffset: 1, vfStride: 1, vfDevice: 0x101e });
  const vf = fn(s, '0000:02:00.1');
  assert.deepEqual([vf.isVf, vf.physfn, vf.parent], [true, '0000:02:00.0', '0000:00:02.0']);
  assert.ok(looksLikeSysfs(snapshot()));
  assert.ok(!looksLikeSysfs(new Map([['x/y', '']])));
});

test('a snapshot imported alone: the CPU from cpuinfo, VFs, NIC names bound by their infiniband directory', () => {
  const topo =
    '\tGPU0\tNIC0\tNIC1\tCPU Affinity\tNUMA Affinity\nGPU0\t X \tNODE\tNODE\t0-1\t0\nNIC0\tNODE\t X \tPIX\nNIC1\tNODE\tPIX\t X \n\nNIC Legend:\n\n  NIC0: mlx5_1\n  NIC1: mlx5_0\n';
  const r = importTopology([
    { file: 'snap', files: snapshot() },
    { file: 'topo.txt', text: topo },
  ]);
  assert.deepEqual(r.spec.platform.cpu, { vendor: 'amd', family: 25, model: 'AMD EPYC 9554 64-Core Processor' });
  assert.equal(
    r.assumed.find((a) => a.field === 'platform.cpu'),
    undefined,
    'the CPU was read, not assumed',
  );
  const vf = r.spec.functions.find((f) => f.bdf === '0000:02:00.1')!;
  assert.deepEqual([vf.physfn, vf.parent, vf.hostBridge], ['0000:02:00.0', '0000:00:02.0', 0]);
  assert.deepEqual(
    r.labels.map((l) => [l.label, l.bdf, l.how]),
    [
      ['GPU0', '0000:01:00.0', 'inferred: NVIDIA GPU #0 in PCI order'],
      ['NIC0', '0000:02:00.1', 'snap/sys/devices/pci0000:00/0000:00:02.0/0000:02:00.1: OS device mlx5_1'],
      ['NIC1', '0000:02:00.0', 'snap/sys/devices/pci0000:00/0000:00:02.0/0000:02:00.0: OS device mlx5_0'],
    ],
  );
  assert.deepEqual(
    r.spec.functions.map((f) => f.bdf),
    ['0000:00:00.0', '0000:00:01.0', '0000:00:02.0', '0000:01:00.0', '0000:02:00.0', '0000:02:00.1'],
  );
});

test('malformed sysfs files fail naming the file', () => {
  const bad = (path: string, entry: SysfsEntry, re: RegExp): void => {
    const m = snapshot();
    m.set(path, entry);
    assert.throws(
      () => parseSysfsSnapshot(m, 'snap'),
      (e: unknown) => isDmasimError(e) && e.code === 'TOPOLOGY_PARSE' && re.test(e.message),
    );
  };
  bad(
    `${GPU}/vendor`,
    'nvidia\n',
    /^snap\/sys\/devices\/pci0000:00\/0000:00:01\.0\/0000:01:00\.0\/vendor:1:1: expected a hex number like 0x10de/,
  );
  bad(
    `${GPU}/resource`,
    '0x0 0x1 0x200\ngarbage\n',
    /\/resource:2:1: expected '0xSTART 0xEND 0xFLAGS', found "garbage"/,
  );
  bad(`${GPU}/numa_node`, 'zero', /\/numa_node:1:1: expected an integer/);
  bad(`${GPU}/dma_mask_bits`, '65', /\/dma_mask_bits:1:1: expected a bit count 0-64/);
  bad(`${RP2}/secondary_bus_number`, '300', /secondary_bus_number:1:1: expected a bus number 0-255/);
  bad(
    `${GPU}/iommu_group`,
    { link: '../../kernel/iommu_groups/x' },
    /iommu_group: expected a link to kernel\/iommu_groups\/N/,
  );
  bad(`${VF}/physfn`, { link: '../nothing' }, /physfn: expected a link to the PF's directory/);
  assert.throws(
    () => parseSysfsSnapshot(new Map([['sys/devices/pci0000:00/power/control', 'auto']]), 'empty'),
    (e: unknown) => isDmasimError(e) && /^empty: expected a sysfs snapshot with devices\/pciSSSS:BB/.test(e.message),
  );
});
