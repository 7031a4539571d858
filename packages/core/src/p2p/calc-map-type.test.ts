/**
 * Every worked example of kernel-model.md 2.9 (rows 1-13 here; rows 14-16 need the cache and are in
 * p2pdma-map-type.test.ts), on reference topology T1.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ReferenceT1Options, referenceT1Spec, T1 } from '../topology/reference-t1.ts';
import { buildTopology } from '../topology/topology.ts';
import { PCI_ACS } from './acs.ts';
import { calcMapTypeAndDist, type MapTypeComputation } from './calc-map-type.ts';
import { P2P_TREE_PRESETS, type P2pOptions } from './p2p-options.ts';

const { RR, CR, EC } = PCI_ACS;
const NOT_LISTED = '1af4:1234';
const MSG1 = (p: string) => `ACS redirect is set between the client and provider (${p})`;
const MSG2 = (l: string) =>
  `to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=${l}`;
const MSG3 = (id: string) => `Host bridge not in P2PDMA whitelist: ${id}`;
const MSG4 = (p: string) =>
  `cannot be used for peer-to-peer DMA as the client and provider (${p}) do not share an upstream bridge or whitelisted host bridge`;

function calc(t1: ReferenceT1Options, a: string, b: string, verbose = true, opts?: P2pOptions): MapTypeComputation {
  return calcMapTypeAndDist(buildTopology(referenceT1Spec(t1)), a, b, verbose, opts);
}

function logOf(c: MapTypeComputation): string[] {
  return c.log.map((l) => `${l.device}: ${l.text}`);
}

/** With a redirect bit on every function, the counted nodes are exactly the tested ones. */
function testedNodes(a: string, b: string): readonly string[] {
  const all: Record<string, number> = {};
  for (const f of referenceT1Spec().functions) all[f.bdf] = RR;
  return calc({ acsCtrl: all }, a, b).acsNodes;
}

describe('kernel-model.md 2.9 worked examples (calc_map_type_and_dist)', () => {
  it('row 1: A -> B below one switch: BUS_ADDR, distance 4', () => {
    const c = calc({}, T1.A, T1.B);
    assert.equal(c.result, 'BUS_ADDR');
    assert.equal(c.resultValue, 3);
    assert.equal(c.distance, 4);
    assert.equal(c.commonAncestor, T1.U1);
    assert.equal(c.decidedBy, 'common_bridge');
    assert.deepEqual(c.log, []);
    assert.deepEqual(c.hostBridges, []);
    assert.deepEqual(testedNodes(T1.A, T1.B), [T1.A, T1.DSP_A, T1.U1, T1.B, T1.DSP_B]);
  });

  it('row 2: B -> B1, two functions of one device: distance 2', () => {
    const c = calc({}, T1.B, T1.B1);
    assert.deepEqual([c.result, c.distance, c.commonAncestor], ['BUS_ADDR', 2, T1.DSP_B]);
    assert.deepEqual(testedNodes(T1.B, T1.B1), [T1.B, T1.DSP_B, T1.B1]);
  });

  it('row 3: A -> A: distance 0, common ancestor A', () => {
    const c = calc({}, T1.A, T1.A);
    assert.deepEqual([c.result, c.distance, c.commonAncestor], ['BUS_ADDR', 0, T1.A]);
    assert.deepEqual(testedNodes(T1.A, T1.A), [T1.A]);
  });

  it('row 4: A -> D, a switch below a switch: distance 6', () => {
    const c = calc({}, T1.A, T1.D);
    assert.deepEqual([c.result, c.distance, c.commonAncestor], ['BUS_ADDR', 6, T1.U1]);
    assert.deepEqual(testedNodes(T1.A, T1.D), [T1.A, T1.DSP_A, T1.U1, T1.D, '0000:06:00.0', '0000:05:00.0', T1.DSP_D]);
  });

  it('row 5a: A -> C, different root ports, listed host bridge: THRU_HOST_BRIDGE, no log', () => {
    const c = calc({}, T1.A, T1.C);
    assert.deepEqual([c.result, c.distance, c.commonAncestor, c.decidedBy], ['THRU_HOST_BRIDGE', 6, null, 'whitelist']);
    assert.deepEqual(c.log, []);
    assert.equal(c.hostBridges.length, 1);
    assert.deepEqual(
      [c.hostBridges[0]?.id, c.hostBridges[0]?.sameHostBridge, c.hostBridges[0]?.device],
      ['8086:2020', true, T1.HB0],
    );
  });

  it('row 5b: HB0 = 8086:3c00 (REQ_SAME_HOST_BRIDGE) on the same bridge: THRU_HOST_BRIDGE', () => {
    const c = calc({ hb0Id: '8086:3c00' }, T1.A, T1.C);
    assert.deepEqual([c.result, c.distance, c.decidedBy], ['THRU_HOST_BRIDGE', 6, 'whitelist']);
    assert.equal(c.hostBridges[0]?.entry?.reqSameHostBridge, true);
    assert.deepEqual(c.log, []);
  });

  it('row 5c: HB0 not listed, Intel CPU: NOT_SUPPORTED, message 4 only', () => {
    const c = calc({ hb0Id: NOT_LISTED }, T1.A, T1.C);
    assert.deepEqual([c.result, c.resultValue, c.distance, c.decidedBy], ['NOT_SUPPORTED', 2, 6, 'not_whitelisted']);
    assert.deepEqual(logOf(c), [`${T1.C}: ${MSG4(T1.A)}`]);
    assert.deepEqual(logOf(calc({ hb0Id: NOT_LISTED }, T1.A, T1.C, false)), [], 'quiet: nothing');
  });

  it('row 5d: as 5c with an AMD family 0x19 CPU: THRU_HOST_BRIDGE by the CPU rule', () => {
    const c = calc({ hb0Id: NOT_LISTED, cpu: { vendor: 'amd', family: 0x19 } }, T1.A, T1.C);
    assert.deepEqual([c.result, c.decidedBy], ['THRU_HOST_BRIDGE', 'cpu_rule']);
    assert.deepEqual(c.hostBridges, [], 'the whitelist is not consulted');
    assert.deepEqual(c.log, []);
  });

  it('the CPU rule needs AMD family >= 0x17; Hygon and older AMD do not count', () => {
    for (const [cpu, want] of [
      [{ vendor: 'amd', family: 0x16 }, 'NOT_SUPPORTED'],
      [{ vendor: 'amd', family: 0x17 }, 'THRU_HOST_BRIDGE'],
      [{ vendor: 'amd', family: 0x1a }, 'THRU_HOST_BRIDGE'],
      [{ vendor: 'hygon', family: 0x18 }, 'NOT_SUPPORTED'],
    ] as const) {
      assert.equal(calc({ hb0Id: NOT_LISTED, cpu }, T1.A, T1.C).result, want, JSON.stringify(cpu));
    }
  });

  it('row 6a: A -> E, different host bridges, both listed: THRU_HOST_BRIDGE, distance 6', () => {
    const c = calc({}, T1.A, T1.E);
    assert.deepEqual([c.result, c.distance, c.decidedBy], ['THRU_HOST_BRIDGE', 6, 'whitelist']);
    assert.deepEqual(
      c.hostBridges.map((h) => [h.hostBridge, h.id, h.sameHostBridge]),
      [
        ['[0000:00]', '8086:2020', false],
        ['[0000:80]', '8086:2030', false],
      ],
    );
  });

  it('row 6b: both 8086:3c00 on different bridges: NOT_SUPPORTED (the flag needs the same bridge), message 4', () => {
    const c = calc({ hb0Id: '8086:3c00', hb1Id: '8086:3c00' }, T1.A, T1.E);
    assert.deepEqual([c.result, c.distance, c.decidedBy], ['NOT_SUPPORTED', 6, 'whitelist_same_bridge_flag']);
    assert.deepEqual(logOf(c), [`${T1.E}: ${MSG4(T1.A)}`]);
    assert.equal(c.hostBridges.length, 1, 'short-circuit: HB1 is not looked at');
  });

  it('row 6c: HB1 not listed: NOT_SUPPORTED, message 4', () => {
    const c = calc({ hb1Id: NOT_LISTED }, T1.A, T1.E);
    assert.deepEqual([c.result, c.decidedBy], ['NOT_SUPPORTED', 'not_whitelisted']);
    assert.deepEqual(logOf(c), [`${T1.E}: ${MSG4(T1.A)}`]);
    assert.deepEqual(
      c.hostBridges.map((h) => h.listed),
      [true, false],
    );
  });

  it('row 6d: AMD Zen with unlisted host bridges: THRU_HOST_BRIDGE across host bridges', () => {
    const c = calc({ hb0Id: NOT_LISTED, hb1Id: NOT_LISTED, cpu: { vendor: 'amd', family: 0x17 } }, T1.A, T1.E);
    assert.deepEqual([c.result, c.distance, c.decidedBy], ['THRU_HOST_BRIDGE', 6, 'cpu_rule']);
  });

  it('row 7: A -> F, an RC-integrated endpoint on the root bus: distance 5, as 5a-5d', () => {
    assert.deepEqual([calc({}, T1.A, T1.F).result, calc({}, T1.A, T1.F).distance], ['THRU_HOST_BRIDGE', 5]);
    assert.equal(calc({ hb0Id: '8086:3c00' }, T1.A, T1.F).result, 'THRU_HOST_BRIDGE');
    const c = calc({ hb0Id: NOT_LISTED }, T1.A, T1.F);
    assert.equal(c.result, 'NOT_SUPPORTED');
    assert.deepEqual(logOf(c), [`${T1.F}: ${MSG4(T1.A)}`]);
    assert.equal(
      calc({ hb0Id: NOT_LISTED, cpu: { vendor: 'amd', family: 0x19 } }, T1.A, T1.F).result,
      'THRU_HOST_BRIDGE',
    );
  });

  it('row 8a: ReqRedir on 02:01.0, HB0 listed: THRU_HOST_BRIDGE, messages 1 and 2', () => {
    const c = calc({ acsCtrl: { [T1.DSP_B]: RR } }, T1.A, T1.B);
    assert.deepEqual([c.result, c.distance, c.commonAncestor, c.acsRedirect], ['THRU_HOST_BRIDGE', 4, T1.U1, true]);
    assert.deepEqual(c.acsNodes, [T1.DSP_B]);
    assert.equal(c.acsList, T1.DSP_B);
    assert.deepEqual(logOf(c), [`${T1.B}: ${MSG1(T1.A)}`, `${T1.B}: ${MSG2(T1.DSP_B)}`]);
  });

  it('row 8b: ReqRedir on 02:01.0, HB0 not listed: NOT_SUPPORTED, messages 1, 2, 3, 4 (quiet: 3)', () => {
    const t = { acsCtrl: { [T1.DSP_B]: RR }, hb0Id: NOT_LISTED };
    const c = calc(t, T1.A, T1.B);
    assert.deepEqual([c.result, c.distance], ['NOT_SUPPORTED', 4]);
    assert.deepEqual(logOf(c), [
      `${T1.B}: ${MSG1(T1.A)}`,
      `${T1.B}: ${MSG2(T1.DSP_B)}`,
      `${T1.HB0}: ${MSG3(NOT_LISTED)}`,
      `${T1.B}: ${MSG4(T1.A)}`,
    ]);
    assert.deepEqual(logOf(calc(t, T1.A, T1.B, false)), [`${T1.HB0}: ${MSG3(NOT_LISTED)}`]);
  });

  it('row 9: ReqRedir only on RP1, above the common node: not tested, BUS_ADDR', () => {
    const c = calc({ acsCtrl: { [T1.RP1]: RR } }, T1.A, T1.B);
    assert.deepEqual([c.result, c.distance, c.acsList], ['BUS_ADDR', 4, '']);
  });

  it('row 10: EgressCtrl only on U1, the common node: counted from A, THRU_HOST_BRIDGE', () => {
    const c = calc({ acsCtrl: { [T1.U1]: EC } }, T1.A, T1.B);
    assert.deepEqual([c.result, c.distance, c.acsList], ['THRU_HOST_BRIDGE', 4, T1.U1]);
    assert.deepEqual(logOf(c), [`${T1.B}: ${MSG1(T1.A)}`, `${T1.B}: ${MSG2(T1.U1)}`]);
  });

  it('row 11: CmpltRedir on 02:00.0 and 02:01.0: count 2, provider side first', () => {
    const c = calc({ acsCtrl: { [T1.DSP_A]: CR, [T1.DSP_B]: CR } }, T1.A, T1.B);
    assert.deepEqual([c.result, c.acsList], ['THRU_HOST_BRIDGE', `${T1.DSP_A};${T1.DSP_B}`]);
    assert.equal(calc({ acsCtrl: { [T1.DSP_A]: CR, [T1.DSP_B]: CR } }, T1.B, T1.A).acsList, `${T1.DSP_B};${T1.DSP_A}`);
  });

  it("row 12: A -> A with ReqRedir in A's own ACS control: THRU_HOST_BRIDGE, messages 1 and 2", () => {
    const c = calc({ acsCtrl: { [T1.A]: RR } }, T1.A, T1.A);
    assert.deepEqual([c.result, c.distance, c.acsList], ['THRU_HOST_BRIDGE', 0, T1.A]);
    assert.deepEqual(logOf(c), [`${T1.A}: ${MSG1(T1.A)}`, `${T1.A}: ${MSG2(T1.A)}`]);
    assert.equal(
      calc({ acsCtrl: { [T1.A]: RR }, hb0Id: NOT_LISTED }, T1.A, T1.A).result,
      'NOT_SUPPORTED',
      '"if allowed"',
    );
  });

  it('row 13: A -> C with ReqRedir on RP1: ignored (no common node), warn stays false', () => {
    const listed = calc({ acsCtrl: { [T1.RP1]: RR } }, T1.A, T1.C);
    assert.deepEqual(
      [listed.result, listed.distance, listed.acsRedirect, listed.log.length],
      ['THRU_HOST_BRIDGE', 6, false, 0],
    );
    assert.equal(listed.acsList, T1.RP1, 'the names are still collected');
    const unlisted = calc({ acsCtrl: { [T1.RP1]: RR }, hb0Id: NOT_LISTED }, T1.A, T1.C);
    assert.equal(unlisted.result, 'NOT_SUPPORTED');
    assert.deepEqual(logOf(unlisted), [`${T1.C}: ${MSG4(T1.A)}`], 'no message 3: warn is false');
    const amd = calc(
      { acsCtrl: { [T1.RP1]: RR }, hb0Id: NOT_LISTED, cpu: { vendor: 'amd', family: 0x19 } },
      T1.A,
      T1.C,
    );
    assert.equal(amd.result, 'THRU_HOST_BRIDGE');
  });

  it('ignores the ACS bits that are not redirects (SV, TB, UF, DT) and functions without the capability', () => {
    assert.equal(calc({ acsCtrl: { [T1.DSP_B]: 0x53 } }, T1.A, T1.B).result, 'BUS_ADDR');
    const s = referenceT1Spec({ acsCtrl: { [T1.DSP_B]: RR } });
    const f = s.functions.find((x) => x.bdf === T1.DSP_B);
    assert.ok(f);
    f.acsCap = false;
    assert.equal(calcMapTypeAndDist(buildTopology(s), T1.A, T1.B, true).result, 'BUS_ADDR');
  });
});

describe('tree variants (kernel-model.md 7.4)', () => {
  it("whitelistWarnOn 'verbose' prints message 3 on every verbose lookup that fails", () => {
    const c = calc({ hb0Id: NOT_LISTED }, T1.A, T1.C, true, { whitelistWarnOn: 'verbose' });
    assert.deepEqual(logOf(c), [`${T1.HB0}: ${MSG3(NOT_LISTED)}`, `${T1.C}: ${MSG4(T1.A)}`]);
    const quiet = calc({ acsCtrl: { [T1.DSP_B]: RR }, hb0Id: NOT_LISTED }, T1.A, T1.B, false, P2P_TREE_PRESETS.rdma);
    assert.deepEqual(logOf(quiet), [], 'rdma tree: quiet callers print nothing, even after an ACS redirect');
  });

  it('the linux-rdma table has no Zhaoxin entries', () => {
    const z = { hb0Id: '1d17:1008' };
    assert.equal(calc(z, T1.A, T1.C).result, 'THRU_HOST_BRIDGE');
    assert.equal(calc(z, T1.A, T1.C, true, { whitelistVersion: 'rdma-04673b71' }).result, 'NOT_SUPPORTED');
  });

  it('a custom table replaces the version', () => {
    const c = calc({ hb0Id: NOT_LISTED }, T1.A, T1.C, true, {
      whitelist: [{ vendor: 0x1af4, device: 0x1234, reqSameHostBridge: false }],
    });
    assert.equal(c.result, 'THRU_HOST_BRIDGE');
  });

  it('rejects an unknown version', () => {
    assert.throws(
      () => calc({}, T1.A, T1.C, true, { whitelistVersion: 'nope' as 'pci-cd2698d7' }),
      /unknown whitelistVersion "nope"/,
    );
  });
});
