/**
 * Throughput of the IOMMU-DMA layer and the DMA API entry points (issue 3): per-range map/unmap cycles
 * and IOVA-mode map/unmap cycles on a lazy (DMA_FQ) domain with virtual time advancing, with and without a
 * step sink, against the bare IOVA allocator doing the same allocations (the baseline: what this layer
 * adds on top), and the interval page table with many live mappings.
 *
 * Run: npm run bench -- iommu
 */
import { performance } from 'node:perf_hooks';
import {
  DmaDevice,
  dmaBitMask,
  dmaIovaDestroy,
  dmaIovaLink,
  dmaIovaSync,
  dmaIovaTryAlloc,
  dmaMapPhys,
  dmaUnmapPhys,
  IommuDomain,
  type IommuStep,
  IoPageTable,
  IovaDomain,
  KernelContext,
} from '@dmasim/core';
import { type Benchmark, result } from './harness.ts';

const P = 0x380000000000n;
const BRIDGE = {
  windows: [
    { type: 'mem' as const, cpuStart: 0xc0000000n, cpuEnd: 0xfebfffffn, offset: 0n },
    { type: 'mem' as const, cpuStart: 0x380000000000n, cpuEnd: 0x3fffffffffffn, offset: 0n },
  ],
};

function machine(withSink: boolean) {
  let steps = 0;
  const onStep = withSink ? (_s: IommuStep) => void steps++ : undefined;
  const kernel = new KernelContext({ cpus: 4, onStep });
  const domain = new IommuDomain(kernel, { id: 1, type: 'dma_fq' });
  const dev = new DmaDevice(kernel, { name: '0000:21:00.0', domain, dmaMask: dmaBitMask(64), hostBridge: BRIDGE });
  return { kernel, dev, steps: () => steps };
}

/** `live` mappings of 2 MiB kept; each cycle unmaps the oldest and maps a new one; 1 us per cycle. */
function perRange(n: number, withSink: boolean): { ms: number; steps: number } {
  const { kernel, dev, steps } = machine(withSink);
  const live: bigint[] = [];
  const size = 2n << 20n;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    kernel.advanceTo(i * 1000);
    const cpu = i & 3;
    if (live.length >= 64) dmaUnmapPhys(dev, live.shift()!, size, 0, undefined, { cpu });
    const m = dmaMapPhys(dev, P + BigInt(i) * size, size, 0, undefined, { cpu });
    if (!m.ok) throw new Error(`map failed at ${i}: ${m.reason}`);
    live.push(m.dmaAddr);
  }
  return { ms: performance.now() - t0, steps: steps() };
}

/** IOVA mode: try_alloc + 4 links (at running offsets) + sync, destroy the oldest of 16 live buffers. */
function iovaMode(n: number): number {
  const { kernel, dev } = machine(false);
  const live: { addr: bigint; size: bigint }[] = [];
  const size = 64n << 20n;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    kernel.advanceTo(i * 1000);
    if (live.length >= 16) dmaIovaDestroy(dev, live.shift()!, size);
    const t = dmaIovaTryAlloc(dev, 0n, size);
    if (!t.ok) throw new Error(`try_alloc failed at ${i}`);
    for (let k = 0n; k < 4n; k++) dmaIovaLink(dev, t.state, P + k * (size / 4n), k * (size / 4n), size / 4n, 0);
    dmaIovaSync(dev, t.state, 0n, size);
    live.push(t.state);
  }
  return performance.now() - t0;
}

/** The same allocation pattern as {@link perRange} on the bare allocator (no flush queue, no page table). */
function bareAllocator(n: number): number {
  const iovad = new IovaDomain({ cpus: 4 });
  iovad.reserveIova(0xc0000n, 0xfebffn);
  iovad.reserveIova(0x380000000n, 0x3ffffffffn);
  iovad.reserveIova(0xfee00n, 0xfeeffn);
  const live: bigint[] = [];
  let first = true;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const cpu = i & 3;
    if (live.length >= 64) iovad.freeIovaFast(live.shift()!, 512n, cpu);
    let pfn = 0n;
    if (first) {
      pfn = iovad.allocIovaFast(512n, 0xfffffn, false, cpu).pfn;
      if (pfn === 0n) first = false;
    }
    if (pfn === 0n) pfn = iovad.allocIovaFast(512n, 0xfffffffffn, true, cpu).pfn;
    live.push(pfn);
  }
  return performance.now() - t0;
}

/** Random map/unmap of 1..64-page ranges in a table holding ~`live` intervals. */
function pageTable(n: number, live: number): number {
  const t = new IoPageTable();
  let x = 12345;
  const rnd = () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x;
  };
  const span = BigInt(live) * 128n;
  for (let i = 0; i < live; i++) t.map(BigInt(i) * 128n * 4096n, 0n, 64n * 4096n, 3, 'overwrite');
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const at = (BigInt(rnd()) % span) * 4096n;
    const len = BigInt(1 + (rnd() % 64)) * 4096n;
    if (i & 1) t.unmap(at, len);
    else t.map(at, at, len, 3, 'overwrite');
  }
  return performance.now() - t0;
}

/** Best of `reps` runs (after one warm-up run) of `fn`, in ms. */
function best(reps: number, fn: () => number): number {
  fn();
  let b = Number.POSITIVE_INFINITY;
  for (let i = 0; i < reps; i++) b = Math.min(b, fn());
  return b;
}

export const benchmarks: Benchmark[] = [
  {
    name: 'iommu',
    async run() {
      const n = 50_000;
      const nIova = 10_000;
      const nPt = 100_000;
      const bare = best(5, () => bareAllocator(n));
      const quiet = best(5, () => perRange(n, false).ms);
      const traced = best(5, () => perRange(n, true).ms);
      const stepsPerCycle = perRange(1000, true).steps / 1000;
      const iova = best(5, () => iovaMode(nIova));
      const pt = best(5, () => pageTable(nPt, 10_000));
      const perSec = (count: number, ms: number) => (count / ms) * 1000;
      return [
        result('iommu.iova_alloc_free_bare', 'cycles/s', perSec(n, bare), null, {
          what: 'alloc_iova_fast (32-bit first, then 48-bit) + free_iova_fast of 512 pages, 64 live, 4 CPUs',
        }),
        result('iommu.map_unmap_phys', 'cycles/s', perSec(n, quiet), perSec(n, bare), {
          what: 'dma_map_phys + dma_unmap_phys of 2 MiB under DMA_FQ, 64 live, 4 CPUs, 1 us apart, no sink',
          baseline: 'iommu.iova_alloc_free_bare',
        }),
        result('iommu.map_unmap_phys_traced', 'cycles/s', perSec(n, traced), perSec(n, quiet), {
          what: 'the same with a step sink that counts records',
          stepsPerCycle,
          baseline: 'iommu.map_unmap_phys',
        }),
        result('iommu.iova_mode_buffer', 'buffers/s', perSec(nIova, iova), null, {
          what: 'dma_iova_try_alloc + 4 x dma_iova_link + dma_iova_sync + dma_iova_destroy of 64 MiB, 16 live',
        }),
        result('iommu.page_table_op', 'ops/s', perSec(nPt, pt), null, {
          what: 'IoPageTable map/unmap of 1..64 pages at random, ~10k live intervals',
        }),
      ];
    },
  },
];
