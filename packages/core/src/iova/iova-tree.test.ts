import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { IovaTree, NIL } from './iova-tree.ts';

/** Checks every invariant of the tree against a brute-force recount; returns the ascending node list. */
function check(t: IovaTree): number[] {
  const { F, I, B } = t;
  const ids = t.ids();
  assert.equal(ids.length, t.count);
  if (t.root !== NIL) assert.equal(B[t.root], 1, 'the root is black');
  let blackHeight = -1;
  const walk = (n: number, blacks: number, parent: number): { cnt: number; mgap: number } => {
    if (n === NIL) {
      if (blackHeight < 0) blackHeight = blacks;
      assert.equal(blacks, blackHeight, 'every path has the same number of black nodes');
      return { cnt: 0, mgap: Number.NEGATIVE_INFINITY };
    }
    assert.equal(I[n + 2], parent, 'parent pointer');
    if (B[n] === 0) {
      assert.equal(B[I[n]!], 1, 'a red node has black children');
      assert.equal(B[I[n + 1]!], 1, 'a red node has black children');
    }
    const l = walk(I[n]!, blacks + B[n]!, n);
    const r = walk(I[n + 1]!, blacks + B[n]!, n);
    const cnt = 1 + l.cnt + r.cnt;
    const mgap = Math.max(F[n + 2]!, l.mgap, r.mgap);
    assert.equal(I[n + 3], cnt, `cnt of node ${n}`);
    assert.equal(F[n + 3], mgap, `mgap of node ${n}`);
    return { cnt, mgap };
  };
  walk(t.root, 0, NIL);
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

test('prevWithGap and findLimit', () => {
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
  assert.equal(t.prevWithGap(ids[3]!, 3, true), ids[2]);
  assert.equal(t.prevWithGap(ids[2]!, 6, false), ids[0]);
  assert.equal(t.prevWithGap(ids[0]!, 11, true), NIL);
  assert.equal(t.findLimit(45), ids[2], 'the node straddling the limit');
  assert.equal(t.findLimit(50), ids[3]);
  assert.equal(t.highestLoBelow(40), ids[1]);
  assert.equal(t.lowestHiAtLeast(30), ids[2]);
});
