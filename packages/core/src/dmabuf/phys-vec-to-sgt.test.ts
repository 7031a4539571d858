/**
 * `dma_buf_phys_vec_to_sgt` / `dma_buf_free_sgt` on the real DMA API model: every worked example of
 * kernel-model.md 3.7 and every hazard of 3.8, checked against the addresses, step records and
 * allocator state the spec gives.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventData, EventType } from '../events/event-schema.ts';
import { DmaDevice } from '../iommu/dma-device.ts';
import { dmaBitMask } from '../iommu/dma-mapping.ts';
import { IommuDomain } from '../iommu/iommu-domain.ts';
import type { IommuStep } from '../iommu/iommu-steps.ts';
import { KernelContext } from '../iommu/kernel-context.ts';
import type { MapTypeName } from '../p2p/map-type.ts';
import type { P2pdmaProvider } from '../p2p/p2pdma-state.ts';
import { dmaBufFreeSgt, dmaBufPhysVecToSgt, type SgtEnv, type SgtMapping, type SgtResult } from './phys-vec-to-sgt.ts';
import type { SgChunk } from './sg-table.ts';

const MiB = 1n << 20n;
const GiB = 1n << 30n;
const BAR = 0x380000000000n;

interface Rig {
  kernel: KernelContext;
  domain: IommuDomain | null;
  dev: DmaDevice;
  steps: IommuStep[];
  events: { type: EventType; data: unknown }[];
  env: (mapType?: MapTypeName, chunk?: SgChunk) => SgtEnv;
}

/**
 * Common setup of 3.7: 4 KiB pages; x86 reservations of 4.8 scenario B/C (host-bridge windows
 * [C0000-FEBFF] and [380000000-3FFFFFFFF], MSI); importer 64-bit mask unless given.
 */
function rig(
  opts: {
    type?: 'dma' | 'dma_fq' | 'identity' | null;
    mask?: number;
    linkCollision?: 'fail' | 'overwrite' | 'keep';
    apertureBits?: number;
  } = {},
): Rig {
  const steps: IommuStep[] = [];
  const kernel = new KernelContext({ cpus: 1, onStep: (s) => steps.push(s) });
  const type = opts.type === undefined ? 'dma_fq' : opts.type;
  const domain =
    type === null
      ? null
      : new IommuDomain(kernel, {
          id: 1,
          type,
          linkCollision: opts.linkCollision ?? 'fail',
          geometry: { apertureEnd: dmaBitMask(opts.apertureBits ?? 48) },
        });
  const dev = new DmaDevice(kernel, {
    name: '0000:21:00.0',
    domain,
    dmaMask: dmaBitMask(opts.mask ?? 64),
    hostBridge: {
      windows: [
        { type: 'mem', cpuStart: 0xc0000000n, cpuEnd: 0xfebfffffn, offset: 0n },
        { type: 'mem', cpuStart: 0x380000000000n, cpuEnd: 0x3fffffffffffn, offset: 0n },
      ],
    },
  });
  steps.length = 0;
  const events: { type: EventType; data: unknown }[] = [];
  return {
    kernel,
    domain,
    dev,
    steps,
    events,
    env: (mapType = 'THRU_HOST_BRIDGE', chunk = 'page_aligned') => ({
      dev,
      cpu: 0,
      sgChunk: chunk,
      pageSize: 4096,
      mapType: () => mapType,
      emit: <T extends EventType>(t: T, d: EventData<T>) => {
        events.push({ type: t, data: d });
      },
      mappingId: 1,
      dmabufId: 1,
    }),
  };
}

const provider = (busOffset = 0n): P2pdmaProvider => ({
  bar: 1,
  owner: '0000:c1:00.0',
  busOffset,
  cpuStart: BAR,
  length: 64n * GiB,
});

function entries(r: SgtResult): [bigint, number][] {
  assert.ok(
    r.ok,
    `mapping failed: ${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`,
  );
  return r.sgt.entries.map((e) => [e.dmaAddress, e.dmaLength]);
}

function ok(r: SgtResult): SgtMapping {
  assert.ok(r.ok);
  return r.sgt;
}

const kinds = (steps: IommuStep[]) => steps.map((s) => s.kind);
const of = <K extends IommuStep['kind']>(steps: IommuStep[], k: K) =>
  steps.filter((s) => s.kind === k) as Extract<IommuStep, { kind: K }>[];
const hazards = (r: Rig) =>
  r.events.filter((e) => e.type === 'hazard').map((e) => (e.data as EventData<'hazard'>).kind);

test('E1: BUS_ADDR, two ranges, bus offset 0 and a wrapping bus offset', () => {
  const r = rig();
  const ranges = [
    { paddr: 0x380000000000n, len: 0x200000n },
    { paddr: 0x380040000000n, len: 0x180000000n },
  ];
  const sgt = dmaBufPhysVecToSgt(r.env('BUS_ADDR'), provider(), ranges, 0x200000n + 0x180000000n, 0);
  assert.deepEqual(entries(sgt), [
    [0x380000000000n, 0x200000],
    [0x380040000000n, 0xfffff000],
    [0x38013ffff000n, 0x80001000],
  ]);
  assert.equal(ok(sgt).nents, 3);
  assert.equal(ok(sgt).state, null);
  assert.deepEqual(r.steps, [], 'no DMA API call, no tracepoint');
  const off = dmaBufPhysVecToSgt(r.env('BUS_ADDR'), provider(0xffffffc000000000n), ranges, 0x180200000n, 0);
  assert.deepEqual(entries(off)[0], [0x37c000000000n, 0x200000]);
  dmaBufFreeSgt(r.env('BUS_ADDR'), ok(sgt));
  assert.deepEqual(r.steps, [], 'BUS_ADDR unmap does nothing');
});

test('E2: THRU, IOMMU-DMA, one 2 MiB range: IOVA 0xFFE00000, queued (DMA_FQ) or freed at once (DMA)', () => {
  for (const type of ['dma_fq', 'dma'] as const) {
    const r = rig({ type });
    const sgt = dmaBufPhysVecToSgt(r.env(), provider(), [{ paddr: BAR, len: 2n * MiB }], 2n * MiB, 0);
    assert.deepEqual(entries(sgt), [[0xffe00000n, 0x200000]]);
    assert.deepEqual(kinds(r.steps), [
      'dma.iova_try_alloc',
      'iova.alloc',
      'dma.iova_link',
      'iommu.map',
      'dma.iova_sync',
    ]);
    const alloc = of(r.steps, 'iova.alloc')[0]!;
    assert.equal(alloc.limitPfn, 0xfffff, '32-bit first');
    assert.equal(alloc.phase, '32bit');
    const map = of(r.steps, 'iommu.map')[0]!;
    assert.deepEqual([map.iova, map.iova + map.size, map.paddr, map.size], [0xffe00000n, 0x100000000n, BAR, 2097152n]);
    assert.equal(map.prot, 0x13, 'MMIO | READ | WRITE for BIDIRECTIONAL');
    r.steps.length = 0;
    dmaBufFreeSgt(r.env(), ok(sgt));
    const unmap = of(r.steps, 'iommu.unmap')[0]!;
    assert.deepEqual([unmap.iova, unmap.size, unmap.unmappedSize], [0xffe00000n, 2097152n, 2097152n]);
    if (type === 'dma_fq') {
      assert.deepEqual(kinds(r.steps), ['dma.iova_destroy', 'iommu.unmap', 'iova.free']);
      const q = r.steps[2] as Extract<IommuStep, { destination: 'flush_queue' }>;
      assert.equal(q.destination, 'flush_queue');
      assert.deepEqual([q.pfn, q.pages], [0xffe00, 512]);
      // 10 ms later the timer flushes and the 512 pages bypass the rcache: the node leaves the tree.
      r.steps.length = 0;
      r.kernel.advanceTo(20_000_000);
      const freed = of(r.steps, 'iova.free').find((s) => 'api' in s)!;
      assert.equal((freed as { destination: string }).destination, 'tree');
    } else {
      const f = of(r.steps, 'iova.free')[0] as { destination: string; pfnLo: number };
      assert.equal(f.destination, 'tree', '512 pages >= 32 bypass the rcache');
      assert.equal(f.pfnLo, 0xffe00);
    }
    assert.equal(r.domain!.iova!.findIova(0xffe00n), null);
  }
});

test('E3: THRU, IOMMU-DMA, 6 GiB in one range: fast fail below 4 GiB, "Using 48-bit DMA addresses", 0xFFFE00000000', () => {
  const r = rig();
  const sgt = dmaBufPhysVecToSgt(r.env(), provider(), [{ paddr: BAR, len: 6n * GiB }], 6n * GiB, 0);
  assert.deepEqual(entries(sgt), [
    [0xfffe00000000n, 0xfffff000],
    [0xfffefffff000n, 0x80001000],
  ]);
  const allocs = of(r.steps, 'iova.alloc');
  assert.equal(allocs[0]!.fastFail, true);
  assert.equal(allocs[0]!.phase, '32bit');
  assert.equal(allocs[1]!.phase, 'full');
  assert.equal(allocs[1]!.limitPfn, 2 ** 36 - 1);
  const notice = of(r.steps, 'kernel.log').find((l) => l.msg === 'dma_iommu.dac_notice')!;
  assert.equal(notice.text, 'Using 48-bit DMA addresses');
  const maps = of(r.steps, 'iommu.map');
  assert.equal(maps.length, 1);
  assert.equal(maps[0]!.size, 6442450944n);
});

test('E4: THRU, dma-direct (iommu=pt): dma_map_phys returns the physical address; a 32-bit mask fails with -ENOMEM', () => {
  const r = rig({ type: 'identity' });
  const phys = 0x380040000000n;
  const sgt = dmaBufPhysVecToSgt(r.env(), provider(), [{ paddr: phys, len: 512n * MiB }], 512n * MiB, 0);
  assert.deepEqual(entries(sgt), [[phys, 0x20000000]]);
  assert.equal(ok(sgt).mode, 'per_range');
  const m = of(r.steps, 'dma.map_phys')[0]!;
  assert.deepEqual(
    [m.device, m.dir, m.dmaAddr, m.size, m.physAddr, m.attrs, m.path],
    ['0000:21:00.0', 'BIDIRECTIONAL', phys, 536870912n, phys, 0x400, 'direct'],
  );

  const r32 = rig({ type: 'identity', mask: 32 });
  const bad = dmaBufPhysVecToSgt(r32.env(), provider(), [{ paddr: phys, len: 512n * MiB }], 512n * MiB, 0);
  assert.ok(!bad.ok);
  assert.equal(bad.errno, -12);
  const fm = of(r32.steps, 'dma.map_phys')[0]!;
  assert.equal(fm.dmaAddr, 0xffffffffffffffffn, 'traced with DMA_MAPPING_ERROR');
  assert.equal(fm.reason, 'mask');
  assert.ok(of(r32.steps, 'kernel.log').some((l) => l.text.includes('overflow')));
  const cleanup = r32.events.find((e) => e.type === 'dmabuf.map.cleanup')!.data as EventData<'dmabuf.map.cleanup'>;
  assert.equal(cleanup.kind, 'none', 'i = 0: no cleanup');
  assert.equal(of(r32.steps, 'dma.unmap_phys').length, 0);
});

test('E5: THRU, IOMMU-DMA, 32-bit importer, three 512 MiB ranges: try_alloc fails, per-range 0xA0000000, 0x80000000, 0x60000000', () => {
  const r = rig({ mask: 32 });
  const ranges = [0n, 1n, 2n].map((i) => ({ paddr: BAR + i * 512n * MiB, len: 512n * MiB }));
  const sgt = dmaBufPhysVecToSgt(r.env(), provider(), ranges, 3n * 512n * MiB, 0);
  assert.deepEqual(entries(sgt), [
    [0xa0000000n, 0x20000000],
    [0x80000000n, 0x20000000],
    [0x60000000n, 0x20000000],
  ]);
  assert.equal(ok(sgt).nents, 3);
  const tryAlloc = of(r.steps, 'dma.iova_try_alloc')[0]!;
  assert.equal(tryAlloc.result, 'no_iova');
  assert.equal(of(r.steps, 'iova.alloc')[0]!.max32After, 393216, 'max32_alloc_size = 393216');
  assert.equal(of(r.steps, 'iommu.map').length, 3);
  assert.equal(of(r.steps, 'dma.map_phys').length, 3);
  // Per range, dma.map_phys comes after its iova.alloc and iommu.map.
  const order = kinds(r.steps).filter((k) => k === 'iova.alloc' || k === 'iommu.map' || k === 'dma.map_phys');
  assert.deepEqual(order.slice(-9), [
    'iova.alloc',
    'iommu.map',
    'dma.map_phys',
    'iova.alloc',
    'iommu.map',
    'dma.map_phys',
    'iova.alloc',
    'iommu.map',
    'dma.map_phys',
  ]);
  r.steps.length = 0;
  dmaBufFreeSgt(r.env(), ok(sgt));
  // On unmap, per entry: iommu.unmap and iova.free before dma.unmap_phys.
  assert.deepEqual(kinds(r.steps).slice(0, 3), ['iommu.unmap', 'iova.free', 'dma.unmap_phys']);
  assert.equal(of(r.steps, 'dma.unmap_phys').length, 3);
});

test('NOT_SUPPORTED: -EINVAL and nothing else', () => {
  const r = rig();
  const res = dmaBufPhysVecToSgt(r.env('NOT_SUPPORTED'), provider(), [{ paddr: BAR, len: 2n * MiB }], 2n * MiB, 0);
  assert.ok(!res.ok);
  assert.equal(res.errno, -22);
  assert.deepEqual(r.steps, []);
  const missing = dmaBufPhysVecToSgt(r.env(), null, [{ paddr: BAR, len: 2n * MiB }], 2n * MiB, 0);
  assert.ok(!missing.ok && missing.errno === -22, 'no provider: WARN and -EINVAL');
});

const twoRanges = [
  { paddr: BAR, len: 2n * MiB },
  { paddr: BAR + GiB, len: 1n * MiB },
];

test('3.8-1 fail: the second link at offset 0 fails -EADDRINUSE; destroy(mapped_len = L0) releases L0 at the block start', () => {
  const r = rig({ type: 'dma', linkCollision: 'fail' });
  const res = dmaBufPhysVecToSgt(r.env(), provider(), twoRanges, 3n * MiB, 0);
  assert.ok(!res.ok);
  assert.equal(res.errno, -98);
  const links = of(r.steps, 'dma.iova_link');
  assert.equal(links.length, 2);
  assert.equal(links[1]!.offset, 0n, 'range 1 linked at offset 0');
  assert.equal(links[1]!.overlap, true);
  const destroy = of(r.steps, 'dma.iova_destroy')[0]!;
  assert.equal(destroy.mappedLen, 2n * MiB);
  assert.deepEqual(destroy.released, { pfn: 0xffc00n, pages: 512n }, 'L0 worth of pages at A, not the 768-page block');
  const unmap = of(r.steps, 'iommu.unmap').filter((u) => !u.unroll)[0]!;
  assert.deepEqual([unmap.iova, unmap.size], [0xffc00000n, 2n * MiB]);
  assert.deepEqual(new Set(hazards(r)), new Set(['link_overlap', 'release_size_mismatch']));
  // 512 pages >= 32: free_iova by pfn frees the whole 768-page node anyway.
  assert.equal(r.domain!.iova!.findIova(0xffc00n), null);
});

test('3.8-1 overwrite and keep: success, only max(L_i) mapped, the tail faults and the unmap stops at the hole', () => {
  for (const policy of ['overwrite', 'keep'] as const) {
    const r = rig({ type: 'dma', linkCollision: policy });
    const sgt = ok(dmaBufPhysVecToSgt(r.env(), provider(), twoRanges, 3n * MiB, 0));
    const a = sgt.state!.addr;
    assert.deepEqual(
      sgt.entries.map((e) => [e.dmaAddress, e.dmaLength]),
      [[a, 3 * 0x100000]],
      'one SG entry over [A, A + size)',
    );
    assert.ok(sgt.warnings.includes('link_overlap'));
    const maps = of(r.steps, 'iommu.map');
    assert.deepEqual(
      maps.map((m) => [m.iova, m.size, m.collision]),
      [
        [a, 2n * MiB, 'none'],
        [a, 1n * MiB, policy],
      ],
    );
    const t = r.domain!.pageTable;
    assert.equal(t.translate(a)!.paddr, policy === 'overwrite' ? BAR + GiB : BAR, 'who owns the first MiB');
    assert.equal(t.translate(a + 2n * MiB), null, 'beyond max(L_i): not mapped');
    assert.ok(hazards(r).includes('unmapped_tail'));
    if (policy === 'keep')
      assert.ok(of(r.steps, 'kernel.log').some((l) => l.text.startsWith('ERROR: DMA PTE for vPFN')));
    r.steps.length = 0;
    dmaBufFreeSgt(r.env(), sgt);
    const unmap = of(r.steps, 'iommu.unmap')[0]!;
    assert.deepEqual([unmap.size, unmap.unmappedSize], [3n * MiB, 2n * MiB], 'size=<size> unmapped_size=<max L_i>');
    assert.ok(of(r.steps, 'kernel.log').some((l) => l.msg === 'dma_iommu.unmapped_mismatch'));
  }
});

test('3.8-2 split unmap: one dma_map_phys of 4 GiB + 16 KiB, released as 0xFFFFF000 + 0x5000: the second release is a phantom in bin 3', () => {
  // A 16 GiB aperture: the whole buffer (aligned to 16 GiB) finds no IOVA block; each range does.
  const r = rig({ type: 'dma', apertureBits: 34 });
  const ranges = [
    { paddr: BAR, len: 4n * GiB + 16384n },
    { paddr: BAR + 8n * GiB, len: 4n * GiB },
  ];
  const sgt = ok(dmaBufPhysVecToSgt(r.env(), provider(), ranges, 8n * GiB + 16384n, 0));
  assert.equal(sgt.mode, 'per_range');
  assert.deepEqual(
    sgt.entries.slice(0, 2).map((e) => e.dmaLength),
    [0xfffff000, 0x5000],
  );
  const base = sgt.entries[0]!.dmaAddress >> 12n;
  r.steps.length = 0;
  dmaBufFreeSgt(r.env(), sgt);
  const frees = of(r.steps, 'iova.free') as {
    destination: string;
    pfn: number;
    pages: number;
    bin: number;
    pfnLo: number;
    pfnHi: number;
  }[];
  assert.equal(frees[0]!.destination, 'tree', 'first entry (>= 32 pages) frees the whole node');
  assert.equal(frees[0]!.pfnHi - frees[0]!.pfnLo + 1, 0x100004);
  assert.deepEqual(
    [frees[1]!.destination, frees[1]!.pfn, frees[1]!.pages, frees[1]!.bin],
    ['rcache', Number(base) + 0xfffff, 5, 3],
  );
  assert.ok(hazards(r).includes('split_unmap'));
  assert.equal(r.domain!.iova!.findIova(base + 0xfffffn), null, 'the cached pfn is not in the tree: a phantom');
});

test('3.8-3 release smaller than the allocation, below 32 pages: the pfn goes to the smaller bin, the node keeps its size', () => {
  const r = rig({ type: 'dma', linkCollision: 'fail' });
  const ranges = [
    { paddr: BAR, len: 16384n },
    { paddr: BAR + MiB, len: 4096n },
  ];
  const res = dmaBufPhysVecToSgt(r.env(), provider(), ranges, 20480n, 0);
  assert.ok(!res.ok);
  const alloc = of(r.steps, 'iova.alloc').find((a) => a.pfnLo >= 0)!;
  assert.equal(alloc.pagesEffective, 8, '5 pages rounded to 8');
  const free = of(r.steps, 'iova.free')[0] as { destination: string; pages: number; bin: number };
  assert.deepEqual([free.destination, free.pages, free.bin], ['rcache', 4, 2]);
  const node = r.domain!.iova!.findIova(BigInt(alloc.pfnLo))!;
  assert.equal(node.pfnHi - node.pfnLo + 1n, 8n, 'the 8-page node stays in the tree');
  assert.ok(hazards(r).includes('release_size_mismatch'));
});

test('3.8-4 IOVA leak when the first link fails: the block stays allocated for good', () => {
  const r = rig({ type: 'dma' });
  r.domain!.injectFault({ op: 'map', errno: -12 });
  const res = dmaBufPhysVecToSgt(r.env(), provider(), [{ paddr: BAR, len: 2n * MiB }], 2n * MiB, 0);
  assert.ok(!res.ok);
  assert.equal(res.errno, -12);
  assert.equal(of(r.steps, 'dma.iova_destroy').length, 0, 'i = 0: nothing is undone');
  assert.ok(r.domain!.iova!.findIova(0xffe00n), 'the block is still in the tree');
  const cleanup = r.events.find((e) => e.type === 'dmabuf.map.cleanup')!.data as EventData<'dmabuf.map.cleanup'>;
  assert.deepEqual(cleanup.leaked, { pfnLo: 0xffe00n, pfnHi: 0xfffffn });
  assert.ok(hazards(r).includes('iova_leak'));
});

test('3.8-5 phantom pfn 0: a per-range failure at i >= 1 unmaps every table entry, the unfilled {0, 0} ones too', () => {
  const r = rig({ type: 'dma', mask: 32 });
  const ranges = [
    { paddr: BAR, len: 512n * MiB },
    { paddr: BAR + GiB, len: 3n * GiB },
    { paddr: BAR + 8n * GiB, len: 512n * MiB },
  ];
  const res = dmaBufPhysVecToSgt(r.env(), provider(), ranges, 4n * GiB, 0);
  assert.ok(!res.ok);
  assert.equal(res.errno, -12, 'the helper returns -ENOMEM for any mapping failure');
  const unmaps = of(r.steps, 'dma.unmap_phys');
  assert.equal(unmaps.length, 3, 'one dma_unmap_phys per table entry');
  assert.deepEqual(
    unmaps.slice(1).map((u) => [u.dmaAddr, u.size]),
    [
      [0n, 0n],
      [0n, 0n],
    ],
  );
  const zero = of(r.steps, 'iommu.unmap').filter((u) => u.iova === 0n);
  assert.deepEqual(
    zero.map((u) => u.size),
    [0n, 0n],
    'iommu:unmap lines of size 0 at IOVA 0',
  );
  const phantom = of(r.steps, 'iova.free').filter((f) => (f as { pfn: number }).pfn === 0) as {
    destination: string;
    bin: number;
  }[];
  assert.deepEqual(
    phantom.map((f) => [f.destination, f.bin]),
    [
      ['rcache', 0],
      ['rcache', 0],
    ],
  );
  assert.deepEqual(
    r.domain!.iova!.snapshot().magazines[0]![0]!.loaded.filter((p) => p === 0n),
    [0n, 0n],
  );
  const cleanup = r.events.find((e) => e.type === 'dmabuf.map.cleanup')!.data as EventData<'dmabuf.map.cleanup'>;
  assert.equal(cleanup.kind, 'unmap_entries');
  assert.equal(cleanup.phantomPfns.length, 2);
  assert.ok(hazards(r).includes('phantom_pfn0'));
});

test('IOVA-mode failure at i >= 1 and sync failure go through dma_iova_destroy', () => {
  const r = rig({ type: 'dma' });
  r.domain!.injectFault({ op: 'sync_map', errno: -5 });
  const res = dmaBufPhysVecToSgt(r.env(), provider(), [{ paddr: BAR, len: 2n * MiB }], 2n * MiB, 0);
  assert.ok(!res.ok);
  assert.equal(res.errno, -5);
  assert.equal(of(r.steps, 'dma.iova_destroy')[0]!.mappedLen, 2n * MiB, 'i = nr_ranges: destroy the mapped length');
  const cleanup = r.events.find((e) => e.type === 'dmabuf.map.cleanup')!.data as EventData<'dmabuf.map.cleanup'>;
  assert.deepEqual([cleanup.kind, cleanup.failedIndex], ['iova_destroy', 1]);
});

test('first helper version (uint_max): 32-bit mapped_len wraps for a 4 GiB IOVA-mode buffer; unmap still uses the full size', () => {
  const r = rig({ type: 'dma' });
  const sgt = ok(
    dmaBufPhysVecToSgt(r.env('THRU_HOST_BRIDGE', 'uint_max'), provider(), [{ paddr: BAR, len: 4n * GiB }], 4n * GiB, 0),
  );
  assert.equal(sgt.mappedLen, 0n, '4 GiB mod 2^32');
  assert.ok(sgt.warnings.includes('mapped_len_mismatch'));
  assert.ok(sgt.warnings.includes('unfilled_entries'), 'nents = 2 but nothing was filled');
  assert.equal(of(r.steps, 'dma.iova_sync')[0]!.size, 0n);
  r.steps.length = 0;
  dmaBufFreeSgt(r.env('THRU_HOST_BRIDGE', 'uint_max'), sgt);
  assert.equal(of(r.steps, 'dma.iova_destroy')[0]!.mappedLen, 4n * GiB);
});

test('first helper version (uint_max): entries after the first of a long range start at unaligned addresses', () => {
  const r = rig();
  const sgt = dmaBufPhysVecToSgt(
    r.env('BUS_ADDR', 'uint_max'),
    provider(),
    [{ paddr: BAR, len: 6n * GiB }],
    6n * GiB,
    0,
  );
  assert.deepEqual(entries(sgt), [
    [BAR, 0xffffffff],
    [BAR + 0xffffffffn, 0x80000001],
  ]);
});
