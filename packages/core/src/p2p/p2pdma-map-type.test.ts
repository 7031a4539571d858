/**
 * pci_p2pdma_map_type() with the per-provider cache: kernel-model.md 2.9 rows 14-16, the cache key with its
 * 32-bit wrap and collisions (2.6), and providers (1.5).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isDmasimError } from '../errors.ts';
import { referenceT1Spec, T1 } from '../topology/reference-t1.ts';
import { buildTopology } from '../topology/topology.ts';
import type { FunctionSpec, TopologySpec } from '../topology/topology-spec.ts';
import { PCI_ACS } from './acs.ts';
import { EOPNOTSUPP } from './map-type.ts';
import { pciP2pdmaMapType } from './p2pdma-map-type.ts';
import {
  mapTypeKeyCollisions,
  mapTypesIdx,
  mapTypesXarrayIndex,
  type P2pdmaState,
  pcimP2pdmaInit,
  pcimP2pdmaProvider,
} from './p2pdma-state.ts';

const t1 = buildTopology(referenceT1Spec());

function stateFor(topology = t1, bdf: string = T1.A): P2pdmaState {
  const r = pcimP2pdmaInit(topology, bdf);
  assert.equal(r.ret, 0);
  assert.ok(r.state);
  return r.state;
}

describe('pcim_p2pdma_init and providers (kernel-model.md 1.5)', () => {
  it('creates one provider per memory BAR with its bus offset, zeroed providers elsewhere', () => {
    const s = stateFor();
    assert.equal(s.owner, T1.A);
    assert.equal(s.providers.length, 6);
    assert.deepEqual(
      s.providers.map((p) => p.owner),
      [T1.A, T1.A, null, null, null, null],
    );
    assert.equal(s.provider(1)?.busOffset, 0n);
    assert.equal(s.provider(1)?.length, 0x800000000n);
    assert.equal(s.provider(2), null, 'upper half of the 64-bit BAR');
    assert.equal(s.size, 0, 'empty cache');
  });

  it('is refused with -EOPNOTSUPP for non_mappable_bars and without CONFIG_PCI_P2PDMA', () => {
    const spec = referenceT1Spec();
    (spec.functions.find((f) => f.bdf === T1.A) as FunctionSpec).nonMappableBars = true;
    assert.deepEqual(pcimP2pdmaInit(buildTopology(spec), T1.A), { ret: EOPNOTSUPP, state: null });
    const off = referenceT1Spec();
    off.platform.p2pdmaEnabled = false;
    assert.deepEqual(pcimP2pdmaInit(buildTopology(off), T1.A), { ret: EOPNOTSUPP, state: null });
  });

  it('is idempotent on the same device, and makes a new state after release', () => {
    const states = new Map<string, P2pdmaState>();
    const first = pcimP2pdmaInit(t1, T1.A, states).state;
    assert.equal(pcimP2pdmaInit(t1, T1.A, states).state, first);
    first?.release();
    const again = pcimP2pdmaInit(t1, T1.A, states).state;
    assert.notEqual(again, first);
    assert.equal(states.get(T1.A), again);
  });

  it('pcim_p2pdma_provider: none for non-memory BARs, a warning without state, an error pointer without P2PDMA', () => {
    const states = new Map<string, P2pdmaState>();
    assert.deepEqual(pcimP2pdmaProvider(t1, T1.A, 1, states), {
      provider: null,
      warning: 'no_p2pdma_state',
      error: null,
    });
    pcimP2pdmaInit(t1, T1.A, states);
    const p = pcimP2pdmaProvider(t1, T1.A, 1, states);
    assert.equal(p.provider?.owner, T1.A);
    assert.equal(p.provider?.bar, 1);
    assert.deepEqual(
      pcimP2pdmaProvider(t1, T1.A, 2, states),
      { provider: null, warning: null, error: null },
      'upper half of BAR 1',
    );
    const off = referenceT1Spec();
    off.platform.p2pdmaEnabled = false;
    assert.equal(pcimP2pdmaProvider(buildTopology(off), T1.A, 1, states).error, EOPNOTSUPP);
    assert.throws(() => pcimP2pdmaProvider(t1, T1.A, 6, states), /expected 0\.\.5/);
  });

  it('wraps the bus offset as u64 when the bus address is below the CPU address', () => {
    const spec = referenceT1Spec();
    spec.hostBridges[0]!.windows = [
      { type: 'mem', cpuStart: '0x380000000000', cpuEnd: '0x383fffffffff', offset: '0x380000000000' },
    ];
    const s = stateFor(buildTopology(spec));
    const p = s.provider(1);
    assert.ok(p);
    assert.equal(p.busOffset, (1n << 64n) - 0x380000000000n);
    assert.equal(BigInt.asUintN(64, p.cpuStart + p.busOffset), 0n, 'bus address 0');
  });
});

describe('pci_p2pdma_map_type (kernel-model.md 2.1, 2.6)', () => {
  it('caches the verbose computation and returns the cached value without logging', () => {
    const spec = referenceT1Spec({ acsCtrl: { [T1.DSP_B]: PCI_ACS.RR } });
    const t = buildTopology(spec);
    const s = stateFor(t);
    const miss = pciP2pdmaMapType(s, T1.B, t);
    assert.deepEqual(
      [miss.cacheHit, miss.result, miss.resultValue, miss.distance, miss.cacheKey],
      [false, 'THRU_HOST_BRIDGE', 4, 4, 0x400],
    );
    assert.equal(miss.log.length, 2, 'a miss computes verbosely');
    assert.equal(s.lookup(0x400)?.value, 4);
    const hit = pciP2pdmaMapType(s, T1.B, t);
    assert.deepEqual(
      [hit.cacheHit, hit.result, hit.decidedBy, hit.distance, hit.log.length],
      [true, 'THRU_HOST_BRIDGE', 'cache', null, 0],
    );
    assert.deepEqual(hit.hazards, []);
  });

  it('row 14: a non-PCI client is NOT_SUPPORTED, not cached, not logged', () => {
    const s = stateFor();
    const d = pciP2pdmaMapType(s, null, t1);
    assert.deepEqual(
      [d.result, d.decidedBy, d.client, d.cacheKey, d.log.length],
      ['NOT_SUPPORTED', 'non_pci_client', null, null, 0],
    );
    assert.equal(s.size, 0);
  });

  it('row 15: a provider without p2pdma state is NOT_SUPPORTED (also after release)', () => {
    const d = pciP2pdmaMapType(null, T1.B, t1, { provider: T1.A });
    assert.deepEqual(
      [d.result, d.decidedBy, d.provider, d.log.length],
      ['NOT_SUPPORTED', 'no_provider_state', T1.A, 0],
    );
    const s = stateFor();
    pciP2pdmaMapType(s, T1.B, t1);
    s.release();
    assert.equal(s.size, 0, 'the cache is destroyed');
    assert.equal(s.provider(1), null);
    assert.equal(pciP2pdmaMapType(s, T1.B, t1).decidedBy, 'no_provider_state');
  });

  it('row 16: 5c computed once, then HB0 made listed: still NOT_SUPPORTED from the cache, flagged stale', () => {
    const before = buildTopology(referenceT1Spec({ hb0Id: '1af4:1234' }));
    const s = stateFor(before);
    const first = pciP2pdmaMapType(s, T1.C, before);
    assert.equal(first.result, 'NOT_SUPPORTED');
    assert.equal(first.log.length, 1);
    const after = buildTopology(referenceT1Spec({ hb0Id: '8086:2020' }));
    const second = pciP2pdmaMapType(s, T1.C, after);
    assert.deepEqual(
      [second.result, second.cacheHit, second.decidedBy, second.log.length],
      ['NOT_SUPPORTED', true, 'cache', 0],
    );
    assert.deepEqual(
      second.hazards.map((h) => [h.kind, h.details]),
      [['stale_cache', { cached: 'NOT_SUPPORTED', fresh: 'THRU_HOST_BRIDGE' }]],
    );
    assert.deepEqual(pciP2pdmaMapType(s, T1.C, after, { detectStaleCache: false }).hazards, []);
    s.release();
    const fresh = stateFor(after);
    assert.equal(pciP2pdmaMapType(fresh, T1.C, after).result, 'THRU_HOST_BRIDGE', 'a new binding recomputes');
  });

  it('keeps ACS changes stale as well (the register is read only on a miss)', () => {
    const s = stateFor();
    assert.equal(pciP2pdmaMapType(s, T1.B, t1).result, 'BUS_ADDR');
    const redirected = buildTopology(referenceT1Spec({ acsCtrl: { [T1.DSP_B]: PCI_ACS.RR } }));
    const d = pciP2pdmaMapType(s, T1.B, redirected);
    assert.equal(d.result, 'BUS_ADDR');
    assert.equal(d.hazards[0]?.kind, 'stale_cache');
  });

  it('throws DEVICE_NOT_FOUND for an unknown client', () => {
    assert.throws(
      () => pciP2pdmaMapType(stateFor(), '0000:99:00.0', t1),
      (e: unknown) => isDmasimError(e) && e.code === ErrorCode.DEVICE_NOT_FOUND,
    );
  });
});

/** T1 plus a VMD-style domain 0x10000 and a segment 0x8000, each with a root port and an endpoint on bus 08. */
function withHighSegments(): TopologySpec {
  const s = referenceT1Spec();
  const extra = (segment: number, hb: number, id: string): FunctionSpec[] => {
    const seg = segment.toString(16).padStart(4, '0');
    const base = { acsCap: false, acsCtrl: 0, physfn: null };
    return [
      {
        ...base,
        bdf: `${seg}:00:00.0`,
        vendor: `0x${id.slice(0, 4)}`,
        device: `0x${id.slice(5)}`,
        type: 'legacy',
        parent: null,
        hostBridge: hb,
        secondaryBus: null,
        subordinateBus: null,
      },
      {
        ...base,
        bdf: `${seg}:00:02.0`,
        vendor: '0x8086',
        device: '0x2032',
        type: 'root_port',
        parent: null,
        hostBridge: hb,
        secondaryBus: 8,
        subordinateBus: 8,
      },
      {
        ...base,
        bdf: `${seg}:08:00.0`,
        vendor: '0x144d',
        device: '0xa80a',
        type: 'endpoint',
        parent: `${seg}:00:02.0`,
        hostBridge: hb,
        secondaryBus: null,
        subordinateBus: null,
      },
    ];
  };
  s.hostBridges.push({ segment: 0x8000, rootBus: 0 }, { segment: 0x10000, rootBus: 0 });
  s.functions.push(...extra(0x8000, 2, '8086:2020'), ...extra(0x10000, 3, '1af4:1234'));
  return s;
}

describe('map-type cache key (kernel-model.md 2.6)', () => {
  const t = buildTopology(withHighSegments());

  it('is (segment << 16) | (bus << 8) | devfn in a 32-bit int', () => {
    assert.equal(mapTypesIdx(t.get('0000:04:00.0')), 0x400);
    assert.equal(mapTypesIdx(t.get('8000:08:00.0')), 0x80000800, 'segment 0x8000 overflows the sign bit');
    assert.equal(mapTypesXarrayIndex(0x80000800), 0xffffffff80000800n, 'and sign-extends into the unsigned long index');
    assert.equal(mapTypesXarrayIndex(0x400), 0x400n);
    assert.equal(mapTypesIdx(t.get('10000:08:00.0')), 0x800, 'domain 0x10000 wraps onto segment 0');
  });

  it('lists the colliding clients of a topology', () => {
    assert.deepEqual(mapTypeKeyCollisions(t), [
      { key: 0, clients: ['0000:00:00.0', '10000:00:00.0'] },
      { key: 0x10, clients: ['0000:00:02.0', '10000:00:02.0'] },
      { key: 0x800, clients: ['0000:08:00.0', '10000:08:00.0'] },
    ]);
    assert.deepEqual(mapTypeKeyCollisions(t1), []);
  });

  it('makes two clients share one cached decision, flagged as a hazard', () => {
    const s = stateFor(t);
    const low = pciP2pdmaMapType(s, '0000:08:00.0', t);
    assert.equal(low.result, 'THRU_HOST_BRIDGE');
    assert.deepEqual(
      low.hazards.map((h) => [h.kind, h.details?.kind]),
      [['cache_key_collision', 'shared_key']],
    );
    const high = pciP2pdmaMapType(s, '10000:08:00.0', t);
    assert.equal(high.cacheHit, true, "the VMD device hits the segment-0 device's entry");
    assert.equal(high.result, 'THRU_HOST_BRIDGE');
    assert.deepEqual(
      high.hazards.map((h) => [h.kind, h.details?.kind ?? null]),
      [
        ['cache_key_collision', 'shared_key'],
        ['cache_key_collision', 'hit_other_client'],
        ['stale_cache', null],
      ],
      'a fresh computation says NOT_SUPPORTED (its host bridge is not listed)',
    );
    const other = stateFor(t);
    assert.equal(pciP2pdmaMapType(other, '10000:08:00.0', t).result, 'NOT_SUPPORTED', 'alone it is refused');
  });
});
