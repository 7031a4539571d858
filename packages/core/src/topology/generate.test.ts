import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isDmasimError } from '../errors.ts';
import { GENERATE_DEFAULTS, type GenerateParams, generateTopology, parseSize } from './generate.ts';
import { buildTopology } from './topology.ts';
import { formatTopology } from './topology-file.ts';

function paramError(p: unknown, re: RegExp): void {
  assert.throws(
    () => generateTopology(p as GenerateParams),
    (e: unknown) => isDmasimError(e) && e.code === ErrorCode.TOPOLOGY_PARAMS_INVALID && re.test(e.message),
  );
}

describe('generateTopology', () => {
  it('is deterministic from the seed', () => {
    const p: GenerateParams = { seed: 11, sockets: 2, switchDepth: 2, switchFanout: 3 };
    assert.equal(formatTopology(generateTopology(p), 'json'), formatTopology(generateTopology(p), 'json'));
    const classes = (s: number) =>
      generateTopology({ ...p, seed: s })
        .functions.map((f) => f.deviceClass)
        .join();
    assert.notEqual(classes(11), classes(12), 'another seed draws another device mix');
  });

  it('builds the shape asked for, with valid bus numbering', () => {
    const spec = generateTopology({
      sockets: 2,
      hostBridgesPerSocket: 2,
      rootPortsPerHostBridge: 3,
      switchDepth: 2,
      switchFanout: 2,
      nicFunctions: 1,
      deviceMix: { nvme: 1 },
    });
    const t = buildTopology(spec);
    assert.equal(t.hostBridges.length, 4);
    const endpoints = t.functions.filter((f) => f.type === 'endpoint');
    assert.equal(endpoints.length, 4 * 3 * 2 * 2, 'one device at every leaf port');
    for (const e of endpoints) {
      assert.equal(e.depth, 1 + 2 * 2, 'root port + two switch levels (USP + DSP each)');
      assert.equal(e.deviceClass, 'nvme');
    }
    assert.deepEqual(
      t.functions.filter((f) => f.type === 'root_port').map((f) => f.bdf.slice(-4)),
      Array(4).fill(['01.0', '02.0', '03.0']).flat(),
    );
    assert.equal(t.firstFunctionOfRootBus(0)?.bdf, '0000:00:00.0');
    assert.equal(t.platform.numaNodes, 2);
    assert.deepEqual(
      t.hostBridges.map((h) => [h.numaNode, h.socket]),
      [
        [0, 0],
        [0, 0],
        [1, 1],
        [1, 1],
      ],
    );
  });

  it('keeps enumeration order: sorted by segment, bus, devfn, VFs after the PFs of their bus', () => {
    const spec = generateTopology({
      sockets: 1,
      rootPortsPerHostBridge: 2,
      switchDepth: 0,
      deviceMix: { nic: 1 },
      sriovVfs: 3,
    });
    const key = (b: string) => {
      const [s, bus, df] = [b.slice(0, 4), b.slice(5, 7), b.slice(8)];
      return `${s}${bus}${df}`;
    };
    const bdfs = spec.functions.map((f) => f.bdf);
    assert.deepEqual(
      bdfs,
      [...bdfs].sort((a, b) => (key(a) < key(b) ? -1 : 1)),
    );
    const bus1 = spec.functions.filter((f) => f.bdf.startsWith('0000:01:'));
    assert.deepEqual(
      bus1.map((f) => (f.physfn === null ? 'PF' : 'VF')),
      ['PF', 'PF', 'VF', 'VF', 'VF', 'VF', 'VF', 'VF'],
    );
    assert.ok(buildTopology(spec).get('0000:01:00.2').isVirtfn);
  });

  it('fills only `devices` leaf ports and rejects more than fit', () => {
    const spec = generateTopology({
      sockets: 1,
      rootPortsPerHostBridge: 2,
      switchDepth: 1,
      switchFanout: 4,
      devices: 5,
    });
    assert.equal(
      spec.functions.filter((f) => f.type === 'endpoint' && f.physfn === null && f.bdf.endsWith('.0')).length,
      5,
    );
    paramError(
      { sockets: 1, rootPortsPerHostBridge: 2, switchDepth: 1, switchFanout: 4, devices: 9 },
      /9 devices do not fit 8 leaf ports/,
    );
  });

  it('places BARs naturally aligned, without overlap, inside their host-bridge windows', () => {
    const spec = generateTopology({
      sockets: 2,
      hostBridgesPerSocket: 2,
      switchDepth: 1,
      switchFanout: 4,
      sriovVfs: 1,
    });
    const t = buildTopology(spec);
    const all: [bigint, bigint, string][] = [];
    for (const f of t.functions) {
      for (const b of f.bars) {
        assert.equal(b.cpuStart % b.length, 0n, `${f.bdf} BAR ${b.index} aligned`);
        const w = f.hostBridge.windows.find((x) => x.cpuStart <= b.cpuStart && b.cpuEnd <= x.cpuEnd);
        assert.ok(w, `${f.bdf} BAR ${b.index} inside a window of ${f.hostBridge.name}`);
        if (!b.is64) assert.ok(b.cpuEnd < 1n << 32n, '32-bit BARs below 4 GiB');
        all.push([b.cpuStart, b.cpuEnd, `${f.bdf}/${b.index}`]);
      }
    }
    all.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    for (let i = 1; i < all.length; i++)
      assert.ok(
        (all[i - 1] as [bigint, bigint, string])[1] < (all[i] as [bigint, bigint, string])[0],
        `overlap at ${all[i]?.[2]}`,
      );
    const gpu = t.functions.find((f) => f.deviceClass === 'gpu');
    assert.equal(gpu?.resources[1]?.length, 32n << 30n, 'GPU BAR1 default 32 GiB');
    assert.equal(
      gpu?.resources[1]?.cpuStart !== undefined && gpu.resources[1].cpuStart >= 0x380000000000n,
      true,
      'Intel-like 64-bit windows',
    );
    const amd = buildTopology(generateTopology({ cpu: 'amd:0x19', sockets: 1 }));
    assert.equal(amd.hostBridges[0]?.windows[1]?.cpuStart, 0x10000000000n, 'AMD-like 64-bit windows');
    assert.equal(amd.firstFunctionOfRootBus(0)?.vendor, 0x1022);
  });

  it('derives bus addresses through a window offset when asked', () => {
    const t = buildTopology(generateTopology({ sockets: 1, mmio64Offset: '0x300000000000' }));
    const bar = t.functions.find((f) => f.deviceClass === 'gpu')?.resources[1];
    assert.ok(bar);
    assert.equal(bar.busStart, bar.cpuStart - 0x300000000000n);
  });

  it('applies the ACS policy to root and downstream ports', () => {
    const ports = (p: GenerateParams) =>
      generateTopology({ sockets: 1, ...p })
        .functions.filter((f) => f.type === 'root_port' || f.type === 'downstream')
        .map((f) => f.acsCtrl);
    assert.ok(
      ports({}).every((c) => c === 0x1d),
      'IOMMU on: kernel default SV|RR|CR|UF',
    );
    assert.ok(
      ports({ iommu: 'off' }).every((c) => c === 0),
      'IOMMU off: no ACS',
    );
    const r = ports({ acs: 'random', acsRandomPercent: 50, switchFanout: 8, rootPortsPerHostBridge: 8 });
    assert.ok(r.some((c) => c === 0x0c) && r.some((c) => c === 0), 'random: some ports redirect, some do not');
  });

  it('groups devices per ACS isolation', () => {
    const groups = (p: GenerateParams) => {
      const t = buildTopology(
        generateTopology({
          sockets: 1,
          rootPortsPerHostBridge: 2,
          switchDepth: 1,
          switchFanout: 2,
          deviceMix: { nic: 1 },
          ...p,
        }),
      );
      const m = new Map(t.functions.map((f) => [f.bdf, f.iommuGroup]));
      for (const b of ['0000:00:01.0', '0000:03:00.0', '0000:03:00.1', '0000:04:00.0', '0000:07:00.0'])
        assert.ok(m.has(b), b);
      return m;
    };
    const iso = groups({});
    assert.equal(
      iso.get('0000:03:00.0'),
      iso.get('0000:03:00.1'),
      'functions of one NIC without ACS control share a group',
    );
    assert.notEqual(iso.get('0000:03:00.0'), iso.get('0000:04:00.0'), 'ACS-isolated downstream ports separate devices');
    const open = groups({ acs: 'off', iommu: 'lazy' });
    assert.equal(
      open.get('0000:03:00.0'),
      open.get('0000:04:00.0'),
      'without ACS, devices below one root port share its group',
    );
    assert.equal(open.get('0000:03:00.0'), open.get('0000:00:01.0'));
    assert.notEqual(open.get('0000:03:00.0'), open.get('0000:07:00.0'), 'another root port, another group');
    const none = groups({ iommu: 'off' });
    assert.equal(none.get('0000:03:00.0'), null, 'no IOMMU, no groups');
  });

  it('validates parameters with clear errors', () => {
    paramError({ sockets: 0 }, /sockets: expected an integer 1\.\.64, found 0/);
    paramError({ switchFanout: 40 }, /switchFanout: expected an integer 1\.\.32/);
    paramError({ deviceMix: { fpga: 1 } }, /deviceMix\.fpga: unknown device class/);
    paramError({ deviceMix: { gpu: 0 } }, /at least one weight must be positive/);
    paramError({ barSizes: { gpu: '3G' } }, /barSizes\.gpu: expected a power-of-two size/);
    paramError({ cpu: 'arm:8' }, /cpu: expected vendor:family/);
    paramError({ iommu: 'on' }, /iommu: expected off, pt, strict or lazy/);
    paramError({ colour: 'red' }, /colour: unknown parameter/);
    paramError(
      { switchDepth: 3, switchFanout: 8, rootPortsPerHostBridge: 4 },
      /needs \d+ bus numbers, more than a segment's 256/,
    );
    paramError(
      { sockets: 8, hostBridgesPerSocket: 8, rootPortsPerHostBridge: 8, switchFanout: 8 },
      /32-bit window of host bridge \d+ .* is full/,
    );
    assert.equal(GENERATE_DEFAULTS.sockets, 2);
  });

  it('parses sizes', () => {
    assert.equal(parseSize('64G'), 64n << 30n);
    assert.equal(parseSize('16KiB'), 16n << 10n);
    assert.equal(parseSize('0x1000'), 4096n);
    assert.equal(parseSize('12 G'), null);
  });

  it('spreads host bridges over segments when a segment runs out of bus numbers', () => {
    const t = buildTopology(
      generateTopology({ sockets: 4, rootPortsPerHostBridge: 8, switchDepth: 1, switchFanout: 16, bar32: false }),
    );
    const segs = new Set(t.hostBridges.map((h) => h.segment));
    assert.ok(segs.size > 1);
    for (const h of t.hostBridges) assert.equal(h.bus.isRoot, true);
  });
});
