import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isDmasimError } from '../errors.ts';
import { applyOverrides, parseCpuOverride } from './overrides.ts';
import { referenceT1Spec, T1 } from './reference-t1.ts';
import { buildTopology } from './topology.ts';
import type { TopologySpec } from './topology-spec.ts';

function noHostBridgeFunction(): TopologySpec {
  const s = referenceT1Spec();
  s.functions = s.functions.filter((f) => f.bdf !== T1.HB0);
  s.assumed = [
    { field: 'hostBridges[0].id', value: '(none)', why: 'lspci -tv does not show it', flag: '--host-bridge-id' },
  ];
  return s;
}

function invalid(f: () => unknown, re: RegExp): void {
  assert.throws(
    f,
    (e: unknown) => isDmasimError(e) && e.code === ErrorCode.TOPOLOGY_PARAMS_INVALID && re.test(e.message),
  );
}

describe('applyOverrides', () => {
  it('sets the CPU and records it', () => {
    const s = applyOverrides(referenceT1Spec(), { cpu: 'amd:0x19' });
    assert.deepEqual(s.platform.cpu, { vendor: 'amd', family: 0x19 });
    assert.deepEqual(s.assumed, [
      { field: 'platform.cpu', value: 'amd:0x19', why: 'set by override', flag: '--cpu amd:0x19' },
    ]);
    assert.deepEqual(parseCpuOverride('intel:6'), { vendor: 'intel', family: 6 });
    assert.deepEqual(parseCpuOverride('hygon:0x18'), { vendor: 'hygon', family: 0x18 });
    invalid(() => parseCpuOverride('amd'), /expected vendor:family/);
  });

  it('does not modify its input', () => {
    const s = referenceT1Spec();
    applyOverrides(s, { cpu: 'amd:0x19', acs: 'off' });
    assert.deepEqual(s, referenceT1Spec());
  });

  it('sets the host-bridge id on an existing 00.0', () => {
    const s = applyOverrides(referenceT1Spec(), { hostBridgeId: { '0000:80': '1af4:1234' } });
    const hb1 = buildTopology(s).firstFunctionOfRootBus(1);
    assert.deepEqual([hb1?.vendor, hb1?.device], [0x1af4, 0x1234]);
    assert.equal(buildTopology(s).firstFunctionOfRootBus(0)?.device, 0x2020, 'the other bridge is untouched');
    assert.equal(s.assumed?.[0]?.field, 'hostBridges[1].id');
  });

  it('inserts a host-bridge function when the root bus has none, replacing the importer default', () => {
    const s = applyOverrides(noHostBridgeFunction(), { hostBridgeId: '8086:2020' }, '--host-bridge-id');
    const t = buildTopology(s);
    const head = t.firstFunctionOfRootBus(0);
    assert.deepEqual(
      [head?.bdf, head?.vendor, head?.device, head?.deviceClass],
      [T1.HB0, 0x8086, 0x2020, 'host_bridge'],
    );
    assert.equal(t.functions[0]?.bdf, T1.HB0, 'inserted in enumeration order');
    assert.deepEqual(
      s.assumed?.map((a) => [a.field, a.value, a.why]),
      [
        ['hostBridges[0].id', '8086:2020', 'set by --host-bridge-id'],
        ['hostBridges[1].id', '8086:2020', 'set by --host-bridge-id'],
      ],
    );
  });

  it('rejects unknown host bridges and malformed ids', () => {
    invalid(
      () => applyOverrides(referenceT1Spec(), { hostBridgeId: { '0000:40': '8086:2020' } }),
      /no host bridge "0000:40"; expected one of 0 or 0000:00, 1 or 0000:80/,
    );
    invalid(() => applyOverrides(referenceT1Spec(), { hostBridgeId: '8086-2020' }), /expected vendor:device in hex/);
  });

  it('sets ACS controls: off, kernel-default, per device', () => {
    const red = referenceT1Spec({ acsCtrl: { [T1.DSP_B]: 0x04, [T1.A]: 0x04 } });
    assert.ok(applyOverrides(red, { acs: 'off' }).functions.every((f) => f.acsCtrl === 0));
    const kd = applyOverrides(referenceT1Spec(), { acs: 'kernel-default' });
    const ctrl = (bdf: string) => kd.functions.find((f) => f.bdf === bdf)?.acsCtrl;
    assert.deepEqual([ctrl(T1.RP1), ctrl(T1.DSP_B), ctrl(T1.U1), ctrl(T1.A)], [0x1d, 0x1d, 0, 0], 'ports only');
    const one = applyOverrides(referenceT1Spec(), { acs: { [T1.DSP_B]: 0x20 } });
    assert.equal(one.functions.find((f) => f.bdf === T1.DSP_B)?.acsCtrl, 0x20);
    assert.equal(one.assumed?.[0]?.field, `${T1.DSP_B}.acsCtrl`);
    invalid(() => applyOverrides(referenceT1Spec(), { acs: { '0000:99:00.0': 4 } }), /no device 0000:99:00\.0/);
    invalid(() => applyOverrides(referenceT1Spec(), { acs: { [T1.A]: 0x10000 } }), /16-bit ACS control value/);
  });

  it('sets the IOMMU mode, vendor from the CPU', () => {
    assert.deepEqual(applyOverrides(referenceT1Spec(), { iommu: 'pt' }).platform.iommu, {
      vendor: 'intel',
      defaultDomain: 'IDENTITY',
    });
    assert.deepEqual(applyOverrides(referenceT1Spec(), { cpu: 'amd:0x19', iommu: 'strict' }).platform.iommu, {
      vendor: 'amd',
      defaultDomain: 'DMA',
    });
    assert.deepEqual(applyOverrides(referenceT1Spec(), { iommu: 'off' }).platform.iommu, {
      vendor: 'none',
      defaultDomain: 'IDENTITY',
    });
    invalid(
      () => applyOverrides(referenceT1Spec(), { iommu: 'on' as 'pt' }),
      /--iommu: expected off, pt, strict or lazy/,
    );
  });
});
