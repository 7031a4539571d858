import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type IoMapping, IoPageTable, type LinkCollisionPolicy } from './io-page-table.ts';

const G = 0x1000n;

test('map into empty space, translate inside, fault outside', () => {
  const t = new IoPageTable();
  const o = t.map(0xffe00000n, 0x380000000000n, 0x200000n, 0x13, 'fail');
  assert.deepEqual(o, { collision: 'none', firstCollision: null, mappedBeforeFailure: 0n });
  assert.deepEqual(t.translate(0xffe01234n), { paddr: 0x380000001234n, prot: 0x13 });
  assert.equal(t.translate(0xffdfffffn), null);
  assert.equal(t.translate(0x100000000n), null);
  assert.equal(t.mappedBytes, 0x200000n);
});

test('overwrite: the later map wins where they overlap, the rest of the older one stays', () => {
  const t = new IoPageTable();
  t.map(0x10000n, 0xa0000n, 0x4000n, 1, 'overwrite');
  const o = t.map(0x12000n, 0xb0000n, 0x4000n, 2, 'overwrite');
  assert.equal(o.collision, 'overwrite');
  assert.equal(o.firstCollision, 0x12000n);
  assert.deepEqual(t.snapshot(), [
    { iova: 0x10000n, size: 0x2000n, paddr: 0xa0000n, prot: 1 },
    { iova: 0x12000n, size: 0x4000n, paddr: 0xb0000n, prot: 2 },
  ]);
  assert.equal(t.mappedBytes, 0x6000n);
});

test('keep: live entries stay, only holes are filled', () => {
  const t = new IoPageTable();
  t.map(0x12000n, 0xa2000n, 0x1000n, 1, 'keep');
  const o = t.map(0x10000n, 0xb0000n, 0x4000n, 2, 'keep');
  assert.equal(o.collision, 'keep');
  assert.equal(o.firstCollision, 0x12000n);
  assert.deepEqual(t.translate(0x12000n), { paddr: 0xa2000n, prot: 1 });
  assert.deepEqual(t.translate(0x13000n), { paddr: 0xb3000n, prot: 2 });
  assert.deepEqual(t.translate(0x10000n), { paddr: 0xb0000n, prot: 2 });
  assert.equal(t.mappedBytes, 0x4000n);
});

test('fail: nothing changes; the bytes before the first live entry are reported', () => {
  const t = new IoPageTable();
  t.map(0x13000n, 0xa3000n, 0x1000n, 1, 'fail');
  const o = t.map(0x10000n, 0xb0000n, 0x4000n, 2, 'fail');
  assert.deepEqual(o, { collision: 'fail', firstCollision: 0x13000n, mappedBeforeFailure: 0x3000n });
  assert.deepEqual(t.snapshot(), [{ iova: 0x13000n, size: 0x1000n, paddr: 0xa3000n, prot: 1 }]);
});

test('unmap stops at the first hole and reports the bytes it unmapped', () => {
  const t = new IoPageTable();
  t.map(0x10000n, 0xa0000n, 0x2000n, 1, 'fail');
  t.map(0x12000n, 0xc0000n, 0x1000n, 1, 'fail'); // adjacent, different paddr: crossed without a stop
  t.map(0x15000n, 0xd0000n, 0x1000n, 1, 'fail'); // after a hole
  assert.equal(t.unmap(0x11000n, 0x10000n), 0x2000n);
  assert.deepEqual(t.snapshot(), [
    { iova: 0x10000n, size: 0x1000n, paddr: 0xa0000n, prot: 1 },
    { iova: 0x15000n, size: 0x1000n, paddr: 0xd0000n, prot: 1 },
  ]);
  assert.equal(t.unmap(0x14000n, 0x2000n), 0n, 'a hole at the start unmaps nothing');
  assert.equal(t.unmap(0x15000n, 0n), 0n);
  assert.equal(t.unmap(0x15800n, 0x400n), 0x400n, 'the table itself does not check alignment');
});

test('a GiB-sized mapping is one interval', () => {
  const t = new IoPageTable();
  t.map(0xfffe00000000n, 0x380000000000n, 6n << 30n, 0x13, 'fail');
  assert.equal(t.intervalCount, 1);
  assert.equal(t.unmap(0xfffe00000000n, 0xfffff000n), 0xfffff000n);
  assert.equal(t.intervalCount, 1);
  assert.equal(t.translate(0xfffefffff000n - 1n), null);
  assert.deepEqual(t.translate(0xfffefffff000n), { paddr: 0x3800fffff000n, prot: 0x13 });
  assert.deepEqual(t.lookup(0xfffe00000000n, 0x100000000n), [
    { iova: 0xfffefffff000n, size: 0x1000n, paddr: 0x3800fffff000n, prot: 0x13 },
  ]);
});

/** A per-page reference model over a small address space. */
class PageModel {
  readonly pages = new Map<bigint, { paddr: bigint; prot: number }>();
  map(iova: bigint, paddr: bigint, size: bigint, prot: number, policy: LinkCollisionPolicy): string {
    const n = size / G;
    let first = -1n;
    for (let i = 0n; i < n; i++) if (first < 0n && this.pages.has(iova / G + i)) first = i;
    if (first >= 0n && policy === 'fail') return 'fail';
    for (let i = 0n; i < n; i++) {
      const p = iova / G + i;
      if (policy === 'keep' && this.pages.has(p)) continue;
      this.pages.set(p, { paddr: paddr + i * G, prot });
    }
    return first >= 0n ? policy : 'none';
  }
  unmap(iova: bigint, size: bigint): bigint {
    let done = 0n;
    while (done < size && this.pages.has((iova + done) / G)) {
      this.pages.delete((iova + done) / G);
      done += G;
    }
    return done;
  }
  snapshotPages(): [bigint, bigint, number][] {
    return [...this.pages].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([p, v]) => [p, v.paddr, v.prot]);
  }
}

function pagesOf(maps: readonly IoMapping[]): [bigint, bigint, number][] {
  const out: [bigint, bigint, number][] = [];
  for (const m of maps) for (let o = 0n; o < m.size; o += G) out.push([(m.iova + o) / G, m.paddr + o, m.prot]);
  return out;
}

test('property: the interval table behaves like a per-page table under every policy', () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('map' as const),
      page: fc.integer({ min: 0, max: 63 }),
      pages: fc.integer({ min: 0, max: 12 }),
      paddrPage: fc.integer({ min: 0, max: 1000 }),
      prot: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({
      kind: fc.constant('unmap' as const),
      page: fc.integer({ min: 0, max: 63 }),
      pages: fc.integer({ min: 0, max: 20 }),
    }),
  );
  fc.assert(
    fc.property(
      fc.constantFrom<LinkCollisionPolicy>('overwrite', 'keep', 'fail'),
      fc.array(op, { maxLength: 60 }),
      (policy, ops) => {
        const t = new IoPageTable();
        const m = new PageModel();
        for (const o of ops) {
          const iova = BigInt(o.page) * G;
          const size = BigInt(o.pages) * G;
          if (o.kind === 'map') {
            const paddr = BigInt(o.paddrPage) * G;
            let anyMapped = false;
            for (let p = 0n; p < size / G; p++) anyMapped ||= m.pages.has(iova / G + p);
            assert.equal(t.overlaps(iova, size), anyMapped);
            const r = t.map(iova, paddr, size, o.prot, policy);
            assert.equal(r.collision, m.map(iova, paddr, size, o.prot, policy));
          } else {
            assert.equal(t.unmap(iova, size), m.unmap(iova, size));
          }
          // The access walk and the mapped-byte count over the op's range, page by page in the model.
          let run = 0n;
          while (run < size / G && m.pages.has(iova / G + run)) run++;
          assert.equal(t.mappedRunEnd(iova, size), iova + run * G);
          let inRange = 0n;
          for (let p = 0n; p < size / G; p++) if (m.pages.has(iova / G + p)) inRange += G;
          assert.equal(t.mappedBytesIn(iova, size), inRange);
          const snap = t.snapshot();
          assert.deepEqual(pagesOf(snap), m.snapshotPages());
          assert.equal(t.mappedBytes, BigInt(m.pages.size) * G);
          for (let p = 0n; p < 80n; p += 7n) {
            const e = m.pages.get(p);
            assert.deepEqual(t.translate(p * G + 5n), e === undefined ? null : { paddr: e.paddr + 5n, prot: e.prot });
          }
          for (let i = 1; i < snap.length; i++) assert.ok(snap[i - 1]!.iova + snap[i - 1]!.size <= snap[i]!.iova);
          assert.deepEqual(IoPageTable.fromSnapshot(snap).snapshot(), snap);
        }
      },
    ),
    { numRuns: 300 },
  );
});
