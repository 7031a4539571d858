import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { alignDown, alignUp } from './iova-math.ts';
import { FIT_CAP, FIT_CLASSES, IovaTree, NIL } from './iova-tree.ts';

/** Own fit of class k (alignment 2^k) below node n, from first principles, saturated like the tree. */
function fitOf(t: IovaTree, n: number, k: number): number {
  const lo = t.F[n]!;
  const a = lo - t.F[n + 2]!;
  return Math.max(0, Math.min(FIT_CAP, lo - alignUp(a, 2 ** k)));
}

/**
 * Checks every invariant of the tree against a brute-force recount: red-black rules, parents, exact
 * counts and gaps, and fit bounds that are upper bounds of their subtree and never decrease going up.
 * Returns the ascending node list.
 */
function check(t: IovaTree): number[] {
  const { F, I, B, M } = t;
  const ids = t.ids();
  assert.equal(ids.length, t.count);
  if (t.root !== NIL) assert.equal(B[t.root], 1, 'the root is black');
  let blackHeight = -1;
  const walk = (n: number, blacks: number, parent: number): { cnt: number; fit: number[] } => {
    if (n === NIL) {
      if (blackHeight < 0) blackHeight = blacks;
      assert.equal(blacks, blackHeight, 'every path has the same number of black nodes');
      return { cnt: 0, fit: Array(FIT_CLASSES).fill(Number.NEGATIVE_INFINITY) };
    }
    assert.equal(I[n + 2], parent, 'parent pointer');
    if (B[n] === 0) {
      assert.equal(B[I[n]!], 1, 'a red node has black children');
      assert.equal(B[I[n + 1]!], 1, 'a red node has black children');
    }
    const l = walk(I[n]!, blacks + B[n]!, n);
    const r = walk(I[n + 1]!, blacks + B[n]!, n);
    const cnt = 1 + l.cnt + r.cnt;
    // A clean count is exact, and a dirty node's parent is dirty.
    if (B[n + 1] === 0) assert.equal(I[n + 3], cnt, `clean cnt of node ${n}`);
    else if (parent !== NIL) assert.equal(B[parent + 1], 1, `dirty node ${n} under a clean parent`);
    const fit: number[] = [];
    for (let k = 0; k < FIT_CLASSES; k++) {
      const own = k === 0 ? F[n + 2]! : fitOf(t, n, k);
      fit.push(Math.max(own, l.fit[k]!, r.fit[k]!));
      const bound = k === 0 ? F[n + 3]! : M[2 * n + k]!;
      assert.ok(bound >= fit[k]!, `class ${k} bound of node ${n} (${bound}) below its subtree's ${fit[k]}`);
      for (const c of [I[n]!, I[n + 1]!]) {
        if (c !== NIL) assert.ok(bound >= (k === 0 ? F[c + 3]! : M[2 * c + k]!), 'bounds do not decrease going up');
      }
    }
    return { cnt, fit };
  };
  walk(t.root, 0, NIL);
  const total = t.size(t.root);
  assert.equal(total, ids.length, 'size() recounts the dirty part');
  let prevHi = -1;
  ids.forEach((n, i) => {
    assert.ok(F[n]! > prevHi, 'nodes are ordered and disjoint');
    assert.equal(F[n + 2], F[n]! - prevHi - 1, `gap of node ${n}`);
    assert.equal(t.rank(n), i, 'rank');
    assert.equal(t.find(F[n]!), n);
    assert.equal(t.find(F[n + 1]!), n);
    prevHi = F[n + 1]!;
  });
  return ids;
}

/** prevFit by brute force: the highest node at or below `from` with lo >= minLo below which the block fits. */
function prevFitSlow(t: IovaTree, ids: number[], from: number, size: number, align: number, minLo: number): number {
  for (let i = ids.indexOf(from); i >= 0; i--) {
    const n = ids[i]!;
    if (t.F[n]! < minLo) return NIL;
    const predHi = t.F[n]! - t.F[n + 2]! - 1;
    if (t.F[n]! >= size && alignDown(t.F[n]! - size, align) > predHi) return n;
  }
  return NIL;
}

test('IovaTree keeps red-black, order, count and gap invariants through random inserts, erases and stretches', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ insert: fc.boolean(), at: fc.nat(999), len: fc.integer({ min: 1, max: 4 }) }), {
        maxLength: 200,
        size: 'max',
      }),
      (ops) => {
        const t = new IovaTree(2);
        for (const op of ops) {
          const lo = op.at * 5;
          const hit = t.find(lo);
          if (op.insert) {
            if (hit === NIL && t.find(lo + op.len - 1) === NIL) t.insert(lo, lo + op.len - 1);
            else if (hit !== NIL && t.F[hit]! > 0) {
              // Stretch down into the free pfns below, as reserve_iova does.
              const p = t.prev(hit);
              const floor = p === NIL ? 0 : t.F[p + 1]! + 1;
              if (floor < t.F[hit]!) t.setLo(hit, floor);
            }
          } else if (hit !== NIL) t.erase(hit);
        }
        check(t);
      },
    ),
    { numRuns: 300 },
  );
});

test('prevFit finds what a linear scan finds, for every alignment, and leaves the bounds valid', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.nat(2000), len: fc.integer({ min: 1, max: 40 }) }), { maxLength: 150, size: 'max' }),
      fc.array(
        fc.record({
          from: fc.nat(),
          size: fc.integer({ min: 1, max: 140 }),
          k: fc.nat(8),
          minLo: fc.nat(4000),
          erase: fc.nat(),
        }),
        { maxLength: 40 },
      ),
      (nodes, queries) => {
        const t = new IovaTree(2);
        for (const { at, len } of nodes) {
          const lo = at * 2;
          if (
            t.find(lo) === NIL &&
            t.find(lo + len - 1) === NIL &&
            t.lowestHiAtLeast(lo) === t.lowestHiAtLeast(lo + len - 1)
          ) {
            t.insert(lo, lo + len - 1);
          }
        }
        for (const q of queries) {
          const ids = t.ids();
          if (ids.length === 0) return;
          const from = ids[q.from % ids.length]!;
          const align = 2 ** q.k;
          assert.equal(
            t.prevFit(from, q.size, align, true, q.minLo),
            prevFitSlow(t, ids, from, q.size, align, q.minLo),
          );
          // Shrink and grow gaps between queries so that bounds go stale.
          t.erase(ids[q.erase % ids.length]!);
          check(t);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('insertBetween puts a node where a descent from the root would', () => {
  const a = new IovaTree();
  const b = new IovaTree();
  const keys = [50, 20, 80, 10, 30, 70, 90, 25, 27, 26, 60, 65];
  for (const k of keys) {
    a.insert(k, k);
    // Neighbours from the already-built tree b.
    let pred = NIL;
    let succ = NIL;
    for (const n of b.ids()) {
      if (b.F[n]! < k) pred = n;
      else if (succ === NIL) succ = n;
    }
    b.insertBetween(k, k, pred, succ);
  }
  check(a);
  check(b);
  assert.deepEqual(a.shape(), b.shape());
});

test('prevFit and findLimit on a small tree', () => {
  const t = new IovaTree();
  for (const [lo, hi] of [
    [10, 19],
    [25, 29],
    [40, 49],
    [52, 60],
  ] as const) {
    t.insert(lo, hi);
  }
  const ids = t.ids();
  // gaps: 10 (0..9), 5 (20..24), 10 (30..39), 2 (50..51)
  assert.equal(t.prevFit(ids[3]!, 3, 1, true, 0), ids[2]);
  assert.equal(t.prevFit(ids[2]!, 6, 1, false, 0), ids[0]);
  assert.equal(t.prevFit(ids[0]!, 11, 1, true, 0), NIL);
  // 4 pages aligned to 4 below [25, 29]: align_down(21, 4) = 20 > 19 fits; below [40, 49]: 36 > 29 fits.
  assert.equal(t.prevFit(ids[3]!, 4, 4, true, 0), ids[2]);
  // 8 aligned to 8: below [40,49] align_down(32, 8) = 32 > 29; below [25, 29]: 16 < 19 misses.
  assert.equal(t.prevFit(ids[1]!, 8, 8, true, 0), ids[0]);
  assert.equal(t.prevFit(ids[3]!, 8, 8, true, 30), ids[2]);
  assert.equal(t.prevFit(ids[1]!, 8, 8, true, 11), NIL, 'minLo cuts the search off');
  assert.equal(t.findLimit(45), ids[2], 'the node straddling the limit');
  assert.equal(t.findLimit(50), ids[3]);
  assert.equal(t.highestLoBelow(40), ids[1]);
  assert.equal(t.lowestHiAtLeast(30), ids[2]);
});
