/**
 * Live == replayed: random sequences of DMA API calls (several devices and CPUs, virtual time, lazy and
 * strict domains, every link-collision policy, the hazards of kernel-model.md 3.8) on a live kernel, and a
 * fresh IommuReducer fed with every step record the kernel emitted from boot: their canonical snapshots
 * must be deep-equal after every call.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DmaDevice,
  type DmaIovaState,
  dmaBitMask,
  dmaIovaDestroy,
  dmaIovaLink,
  dmaIovaSync,
  dmaIovaTryAlloc,
  dmaMapPhys,
  dmaUnmapPhys,
  IommuDomain,
  IommuReducer,
  type IommuStep,
  KernelContext,
  type LinkCollisionPolicy,
  snapshotIommuSystem,
} from '@dmasim/core';
import fc from 'fast-check';

const PAGE = 4096n;
const BRIDGE = {
  windows: [
    { type: 'mem' as const, cpuStart: 0xc0000000n, cpuEnd: 0xfebfffffn, offset: 0n },
    { type: 'mem' as const, cpuStart: 0x380000000000n, cpuEnd: 0x3fffffffffffn, offset: 0n },
  ],
};

type Op =
  | { op: 'try_alloc'; dev: number; cpu: number; pages: number }
  | { op: 'link'; state: number; cpu: number; offsetPages: number; pages: number; dir: number }
  | { op: 'sync'; state: number; cpu: number }
  | { op: 'destroy'; state: number; cpu: number; part: 'all' | 'half' | 'zero' }
  | { op: 'map'; dev: number; cpu: number; pages: number; offset: number }
  | { op: 'unmap'; map: number; cpu: number; how: 'whole' | 'split' | 'short' }
  | { op: 'unmap_zero'; dev: number; cpu: number }
  | { op: 'advance'; us: number };

const sizes = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(256, 512, 4096, 65536, 300000));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('try_alloc' as const), dev: fc.nat(2), cpu: fc.nat(1), pages: sizes }),
  fc.record({
    op: fc.constant('link' as const),
    state: fc.nat(20),
    cpu: fc.nat(1),
    offsetPages: fc.oneof(fc.constant(0), fc.nat(8)),
    pages: sizes,
    dir: fc.nat(2),
  }),
  fc.record({ op: fc.constant('sync' as const), state: fc.nat(20), cpu: fc.nat(1) }),
  fc.record({
    op: fc.constant('destroy' as const),
    state: fc.nat(20),
    cpu: fc.nat(1),
    part: fc.constantFrom('all' as const, 'half' as const, 'zero' as const),
  }),
  fc.record({
    op: fc.constant('map' as const),
    dev: fc.nat(2),
    cpu: fc.nat(1),
    pages: sizes,
    offset: fc.constantFrom(0, 0x10, 0x800),
  }),
  fc.record({
    op: fc.constant('unmap' as const),
    map: fc.nat(20),
    cpu: fc.nat(1),
    how: fc.constantFrom('whole' as const, 'split' as const, 'short' as const),
  }),
  fc.record({ op: fc.constant('unmap_zero' as const), dev: fc.nat(2), cpu: fc.nat(1) }),
  fc.record({
    op: fc.constant('advance' as const),
    us: fc.oneof(fc.nat(3000), fc.constant(10_000), fc.constant(150_000)),
  }),
);

interface Config {
  type: 'dma' | 'dma_fq';
  policy: LinkCollisionPolicy;
  shadowOnFlush: boolean;
  hz: number;
}

/** What the random runs exercised (checked at the end so the property cannot pass vacuously). */
const seen = new Map<string, number>();
function tally(s: IommuStep): void {
  let key: string = s.kind;
  if (s.kind === 'iommu.map') key += `:${s.collision}`;
  else if (s.kind === 'iova.fq_flush') key += `:${s.reason}`;
  else if (s.kind === 'iova.alloc') key += `:${s.source}${s.phantom ? ':phantom' : ''}`;
  else if (s.kind === 'iova.free') key += `:${s.destination}${'fqQueue' in s && s.fqQueue != null ? ':from_fq' : ''}`;
  else if (s.kind === 'kernel.log') key += `:${s.msg}`;
  else if (s.kind === 'dma.iova_link') key += `:${s.reason ?? 'ok'}${s.overlap ? ':overlap' : ''}`;
  else if (s.kind === 'iova.depot') key += `:${s.action}`;
  seen.set(key, (seen.get(key) ?? 0) + 1);
}

function run(cfg: Config, ops: readonly Op[]): void {
  const steps: IommuStep[] = [];
  const kernel = new KernelContext({
    cpus: 2,
    hz: cfg.hz,
    onStep: (s) => {
      steps.push(s);
      tally(s);
    },
  });
  const domain = new IommuDomain(kernel, {
    id: 3,
    type: cfg.type,
    linkCollision: cfg.policy,
    shadowOnFlush: cfg.shadowOnFlush,
  });
  const devs = [
    new DmaDevice(kernel, { name: '0000:21:00.0', domain, dmaMask: dmaBitMask(64), hostBridge: BRIDGE }),
    new DmaDevice(kernel, { name: '0000:21:00.1', domain, dmaMask: dmaBitMask(32), hostBridge: BRIDGE }),
    new DmaDevice(kernel, {
      name: '0000:41:00.0',
      domain: null,
      dmaMask: dmaBitMask(48),
      busDmaLimit: 0x380010000000n,
    }),
  ];
  const reducer = new IommuReducer();
  let fed = 0;
  const check = (what: string) => {
    reducer.applyAll(steps.slice(fed));
    fed = steps.length;
    assert.deepEqual(reducer.snapshot(), snapshotIommuSystem(kernel, devs), what);
  };
  check('after boot');
  const states: { dev: DmaDevice; state: DmaIovaState; linked: bigint }[] = [];
  const maps: { dev: DmaDevice; addr: bigint; size: bigint }[] = [];
  let now = 0;
  let phys = 0x380000000000n;
  for (const [i, o] of ops.entries()) {
    switch (o.op) {
      case 'try_alloc': {
        const dev = devs[o.dev]!;
        const r = dmaIovaTryAlloc(dev, 0n, BigInt(o.pages) * PAGE, { cpu: o.cpu });
        if (r.ok) states.push({ dev, state: r.state, linked: 0n });
        break;
      }
      case 'link': {
        const s = states[o.state % Math.max(1, states.length)];
        if (s === undefined) break;
        const size = BigInt(o.pages) * PAGE;
        phys += size;
        const r = dmaIovaLink(s.dev, s.state, phys, BigInt(o.offsetPages) * PAGE, size, o.dir, undefined, {
          cpu: o.cpu,
        });
        if (r.ok) s.linked += size;
        break;
      }
      case 'sync': {
        const s = states[o.state % Math.max(1, states.length)];
        if (s !== undefined) dmaIovaSync(s.dev, s.state, 0n, s.state.size, { cpu: o.cpu });
        break;
      }
      case 'destroy': {
        if (states.length === 0) break;
        const [s] = states.splice(o.state % states.length, 1);
        const len = o.part === 'all' ? s!.state.size : o.part === 'half' ? (s!.state.size / 2n) & ~0xfffn : 0n;
        dmaIovaDestroy(s!.dev, s!.state, len, 0, undefined, { cpu: o.cpu });
        break;
      }
      case 'map': {
        const dev = devs[o.dev]!;
        const size = BigInt(o.pages) * PAGE;
        phys += size + PAGE;
        const r = dmaMapPhys(dev, phys + BigInt(o.offset), size, 0, undefined, { cpu: o.cpu });
        if (r.ok) maps.push({ dev, addr: r.dmaAddr, size });
        break;
      }
      case 'unmap': {
        if (maps.length === 0) break;
        const [m] = maps.splice(o.map % maps.length, 1);
        const { dev, addr, size } = m!;
        if (o.how === 'whole') dmaUnmapPhys(dev, addr, size, 0, undefined, { cpu: o.cpu });
        else if (o.how === 'short')
          dmaUnmapPhys(dev, addr, size > PAGE ? size - PAGE : size, 0, undefined, { cpu: o.cpu });
        else {
          // an SG-style split: first part, then the rest (hazard 3.8-2 when the first part frees the node)
          const first = size > PAGE ? (size / 2n) & ~0xfffn : size;
          dmaUnmapPhys(dev, addr, first, 0, undefined, { cpu: o.cpu });
          if (size > first) dmaUnmapPhys(dev, addr + first, size - first, 0, undefined, { cpu: o.cpu });
        }
        break;
      }
      case 'unmap_zero':
        dmaUnmapPhys(devs[o.dev]!, 0n, 0n, 0, undefined, { cpu: o.cpu });
        break;
      case 'advance':
        now += o.us * 1000;
        kernel.advanceTo(now);
        break;
    }
    check(`after op ${i} ${JSON.stringify(o)}`);
  }
}

test('property: the reducer rebuilds the live state after every DMA API call', () => {
  const cfg = fc.record({
    type: fc.constantFrom('dma' as const, 'dma_fq' as const),
    policy: fc.constantFrom<LinkCollisionPolicy>('overwrite', 'keep', 'fail'),
    shadowOnFlush: fc.boolean(),
    hz: fc.constantFrom(1000, 250, 100),
  });
  fc.assert(
    fc.property(cfg, fc.array(opArb, { minLength: 20, maxLength: 80 }), (c, ops) => run(c, ops)),
    { numRuns: 120 },
  );
  for (const k of [
    'iommu.map:none',
    'iommu.map:overwrite',
    'iommu.map:keep',
    'dma.iova_link:iommu_map:overlap',
    'iova.fq_flush:timer',
    'iova.free:flush_queue',
    'iova.free:rcache:from_fq',
    'iova.free:tree',
    'iova.free:not_found',
    'iova.alloc:rcache',
    'iova.alloc:fail',
    'iova.dac_switch',
    'kernel.log:dma_iommu.unmapped_mismatch',
    'kernel.log:dma_direct.overflow',
    'iommu.unmap',
  ]) {
    assert.ok((seen.get(k) ?? 0) > 0, `the random runs never produced ${k}: ${JSON.stringify([...seen])}`);
  }
});

test('the reducer follows a full per-CPU flush queue (256th release flushes) and the timer', () => {
  const ops: Op[] = [];
  for (let i = 0; i < 300; i++) ops.push({ op: 'map', dev: 0, cpu: i % 2, pages: 1 + (i % 3), offset: 0 });
  for (let i = 0; i < 300; i++) ops.push({ op: 'unmap', map: 0, cpu: 0, how: 'whole' });
  ops.push({ op: 'advance', us: 20_000 });
  run({ type: 'dma_fq', policy: 'fail', shadowOnFlush: false, hz: 1000 }, ops);
});

test('a reducer fed a record that does not fit its state reports STATE_HASH_MISMATCH', () => {
  const r = new IommuReducer();
  assert.throws(
    () => r.apply({ kind: 'iommu.unmap', domainId: 9, iova: 0n, size: 0n, unmappedSize: 0n, unroll: false }),
    (e: unknown) => (e as { code?: string }).code === 'STATE_HASH_MISMATCH',
  );
});
