import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, isDmasimError } from '../errors.ts';
import { formatBdf, parseBdf } from './bdf.ts';
import { parseHexU16, parseHexU64 } from './hex.ts';
import { referenceT1Spec, T1 } from './reference-t1.ts';
import { buildTopology, IORESOURCE_MEM, IORESOURCE_MEM_64, IORESOURCE_PREFETCH, toSpec } from './topology.ts';
import type { FunctionSpec, TopologySpec } from './topology-spec.ts';

function names(fns: readonly { bdf: string }[]): string[] {
  return fns.map((f) => f.bdf);
}

/** Asserts that `fn` throws TOPOLOGY_INVALID whose message names `file` and `field` and matches `re`. */
function assertInvalid(fn: () => unknown, field: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isDmasimError(e), `not a DmasimError: ${String(e)}`);
    assert.equal(e.code, ErrorCode.TOPOLOGY_INVALID);
    assert.ok(e.message.startsWith(`t.json (${field}): `), `message "${e.message}" does not name t.json (${field})`);
    assert.match(e.message, re);
    return true;
  });
}

function mutate(f: (s: TopologySpec) => void): TopologySpec {
  const s = referenceT1Spec();
  f(s);
  return s;
}

function fnAt(s: TopologySpec, bdf: string): FunctionSpec {
  const f = s.functions.find((x) => x.bdf === bdf);
  assert.ok(f);
  return f;
}

describe('bdf', () => {
  it('parses and formats kernel names', () => {
    assert.deepEqual(parseBdf('0001:81:1f.7'), { segment: 1, bus: 0x81, slot: 0x1f, func: 7, devfn: 0xff });
    assert.equal(formatBdf(1, 0x81, 0xff), '0001:81:1f.7');
    assert.equal(formatBdf(0x10000, 0, 8), '10000:00:01.0');
    assert.deepEqual(parseBdf('10000:00:01.0')?.segment, 0x10000);
    for (const bad of ['0000:00:20.0', '0000:0:00.0', '0000:00:00.8', '0000:00:0A.0', '00000:00:00.0', 'x']) {
      assert.equal(parseBdf(bad), null, bad);
    }
  });

  it('accepts exactly what the regular expression of pci_name() output accepts (property)', () => {
    const re = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;
    const reference = (s: string) => {
      const m = re.exec(s);
      if (!m || ((m[1] as string).length > 4 && (m[1] as string).startsWith('0'))) return null;
      const slot = Number.parseInt(m[3] as string, 16);
      if (slot > 0x1f) return null;
      return {
        segment: Number.parseInt(m[1] as string, 16),
        bus: Number.parseInt(m[2] as string, 16),
        slot,
        func: Number(m[4]),
        devfn: (slot << 3) | Number(m[4]),
      };
    };
    const piece = fc.stringMatching(/^[0-9a-fA-Fg:.x]{0,9}$/);
    const names = fc.oneof(
      fc.tuple(piece, piece, piece, piece).map(([a, b, c, d]) => `${a}:${b}:${c}.${d}`),
      fc
        .record({
          s: fc.integer({ min: 0, max: 0x2ffff }),
          b: fc.integer({ min: 0, max: 255 }),
          df: fc.integer({ min: 0, max: 255 }),
        })
        .map((x) => formatBdf(x.s, x.b, x.df)),
      fc.string({ maxLength: 18 }),
    );
    fc.assert(
      fc.property(names, (s) => assert.deepEqual(parseBdf(s), reference(s))),
      { numRuns: 3000, seed: 8 },
    );
  });

  it('parses hex exactly as the format defines it (property)', () => {
    const s = fc.oneof(fc.stringMatching(/^(0x)?[0-9a-fA-FxX]{0,18}$/), fc.string({ maxLength: 6 }));
    fc.assert(
      fc.property(s, (x) => {
        assert.equal(parseHexU64(x), /^0x[0-9a-fA-F]{1,16}$/.test(x) ? BigInt(x) : null);
        assert.equal(parseHexU16(x), /^0x[0-9a-fA-F]{1,4}$/.test(x) ? Number.parseInt(x.slice(2), 16) : null);
      }),
      { numRuns: 3000, seed: 9 },
    );
  });
});

describe('buildTopology', () => {
  const t = buildTopology(referenceT1Spec(), 't.json');

  it('computes the chains of kernel-model.md 2.9', () => {
    assert.deepEqual(names(t.chain(T1.A)), [T1.A, T1.DSP_A, T1.U1, T1.RP1]);
    assert.deepEqual(names(t.chain(T1.B)), [T1.B, T1.DSP_B, T1.U1, T1.RP1]);
    assert.deepEqual(names(t.chain(T1.D)), [T1.D, '0000:06:00.0', '0000:05:00.0', T1.DSP_D, T1.U1, T1.RP1]);
    assert.deepEqual(names(t.chain(T1.C)), [T1.C, T1.RP2]);
    assert.deepEqual(names(t.chain(T1.F)), [T1.F]);
    assert.deepEqual(names(t.chain(T1.E)), [T1.E, '0000:80:01.0']);
    assert.equal(t.get(T1.D).depth, 5);
    assert.equal(t.upstream(T1.RP1), null);
    assert.equal(t.upstream(T1.A)?.bdf, T1.DSP_A);
  });

  it('keeps enumeration order and indexes buses and host bridges', () => {
    assert.deepEqual(names(t.functions), names(referenceT1Spec().functions));
    assert.equal(t.hostBridgeOf(T1.E).index, 1);
    assert.equal(t.hostBridgeOf(T1.A).name, '[0000:00]');
    assert.equal(t.firstFunctionOfRootBus(0)?.bdf, T1.HB0);
    assert.equal(t.firstFunctionOfRootBus(t.hostBridges[1]!)?.bdf, T1.HB1);
    const bus2 = t.bus(0, 2);
    assert.equal(bus2?.self?.bdf, T1.U1);
    assert.deepEqual(names(bus2?.devices ?? []), [T1.DSP_A, T1.DSP_B, T1.DSP_D]);
    assert.equal(t.bus(0, 0)?.isRoot, true);
    assert.equal(t.bus(0, 0)?.self, null);
    const a = t.get(T1.A);
    assert.equal(a.devfn, 0);
    assert.equal(a.devId, 0x300);
    assert.equal(a.vendor, 0x10de);
    assert.equal(a.device, 0x2330);
    assert.equal(t.get(T1.RP1).isRootPort, true);
    assert.equal(t.get(T1.U1).isRootPort, false);
    assert.equal(a.dmaMask, 0xffffffffffffffffn);
    assert.equal(t.get(T1.D).dmaMask, 0n);
  });

  it('gives BARs with flags and bus addresses', () => {
    const a = t.get(T1.A);
    assert.equal(a.resources.length, 6);
    assert.equal(a.resources[2], null, 'upper half of the 64-bit BAR 1');
    const bar1 = a.resources[1];
    assert.ok(bar1);
    assert.equal(bar1.flags, IORESOURCE_MEM | IORESOURCE_PREFETCH | IORESOURCE_MEM_64);
    assert.equal(bar1.cpuStart, 0x380000000000n);
    assert.equal(bar1.cpuEnd, 0x3807ffffffffn);
    assert.equal(bar1.busStart, 0x380000000000n);
    assert.equal(bar1.busOffset, 0n);
  });

  it('derives bus addresses through host-bridge window offsets, wrapping as u64', () => {
    const s = referenceT1Spec();
    s.hostBridges[0]!.windows = [
      { type: 'mem', cpuStart: '0x80000000', cpuEnd: '0xbfffffff', offset: '0x0' },
      // CPU 0x380000000000.. maps to bus 0x80000000.. : offset = cpu - bus.
      { type: 'mem', cpuStart: '0x380000000000', cpuEnd: '0x383fffffffff', offset: '0x37ff80000000' },
    ];
    fnAt(s, T1.C).bars = [
      {
        index: 0,
        memory: true,
        is64: true,
        prefetchable: true,
        cpuStart: '0x10000',
        length: '0x1000',
        busStart: '0x20000',
      },
    ];
    const m = buildTopology(s);
    const bar = m.get(T1.A).resources[1]!;
    assert.equal(bar.busStart, 0x80000000n);
    assert.equal(bar.busOffset, (1n << 64n) - (0x380000000000n - 0x80000000n));
    assert.equal(
      BigInt.asUintN(64, bar.cpuStart + bar.busOffset),
      bar.busStart,
      'adding the offset back wraps to the bus address',
    );
    assert.equal(m.get(T1.A).resources[0]!.busStart, 0xa0000000n, 'BAR 0 is in the offset-0 window');
    const c = m.get(T1.C).resources[0]!;
    assert.equal(c.busStart, 0x20000n, 'an explicit busStart wins');
    assert.equal(c.busOffset, 0x10000n);
  });

  it('applies the VF -> PF rule of pci_upstream_bridge', () => {
    const s = referenceT1Spec();
    const pf = fnAt(s, T1.B1);
    s.functions.push({ ...pf, bdf: '0000:04:00.2', physfn: T1.B, device: '0x101e' });
    const m = buildTopology(s);
    const vf = m.get('0000:04:00.2');
    assert.equal(vf.isVirtfn, true);
    assert.equal(vf.physfn?.bdf, T1.B);
    assert.deepEqual(names(vf.chain), ['0000:04:00.2', T1.DSP_B, T1.U1, T1.RP1], 'the PF itself is not in the chain');
    assert.equal(m.bus(0, 4)?.devices.at(-1)?.bdf, '0000:04:00.2');
    assert.deepEqual(names(m.get(T1.B).virtfns), ['0000:04:00.2']);
    assert.deepEqual(names(m.get(T1.B1).virtfns), []);
    assert.equal(m.get(T1.B).multifunction, true, '04:00.0 and 04:00.1 share slot 0');
    assert.equal(vf.multifunction, false, 'VFs do not count');
    assert.equal(m.get(T1.A).multifunction, false);
  });

  it('is deeply immutable', () => {
    assert.ok(Object.isFrozen(t));
    assert.ok(Object.isFrozen(t.functions));
    assert.ok(Object.isFrozen(t.get(T1.A)));
    assert.ok(Object.isFrozen(t.get(T1.A).chain));
    assert.ok(Object.isFrozen(t.get(T1.A).bars[0]));
    assert.ok(Object.isFrozen(t.hostBridges[0]));
    assert.ok(Object.isFrozen(t.platform.cpu));
    assert.ok(Object.isFrozen(t.spec.functions[0]));
    assert.throws(() => {
      (t.get(T1.A) as { acsCtrl: number }).acsCtrl = 4;
    }, TypeError);
  });

  it('does not share state with the spec it was built from', () => {
    const s = referenceT1Spec();
    const m = buildTopology(s);
    fnAt(s, T1.A).acsCtrl = 4;
    assert.equal(m.get(T1.A).acsCtrl, 0);
    assert.equal(m.spec.functions[8]?.acsCtrl, 0);
  });

  it('throws DEVICE_NOT_FOUND naming the topology', () => {
    assert.equal(t.has('0000:99:00.0'), false);
    assert.equal(t.find('0000:99:00.0'), undefined);
    assert.throws(
      () => t.get('0000:99:00.0'),
      (e: unknown) => isDmasimError(e) && e.code === ErrorCode.DEVICE_NOT_FOUND && /reference-t1/.test(e.message),
    );
  });

  it('goes back to the spec with toSpec', () => {
    const s = referenceT1Spec();
    const back = toSpec(buildTopology(s));
    assert.deepEqual(back, s);
    back.functions[0]!.acsCtrl = 1;
    assert.equal(buildTopology(back).functions[0]!.acsCtrl, 1, 'the copy is mutable');
  });

  it('applies platform defaults', () => {
    const s = referenceT1Spec();
    s.platform = { cpu: { vendor: 'amd', family: 0x19 } };
    const p = buildTopology(s).platform;
    assert.deepEqual(
      { ...p, cpu: { ...p.cpu } },
      {
        cpu: { vendor: 'amd', family: 0x19, model: null },
        pageSize: 4096,
        p2pdmaEnabled: true,
        onlineCpus: 1,
        numaNodes: 1,
        sockets: null,
        iommu: null,
      },
    );
  });
});

describe('buildTopology validation', () => {
  const build = (s: TopologySpec) => () => buildTopology(s, 't.json');

  it('rejects an unknown parent', () => {
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.A).parent = '0000:09:00.0'))),
      'functions[8].parent',
      /unknown parent 0000:09:00\.0/,
    );
  });
  it('rejects a parent that is not a bridge', () => {
    assertInvalid(build(mutate((s) => (fnAt(s, T1.B).parent = T1.A))), 'functions[9].parent', /not a bridge/);
  });
  it('rejects a duplicate bdf', () => {
    assertInvalid(
      build(mutate((s) => s.functions.push({ ...fnAt(s, T1.C) }))),
      'functions[18].bdf',
      /duplicate device 0000:08:00\.0 \(also functions\[14\]\)/,
    );
  });
  it('rejects a malformed bdf', () => {
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.C).bdf = '0000:08:00.9'))),
      'functions[14].bdf',
      /expected a kernel device name/,
    );
  });
  it('rejects a VF without its PF', () => {
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.B1).physfn = '0000:04:00.5'))),
      'functions[10].physfn',
      /PF 0000:04:00\.5, which is not in the topology/,
    );
  });
  it('rejects a VF whose PF is a VF', () => {
    const s = mutate((x) => {
      fnAt(x, T1.B1).physfn = T1.B;
      x.functions.push({ ...fnAt(x, T1.B1), bdf: '0000:04:00.2', physfn: T1.B1 });
    });
    assertInvalid(build(s), 'functions[18].physfn', /itself a VF/);
  });
  it("rejects a VF that does not carry its PF's parent", () => {
    const s = mutate((x) => x.functions.push({ ...fnAt(x, T1.C), bdf: '0000:08:00.1', physfn: T1.B }));
    assertInvalid(build(s), 'functions[18].parent', /must carry its PF's parent "0000:02:01\.0"/);
  });
  it('rejects a host-bridge index out of range', () => {
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.E).hostBridge = 2))),
      'functions[17].hostBridge',
      /out of range 0\.\.1/,
    );
  });
  it('rejects a function on the wrong host bridge', () => {
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.E).hostBridge = 0))),
      'functions[17].hostBridge',
      /parent 0000:80:01\.0 on 1/,
    );
  });
  it("rejects a bus that is not the bridge's secondary bus", () => {
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.C).parent = T1.RP1))),
      'functions[14].bdf',
      /outside its bridge's secondary bus 01/,
    );
  });
  it("rejects bridge ranges outside the parent's secondary..subordinate range", () => {
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.DSP_D).subordinateBus = 9))),
      'functions[7].secondaryBus',
      /outside its bridge's secondary\.\.subordinate range 2\.\.7/,
    );
  });
  it('rejects a root-bus function on another bus', () => {
    assertInvalid(build(mutate((s) => (fnAt(s, T1.C).parent = null))), 'functions[14].parent', /not the root bus 00/);
  });
  it('rejects bad hex', () => {
    assertInvalid(build(mutate((s) => (fnAt(s, T1.A).vendor = '10de'))), 'functions[8].vendor', /expected a vendor id/);
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.A).dmaMask = '0xfffffffffffffffff'))),
      'functions[8].dmaMask',
      /64-bit hex/,
    );
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.A).bars![1]!.cpuStart = '0x38000000000g'))),
      'functions[8].bars[1].cpuStart',
      /64-bit hex string, found "0x38000000000g"/,
    );
    assertInvalid(
      build(mutate((s) => (s.hostBridges[0]!.windows![0]!.offset = 'zero'))),
      'hostBridges[0].windows[0].offset',
      /64-bit hex/,
    );
  });
  it('rejects overlapping and malformed BARs', () => {
    assertInvalid(
      build(
        mutate((s) =>
          fnAt(s, T1.A).bars!.push({
            index: 2,
            memory: true,
            is64: false,
            prefetchable: false,
            cpuStart: '0x0',
            length: '0x1000',
          }),
        ),
      ),
      'functions[8].bars[2].index',
      /given twice \(or is the upper half of a 64-bit BAR\)/,
    );
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.A).bars![0]!.length = '0x0'))),
      'functions[8].bars[0].length',
      /non-zero/,
    );
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.A).bars![1]!.cpuStart = '0xffffffffffffffff'))),
      'functions[8].bars[1].length',
      /past 2\^64/,
    );
  });
  it('rejects ACS control values that are not 16-bit', () => {
    assertInvalid(
      build(mutate((s) => (fnAt(s, T1.U1).acsCtrl = 0x10000))),
      'functions[4].acsCtrl',
      /16-bit ACS control/,
    );
  });
  it('rejects two host bridges on one root bus, and wrong kind/version', () => {
    assertInvalid(build(mutate((s) => (s.hostBridges[1]!.rootBus = 0))), 'hostBridges[1]', /also host bridge 0/);
    assertInvalid(build(mutate((s) => ((s as { version: number }).version = 2))), 'version', /expected version 1/);
  });
  it('rejects a bad CPU', () => {
    assertInvalid(
      build(mutate((s) => ((s.platform.cpu as { vendor: string }).vendor = 'arm'))),
      'platform.cpu.vendor',
      /expected one of intel, amd, hygon, other/,
    );
  });
});
