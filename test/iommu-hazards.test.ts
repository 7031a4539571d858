/**
 * The hazards of kernel-model.md 3.8, reproduced at the DMA-API level: the calls the DMA-buf helper
 * (issue 5) makes on its error and unmap paths, and what the IOMMU-DMA layer and the allocator then do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DmaDevice,
  dmaBitMask,
  dmaIovaDestroy,
  dmaIovaLink,
  dmaIovaTryAlloc,
  dmaMapPhys,
  dmaUnmapPhys,
  IommuDomain,
  type IommuDomainOptions,
  type IommuStep,
  KernelContext,
  type LinkCollisionPolicy,
} from '@dmasim/core';

const MiB = 1n << 20n;
const GiB = 1n << 30n;
const MAX_SG = 0xfffff000n;
const P = 0x380000000000n;

function setup(domain: Partial<IommuDomainOptions> = {}) {
  const steps: IommuStep[] = [];
  const kernel = new KernelContext({ onStep: (s) => steps.push(s) });
  const d = new IommuDomain(kernel, { id: 2, type: 'dma', ...domain });
  const dev = new DmaDevice(kernel, {
    name: '0000:21:00.0',
    domain: d,
    dmaMask: dmaBitMask(64),
    hostBridge: { windows: [{ type: 'mem', cpuStart: 0xc0000000n, cpuEnd: 0xfebfffffn, offset: 0n }] },
  });
  const mark = () => {
    const n = steps.length;
    return () => steps.slice(n);
  };
  return { kernel, d, dev, steps, mark, iova: () => d.requireIova() };
}

const frees = (steps: IommuStep[]) =>
  steps.flatMap((s) => (s.kind === 'iova.free' && s.destination !== 'flush_queue' ? [s] : []));

test('3.8-2 split unmap: the first SG entry frees the whole node; a later short entry caches a phantom', () => {
  const s = setup();
  const len = 4n * GiB + 0x4000n; // 0xFFFFF000 + 0x5000 as SG entries
  const m = dmaMapPhys(s.dev, P, len, 0);
  assert.equal(m.dmaAddr, 0xfffe00000000n);
  const pfn = m.dmaAddr >> 12n;
  assert.deepEqual(s.iova().findIova(pfn), { pfnLo: pfn, pfnHi: pfn + 0x100003n });
  let since = s.mark();
  dmaUnmapPhys(s.dev, m.dmaAddr, MAX_SG, 0);
  const [f1] = frees(since());
  assert.ok(f1);
  assert.deepEqual([f1.destination, f1.pfnLo, f1.pfnHi], ['tree', Number(pfn), Number(pfn + 0x100003n)]);
  since = s.mark();
  dmaUnmapPhys(s.dev, m.dmaAddr + MAX_SG, len - MAX_SG, 0);
  const got = since();
  const un = got.find((x) => x.kind === 'iommu.unmap');
  assert.ok(un?.kind === 'iommu.unmap');
  assert.deepEqual([un.size, un.unmappedSize], [0x5000n, 0x5000n], 'the page tables still held the tail');
  const [f2] = frees(got);
  assert.ok(f2);
  assert.deepEqual([f2.destination, f2.bin, f2.pfn, f2.pages], ['rcache', 3, Number(pfn + 0xfffffn), 5]);
  assert.equal(s.iova().findIova(pfn + 0xfffffn), null, 'the cached pfn is not in the tree: a phantom');
  // an 8-page request on that CPU is handed the phantom
  const next = dmaMapPhys(s.dev, P, 8n * 4096n, 0);
  assert.equal(next.dmaAddr, (pfn + 0xfffffn) << 12n);
  assert.equal(s.iova().findIova(pfn + 0xfffffn), null, 'a live mapping at an IOVA the tree thinks is free');
});

test('3.8-2: a middle SG entry of >= 32 pages finds nothing to free once the node is gone', () => {
  const s = setup();
  const len = 8n * GiB + MiB; // entries 0xFFFFF000, 0xFFFFF000, 0x102000
  const m = dmaMapPhys(s.dev, P, len, 0);
  dmaUnmapPhys(s.dev, m.dmaAddr, MAX_SG, 0);
  const since = s.mark();
  dmaUnmapPhys(s.dev, m.dmaAddr + MAX_SG, MAX_SG, 0);
  const [f] = frees(since());
  assert.ok(f);
  assert.equal(f.destination, 'not_found');
});

test('3.8-3 release smaller than the allocation: < 32 pages goes to the smaller bin, the node stays', () => {
  const s = setup();
  const t = dmaIovaTryAlloc(s.dev, 0n, 2n * MiB);
  dmaIovaLink(s.dev, t.state, P, 0n, 64n * 1024n, 0);
  const since = s.mark();
  const r = dmaIovaDestroy(s.dev, t.state, 64n * 1024n);
  assert.deepEqual(r.released, { pfn: 0xffe00n, pages: 16n });
  const [f] = frees(since());
  assert.ok(f);
  assert.deepEqual([f.destination, f.bin], ['rcache', 4]);
  assert.deepEqual(s.iova().findIova(0xffe00n), { pfnLo: 0xffe00n, pfnHi: 0xfffffn }, 'all 512 pages stay allocated');
  // a failure-time flush of the caches frees the real node by its pfn
  const d32 = new DmaDevice(s.kernel, { name: '0000:21:00.1', domain: s.d, dmaMask: dmaBitMask(32) });
  const flushSince = s.mark();
  assert.equal(dmaIovaTryAlloc(d32, 0n, 3n * GiB).ok, false);
  const flush = flushSince().find((x) => x.kind === 'iova.rcache_flush');
  assert.ok(flush?.kind === 'iova.rcache_flush');
  assert.deepEqual(flush.pfns, [0xffe00]);
  assert.equal(s.iova().findIova(0xffe00n), null);
});

test('3.8-3: a release of >= 32 pages frees the whole node at once', () => {
  const s = setup();
  const t = dmaIovaTryAlloc(s.dev, 0n, 2n * MiB);
  dmaIovaLink(s.dev, t.state, P, 0n, 256n * 1024n, 0);
  const since = s.mark();
  dmaIovaDestroy(s.dev, t.state, 256n * 1024n);
  const [f] = frees(since());
  assert.ok(f);
  assert.deepEqual([f.destination, f.pfnLo, f.pfnHi, f.pages], ['tree', 0xffe00, 0xfffff, 64]);
});

test('3.8-4: a failed first link leaves the IOVA block allocated (the helper does not release it)', () => {
  const s = setup();
  const t = dmaIovaTryAlloc(s.dev, 0n, 2n * MiB);
  s.d.injectFault({ op: 'map', errno: -12 });
  assert.equal(dmaIovaLink(s.dev, t.state, P, 0n, 2n * MiB, 0).errno, -12);
  assert.notEqual(s.iova().findIova(t.state.addr >> 12n), null);
  assert.equal(s.d.pageTable.mappedBytes, 0n);
});

test('3.8-5 phantom pfn 0: unmapping an unfilled {0, 0} entry queues (0, 0); it lands in bin 0 and is a miss', () => {
  const s = setup({ type: 'dma_fq' });
  const since = s.mark();
  const u = dmaUnmapPhys(s.dev, 0n, 0n, 0);
  assert.deepEqual(u, {
    path: 'iommu',
    unmapSize: 0n,
    unmappedSize: 0n,
    released: { pfn: 0n, pages: 0n },
    queued: true,
  });
  const got = since();
  assert.deepEqual(
    got.map((x) => (x.kind === 'iova.free' ? `iova.free:${x.destination}` : x.kind)),
    ['iommu.unmap', 'iova.free:flush_queue', 'dma.unmap_phys'],
  );
  const un = got[0];
  assert.ok(un?.kind === 'iommu.unmap');
  assert.deepEqual([un.iova, un.size, un.unmappedSize], [0n, 0n, 0n]);
  const flushSince = s.mark();
  s.kernel.advanceTo(20_000_000);
  const [f] = frees(flushSince());
  assert.ok(f);
  assert.deepEqual([f.destination, f.bin, f.pfn, f.pages], ['rcache', 0, 0, 0]);
  const allocSince = s.mark();
  const m = dmaMapPhys(s.dev, P, 0x1000n, 0);
  assert.equal(m.dmaAddr, 0xfffff000n, 'the phantom is consumed as a miss; the tree answers');
  const a = allocSince().find((x) => x.kind === 'iova.alloc');
  assert.ok(a?.kind === 'iova.alloc');
  assert.deepEqual([a.phantom, a.source], [true, 'tree']);
});

const POLICIES: LinkCollisionPolicy[] = ['fail', 'overwrite', 'keep'];

for (const policy of POLICIES) {
  test(`3.8-1 offset-0 overlap of two ranges under '${policy}', and the unmap that stops at the hole`, () => {
    const s = setup({ linkCollision: policy });
    const L0 = 1n * MiB;
    const L1 = 512n * 1024n;
    const t = dmaIovaTryAlloc(s.dev, 0n, L0 + L1);
    const A = t.state.addr;
    assert.equal(dmaIovaLink(s.dev, t.state, P, 0n, L0, 0).ok, true);
    const since = s.mark();
    const second = dmaIovaLink(s.dev, t.state, P + 0x10000000n, 0n, L1, 0);
    const got = since();
    const link = got[0];
    assert.ok(link?.kind === 'dma.iova_link');
    assert.equal(link.overlap, true);
    if (policy === 'fail') {
      assert.deepEqual([second.errno, second.code], [-98, 'IOMMU_MAP_FAILED']);
      assert.deepEqual(
        got.map((x) => x.kind),
        ['dma.iova_link', 'iommu.unmap'],
        'no iommu:map line; the unroll of the 0 bytes mapped before the collision',
      );
      // the helper's error path: destroy(mapped_len = L0)
      const d = s.mark();
      const r = dmaIovaDestroy(s.dev, t.state, L0);
      assert.deepEqual([r.unmapSize, r.unmappedSize, r.released?.pages], [L0, L0, 256n]);
      assert.equal(d().filter((x) => x.kind === 'kernel.log').length, 0);
      return;
    }
    assert.equal(second.ok, true);
    const map = got.find((x) => x.kind === 'iommu.map');
    assert.ok(map?.kind === 'iommu.map');
    assert.equal(map.collision, policy);
    assert.deepEqual(s.d.pageTable.translate(A)?.paddr, policy === 'overwrite' ? P + 0x10000000n : P);
    assert.deepEqual(s.d.pageTable.translate(A + L1)?.paddr, P + L1, 'range 0 beyond L1 is untouched');
    assert.equal(s.d.pageTable.translate(A + L0), null, 'bytes beyond max(Li) are not mapped: a device access faults');
    if (policy === 'keep') {
      const log = got.find((x) => x.kind === 'kernel.log');
      assert.ok(log?.kind === 'kernel.log');
      assert.equal(log.text, `ERROR: DMA PTE for vPFN 0x${(A >> 12n).toString(16)} already set`);
    }
    // the helper's unmap: destroy(mapped_len = size) stops at the hole and warns
    const d = s.mark();
    const r = dmaIovaDestroy(s.dev, t.state, L0 + L1);
    assert.deepEqual([r.unmapSize, r.unmappedSize], [L0 + L1, L0]);
    const after = d();
    const un = after.find((x) => x.kind === 'iommu.unmap');
    assert.ok(un?.kind === 'iommu.unmap');
    assert.deepEqual([un.size, un.unmappedSize], [1572864n, 1048576n]);
    const warn = after.find((x) => x.kind === 'kernel.log');
    assert.ok(warn?.kind === 'kernel.log');
    assert.equal(warn.msg, 'dma_iommu.unmapped_mismatch');
    assert.equal(s.d.pageTable.mappedBytes, 0n);
  });
}
