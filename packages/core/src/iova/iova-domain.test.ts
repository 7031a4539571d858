import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, isDmasimError } from '../errors.ts';
import { IOVA_ANCHOR, IovaDomain } from './iova-domain.ts';
import { IOVA_DEPOT_DELAY_NS, IOVA_MAG_SIZE } from './iova-rcache.ts';

const LIMIT32 = 0xfffffn; // DMA_BIT_MASK(32) >> 12
const LIMIT48 = 0xfffffffffn; // DMA_BIT_MASK(48) >> 12

/** What iommu_dma_alloc_iova does for a 64-bit PCI device that still has its 32-bit-first flag. */
function dmaAlloc(d: IovaDomain, pages: bigint, dev: { dac: boolean }, limit = LIMIT48, cpu = 0): bigint {
  if (!dev.dac && limit > LIMIT32) {
    const r = d.allocIovaFast(pages, LIMIT32, false, cpu);
    if (r.pfn !== 0n) return r.pfn;
    dev.dac = true;
  }
  return d.allocIovaFast(pages, limit, true, cpu).pfn;
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => isDmasimError(e) && e.code === code);
}

/** Scenario B/C/H reservations: host-bridge windows and the MSI window. */
function x86Reserved(d: IovaDomain, withHigh = true): void {
  d.reserveIova(0xc0000n, 0xfebffn);
  if (withHigh) d.reserveIova(0x380000000n, 0x3ffffffffn);
  d.reserveIova(0xfee00n, 0xfeeffn);
}

describe('IovaDomain: initial state (kernel-model.md 4.1)', () => {
  test('4 KiB granule, start pfn 1', () => {
    const d = new IovaDomain();
    assert.equal(d.granule, 4096n);
    assert.equal(d.shift, 12);
    assert.equal(d.startPfn, 1n);
    assert.equal(d.dma32bitPfn, 0x100000n);
    assert.equal(d.max32AllocSize, 0x100000n);
    assert.equal(d.liveNodes(), 0);
    assert.equal(d.usedPages(), 0n);
    const s = d.snapshot();
    assert.deepEqual(s.nodes, [[IOVA_ANCHOR, IOVA_ANCHOR]]);
    assert.equal(s.cached, IOVA_ANCHOR);
    assert.equal(s.cached32, IOVA_ANCHOR);
  });

  test('64 KiB granule: dma_32bit_pfn = 1 << 16, pfns up to ULLONG_MAX >> 16', () => {
    const d = new IovaDomain({ granule: 65536n });
    assert.equal(d.shift, 16);
    assert.equal(d.dma32bitPfn, 0x10000n);
    assert.equal(d.maxPfn, (1n << 48n) - 1n);
    assert.deepEqual(d.allocIova(1n, d.maxPfn, false).range, { pfnLo: d.maxPfn, pfnHi: d.maxPfn });
  });

  test('bad options are INVALID_ARGUMENT', () => {
    throwsCode(() => new IovaDomain({ granule: 3000n }), ErrorCode.INVALID_ARGUMENT);
    throwsCode(() => new IovaDomain({ startPfn: 0n }), ErrorCode.INVALID_ARGUMENT);
    throwsCode(() => new IovaDomain({ cpus: 0 }), ErrorCode.INVALID_ARGUMENT);
  });
});

describe('IovaDomain: worked examples of kernel-model.md 4.8 (the iova.c part)', () => {
  test('scenario A: bare domain, 32-bit pass, rcache hit, cached32 moves up on free', () => {
    const d = new IovaDomain();
    const a = (pages: bigint) => d.allocIovaFast(pages, LIMIT32, false);
    assert.equal(a(256n).pfn, 0xfff00n);
    assert.equal(a(512n).pfn, 0xffc00n);
    assert.equal(a(16n).pfn, 0xffbf0n);
    assert.equal(d.freeIovaFast(0xffbf0n, 16n).destination, 'rcache');
    const hit = a(16n);
    assert.equal(hit.pfn, 0xffbf0n);
    assert.equal(hit.source, 'rcache');
    assert.equal(hit.bin, 4);
    const f = d.freeIovaFast(0xffc00n, 512n);
    assert.equal(f.destination, 'tree');
    assert.deepEqual(f.removed, { pfnLo: 0xffc00n, pfnHi: 0xffdffn });
    assert.equal(f.cached32MovedTo, 0xfff00n);
    assert.equal(a(256n).pfn, 0xffe00n);
    const three = a(3n);
    assert.equal(three.pfn, 0xffdfcn);
    assert.equal(three.pagesEffective, 4n);
    assert.equal(a(768n).pfn, 0xff800n);
  });

  test('scenario B: reservations, eleven 256 MiB blocks below 4 GiB, then 48-bit addresses', () => {
    const d = new IovaDomain();
    x86Reserved(d);
    const dev = { dac: false };
    const got: bigint[] = [];
    for (let i = 0; i < 11; i++) got.push(dmaAlloc(d, 65536n, dev));
    assert.deepEqual(
      got,
      [0xb, 0xa, 9, 8, 7, 6, 5, 4, 3, 2, 1].map((x) => BigInt(x) << 16n),
    );
    assert.equal(dev.dac, false);
    assert.equal(dmaAlloc(d, 65536n, dev), 0xffff_f0000n);
    assert.equal(dev.dac, true);
    assert.equal(d.max32AllocSize, 65536n);
    assert.equal(dmaAlloc(d, 65536n, dev), 0xffff_e0000n);
  });

  test('scenario C: fresh domains with the same reservations', () => {
    let d = new IovaDomain();
    x86Reserved(d);
    const dev = { dac: false };
    assert.deepEqual(
      [512n, 512n, 1n, 256n, 4096n].map((p) => dmaAlloc(d, p, dev)),
      [0xffe00n, 0xffc00n, 0xffbffn, 0xffa00n, 0xbf000n],
    );
    d = new IovaDomain();
    x86Reserved(d);
    assert.equal(dmaAlloc(d, 512n, { dac: true }), 0xffffffe00n);
    d = new IovaDomain();
    x86Reserved(d);
    const r32 = d.allocIovaFast(1572864n, LIMIT32, false);
    assert.equal(r32.fastFail, true);
    assert.equal(r32.max32After, 0x100000n);
    assert.equal(d.allocIovaFast(1572864n, LIMIT48, true).pfn, 0xfffe00000n);
    d = new IovaDomain();
    x86Reserved(d);
    const r = d.allocIovaFast(1572864n, LIMIT32, true);
    assert.equal(r.pfn, 0n);
    assert.equal(r.source, 'fail');
    assert.equal(r.flushed, true);
    assert.equal(r.fastFail, true);
  });

  test('scenario D: a 1.5 GiB block does not fit below 4 GiB; three 512 MiB ranges do', () => {
    const d = new IovaDomain();
    x86Reserved(d);
    const whole = d.allocIovaFast(393216n, LIMIT32, true);
    assert.equal(whole.pfn, 0n);
    assert.equal(d.max32AllocSize, 393216n);
    assert.deepEqual(
      [1, 2, 3].map(() => d.allocIovaFast(131072n, LIMIT32, true).pfn),
      [0xa0000n, 0x80000n, 0x60000n],
    );
  });

  test('scenario E: the second pass finds the gap above the cached node', () => {
    const d = new IovaDomain();
    d.reserveIova(1n, 0xffbffn);
    const dev = { dac: false };
    assert.equal(dmaAlloc(d, 256n, dev), 0xfff00n);
    assert.equal(dmaAlloc(d, 512n, dev), 0xffc00n);
    const second = d.allocIovaFast(256n, LIMIT32, false);
    assert.equal(second.pfn, 0xffe00n);
    assert.equal(second.secondPass, true);
    assert.equal(second.cost.passes, 2);
    const fail = d.allocIovaFast(256n, LIMIT32, false);
    assert.equal(fail.pfn, 0n);
    assert.equal(fail.secondPass, true);
    assert.equal(d.max32AllocSize, 256n);
    assert.equal(d.allocIovaFast(256n, LIMIT48, true).pfn, 0xfffffff00n);
  });

  test('scenario F: per-CPU caches on two CPUs', () => {
    const d = new IovaDomain({ cpus: 2 });
    const p = [1, 2, 3].map(() => d.allocIovaFast(1n, LIMIT32, false, 0).pfn);
    assert.deepEqual(p, [0xfffffn, 0xffffen, 0xffffdn]);
    for (const x of p) d.freeIovaFast(x, 1n, 0);
    assert.deepEqual(d.snapshot().magazines[0]![0]!.loaded, [0xfffffn, 0xffffen, 0xffffdn]);
    const cpu1 = d.allocIovaFast(1n, LIMIT32, false, 1);
    assert.equal(cpu1.pfn, 0xffffcn);
    assert.equal(cpu1.source, 'tree');
    assert.equal(d.allocIovaFast(1n, LIMIT32, false, 0).pfn, 0xffffdn);
    assert.equal(d.allocIovaFast(2n, LIMIT32, false, 0).pfn, 0xffffan);
    assert.equal(d.allocIovaFast(3n, LIMIT32, false, 0).pfn, 0xffff4n);
  });

  test('scenario G: the limit filter of the cache', () => {
    const d = new IovaDomain();
    d.freeIovaFast(0x100n, 1n);
    d.freeIovaFast(0xffffffff0n, 1n);
    const r = d.allocIovaFast(1n, LIMIT32, false);
    assert.equal(r.pfn, 0x100n);
    assert.equal(r.source, 'rcache');
    const e = new IovaDomain();
    e.freeIovaFast(0xffffffff0n, 1n);
    const miss = e.allocIovaFast(1n, LIMIT32, false);
    assert.equal(miss.source, 'tree');
    assert.equal(miss.pfn, 0xfffffn);
    assert.deepEqual(e.snapshot().magazines[0]![0]!.loaded, [0xffffffff0n]);
  });

  test('scenario H: max32_alloc_size side effects', () => {
    const d = new IovaDomain();
    d.reserveIova(0xc0000n, 0xfebffn);
    const dev1 = { dac: false };
    const dev2 = { dac: false };
    const dev3 = { dac: false };
    assert.equal(dmaAlloc(d, 0x100000n, dev1), 0xffff00000n);
    assert.equal(dev1.dac, true);
    assert.equal(d.max32AllocSize, 0x100000n);
    assert.equal(dmaAlloc(d, 0x80000n, dev2), 0xfffe80000n);
    assert.equal(d.max32AllocSize, 0x80000n);
    assert.equal(dmaAlloc(d, 0x40000n, dev2), 0xfffe40000n);
    assert.equal(dmaAlloc(d, 256n, dev3), 0xfff00n);
    assert.equal(dev3.dac, false);
  });
});

describe('IovaDomain: rules of 4.4 and 4.5', () => {
  test('any failed search stores its size in max32_alloc_size, even for a 48-bit request', () => {
    const d = new IovaDomain();
    const r = d.allocIova(1n << 37n, LIMIT48, false);
    assert.equal(r.range, null);
    assert.equal(r.max32After, 1n << 37n);
    // Requests below max32 are no longer refused at once; freeing below 4 GiB resets it.
    const low = d.allocIova(16n, LIMIT32, false).range!;
    d.freeIovaNode(low);
    assert.equal(d.max32AllocSize, 0x100000n);
  });

  test('free_iova of a pfn in no node does nothing; __free_iova of an unknown node throws', () => {
    const d = new IovaDomain();
    assert.equal(d.freeIova(1234n).destination, 'not_found');
    throwsCode(() => d.freeIovaNode({ pfnLo: 5n, pfnHi: 9n }), ErrorCode.IOVA_NOT_FOUND);
  });

  test('a free at or above the cached node moves it to the successor, lower frees do not', () => {
    const d = new IovaDomain();
    const a = d.allocIova(4n, 63n, false).range!; // [60, 63]
    const b = d.allocIova(4n, 63n, false).range!; // [56, 59]
    const c = d.allocIova(4n, 63n, false).range!; // [52, 55] = cached32
    assert.deepEqual([a.pfnLo, b.pfnLo, c.pfnLo], [60n, 56n, 52n]);
    assert.equal(d.freeIovaNode(b).cached32MovedTo, 60n);
    assert.equal(d.freeIovaNode(c).cached32MovedTo, null);
    // The next search starts below [60, 63]: it takes b's hole, then the walk finds c's hole below.
    assert.equal(d.allocIova(4n, 63n, false).range!.pfnLo, 56n);
    assert.equal(d.allocIova(4n, 63n, false).range!.pfnLo, 52n);
  });

  test('reserve_iova: merging, covering, and refusing pfns above ULLONG_MAX >> shift', () => {
    const d = new IovaDomain();
    d.reserveIova(10n, 20n);
    d.reserveIova(25n, 30n);
    // Stretches [10,20] down to 5 and [25,30] down to 21; the part above 30 becomes a new node.
    assert.deepEqual(d.reserveIova(5n, 40n), { pfnLo: 31n, pfnHi: 40n });
    assert.deepEqual(d.ranges(), [
      { pfnLo: 5n, pfnHi: 20n },
      { pfnLo: 21n, pfnHi: 30n },
      { pfnLo: 31n, pfnHi: 40n },
    ]);
    assert.deepEqual(d.reserveIova(22n, 28n), { pfnLo: 21n, pfnHi: 30n });
    assert.deepEqual(d.reserveIova(41n, 41n), { pfnLo: 41n, pfnHi: 41n });
    assert.equal(d.reserveIova(1n << 52n, 1n << 52n), null);
    assert.equal(d.usedPages(), 37n);
    throwsCode(() => d.reserveIova(9n, 8n), ErrorCode.INVALID_ARGUMENT);
  });

  test('arguments outside the representable range are IOVA_OUT_OF_RANGE', () => {
    const d = new IovaDomain();
    throwsCode(() => d.allocIova(0n, LIMIT48, false), ErrorCode.IOVA_OUT_OF_RANGE);
    throwsCode(() => d.allocIova(1n, 1n << 52n, false), ErrorCode.IOVA_OUT_OF_RANGE);
    throwsCode(() => d.allocIovaN(1, 2 ** 60, false), ErrorCode.IOVA_OUT_OF_RANGE);
    throwsCode(() => d.allocIovaN(1.5, 100, false), ErrorCode.IOVA_OUT_OF_RANGE);
    throwsCode(() => d.allocIovaFast(1n, LIMIT48, true, 1), ErrorCode.INVALID_ARGUMENT);
  });

  test('the anchor is never handed out and the highest usable pfn is', () => {
    const d = new IovaDomain();
    const top = (1n << 52n) - 1n;
    assert.deepEqual(d.allocIova(1n, top, false).range, { pfnLo: top, pfnHi: top });
    assert.equal(d.findIova(top)?.pfnLo, top);
  });
});

describe('IovaDomain: range caches (4.6)', () => {
  test('loaded fills, swaps with prev, then goes to the depot; the trim job returns magazines above the CPU count', () => {
    const d = new IovaDomain({ cpus: 1 });
    const n = 3 * IOVA_MAG_SIZE + 1;
    const pfns: number[] = [];
    for (let i = 0; i < n; i++) pfns.push(d.allocIovaFastN(1, 0xfffff, false));
    const before = d.liveNodes();
    const pushes: boolean[] = [];
    for (const p of pfns) pushes.push(d.freeIovaFast(BigInt(p), 1n).depotPush);
    assert.equal(pushes.filter(Boolean).length, 2);
    const s = d.snapshot();
    assert.equal(s.depots[0]!.length, 2);
    assert.equal(s.magazines[0]![0]!.loaded.length, 1);
    assert.equal(s.trimJobs[0], IOVA_DEPOT_DELAY_NS);
    assert.equal(d.nextTimerAt(), IOVA_DEPOT_DELAY_NS);
    assert.equal(d.liveNodes(), before, 'cached ranges stay allocated in the tree');
    d.advanceTo(IOVA_DEPOT_DELAY_NS - 1);
    assert.equal(d.snapshot().depots[0]!.length, 2);
    d.advanceTo(10 * IOVA_DEPOT_DELAY_NS);
    // depot_size 2 > 1 CPU: one magazine trimmed at 100 ms, rescheduled, nothing more at 200 ms.
    assert.equal(d.snapshot().depots[0]!.length, 1);
    assert.equal(d.liveNodes(), before - IOVA_MAG_SIZE);
    assert.equal(d.nextTimerAt(), undefined);
  });

  test('the earliest trim job the clock sees is always the earliest of the bins (several bins, times)', () => {
    const d = new IovaDomain({ cpus: 1 });
    const earliest = () => {
      const due = d.snapshot().trimJobs.filter((t): t is number => t !== null);
      return due.length === 0 ? undefined : Math.min(...due);
    };
    // Fill bins 0, 1 and 2 past two magazines each at different times, so that their jobs are due apart,
    // then let the clock run through every job in small steps.
    let t = 0;
    for (const pages of [1, 2, 4]) {
      const pfns: number[] = [];
      for (let i = 0; i < 3 * IOVA_MAG_SIZE + 1; i++) pfns.push(d.allocIovaFastN(pages, 0xfffff, false));
      for (const p of pfns) {
        d.freeIovaFastN(p, pages);
        assert.equal(d.nextTimerAt(), earliest());
      }
      t += IOVA_DEPOT_DELAY_NS / 3;
      d.advanceTo(t);
      assert.equal(d.nextTimerAt(), earliest());
    }
    assert.notEqual(earliest(), undefined);
    for (let i = 0; i < 40; i++) {
      t += IOVA_DEPOT_DELAY_NS / 7;
      d.advanceTo(t);
      assert.equal(d.nextTimerAt(), earliest());
    }
    assert.equal(d.nextTimerAt(), undefined);
  });

  test('without depotTrim no job is ever scheduled', () => {
    const d = new IovaDomain({ depotTrim: false });
    for (let i = 0; i < 3 * IOVA_MAG_SIZE; i++) d.freeIovaFastN(1000 + i, 1);
    assert.equal(d.snapshot().depots[0]!.length, 1);
    assert.equal(d.nextTimerAt(), undefined);
    throwsCode(() => d.advanceTo(-1), ErrorCode.INVALID_ARGUMENT);
  });

  test('a phantom pfn 0 popped from the cache is a miss (3.8-5)', () => {
    const d = new IovaDomain();
    d.freeIovaFast(0n, 1n);
    const r = d.allocIovaFast(1n, LIMIT48, false);
    assert.equal(r.phantom, true);
    assert.equal(r.source, 'tree');
    assert.equal(r.pfn, LIMIT48);
    assert.equal(d.cachedPfns(), 0);
  });

  test('a bound that wraps (size > limit + 1) accepts any cached pfn, as the kernel does', () => {
    const d = new IovaDomain();
    d.freeIovaFast(0x5000n, 32n);
    assert.equal(d.allocIovaFast(32n, 10n, false).pfn, 0x5000n);
  });

  test('flush order: loaded, prev of every CPU and bin, then depots; then retry', () => {
    const steps: string[] = [];
    const d = new IovaDomain({ cpus: 2, onStep: (s) => steps.push(s.kind) });
    const a = d.allocIovaFastN(1, 127, false, 0);
    const b = d.allocIovaFastN(1, 127, false, 0);
    d.freeIovaFastN(a, 1, 0);
    d.freeIovaFastN(b, 1, 1);
    assert.equal(d.allocIovaN(125, 127, false), 1); // the window is full; 127 and 126 sit in two CPUs' caches
    assert.equal(d.allocIovaFastN(2, 127, false, 0), 0);
    const r = d.allocIovaFast(2n, 127n, true, 0);
    assert.equal(r.source, 'tree_after_flush');
    assert.equal(r.pfn, 126n);
    assert.equal(d.cachedPfns(), 0);
    assert.deepEqual(steps.slice(-2), ['iova.rcache_flush', 'iova.alloc']);
  });
});

describe('IovaDomain: cost model', () => {
  for (const search of ['indexed', 'linear'] as const)
    test(`counts the iterations of the kernel walk past every live range below the cached node (${search})`, () => {
      const d = new IovaDomain({ search });
      const ranges = Array.from({ length: 100 }, () => d.allocIova(1n, LIMIT48, false).range!);
      // Free the oldest (highest): cached_node moves up, next search starts from there.
      d.freeIovaNode(ranges[0]!);
      const r = d.allocIova(1n, LIMIT48, false);
      assert.equal(r.range!.pfnLo, LIMIT48);
      assert.equal(r.cost.nodesVisited, 1);
      // A hole at the bottom of 100 ranges when the cached node is at the top: the walk passes them all.
      d.freeIovaNode(ranges[99]!);
      d.freeIovaNode(ranges[50]!); // moves nothing (below cached)
      const big = d.allocIova(2n, LIMIT48, false);
      assert.equal(big.range!.pfnLo, LIMIT48 - 100n);
      // Visited: the top node, ranges 1..49 and 51..98; then no predecessor is left and the block fits.
      assert.equal(big.cost.nodesVisited, 98);
      assert.equal(big.cost.passes, 1);
    });
});
