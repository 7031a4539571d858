import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  DMA_IOVA_STATE_NONE,
  dmaIovaDestroy,
  dmaIovaFree,
  dmaIovaLink,
  dmaIovaSize,
  dmaIovaSync,
  dmaIovaTryAlloc,
  dmaIovaUnlink,
  dmaMapPhys,
  dmaMappingError,
  dmaUnmapPhys,
  dmaUseIova,
} from './dma-api.ts';
import { DmaDevice, type DmaDeviceOptions } from './dma-device.ts';
import { DMA_MAPPING_ERROR, DmaAttr, DmaDirection, dmaBitMask } from './dma-mapping.ts';
import { IommuDomain, type IommuDomainOptions } from './iommu-domain.ts';
import type { IommuStep } from './iommu-steps.ts';
import { KernelContext, type KernelContextOptions } from './kernel-context.ts';

const MiB = 1n << 20n;
const P = 0x380000000000n;

function setup(
  dev: Partial<DmaDeviceOptions> = {},
  domain: Partial<IommuDomainOptions> | null = {},
  kernel: KernelContextOptions = {},
) {
  const steps: IommuStep[] = [];
  const k = new KernelContext({ cpus: 2, ...kernel, onStep: (s) => steps.push(s) });
  const d = domain === null ? null : new IommuDomain(k, { id: 1, type: 'dma', reservedRegions: [], ...domain });
  const device = new DmaDevice(k, { name: '0000:21:00.0', domain: d, dmaMask: dmaBitMask(64), ...dev });
  const mark = () => {
    const n = steps.length;
    return () => steps.slice(n);
  };
  return { k, d, dev: device, steps, mark };
}

const kinds = (steps: IommuStep[]) => steps.map((s) => s.kind);
const texts = (steps: IommuStep[]) => steps.flatMap((s) => (s.kind === 'kernel.log' ? [s.text] : []));

test('IOVA state helpers', () => {
  assert.equal(dmaUseIova(DMA_IOVA_STATE_NONE), false);
  assert.equal(dmaUseIova({ addr: 0x1000n, size: 1n }), true);
  assert.equal(dmaIovaSize({ addr: 0n, size: (1n << 63n) | 0x2000n }), 0x2000n);
  const s = setup();
  assert.equal(dmaMappingError(s.dev, DMA_MAPPING_ERROR), -12);
  assert.equal(dmaMappingError(s.dev, 0n), 0);
});

test('dma_iova_try_alloc: zero size and bit 63 warn once and answer false; phys offset pads the block', () => {
  const s = setup();
  const since = s.mark();
  assert.equal(dmaIovaTryAlloc(s.dev, 0n, 0n).reason, 'size_zero');
  assert.equal(dmaIovaTryAlloc(s.dev, 0n, 0n).reason, 'size_zero');
  assert.equal(dmaIovaTryAlloc(s.dev, 0n, 1n << 63n).reason, 'size_too_big');
  assert.deepEqual(texts(since()), [
    'WARNING: dma_iova_try_alloc: !size',
    'WARNING: dma_iova_try_alloc: size & DMA_IOVA_USE_SWIOTLB',
  ]);
  const r = dmaIovaTryAlloc(s.dev, P + 0x800n, 0x1000n);
  assert.equal(r.alignedSize, 0x2000n, 'align_up(size + pad)');
  assert.equal(r.state.addr & 0xfffn, 0x800n, 'state.addr carries the pad');
});

test('dma_iova_try_alloc in a kdump kernel whose deferred attach fails answers false', () => {
  const s = setup({ deferredAttachFails: true }, {}, { kdump: true });
  const r = dmaIovaTryAlloc(s.dev, 0n, MiB);
  assert.deepEqual([r.ok, r.reason, r.code], [false, 'deferred_attach_failed', 'DMA_DEFERRED_ATTACH']);
  const m = dmaMapPhys(s.dev, P, MiB, 0);
  assert.deepEqual([m.ok, m.reason], [false, 'deferred_attach_failed']);
});

test('the DMA limit is min_not_zero(mask, bus limit), clamped to the aperture; the notice names its bits', () => {
  const cases: [Partial<DmaDeviceOptions>, Partial<IommuDomainOptions>, number][] = [
    [{ busDmaLimit: dmaBitMask(40) }, {}, 40],
    [{}, { geometry: { apertureEnd: dmaBitMask(57) } }, 57],
    [{}, { geometry: { apertureEnd: dmaBitMask(64) } }, 64],
    [{}, { geometry: { apertureEnd: dmaBitMask(64), forceAperture: false } }, 64],
    [{ dmaMask: dmaBitMask(39) }, { geometry: { apertureEnd: dmaBitMask(64), forceAperture: false } }, 39],
  ];
  for (const [dev, dom, bits] of cases) {
    const s = setup(dev, { reservedRegions: [{ start: 0x1000n, length: 0xfffff000n, type: 'reserved' }], ...dom });
    const since = s.mark();
    const r = dmaIovaTryAlloc(s.dev, 0n, MiB);
    assert.equal(r.ok, true);
    assert.deepEqual(texts(since()), [`Using ${bits}-bit DMA addresses`]);
    assert.equal(r.state.addr, dmaBitMask(bits) + 1n - MiB, 'top-down from the limit');
  }
});

test('a non-PCI device has no 32-bit-first attempt; an unset mask means 32 bits', () => {
  const s = setup({ isPci: false });
  const since = s.mark();
  assert.equal(dmaIovaTryAlloc(s.dev, 0n, MiB).state.addr, 0xfffffff00000n);
  assert.equal(since().filter((x) => x.kind === 'iova.alloc').length, 1);
  const u = setup({ dmaMask: 0n });
  assert.equal(u.dev.dmaGetMask(), dmaBitMask(32));
  assert.equal(dmaIovaTryAlloc(u.dev, 0n, MiB).state.addr, 0xfff00000n);
  const n = setup({ hasDmaMask: false });
  assert.equal(n.dev.dmaGetMask(), dmaBitMask(32));
});

test('dma_iova_link: -EIO for an unaligned phys at a non-zero offset, -EPERM for an untrusted device', () => {
  const s = setup({ untrusted: true });
  const r = dmaIovaTryAlloc(s.dev, 0n, 4n * MiB);
  let since = s.mark();
  assert.deepEqual(dmaIovaLink(s.dev, r.state, P + 0x10n, 0x1000n, 0x1000n, 0), {
    ok: false,
    errno: -5,
    code: 'DMA_IOVA_PAD_OFFSET',
    reason: 'pad_offset',
  });
  assert.deepEqual(kinds(since()), ['dma.iova_link', 'kernel.log']);
  since = s.mark();
  assert.deepEqual(dmaIovaLink(s.dev, r.state, P + 0x10n, 0n, 0x1000n, 0), {
    ok: false,
    errno: -1,
    code: 'DMA_SWIOTLB_MMIO',
    reason: 'swiotlb',
  });
  assert.deepEqual(kinds(since()), ['dma.iova_link'], 'no map attempted');
  assert.equal(dmaIovaLink(s.dev, r.state, P, 0x1000n, 0x1000n, 0).ok, true, 'aligned: no bounce needed');
});

test('dma_iova_link at an unaligned offset fails the core alignment check (-EINVAL, "unaligned", no trace)', () => {
  const s = setup();
  const r = dmaIovaTryAlloc(s.dev, 0n, 4n * MiB);
  const since = s.mark();
  const l = dmaIovaLink(s.dev, r.state, P, 0x800n, 0x1000n, 0);
  assert.deepEqual([l.errno, l.code], [-22, 'IOMMU_MAP_FAILED']);
  const got = since();
  assert.deepEqual(kinds(got), ['dma.iova_link', 'kernel.log']);
  assert.deepEqual(texts(got), [
    `unaligned: iova 0x${(r.state.addr + 0x800n).toString(16)} pa 0x0000380000000000 size 0x1000 min_pagesz 0x1000`,
  ]);
});

test('protection bits: MMIO plus direction, PRIV for DMA_ATTR_PRIVILEGED', () => {
  const s = setup();
  const prots: number[] = [];
  for (const [dir, attrs] of [
    [DmaDirection.BIDIRECTIONAL, DmaAttr.MMIO],
    [DmaDirection.TO_DEVICE, DmaAttr.MMIO],
    [DmaDirection.FROM_DEVICE, DmaAttr.MMIO],
    [DmaDirection.BIDIRECTIONAL, DmaAttr.MMIO | DmaAttr.PRIVILEGED],
  ] as const) {
    const since = s.mark();
    dmaMapPhys(s.dev, P, 0x1000n, dir, attrs);
    const m = since().find((x) => x.kind === 'iommu.map');
    prots.push(m?.kind === 'iommu.map' ? m.prot : -1);
  }
  assert.deepEqual(prots, [0x13, 0x11, 0x12, 0x33]);
});

test('calls the kernel would BUG on, and what dmasim does not model, throw', () => {
  const s = setup();
  assert.throws(() => dmaMapPhys(s.dev, P, 0x1000n, DmaDirection.NONE), { code: 'DMA_API_MISUSE' });
  assert.throws(() => dmaUnmapPhys(s.dev, P, 0x1000n, 7), { code: 'DMA_API_MISUSE' });
  assert.throws(() => dmaMapPhys(s.dev, P, 0n, 0), { code: 'DMA_API_MISUSE' });
  assert.throws(() => dmaMapPhys(s.dev, P, 0x1000n, 0, 0), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => dmaMapPhys(s.dev, P, 0x1000n, 0, DmaAttr.MMIO, { cpu: 2 }), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => dmaMapPhys(s.dev, -1n, 0x1000n, 0), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => dmaIovaTryAlloc(s.dev, 0n, 1n << 64n), { code: 'INVALID_ARGUMENT' });
  const direct = setup({}, null);
  assert.throws(() => dmaIovaLink(direct.dev, DMA_IOVA_STATE_NONE, P, 0n, 0x1000n, 0), { code: 'DMA_API_MISUSE' });
  assert.throws(() => dmaIovaDestroy(direct.dev, DMA_IOVA_STATE_NONE, 0x1000n), { code: 'DMA_API_MISUSE' });
  assert.throws(() => dmaIovaSync(direct.dev, DMA_IOVA_STATE_NONE, 0n, 0x1000n), { code: 'DMA_API_MISUSE' });
});

test('dma_map_phys on dma-direct: forced swiotlb refuses MMIO; the raw mask decides reachability', () => {
  const f = setup({ swiotlbForce: true }, null);
  const since = f.mark();
  const r = dmaMapPhys(f.dev, P, MiB, 0);
  assert.deepEqual([r.ok, r.reason, r.code, r.path], [false, 'swiotlb_force', 'DMA_SWIOTLB_MMIO', 'direct']);
  assert.deepEqual(kinds(since()), ['kernel.log', 'dma.map_phys']);
  const lim = setup({ busDmaLimit: P + MiB - 1n }, null);
  assert.equal(dmaMapPhys(lim.dev, P, MiB, 0).ok, true);
  assert.equal(dmaMapPhys(lim.dev, P, MiB + 1n, 0).reason, 'mask');
  const unset = setup({ dmaMask: 0n }, null);
  assert.equal(dmaMapPhys(unset.dev, 0x1000n, 0x1000n, 0).reason, 'mask', '*dma_mask == 0 reaches nothing');
});

test('dma_map_phys without a dma_mask pointer fails untraced, with a one-time warning', () => {
  const s = setup({ hasDmaMask: false });
  const since = s.mark();
  const r = dmaMapPhys(s.dev, P, MiB, 0);
  assert.deepEqual([r.dmaAddr, r.reason, r.code], [DMA_MAPPING_ERROR, 'no_dma_mask', 'DMA_NO_MASK']);
  dmaMapPhys(s.dev, P, MiB, 0);
  assert.deepEqual(texts(since()), ['WARNING: dma_map_phys: !dev->dma_mask']);
  assert.deepEqual(kinds(since()), ['kernel.log']);
});

test('dma_map_phys under IOMMU-DMA: untrusted unaligned MMIO and a too-large min_align_mask fail', () => {
  const u = setup({ untrusted: true });
  assert.equal(dmaMapPhys(u.dev, P + 0x10n, 0x1000n, 0).reason, 'swiotlb_untrusted');
  assert.equal(dmaMapPhys(u.dev, P, 0x1000n, 0).ok, true);
  const a = setup({ minAlignMask: 0x1fffn });
  const since = a.mark();
  assert.equal(dmaMapPhys(a.dev, P, 0x1000n, 0).reason, 'min_align');
  assert.equal(dmaMapPhys(a.dev, P, 0x1000n, 0).code, 'DMA_ALIGN_UNSUPPORTED');
  assert.deepEqual(texts(since()), ['Unsupported alignment constraint']);
  assert.equal(setup({ minAlignMask: 0xfffn }).dev.minAlignMask, 0xfffn);
  const ok = setup({ minAlignMask: 0xfffn });
  assert.equal(dmaMapPhys(ok.dev, P, 0x1000n, 0).ok, true);
});

test('dma_map_phys returns iova + offset; unmap widens to the granule', () => {
  const s = setup();
  const r = dmaMapPhys(s.dev, P + 0x234n, 0x1000n, 0);
  assert.equal(r.dmaAddr & 0xfffn, 0x234n);
  const since = s.mark();
  const u = dmaUnmapPhys(s.dev, r.dmaAddr, 0x1000n, 0);
  assert.deepEqual(u, {
    path: 'iommu',
    unmapSize: 0x2000n,
    unmappedSize: 0x2000n,
    released: { pfn: (r.dmaAddr - 0x234n) >> 12n, pages: 2n },
    queued: false,
  });
  const unmap = since()[0];
  assert.ok(unmap?.kind === 'iommu.unmap');
  assert.equal(unmap.iova, r.dmaAddr - 0x234n);
});

test('an injected driver map failure is unrolled (even 0 bytes) and the IOVA freed at once, never queued', () => {
  const s = setup({}, { type: 'dma_fq' });
  s.d!.injectFault({ op: 'map', errno: -12, mappedBeforeFailure: 0x3000n });
  const since = s.mark();
  const r = dmaMapPhys(s.dev, P, 0x8000n, 0);
  assert.deepEqual([r.ok, r.reason, r.code], [false, 'iommu_map', 'IOMMU_MAP_FAILED']);
  const got = since();
  assert.deepEqual(
    got.map((x) => (x.kind === 'iova.free' ? `iova.free:${x.destination}` : x.kind)),
    ['iova.alloc', 'iommu.unmap', 'iova.free:rcache', 'dma.map_phys'],
  );
  const un = got[1];
  assert.ok(un?.kind === 'iommu.unmap');
  assert.deepEqual([un.size, un.unmappedSize, un.unroll], [0x3000n, 0x3000n, true]);
  assert.equal(s.d!.pageTable.mappedBytes, 0n);
  s.d!.injectFault({ op: 'map', errno: -12 });
  const since2 = s.mark();
  dmaMapPhys(s.dev, P, 0x8000n, 0);
  const un2 = since2().find((x) => x.kind === 'iommu.unmap');
  assert.ok(un2?.kind === 'iommu.unmap');
  assert.deepEqual([un2.size, un2.unmappedSize], [0n, 0n], 'the unroll of nothing is traced too (7.5-2)');
});

test('an injected sync failure: dma_iova_sync returns it; iommu_map unmaps what it mapped', () => {
  const s = setup();
  const t = dmaIovaTryAlloc(s.dev, 0n, MiB);
  dmaIovaLink(s.dev, t.state, P, 0n, MiB, 0);
  s.d!.injectFault({ op: 'sync_map', errno: -5 });
  assert.deepEqual(dmaIovaSync(s.dev, t.state, 0n, MiB), {
    ok: false,
    errno: -5,
    code: 'IOMMU_SYNC_FAILED',
    reason: 'sync',
  });
  assert.equal(dmaIovaSync(s.dev, t.state, 0n, MiB).ok, true, 'one-shot');
  s.d!.injectFault({ op: 'sync_map', errno: -5 });
  const since = s.mark();
  assert.equal(dmaMapPhys(s.dev, P, 0x1000n, 0).reason, 'iommu_map');
  assert.deepEqual(kinds(since()), ['iova.alloc', 'iommu.map', 'iommu.unmap', 'iova.free', 'dma.map_phys']);
});

test('dma_iova_free and dma_iova_destroy(0) release at once, never queued; dma_iova_unlink keeps the IOVA', () => {
  const s = setup({}, { type: 'dma_fq' });
  const a = dmaIovaTryAlloc(s.dev, 0n, MiB);
  const f = dmaIovaFree(s.dev, a.state);
  assert.deepEqual([f.queued, f.released], [false, { pfn: a.state.addr >> 12n, pages: 256n }]);
  assert.equal(s.d!.requireIova().findIova(a.state.addr >> 12n), null);
  const b = dmaIovaTryAlloc(s.dev, 0n, MiB);
  const since = s.mark();
  assert.equal(dmaIovaDestroy(s.dev, b.state, 0n).queued, false);
  assert.deepEqual(
    since().map((x) => x.kind),
    ['dma.iova_destroy', 'iova.free'],
  );
  const c = dmaIovaTryAlloc(s.dev, 0n, MiB);
  dmaIovaLink(s.dev, c.state, P, 0n, MiB, 0);
  const u = dmaIovaUnlink(s.dev, c.state, 0n, MiB);
  assert.deepEqual([u.unmappedSize, u.released, u.queued], [MiB, null, false]);
  assert.notEqual(s.d!.requireIova().findIova(c.state.addr >> 12n), null);
});

test('per-CPU caches: a small IOVA freed on CPU 1 is reused by CPU 1, not CPU 0', () => {
  const s = setup();
  const a = dmaMapPhys(s.dev, P, 0x4000n, 0, DmaAttr.MMIO, { cpu: 1 });
  dmaUnmapPhys(s.dev, a.dmaAddr, 0x4000n, 0, DmaAttr.MMIO, { cpu: 1 });
  const b = dmaMapPhys(s.dev, P, 0x4000n, 0, DmaAttr.MMIO, { cpu: 0 });
  assert.notEqual(b.dmaAddr, a.dmaAddr);
  const c = dmaMapPhys(s.dev, P, 0x4000n, 0, DmaAttr.MMIO, { cpu: 1 });
  assert.equal(c.dmaAddr, a.dmaAddr);
});

test("a per-call sink receives the call's records instead of the kernel's", () => {
  const s = setup();
  const mine: IommuStep[] = [];
  const since = s.mark();
  dmaMapPhys(s.dev, P, 0x1000n, 0, DmaAttr.MMIO, { onStep: (x) => mine.push(x) });
  assert.deepEqual(since(), []);
  assert.deepEqual(kinds(mine), ['iova.alloc', 'iommu.map', 'dma.map_phys']);
});

test('property: per-range mappings stay under the limit, translate to their phys, never overlap, and a queued IOVA is not reused', () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('map' as const),
      dev: fc.nat(2),
      cpu: fc.nat(1),
      pages: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(512, 4096, 300000)),
      off: fc.constantFrom(0n, 0x10n, 0xff0n),
    }),
    fc.record({ kind: fc.constant('unmap' as const), pick: fc.nat(), cpu: fc.nat(1) }),
    fc.record({ kind: fc.constant('advance' as const), us: fc.constantFrom(100, 5000, 20000) }),
  );
  fc.assert(
    fc.property(
      fc.constantFrom('dma' as const, 'dma_fq' as const),
      fc.array(op, { minLength: 10, maxLength: 120 }),
      (type, ops) => {
        const k = new KernelContext({ cpus: 2 });
        const d = new IommuDomain(k, { id: 1, type });
        const bridge = { windows: [{ type: 'mem' as const, cpuStart: 0xc0000000n, cpuEnd: 0xfebfffffn, offset: 0n }] };
        const devs = [
          new DmaDevice(k, { name: 'a', domain: d, dmaMask: dmaBitMask(64), hostBridge: bridge }),
          new DmaDevice(k, { name: 'b', domain: d, dmaMask: dmaBitMask(32) }),
          new DmaDevice(k, { name: 'c', domain: d, dmaMask: dmaBitMask(64), busDmaLimit: dmaBitMask(40) }),
        ];
        const limits = [dmaBitMask(48), dmaBitMask(32), dmaBitMask(40)];
        const live: { dev: number; addr: bigint; base: bigint; len: bigint; size: bigint; phys: bigint }[] = [];
        let phys = P;
        let now = 0;
        for (const o of ops) {
          if (o.kind === 'advance') {
            now += o.us * 1000;
            k.advanceTo(now);
          } else if (o.kind === 'map') {
            const size = BigInt(o.pages) * 0x1000n;
            phys += size + 0x1000n;
            const r = dmaMapPhys(devs[o.dev]!, phys + o.off, size, 0, DmaAttr.MMIO, { cpu: o.cpu });
            if (!r.ok) continue;
            const base = r.dmaAddr - o.off;
            const len = ((size + o.off + 0xfffn) >> 12n) << 12n;
            assert.equal(base & 0xfffn, 0n);
            assert.ok(base >= 0x1000n && base + len - 1n <= limits[o.dev]!, 'within [start_pfn, limit]');
            assert.deepEqual(d.pageTable.lookup(base, len), [{ iova: base, size: len, paddr: phys, prot: 0x13 }]);
            for (const m of live)
              assert.ok(base + len <= m.base || m.base + m.len <= base, 'no two live mappings overlap');
            const fq = d.flushQueue?.snapshot().queues.flat() ?? [];
            for (const e of fq) {
              const lo = e.pfn << 12n;
              const hi = (e.pfn + e.pages) << 12n;
              assert.ok(base + len <= lo || hi <= base, 'an IOVA still in the flush queue is not handed out');
            }
            assert.notEqual(d.requireIova().findIova(base >> 12n), null);
            live.push({ dev: o.dev, addr: r.dmaAddr, base, len, size, phys });
          } else if (live.length > 0) {
            const [m] = live.splice(o.pick % live.length, 1);
            const u = dmaUnmapPhys(devs[m!.dev]!, m!.addr, m!.size, 0, DmaAttr.MMIO, { cpu: o.cpu });
            assert.equal(u.unmappedSize, m!.len);
            assert.equal(d.pageTable.translate(m!.base), null, 'unmapped: an access faults');
          }
        }
      },
    ),
    { numRuns: 100 },
  );
});
