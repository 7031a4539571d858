import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DmaDevice } from './dma-device.ts';
import { dmaBitMask } from './dma-mapping.ts';
import {
  AMD_HT_REGION,
  IommuDomain,
  type IommuDomainOptions,
  iommuDomainKindOf,
  X86_MSI_REGION,
} from './iommu-domain.ts';
import type { IommuStep } from './iommu-steps.ts';
import { KernelContext } from './kernel-context.ts';

function setup(domain: Partial<IommuDomainOptions> = {}) {
  const steps: IommuStep[] = [];
  const kernel = new KernelContext({ cpus: 2, onStep: (s) => steps.push(s) });
  const d = new IommuDomain(kernel, { id: 1, type: 'dma_fq', ...domain });
  return { kernel, d, steps };
}

const nodes = (d: IommuDomain) =>
  d
    .requireIova()
    .ranges()
    .map((r) => [r.pfnLo, r.pfnHi]);
const logs = (steps: IommuStep[]) => steps.flatMap((s) => (s.kind === 'kernel.log' ? [s.text] : []));

test('granule and shift come from the lowest page size; start pfn from the aperture', () => {
  const { d } = setup({ pgsizeBitmap: 0x40201000n });
  assert.equal(d.granule, 4096n);
  assert.equal(d.shift, 12);
  const k = new KernelContext();
  const d64 = new IommuDomain(k, { id: 2, type: 'dma', pgsizeBitmap: 0x20010000n, pageSize: 65536n });
  assert.equal(d64.granule, 65536n);
  assert.throws(() => new IommuDomain(k, { id: 3, type: 'dma', pgsizeBitmap: 0x10000n }), { code: 'INVALID_ARGUMENT' });
  const dev = new DmaDevice(k, {
    name: '0000:01:00.0',
    domain: new IommuDomain(k, { id: 4, type: 'dma', geometry: { apertureStart: 0x100000n }, reservedRegions: [] }),
  });
  assert.equal(dev.domain?.requireIova().startPfn, 0x100n);
  const dev0 = new DmaDevice(k, { name: '0000:02:00.0', domain: new IommuDomain(k, { id: 5, type: 'dma' }) });
  assert.equal(dev0.domain?.requireIova().startPfn, 1n, 'pfn 0 is never handed out');
});

test('the first device reserves its host bridge memory windows by bus range, then the driver regions', () => {
  const { d, steps } = setup({
    reservedRegions: [X86_MSI_REGION, AMD_HT_REGION, { start: 0x8000000n, length: 0x100000n, type: 'sw_msi' }],
  });
  const dev = new DmaDevice(d.kernel, {
    name: '0000:21:00.0',
    domain: d,
    hostBridge: {
      windows: [
        { type: 'io', cpuStart: 0n, cpuEnd: 0xffffn, offset: 0n },
        // CPU 0x380000000000 maps to bus 0x37c000000000
        { type: 'mem', cpuStart: 0x380000000000n, cpuEnd: 0x3800ffffffffn, offset: 0x4000000000n },
      ],
    },
    resvRegions: [{ start: 0x7a000000n, length: 0x2000n, type: 'direct' }],
  });
  assert.deepEqual(dev.setup, { ok: true, initialised: 'first' });
  assert.deepEqual(
    nodes(d),
    [
      [0x7a000n, 0x7a001n],
      [0xfee00n, 0xfeeffn],
      [0xfd00000n, 0xfffffffn],
      [0x37c000000n, 0x37c0fffffn],
    ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
  );
  assert.deepEqual(
    steps.filter((s) => s.kind === 'iova.reserve').map((s) => (s.kind === 'iova.reserve' ? s.pfnLo : 0)),
    [0x37c000000, 0x7a000, 0xfee00, 0xfd00000],
    'windows first, then device regions, then driver regions; sw_msi skipped',
  );
  const init = steps.find((s) => s.kind === 'iommu.domain_init');
  assert.deepEqual(init, {
    kind: 'iommu.domain_init',
    domainId: 1,
    device: '0000:21:00.0',
    type: 'dma_fq',
    granule: 4096n,
    startPfn: 1n,
    cpus: 2,
    linkCollision: 'fail',
    flushQueue: { kind: 'per_cpu', size: 256, timeoutMs: 10 },
  });
});

test('a later device of the group adds no reservations', () => {
  const { d } = setup({ reservedRegions: [] });
  new DmaDevice(d.kernel, { name: 'a', domain: d });
  const b = new DmaDevice(d.kernel, {
    name: 'b',
    domain: d,
    hostBridge: { windows: [{ type: 'mem', cpuStart: 0xc0000000n, cpuEnd: 0xcfffffffn, offset: 0n }] },
  });
  assert.deepEqual(b.setup, { ok: true, initialised: 'already' });
  assert.deepEqual(nodes(d), []);
});

test('inbound DMA ranges: the gaps are reserved, up to the top; overlapping ranges fail the setup', () => {
  const { d } = setup({ reservedRegions: [] });
  const dev = new DmaDevice(d.kernel, {
    name: 'dt',
    domain: d,
    hostBridge: {
      windows: [],
      dmaRanges: [
        { type: 'mem', cpuStart: 0x80000000n, cpuEnd: 0xbfffffffn, offset: 0n },
        { type: 'mem', cpuStart: 0x10000000n, cpuEnd: 0x3fffffffn, offset: 0n },
      ],
    },
  });
  assert.equal(dev.dmaIommu, true);
  // sorted: [0x10000000-0x3fffffff], [0x80000000-0xbfffffff]; gaps [0, 0x10000000], [0x40000000, 0x80000000],
  // [0xc0000000, ~0] (the upper pfn of each gap is the pfn of the next range start, so that page is reserved too)
  assert.deepEqual(nodes(d), [
    [0n, 0x10000n],
    [0x40000n, 0x80000n],
    [0xc0000n, (1n << 52n) - 1n],
  ]);

  const bad = setup({ reservedRegions: [] });
  const dev2 = new DmaDevice(bad.kernel, {
    name: '0000:05:00.0',
    domain: bad.d,
    hostBridge: {
      windows: [],
      dmaRanges: [
        { type: 'mem', cpuStart: 0x10000000n, cpuEnd: 0x3fffffffn, offset: 0n },
        { type: 'mem', cpuStart: 0x20000000n, cpuEnd: 0x5fffffffn, offset: 0n },
      ],
    },
  });
  assert.deepEqual(dev2.setup, { ok: false, errno: -22, reason: 'reserve_failed' });
  assert.equal(dev2.dmaIommu, false, 'the device keeps dma-direct');
  assert.deepEqual(logs(bad.steps), [
    'Failed to reserve IOVA [0x0000000040000000-0x0000000020000000]',
    'Failed to set up IOMMU for device 0000:05:00.0; retaining platform DMA ops',
  ]);
});

test('a device whose DMA ranges lie outside the aperture keeps dma-direct', () => {
  const { d, steps } = setup({ geometry: { apertureEnd: 0xffffffffn } });
  const dev = new DmaDevice(d.kernel, {
    name: 'x',
    domain: d,
    dmaRangeMap: [{ cpuStart: 0n, dmaStart: 0x100000000n, size: 0x100000000n }],
  });
  assert.deepEqual(dev.setup, { ok: false, errno: -14, reason: 'dma_range_outside' });
  assert.equal(dev.dmaIommu, false);
  assert.equal(d.iova, null);
  assert.deepEqual(logs(steps), [
    'specified DMA range outside IOMMU capability',
    'Failed to set up IOMMU for device x; retaining platform DMA ops',
  ]);
});

test('DMA_FQ is downgraded to DMA without deferred flush, or when the queue cannot be created', () => {
  const a = setup({ deferredFlush: false });
  new DmaDevice(a.kernel, { name: 'a', domain: a.d });
  assert.equal(a.d.type, 'dma');
  assert.equal(a.d.flushQueue, null);
  assert.deepEqual(logs(a.steps), []);
  const b = setup({ flushQueueInitFails: true });
  new DmaDevice(b.kernel, { name: 'b', domain: b.d });
  assert.equal(b.d.type, 'dma');
  assert.deepEqual(logs(b.steps), ['iova flush queue initialization failed']);
  const c = setup({ shadowOnFlush: true });
  new DmaDevice(c.kernel, { name: 'c', domain: c.d });
  assert.deepEqual(c.d.flushQueue?.options, { kind: 'single', size: 32768, timeoutMs: 1000 });
});

test('identity, blocked and no-IOMMU devices use dma-direct and allocate nothing', () => {
  const k = new KernelContext();
  for (const type of ['identity', 'blocked', 'unmanaged'] as const) {
    const d = new IommuDomain(k, { id: 9, type });
    const dev = new DmaDevice(k, { name: type, domain: d, dmaMask: dmaBitMask(64) });
    assert.equal(dev.dmaIommu, false);
    assert.equal(dev.setup, null);
    assert.equal(d.iova, null);
  }
  const none = new DmaDevice(k, { name: 'none' });
  assert.equal(none.dmaIommu, false);
  assert.equal(none.pci32bitWorkaround, false);
  assert.equal(iommuDomainKindOf('DMA_FQ'), 'dma_fq');
  assert.equal(iommuDomainKindOf('IDENTITY'), 'identity');
});

test('PCI devices start with the 32-bit-first flag unless iommu.forcedac; non-PCI devices never have it', () => {
  const k = new KernelContext();
  const d = new IommuDomain(k, { id: 1, type: 'dma' });
  assert.equal(new DmaDevice(k, { name: 'pci', domain: d }).pci32bitWorkaround, true);
  assert.equal(new DmaDevice(k, { name: 'platform', isPci: false, domain: d }).pci32bitWorkaround, false);
  const kf = new KernelContext({ forcedac: true });
  const df = new IommuDomain(kf, { id: 1, type: 'dma' });
  assert.equal(new DmaDevice(kf, { name: 'pci', domain: df }).pci32bitWorkaround, false);
});
