import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceT1Spec, T1 } from '../topology/reference-t1.ts';
import { buildTopology } from '../topology/topology.ts';
import { pciP2pdmaDistanceMany } from './distance-many.ts';
import { pciP2pdmaMapType } from './p2pdma-map-type.ts';
import { pcimP2pdmaInit } from './p2pdma-state.ts';

describe('pci_p2pdma_distance_many (kernel-model.md 2.8)', () => {
  const t = buildTopology(referenceT1Spec());
  const unlisted = buildTopology(referenceT1Spec({ hb0Id: '1af4:1234' }));

  it('returns -1 for no clients', () => {
    assert.equal(pciP2pdmaDistanceMany(t, T1.A, [], true).distance, -1);
  });

  it('sums the distances of supported clients', () => {
    const r = pciP2pdmaDistanceMany(t, T1.A, [T1.B, T1.D, T1.C], false);
    assert.equal(r.distance, 4 + 6 + 6);
    assert.equal(r.computations.length, 3);
  });

  it('walks a non-PCI client up to its PCI parent', () => {
    const r = pciP2pdmaDistanceMany(t, T1.A, [{ name: 'nvme0n1', pciParent: T1.D }], true);
    assert.equal(r.distance, 6);
  });

  it('gives -1 for a client without a PCI parent, warning only when verbose', () => {
    const v = pciP2pdmaDistanceMany(t, T1.A, [T1.B, { name: 'platform-dev', pciParent: null }, T1.C], true);
    assert.equal(v.distance, -1);
    assert.deepEqual(v.log, [
      { device: 'platform-dev', level: 'warn', text: 'cannot be used for peer-to-peer DMA as it is not a PCI device' },
    ]);
    assert.equal(v.computations.length, 1, 'stops at once');
    assert.deepEqual(pciP2pdmaDistanceMany(t, T1.A, [{ name: 'x', pciParent: null }], false).log, []);
  });

  it('gives -1 when any client is NOT_SUPPORTED; verbose still evaluates every client', () => {
    const quiet = pciP2pdmaDistanceMany(unlisted, T1.A, [T1.C, T1.F, T1.B], false);
    assert.equal(quiet.distance, -1);
    assert.equal(quiet.computations.length, 1, 'quiet stops at the first');
    const loud = pciP2pdmaDistanceMany(unlisted, T1.A, [T1.C, T1.F, T1.B], true);
    assert.equal(loud.distance, -1);
    assert.equal(loud.computations.length, 3);
    assert.equal(loud.log.length, 2, 'a "cannot be used" warning for each refused client');
  });

  it('writes every computation into the provider cache, which pci_p2pdma_map_type then hits', () => {
    const { state } = pcimP2pdmaInit(t, T1.A);
    assert.ok(state);
    pciP2pdmaDistanceMany(t, T1.A, [T1.B, T1.C], false, { state });
    assert.equal(state.size, 2);
    const d = pciP2pdmaMapType(state, T1.C, t);
    assert.deepEqual([d.cacheHit, d.result], [true, 'THRU_HOST_BRIDGE']);
  });
});
