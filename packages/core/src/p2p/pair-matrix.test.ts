import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { generateTopology } from '../topology/generate.ts';
import { referenceT1Spec, T1 } from '../topology/reference-t1.ts';
import { buildTopology, type PciFunction, type Topology } from '../topology/topology.ts';
import { calcMapTypeAndDist } from './calc-map-type.ts';
import { pairMatrix } from './pair-matrix.ts';
import { pathClassOf } from './path-class.ts';

/** The path-class bridge count written the slow, obvious way: a set of nodes strictly between a and b. */
function referenceBridges(a: PciFunction, b: PciFunction): number | null {
  const inB = new Set(b.chain);
  const common = a.chain.find((x) => inB.has(x));
  if (!common) return null;
  const interior = new Set<PciFunction>();
  for (const x of a.chain) {
    interior.add(x);
    if (x === common) break;
  }
  for (const x of b.chain) {
    if (x === common) break;
    interior.add(x);
  }
  interior.delete(a);
  interior.delete(b);
  let n = 0;
  for (const x of interior) if (!(x.type === 'downstream' && x.parent && interior.has(x.parent))) n++;
  return n;
}

function checkAllPairs(t: Topology, opts?: Parameters<typeof pairMatrix>[2]): number {
  const names = t.functions.map((f) => f.bdf);
  const rows = pairMatrix(t, names, { ...opts, includeSelf: true });
  assert.equal(rows.length, names.length * names.length);
  for (const r of rows) {
    const c = calcMapTypeAndDist(t, r.a, r.b, false, opts);
    assert.equal(r.mapType, c.result, `${r.a} -> ${r.b} mapType`);
    assert.equal(r.distance, c.distance, `${r.a} -> ${r.b} distance`);
    assert.equal(r.decidedBy, c.decidedBy, `${r.a} -> ${r.b} decidedBy`);
    const p = pathClassOf(t, r.a, r.b);
    assert.equal(r.pathClass, p.pathClass, `${r.a} -> ${r.b} pathClass`);
    if (r.a !== r.b) {
      const ref = referenceBridges(t.get(r.a), t.get(r.b));
      assert.equal(ref === null ? 0 : ref, p.bridges, `${r.a} -> ${r.b} bridges`);
    }
    if (c.acsRedirect) assert.ok(r.reason.includes(c.acsList), 'the reason names the ACS list');
  }
  return rows.length;
}

describe('pairMatrix', () => {
  it('gives rows in bdfs order, ordered or not, with or without self pairs', () => {
    const t = buildTopology(referenceT1Spec());
    const rows = pairMatrix(t, [T1.A, T1.B, T1.C]);
    assert.deepEqual(
      rows.map((r) => [r.a, r.b, r.mapType, r.distance, r.pathClass]),
      [
        [T1.A, T1.B, 'BUS_ADDR', 4, 'PIX'],
        [T1.A, T1.C, 'THRU_HOST_BRIDGE', 6, 'PHB'],
        [T1.B, T1.A, 'BUS_ADDR', 4, 'PIX'],
        [T1.B, T1.C, 'THRU_HOST_BRIDGE', 6, 'PHB'],
        [T1.C, T1.A, 'THRU_HOST_BRIDGE', 6, 'PHB'],
        [T1.C, T1.B, 'THRU_HOST_BRIDGE', 6, 'PHB'],
      ],
    );
    assert.equal(pairMatrix(t, [T1.A, T1.B, T1.C], { ordered: false }).length, 3);
    assert.equal(pairMatrix(t, [T1.A, T1.B], { ordered: false, includeSelf: true }).length, 3);
    assert.match(rows[1]?.reason ?? '', /host bridge \[0000:00\] 8086:2020 whitelisted/);
    assert.match(rows[0]?.reason ?? '', /common upstream bridge 0000:01:00\.0, no ACS redirect/);
  });

  it('agrees with calcMapTypeAndDist and pathClassOf on every pair of T1 variants (property)', () => {
    const all = referenceT1Spec().functions.map((f) => f.bdf);
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...all), fc.constantFrom(0, 0x04, 0x08, 0x20, 0x1d, 0x53)),
        fc.constantFrom('8086:2020', '8086:3c00', '1af4:1234', '1ae0:0001'),
        fc.constantFrom('8086:2030', '8086:3c00', '1af4:1234'),
        fc.constantFrom({ vendor: 'intel', family: 6 } as const, { vendor: 'amd', family: 0x19 } as const),
        (acsCtrl, hb0Id, hb1Id, cpu) => {
          checkAllPairs(buildTopology(referenceT1Spec({ acsCtrl, hb0Id, hb1Id, cpu })));
        },
      ),
      { numRuns: 40, seed: 17 },
    );
  });

  it('agrees with calcMapTypeAndDist and pathClassOf on generated topologies (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 0, max: 1000 }),
          sockets: fc.integer({ min: 1, max: 2 }),
          hostBridgesPerSocket: fc.integer({ min: 1, max: 2 }),
          rootPortsPerHostBridge: fc.integer({ min: 1, max: 2 }),
          switchDepth: fc.integer({ min: 0, max: 2 }),
          switchFanout: fc.integer({ min: 1, max: 2 }),
          sriovVfs: fc.integer({ min: 0, max: 1 }),
          acs: fc.constantFrom('kernel-default', 'off', 'random'),
          cpu: fc.constantFrom('intel:6', 'amd:0x19', 'intel:6'),
          hostBridgeId: fc.constantFrom('8086:09a2', '8086:3c00', '1af4:1234', 'none'),
        }),
        (p) => {
          checkAllPairs(buildTopology(generateTopology({ ...p, acs: p.acs as 'off' })), {
            whitelistVersion: 'pci-cd2698d7',
          });
        },
      ),
      { numRuns: 25, seed: 3 },
    );
  });
});
