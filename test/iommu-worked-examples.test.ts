/**
 * The worked examples of kernel-model.md 3.7 (E2-E5) and 4.8 (scenarios B, C, D, H and the flush-queue
 * example) at the DMA-API level: addresses, notices, traced fields and the order of the step records.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DMA_MAPPING_ERROR,
  DmaDevice,
  type DmaDeviceOptions,
  dmaBitMask,
  dmaIovaDestroy,
  dmaIovaLink,
  dmaIovaSync,
  dmaIovaTryAlloc,
  dmaMapPhys,
  dmaMappingError,
  dmaUnmapPhys,
  type HostBridgeDma,
  IommuDomain,
  type IommuDomainOptions,
  type IommuStep,
  KernelContext,
  type KernelContextOptions,
} from '@dmasim/core';

const GiB = 1n << 30n;
const MiB = 1n << 20n;
const BIDI = 0;

/** x86 host bridge of scenario B: 3 GiB .. 0xFEBFFFFF and 0x380000000000 .. 0x3FFFFFFFFFFF. */
const X86_BRIDGE: HostBridgeDma = {
  windows: [
    { type: 'mem', cpuStart: 0xc0000000n, cpuEnd: 0xfebfffffn, offset: 0n },
    { type: 'mem', cpuStart: 0x380000000000n, cpuEnd: 0x3fffffffffffn, offset: 0n },
    { type: 'io', cpuStart: 0n, cpuEnd: 0xffffn, offset: 0n },
  ],
};

interface Sys {
  kernel: KernelContext;
  domain: IommuDomain;
  steps: IommuStep[];
  dev(name: string, opts?: Partial<DmaDeviceOptions>): DmaDevice;
}

function system(domain: Partial<IommuDomainOptions> = {}, kernel: KernelContextOptions = {}): Sys {
  const steps: IommuStep[] = [];
  const k = new KernelContext({ ...kernel, onStep: (s) => steps.push(s) });
  const d = new IommuDomain(k, { id: 7, type: 'dma_fq', ...domain });
  return {
    kernel: k,
    domain: d,
    steps,
    dev: (name, opts = {}) =>
      new DmaDevice(k, { name, domain: d, dmaMask: dmaBitMask(64), hostBridge: X86_BRIDGE, ...opts }),
  };
}

function kinds(steps: readonly IommuStep[]): string[] {
  return steps.map((s) => (s.kind === 'iova.free' ? `iova.free:${s.destination}` : s.kind));
}

function after<T extends IommuStep>(steps: IommuStep[], from: number): IommuStep[] {
  return steps.slice(from) as T[];
}

test('E2: one 2 MiB range in IOVA mode: 0xFFE00000, map/unmap traced, release queued (DMA_FQ)', () => {
  const s = system();
  const dev = s.dev('0000:21:00.0');
  const mark = s.steps.length;
  const r = dmaIovaTryAlloc(dev, 0n, 2n * MiB);
  assert.equal(r.ok, true);
  assert.deepEqual(r.state, { addr: 0xffe00000n, size: 2n * MiB });
  assert.deepEqual(dmaIovaLink(dev, r.state, 0x380000000000n, 0n, 2n * MiB, BIDI), {
    ok: true,
    errno: 0,
    code: null,
    reason: null,
  });
  assert.equal(dmaIovaSync(dev, r.state, 0n, 2n * MiB).ok, true);
  const u = dmaIovaDestroy(dev, r.state, 2n * MiB);
  assert.deepEqual(u, {
    path: 'iommu',
    unmapSize: 2n * MiB,
    unmappedSize: 2n * MiB,
    released: { pfn: 0xffe00n, pages: 512n },
    queued: true,
  });
  const got = after(s.steps, mark);
  assert.deepEqual(kinds(got), [
    'dma.iova_try_alloc',
    'iova.alloc',
    'dma.iova_link',
    'iommu.map',
    'dma.iova_sync',
    'dma.iova_destroy',
    'iommu.unmap',
    'iova.free:flush_queue',
  ]);
  const map = got.find((x) => x.kind === 'iommu.map');
  assert.deepEqual(map, {
    kind: 'iommu.map',
    domainId: 7,
    iova: 0xffe00000n,
    paddr: 0x380000000000n,
    size: 2097152n,
    prot: 0x13,
    collision: 'none',
  });
  const unmap = got.find((x) => x.kind === 'iommu.unmap');
  assert.deepEqual(unmap, {
    kind: 'iommu.unmap',
    domainId: 7,
    iova: 0xffe00000n,
    size: 2097152n,
    unmappedSize: 2097152n,
    unroll: false,
  });
  const alloc = got.find((x) => x.kind === 'iova.alloc');
  assert.ok(alloc && alloc.kind === 'iova.alloc');
  assert.equal(alloc.phase, '32bit');
  assert.equal(alloc.caller, 'try_alloc');
  assert.equal(alloc.device, '0000:21:00.0');
  assert.equal(alloc.limitPfn, 0xfffff);
  assert.equal(s.domain.pageTable.mappedBytes, 0n);
  assert.deepEqual(s.domain.flushQueue?.snapshot().queues[0], [{ pfn: 0xffe00n, pages: 512n, counter: 0 }]);
});

test('E2 in a strict DMA domain: the 512-page release bypasses the rcache and frees the node at once', () => {
  const s = system({ type: 'dma' });
  const dev = s.dev('0000:21:00.0');
  const r = dmaIovaTryAlloc(dev, 0n, 2n * MiB);
  dmaIovaLink(dev, r.state, 0x380000000000n, 0n, 2n * MiB, BIDI);
  dmaIovaSync(dev, r.state, 0n, 2n * MiB);
  const mark = s.steps.length;
  dmaIovaDestroy(dev, r.state, 2n * MiB);
  const free = after(s.steps, mark).find((x) => x.kind === 'iova.free');
  assert.ok(free && free.kind === 'iova.free' && free.destination === 'tree');
  assert.equal(free.pfnLo, 0xffe00);
  assert.equal(free.pfnHi, 0xfffff);
  assert.equal(s.domain.requireIova().findIova(0xffe00n), null);
  assert.equal(s.domain.flushQueue, null);
});

test('E3: 6 GiB in one range: 32-bit attempt fast-fails, "Using 48-bit DMA addresses", 0xFFFE00000000', () => {
  const s = system();
  const dev = s.dev('0000:21:00.0');
  const mark = s.steps.length;
  const r = dmaIovaTryAlloc(dev, 0n, 6n * GiB);
  assert.deepEqual(r.state, { addr: 0xfffe00000000n, size: 6n * GiB });
  assert.equal(dev.pci32bitWorkaround, false);
  const got = after(s.steps, mark);
  assert.deepEqual(kinds(got), ['dma.iova_try_alloc', 'iova.alloc', 'iova.dac_switch', 'kernel.log', 'iova.alloc']);
  const [, a32, dac, log, full] = got;
  assert.ok(a32?.kind === 'iova.alloc' && full?.kind === 'iova.alloc');
  assert.equal(a32.fastFail, true);
  assert.equal(a32.max32After, 0x100000, 'a fast fail leaves max32_alloc_size alone');
  assert.equal(full.phase, 'full');
  assert.equal(full.limitPfn, 2 ** 36 - 1);
  assert.deepEqual(dac, { kind: 'iova.dac_switch', device: '0000:21:00.0', domainId: 7, bits: 48 });
  assert.ok(log?.kind === 'kernel.log');
  assert.equal(log.text, 'Using 48-bit DMA addresses');
  assert.equal(log.level, 'notice');
  assert.equal(log.device, '0000:21:00.0');
  const l = dmaIovaLink(dev, r.state, 0x380000000000n, 0n, 6n * GiB, BIDI);
  assert.equal(l.ok, true);
  const map = s.steps.at(-1);
  assert.ok(map?.kind === 'iommu.map');
  assert.equal(map.size, 6442450944n);
  assert.equal(map.iova, 0xfffe00000000n);
});

test('E4: dma-direct (identity domain): dma_map_phys returns phys; a 32-bit mask fails the reachability test', () => {
  const s = system({ type: 'identity' });
  const dev = s.dev('0000:21:00.0');
  assert.equal(dev.dmaIommu, false);
  const t = dmaIovaTryAlloc(dev, 0n, 512n * MiB);
  assert.equal(t.ok, false);
  assert.equal(t.reason, 'no_dma_iommu');
  const mark = s.steps.length;
  const m = dmaMapPhys(dev, 0x380040000000n, 512n * MiB, BIDI);
  assert.deepEqual(m, { dmaAddr: 0x380040000000n, ok: true, reason: null, code: null, path: 'direct' });
  assert.deepEqual(after(s.steps, mark), [
    {
      kind: 'dma.map_phys',
      device: '0000:21:00.0',
      domainId: null,
      physAddr: 0x380040000000n,
      size: 536870912n,
      dir: 'BIDIRECTIONAL',
      attrs: 0x400,
      path: 'direct',
      dmaAddr: 0x380040000000n,
      reason: null,
    },
  ]);
  // unmap on dma-direct does nothing but trace
  const mark2 = s.steps.length;
  const u = dmaUnmapPhys(dev, 0x380040000000n, 512n * MiB, BIDI);
  assert.equal(u.path, 'direct');
  assert.deepEqual(kinds(after(s.steps, mark2)), ['dma.unmap_phys']);

  const dev32 = s.dev('0000:22:00.0', { dmaMask: dmaBitMask(32) });
  const mark3 = s.steps.length;
  const f = dmaMapPhys(dev32, 0x380040000000n, 512n * MiB, BIDI);
  assert.equal(f.dmaAddr, DMA_MAPPING_ERROR);
  assert.equal(f.reason, 'mask');
  assert.equal(f.code, 'DMA_MASK_UNREACHABLE');
  assert.equal(dmaMappingError(dev32, f.dmaAddr), -12);
  const got = after(s.steps, mark3);
  assert.deepEqual(kinds(got), ['kernel.log', 'dma.map_phys']);
  assert.ok(got[0]?.kind === 'kernel.log');
  assert.equal(got[0].text, 'DMA addr 0x0000380040000000+536870912 overflow (mask ffffffff, bus limit 0).');
  assert.ok(got[1]?.kind === 'dma.map_phys');
  assert.equal(got[1].dmaAddr, 0xffffffffffffffffn);
  // the warning is printed once per boot (dev_WARN_ONCE), the failure is traced every time
  const mark4 = s.steps.length;
  dmaMapPhys(dev32, 0x380040000000n, 512n * MiB, BIDI);
  assert.deepEqual(kinds(after(s.steps, mark4)), ['dma.map_phys']);
});

test('E5 / scenario D: 32-bit importer, 1.5 GiB does not fit; three 512 MiB ranges map per range', () => {
  const s = system();
  const dev = s.dev('0000:21:00.0', { dmaMask: dmaBitMask(32) });
  const t = dmaIovaTryAlloc(dev, 0n, 1536n * MiB);
  assert.equal(t.ok, false);
  assert.equal(t.reason, 'no_iova');
  assert.equal(t.code, 'IOVA_EXHAUSTED');
  assert.deepEqual(t.state, { addr: 0n, size: 0n });
  assert.equal(s.domain.requireIova().max32AllocSize, 393216n);
  assert.equal(dev.pci32bitWorkaround, true, 'the 32-bit-first rule only applies to limits above 4 GiB');
  const mark = s.steps.length;
  const addrs = [0x380040000000n, 0x380060000000n, 0x380080000000n].map(
    (p) => dmaMapPhys(dev, p, 512n * MiB, BIDI).dmaAddr,
  );
  assert.deepEqual(addrs, [0xa0000000n, 0x80000000n, 0x60000000n]);
  assert.deepEqual(kinds(after(s.steps, mark)), [
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
  // unmap per entry: iommu.unmap and the release come before dma.unmap_phys
  const mark2 = s.steps.length;
  dmaUnmapPhys(dev, 0xa0000000n, 512n * MiB, BIDI);
  assert.deepEqual(kinds(after(s.steps, mark2)), ['iommu.unmap', 'iova.free:flush_queue', 'dma.unmap_phys']);
});

test('scenario B: repeated 256 MiB allocations descend below 4 GiB, then switch to 48-bit for good', () => {
  const s = system();
  const dev = s.dev('0000:21:00.0');
  const got: bigint[] = [];
  for (let i = 0; i < 13; i++) got.push(dmaIovaTryAlloc(dev, 0n, 256n * MiB).state.addr);
  assert.deepEqual(got, [
    0xb0000000n,
    0xa0000000n,
    0x90000000n,
    0x80000000n,
    0x70000000n,
    0x60000000n,
    0x50000000n,
    0x40000000n,
    0x30000000n,
    0x20000000n,
    0x10000000n,
    0xfffff0000000n,
    0xffffe0000000n,
  ]);
  assert.equal(s.domain.requireIova().max32AllocSize, 65536n);
  const notices = s.steps.filter((x) => x.kind === 'kernel.log' && x.msg === 'dma_iommu.dac_notice');
  assert.equal(notices.length, 1);
  const phases = s.steps.filter((x) => x.kind === 'iova.alloc').map((x) => (x.kind === 'iova.alloc' ? x.phase : ''));
  assert.deepEqual(phases.slice(10), ['32bit', '32bit', 'full', 'full']);
});

test('scenario C: fresh domain per block', () => {
  {
    const s = system();
    const dev = s.dev('0000:21:00.0');
    const sizes = [2n * MiB, 2n * MiB, 4096n, 1n * MiB, 16n * MiB];
    assert.deepEqual(
      sizes.map((z) => dmaIovaTryAlloc(dev, 0n, z).state.addr),
      [0xffe00000n, 0xffc00000n, 0xffbff000n, 0xffa00000n, 0xbf000000n],
    );
  }
  {
    const s = system({}, { forcedac: true });
    const dev = s.dev('0000:21:00.0');
    assert.equal(dev.pci32bitWorkaround, false);
    const mark = s.steps.length;
    assert.equal(dmaIovaTryAlloc(dev, 0n, 2n * MiB).state.addr, 0xffffffe00000n);
    assert.deepEqual(kinds(after(s.steps, mark)), ['dma.iova_try_alloc', 'iova.alloc'], 'no 32-bit attempt, no notice');
  }
  {
    const s = system();
    const dev = s.dev('0000:21:00.0');
    assert.equal(dmaIovaTryAlloc(dev, 0n, 6n * GiB).state.addr, 0xfffe00000000n);
    assert.equal(s.domain.requireIova().max32AllocSize, 0x100000n);
  }
  {
    const s = system();
    const dev = s.dev('0000:21:00.0', { dmaMask: dmaBitMask(32) });
    const mark = s.steps.length;
    const r = dmaIovaTryAlloc(dev, 0n, 6n * GiB);
    assert.equal(r.ok, false);
    const got = after(s.steps, mark);
    assert.deepEqual(
      kinds(got),
      ['dma.iova_try_alloc', 'iova.rcache_flush', 'iova.alloc'],
      'no 32-bit attempt and no notice for a 32-bit limit; the failure flushes the caches',
    );
    const a = got[2];
    assert.ok(a?.kind === 'iova.alloc');
    assert.equal(a.fastFail, true);
    assert.equal(a.flushed, true, 'the failed full attempt flushes the caches and retries');
    assert.equal(a.source, 'fail');
  }
});

test('scenario H: max32_alloc_size is shared by the devices of a domain, the 32-bit flag is not', () => {
  const s = system({ reservedRegions: [] });
  const bridge: HostBridgeDma = { windows: [{ type: 'mem', cpuStart: 0xc0000000n, cpuEnd: 0xfebfffffn, offset: 0n }] };
  const d1 = s.dev('0000:21:00.0', { hostBridge: bridge });
  const d2 = s.dev('0000:21:00.1', { hostBridge: bridge });
  const d3 = s.dev('0000:21:00.2', { hostBridge: bridge });
  assert.deepEqual(d2.setup, { ok: true, initialised: 'already' });
  assert.equal(dmaIovaTryAlloc(d1, 0n, 4n * GiB).state.addr, 0xffff00000000n);
  assert.equal(dmaIovaTryAlloc(d2, 0n, 2n * GiB).state.addr, 0xfffe80000000n);
  assert.equal(s.domain.requireIova().max32AllocSize, 0x80000n);
  const mark = s.steps.length;
  assert.equal(dmaIovaTryAlloc(d2, 0n, 1n * GiB).state.addr, 0xfffe40000000n);
  const a = after(s.steps, mark).filter((x) => x.kind === 'iova.alloc');
  assert.equal(a.length, 1, 'device 2 goes straight to the full pass');
  assert.equal(dmaIovaTryAlloc(d3, 0n, 1n * MiB).state.addr, 0xfff00000n);
  assert.deepEqual(
    [d1, d2, d3].map((d) => d.pci32bitWorkaround),
    [false, false, true],
  );
});

test('flush-queue example: a queued IOVA is not reused before the 10 ms timer releases it', () => {
  const s = system();
  const dev = s.dev('0000:21:00.0');
  const t = 1_000_000; // 1 ms
  s.kernel.advanceTo(t);
  const r = dmaIovaTryAlloc(dev, 0n, 2n * MiB);
  dmaIovaLink(dev, r.state, 0x380000000000n, 0n, 2n * MiB, BIDI);
  dmaIovaDestroy(dev, r.state, 2n * MiB);
  const q = s.steps.at(-1);
  assert.ok(q?.kind === 'iova.free' && q.destination === 'flush_queue');
  assert.equal(q.timerArmedFor, t + 10_000_000);
  assert.equal(s.kernel.nextTimerAt(), t + 10_000_000);
  s.kernel.advanceTo(t + 5_000_000);
  assert.equal(dmaIovaTryAlloc(dev, 0n, 2n * MiB).state.addr, 0xffc00000n, 'still queued: not reused');
  const mark = s.steps.length;
  s.kernel.advanceTo(t + 10_000_000);
  const got = after(s.steps, mark);
  assert.deepEqual(kinds(got), ['iova.fq_flush', 'iova.free:tree']);
  assert.deepEqual(got[0], {
    kind: 'iova.fq_flush',
    domainId: 7,
    reason: 'timer',
    cpu: 0,
    flushStart: 1,
    flushFinish: 1,
    released: 1,
  });
  const free = got[1];
  assert.ok(free?.kind === 'iova.free' && free.destination === 'tree');
  assert.equal(free.pfnLo, 0xffe00);
  assert.equal(free.fqQueue, 0);
  assert.equal(s.kernel.nextTimerAt(), undefined);
  assert.equal(dmaIovaTryAlloc(dev, 0n, 1n * MiB).state.addr, 0xfff00000n, 'the freed space is found again');
});

test('Appendix C-6: the 256th release on one CPU before the timer flushes the 255 queued entries first', () => {
  const s = system();
  const dev = s.dev('0000:21:00.0');
  const addrs: bigint[] = [];
  for (let i = 0; i < 256; i++)
    addrs.push(dmaMapPhys(dev, 0x380000000000n + BigInt(i) * 0x1000n, 0x1000n, BIDI).dmaAddr);
  for (let i = 0; i < 255; i++) dmaUnmapPhys(dev, addrs[i]!, 0x1000n, BIDI);
  assert.equal(s.domain.flushQueue?.pending, 255);
  assert.equal(s.steps.filter((x) => x.kind === 'iova.fq_flush').length, 0);
  const mark = s.steps.length;
  dmaUnmapPhys(dev, addrs[255]!, 0x1000n, BIDI);
  const got = after(s.steps, mark);
  const k = kinds(got);
  assert.equal(k[0], 'iommu.unmap');
  assert.equal(k[1], 'iova.fq_flush');
  // one-page entries go to the rcache: 127 fill `loaded`, 127 more after the swap with `prev`, and the
  // 255th pushes a full magazine to the depot first
  const releases = k.slice(2, 258);
  assert.deepEqual(
    releases.filter((x) => x !== 'iova.depot'),
    new Array(255).fill('iova.free:rcache'),
  );
  assert.equal(releases.indexOf('iova.depot'), 254);
  assert.deepEqual(k.slice(258), ['iova.free:flush_queue', 'dma.unmap_phys']);
  const flush = got[1];
  assert.ok(flush?.kind === 'iova.fq_flush');
  assert.deepEqual([flush.reason, flush.released, flush.flushFinish], ['full', 255, 1]);
  assert.equal(s.domain.flushQueue?.pending, 1);
  // the released pfns are reusable at once on that CPU, most recently freed first
  assert.equal(dmaMapPhys(dev, 0x380000000000n, 0x1000n, BIDI).dmaAddr, addrs[254]);
});
