import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceT1Spec, T1 } from '../topology/reference-t1.ts';
import { buildTopology } from '../topology/topology.ts';
import { calcMapTypeAndDist } from './calc-map-type.ts';
import { pathClass, pathClassOf } from './path-class.ts';
import { STELLINE, stellineSpec } from './stelline-fixture.test-helper.ts';

describe('nvidia-smi path class (kernel-model.md Appendix B)', () => {
  const t1 = buildTopology(referenceT1Spec());

  it('classifies the T1 pairs', () => {
    const cases: [string, string, string, number][] = [
      [T1.A, T1.A, 'X', 0],
      [T1.A, T1.B, 'PIX', 1], // one switch (U1 with its two downstream ports)
      [T1.B, T1.B1, 'PIX', 1], // two functions below one downstream port
      [T1.A, T1.D, 'PXB', 2], // U1 and U2
      [T1.A, T1.C, 'PHB', 0], // different root ports of HB0
      [T1.A, T1.F, 'PHB', 0], // RC-integrated endpoint on HB0's root bus
      [T1.A, T1.E, 'NODE', 0], // another host bridge, one NUMA node
      [T1.U1, T1.A, 'PIX', 1], // a bridge and a device below it: the downstream port between them
      [T1.RP1, T1.U1, 'PIX', 0],
    ];
    for (const [a, b, cls, bridges] of cases) {
      const info = pathClassOf(t1, a, b);
      assert.equal(info.pathClass, cls, `${a} ${b}`);
      assert.equal(info.bridges, bridges, `${a} ${b} bridges`);
      assert.equal(pathClass(t1, b, a), cls, 'symmetric');
    }
    assert.equal(pathClassOf(t1, T1.A, T1.B).commonAncestor, T1.U1);
    assert.match(pathClassOf(t1, T1.A, T1.E).reason, /\[0000:00\] and \[0000:80\] in NUMA node 0/);
  });

  it('says SYS across NUMA nodes, from the devices, host bridges or sockets', () => {
    const s = referenceT1Spec();
    s.platform.numaNodes = 2;
    s.hostBridges[0]!.numaNode = 0;
    s.hostBridges[1]!.numaNode = 1;
    assert.equal(pathClass(buildTopology(s), T1.A, T1.E), 'SYS');
    s.hostBridges[1]!.numaNode = 0;
    assert.equal(pathClass(buildTopology(s), T1.A, T1.E), 'NODE');
    const bySocket = referenceT1Spec();
    bySocket.platform.numaNodes = 2;
    bySocket.hostBridges[0]!.socket = 0;
    bySocket.hostBridges[1]!.socket = 1;
    assert.equal(pathClass(buildTopology(bySocket), T1.A, T1.E), 'SYS');
    const unknown = referenceT1Spec();
    unknown.platform.numaNodes = 2;
    const info = pathClassOf(buildTopology(unknown), T1.A, T1.E);
    assert.equal(info.pathClass, 'SYS');
    assert.match(info.reason, /NUMA node unknown on a 2-node platform, assumed different nodes/);
  });

  it('matches nvidia-smi on the real machine stelline-puget-wrx90 (expected.json)', () => {
    const t = buildTopology(stellineSpec());
    const want: [string, string, string][] = [
      ['GPU0', 'GPU1', 'PHB'],
      ['GPU0', 'NIC0', 'NODE'],
      ['GPU0', 'NIC1', 'NODE'],
      ['GPU1', 'NIC0', 'NODE'],
      ['GPU1', 'NIC1', 'NODE'],
      ['NIC0', 'NIC1', 'PIX'],
    ];
    for (const [a, b, cls] of want) {
      assert.equal(
        pathClass(t, STELLINE[a as keyof typeof STELLINE], STELLINE[b as keyof typeof STELLINE]),
        cls,
        `${a}-${b}`,
      );
    }
  });

  it('gives the map types of the real-machine check of kernel-model.md 2.9', () => {
    const t = buildTopology(stellineSpec());
    const g = calcMapTypeAndDist(t, STELLINE.GPU0, STELLINE.GPU1, true);
    assert.deepEqual([g.result, g.distance, g.commonAncestor, g.decidedBy], ['THRU_HOST_BRIDGE', 4, null, 'cpu_rule']);
    const gn = calcMapTypeAndDist(t, STELLINE.GPU0, STELLINE.NIC0, true);
    assert.deepEqual([gn.result, gn.distance, gn.decidedBy], ['THRU_HOST_BRIDGE', 4, 'cpu_rule']);
    const nn = calcMapTypeAndDist(t, STELLINE.NIC0, STELLINE.NIC1, true);
    assert.deepEqual([nn.result, nn.distance, nn.commonAncestor], ['BUS_ADDR', 2, '0000:20:01.1']);
    const intel = buildTopology(stellineSpec({ vendor: 'intel', family: 6 }));
    assert.equal(
      calcMapTypeAndDist(intel, STELLINE.GPU0, STELLINE.GPU1, true).result,
      'NOT_SUPPORTED',
      '1022:14a4 is not listed',
    );
    assert.equal(calcMapTypeAndDist(intel, STELLINE.GPU0, STELLINE.NIC0, true).result, 'NOT_SUPPORTED');
    assert.equal(calcMapTypeAndDist(intel, STELLINE.NIC0, STELLINE.NIC1, true).result, 'BUS_ADDR');
  });
});
