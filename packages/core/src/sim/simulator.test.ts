/** The simulator's object lifecycles: revoke and move_notify, the movable exporter's migrations, hazards it detects. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventData, EventType, SimEvent } from '../events/event-schema.ts';
import { replayEvents } from '../events/reducer.ts';
import { scenarioToSimConfig } from '../scenario/scenario-config.ts';
import type { ScenarioSpec } from '../scenario/scenario-spec.ts';
import { referenceT1Spec, T1 } from '../topology/reference-t1.ts';
import { Simulator } from './simulator.ts';

const MiB = 1n << 20n;
const GiB = 1n << 30n;

function sim(over: Partial<ScenarioSpec>): { s: Simulator; events: SimEvent[] } {
  const spec: ScenarioSpec = {
    kind: 'dmasim-scenario',
    version: 1,
    seed: 0,
    topology: { inline: referenceT1Spec() },
    kernel: { cpus: 2 },
    importers: [{ device: T1.B }, { device: T1.C }],
    exporters: [{ device: T1.A, bar: 1 }],
    ...over,
  };
  const events: SimEvent[] = [];
  const s = new Simulator(scenarioToSimConfig(spec), { scenarioId: 't', onEvent: (e) => events.push(e) });
  return { s, events };
}

function of<T extends EventType>(events: SimEvent[], type: T): EventData<T>[] {
  return events.filter((e) => e.type === type).map((e) => e.data as EventData<T>);
}

test('memory decode off revokes every dma-buf of the device: move_notify unmaps, map and attach get -ENODEV; on restores', () => {
  const { s, events } = sim({});
  const d = s.exportBuffer(T1.A, 1, [{ offset: 0n, length: 2n * MiB }]).id!;
  const a = s.attach(d, T1.B).id!;
  const m = s.map(a).id!;
  s.setMemoryDecode(T1.A, false, 1);
  assert.deepEqual(of(events, 'dmabuf.revoke').at(-1), {
    dmabufId: d,
    revoked: true,
    reason: 'decode_off',
    attachmentsNotified: [a],
  });
  assert.deepEqual(of(events, 'dmabuf.unmap').at(-1), {
    dmabufId: d,
    attachmentId: a,
    mappingId: m,
    mode: 'bus_addr',
    reason: 'move_notify',
  });
  assert.equal(s.mappings.size, 0);
  assert.equal(s.map(a).result, -19);
  assert.equal(s.attach(d, T1.C).result, -19);
  const revokedExport = s.exportBuffer(T1.A, 1, [{ offset: 4n * MiB, length: 2n * MiB }]);
  assert.equal(
    of(events, 'dmabuf.export').at(-1)!.revoked,
    true,
    'a dma-buf made while decoding is off starts revoked',
  );
  s.setMemoryDecode(T1.A, true);
  assert.equal(s.dmabufs.get(revokedExport.id!)!.revoked, false);
  assert.ok(s.map(a).id !== null);
  s.closeExporter(T1.A);
  assert.equal(of(events, 'dmabuf.revoke').at(-1)!.reason, 'close');
  s.setMemoryDecode(T1.A, false);
  s.setMemoryDecode(T1.A, true);
  assert.equal(s.dmabufs.get(d)!.revoked, true, 'closed: revoked for good');
  assert.equal(s.exportBuffer(T1.A, 1, [{ offset: 0n, length: MiB }]).result, -19, 'registration gone');
  s.end();
  assert.equal(replayEvents(events).stateHash, s.stateHash());
});

test('static importers never get peer2peer: vfio-pci refuses them; a refused pin undoes the attach', () => {
  const { s, events } = sim({
    importers: [
      { device: T1.B, dynamic: false, peer2peer: false },
      { device: T1.C, pins: true },
    ],
    kernel: { cpus: 1, vfioPinAllowed: false },
  });
  const d = s.exportBuffer(T1.A, 1, [{ offset: 0n, length: MiB }]).id!;
  assert.equal(s.attach(d, T1.B).result, -95);
  assert.equal(s.attach(d, T1.C).result, -95);
  assert.deepEqual(of(events, 'dmabuf.pin').at(-1), { dmabufId: d, attachmentId: 2, at: 'attach', result: -95 });
  assert.equal(of(events, 'dmabuf.detach').at(-1)!.reason, 'pin_failed');
  assert.equal(s.attachments.size, 0);
});

test('movable exporter: a migrate attachment moves the buffer to system memory, notifying the others; it comes back when none needs it', () => {
  const { s, events } = sim({
    importers: [{ device: T1.B }, { device: T1.C }],
    exporters: [{ device: T1.A, bar: 1, kind: 'movable', policy: { thruHostBridge: 'migrate' } }],
  });
  const d = s.exportBuffer(T1.A, 1, [{ offset: 0n, length: 8n * MiB }]).id!;
  const p2p = s.attach(d, T1.B).id!;
  const sys = s.attach(d, T1.C).id!;
  assert.deepEqual(
    of(events, 'exporter.policy').map((x) => [x.importer, x.mapType, x.decision]),
    [
      [T1.B, 'BUS_ADDR', 'keep_p2p'],
      [T1.C, 'THRU_HOST_BRIDGE', 'migrate'],
    ],
  );
  const first = s.map(p2p);
  assert.equal(first.mode, 'bus_addr');
  const m = s.map(sys);
  assert.equal(m.mode, 'system');
  const mig = of(events, 'exporter.migrate').at(-1)!;
  assert.deepEqual([mig.to, mig.bytes, mig.attachmentsNotified], ['system', 8n * MiB, [p2p]]);
  assert.equal(of(events, 'dmabuf.unmap').at(-1)!.reason, 'move_notify', 'the P2P mapping was invalidated');
  assert.equal(s.map(p2p).mode, 'system', 'while a migrate attachment exists, everyone maps the system copy');
  s.detach(sys);
  const back = s.map(p2p);
  assert.equal(of(events, 'exporter.migrate').at(-1)!.to, 'device');
  assert.equal(back.mode, 'bus_addr');
  s.end();
  assert.equal(replayEvents(events).stateHash, s.stateHash());
});

test('BUS_ADDR entries above a 32-bit importer mask are handed out unchecked and flagged', () => {
  const { s, events } = sim({ importers: [{ device: T1.B, dmaMask: 32 }] });
  const d = s.exportBuffer(T1.A, 1, [{ offset: 0n, length: MiB }]).id!;
  const m = s.map(s.attach(d, T1.B).id!);
  assert.equal(m.result, 0, 'the kernel does not check');
  assert.equal(m.entries[0]!.dmaAddress, 0x380000000000n);
  assert.equal(of(events, 'hazard').at(-1)!.kind, 'bus_addr_unreachable');
});

test('a phantom rcache pfn from a split unmap is handed out while the tree gives the same IOVA to another mapping', () => {
  const { s, events } = sim({
    importers: [{ device: T1.C, iommu: { mode: 'dma', apertureBits: 34 } }],
    kernel: { cpus: 1 },
  });
  // Two ranges whose whole (8 GiB + 16 KiB, aligned to 16 GiB) finds no IOVA block: per-range mode.
  const big = s.exportBuffer(T1.A, 1, [
    { offset: 0n, length: 4n * GiB + 16384n },
    { offset: 8n * GiB, length: 4n * GiB },
  ]).id!;
  const a = s.attach(big, T1.C).id!;
  const m = s.map(a);
  assert.equal(m.mode, 'per_range');
  const base = m.entries[0]!.dmaAddress;
  s.unmap(m.id!);
  assert.ok(of(events, 'hazard').some((h) => h.kind === 'split_unmap'));
  // 32 KiB = 8 pages: rcache bin 3 hands out the phantom, which is not in the tree.
  const small = s.exportBuffer(T1.A, 1, [{ offset: 16n * GiB, length: 32768n }]).id!;
  const ms = s.map(s.attach(small, T1.C).id!);
  assert.equal(ms.entries[0]!.dmaAddress, base + 0xfffff000n, 'the phantom pfn');
  // The tree places the next big range where the freed node was, over the phantom's live mapping.
  const again = s.exportBuffer(T1.A, 1, [{ offset: 20n * GiB, length: 4n * GiB + 16384n }]).id!;
  s.map(s.attach(again, T1.C).id!);
  assert.ok(of(events, 'hazard').some((h) => h.kind === 'iova_double_use'));
});

test('replay detects a tampered log at its checkpoint', () => {
  const { s, events } = sim({});
  const d = s.exportBuffer(T1.A, 1, [{ offset: 0n, length: 2n * MiB }]).id!;
  s.map(s.attach(d, T1.C).id!);
  s.checkpoint();
  s.end();
  assert.equal(replayEvents(events).checkpoints, 2);
  const tampered = events.map((e) =>
    e.type === 'iommu.map' ? ({ ...e, data: { ...e.data, paddr: e.data.paddr + 4096n } } as SimEvent) : e,
  );
  assert.throws(
    () => replayEvents(tampered),
    /STATE_HASH_MISMATCH|state hash [0-9a-f]{16} before event seq \d+ \(sim\.state_hash\)/,
  );
});

test('providerDmaAttrs (7.2): the extra DMA attributes of the provider go into every THRU call and are reused at unmap', () => {
  const { s, events } = sim({
    importers: [{ device: T1.C, iommu: { mode: 'identity' } }, { device: T1.E }],
    kernel: { cpus: 1, providerDmaAttrs: 0x2000 },
  });
  const d = s.exportBuffer(T1.A, 1, [{ offset: 0n, length: 2n * MiB }]).id!;
  for (const imp of [T1.C, T1.E]) {
    const m = s.map(s.attach(d, imp).id!);
    s.unmap(m.id!);
  }
  const attrs = [
    ...of(events, 'dma.map_phys').map((x) => x.attrs),
    ...of(events, 'dma.unmap_phys').map((x) => x.attrs),
    ...of(events, 'dma.iova_link').map((x) => x.attrs),
  ];
  assert.ok(attrs.length >= 3);
  assert.ok(
    attrs.every((a) => a === 0x2400),
    `MMIO | CC_SHARED everywhere, found ${attrs.map((a) => a.toString(16))}`,
  );
});
