/**
 * The IOVA domain's node tree: the kernel's red-black tree (`lib/rbtree.c`, as used by
 * `drivers/iommu/iova.c`), with the same insert and erase algorithms, so that after the same sequence of
 * operations it has exactly the kernel's shape (which `iova_find_limit` depends on). It is augmented, as
 * `rbtree_augmented.h` allows, with two values per subtree that the kernel does not keep:
 *
 * - `cnt`: the number of nodes (order statistics: {@link IovaTree.rank} in O(log n)), used to count the
 *   nodes the kernel's linear first-fit walk would visit without walking them;
 * - `mgap`: the largest `gap` in the subtree, where `gap` of a node is the number of free pfns directly
 *   below it (`lo - predecessor.hi - 1`; `lo` for the lowest node, whose predecessor is taken to end at
 *   pfn -1), used to find the first fit in O(log n) ({@link IovaTree.prevWithGap}).
 *
 * Augmentation changes no pointer and no colour, so the shape stays the kernel's.
 *
 * Storage: a node is an offset `n` (4, 8, 12, ...; 0 is the null node) into two typed arrays, so that a
 * node's fields share cache lines: `F[n] = lo`, `F[n + 1] = hi`, `F[n + 2] = gap`, `F[n + 3] = mgap`
 * (Float64Array) and `I[n] = left`, `I[n + 1] = right`, `I[n + 2] = parent`, `I[n + 3] = cnt`
 * (Int32Array), and `B[n]` = 1 for black (Uint8Array). pfns are JavaScript numbers; the domain guarantees
 * every pfn stored is below 2^53 (the anchor is stored as {@link ANCHOR_PFN}). Erased nodes are reused.
 */
import { DmasimError, ErrorCode } from '../errors.ts';

/** The null node id. */
export const NIL = 0;

/**
 * How the anchor node (`IOVA_ANCHOR = ~0UL` in the kernel) is stored: 2^53, exactly representable and
 * greater than every other pfn the domain accepts (those are at most 2^53 - 2), which is all the kernel's
 * code asks of the anchor. {@link IovaDomain} converts it back to 2^64 - 1 at the API boundary.
 */
export const ANCHOR_PFN = 2 ** 53;

const RED = 0;
const BLACK = 1;

/**
 * `gap` of a node starting at `lo` whose predecessor ends at `predHi`: the free pfns between them. The
 * anchor's gap is fixed at 0: the gap search only looks at nodes below the limit, never at the anchor, and
 * a value that changed with every allocation just below the anchor would make every update climb to the
 * root (the anchor's gap would be the largest of the right spine).
 */
function gapOf(lo: number, predHi: number): number {
  return lo === ANCHOR_PFN ? 0 : lo - predHi - 1;
}

/** Stride of a node in the arrays. */
const S = 4;

/** The kernel rbtree of IOVA nodes, augmented with subtree size and largest gap. */
export class IovaTree {
  /** Per node: lo, hi, gap, mgap. */
  F: Float64Array;
  /** Per node: left, right, parent, cnt. */
  I: Int32Array;
  /** Per node (at its offset): 1 black, 0 red. */
  B: Uint8Array;
  /** Root node (NIL when empty). */
  root = NIL;
  /** Number of nodes. */
  count = 0;
  private capacity: number;
  private nextId = S;
  private freeIds = NIL;

  constructor(initialCapacity = 64) {
    this.capacity = Math.max(2, initialCapacity);
    this.F = new Float64Array(this.capacity * S);
    this.I = new Int32Array(this.capacity * S);
    this.B = new Uint8Array(this.capacity * S);
    this.B[NIL] = BLACK;
    this.F[NIL + 3] = Number.NEGATIVE_INFINITY;
  }

  /** Bytes held by the node arrays (their capacity, not only the live nodes). */
  get bytes(): number {
    return this.capacity * S * (8 + 4 + 1);
  }

  /** pfn_lo of node `n`. */
  lo(n: number): number {
    return this.F[n]!;
  }

  /** pfn_hi of node `n`. */
  hi(n: number): number {
    return this.F[n + 1]!;
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const F = new Float64Array(cap * S);
    F.set(this.F);
    const I = new Int32Array(cap * S);
    I.set(this.I);
    const B = new Uint8Array(cap * S);
    B.set(this.B);
    this.F = F;
    this.I = I;
    this.B = B;
    this.capacity = cap;
  }

  private newId(): number {
    if (this.freeIds !== NIL) {
      const id = this.freeIds;
      this.freeIds = this.I[id + 1]!;
      return id;
    }
    if (this.nextId === this.capacity * S) this.grow();
    const id = this.nextId;
    this.nextId += S;
    return id;
  }

  // ---- navigation (lib/rbtree.c) ----

  /** `rb_first`: the lowest node, or NIL. */
  first(): number {
    let n = this.root;
    if (n === NIL) return NIL;
    const I = this.I;
    while (I[n] !== NIL) n = I[n]!;
    return n;
  }

  /** `rb_last`: the highest node, or NIL. */
  last(): number {
    const I = this.I;
    let n = this.root;
    if (n === NIL) return NIL;
    while (I[n + 1] !== NIL) n = I[n + 1]!;
    return n;
  }

  /** `rb_next`: the next higher node, or NIL. */
  next(n: number): number {
    const I = this.I;

    if (I[n + 1] !== NIL) {
      n = I[n + 1]!;
      while (I[n] !== NIL) n = I[n]!;
      return n;
    }
    let p = I[n + 2]!;
    while (p !== NIL && n === I[p + 1]) {
      n = p;
      p = I[n + 2]!;
    }
    return p;
  }

  /** `rb_prev`: the next lower node, or NIL. */
  prev(n: number): number {
    const I = this.I;

    if (I[n] !== NIL) {
      n = I[n]!;
      while (I[n + 1] !== NIL) n = I[n + 1]!;
      return n;
    }
    let p = I[n + 2]!;
    while (p !== NIL && n === I[p]) {
      n = p;
      p = I[n + 2]!;
    }
    return p;
  }

  /** `private_find_iova`: the node with `lo <= pfn <= hi`, or NIL. */
  find(pfn: number): number {
    let n = this.root;
    const F = this.F;
    while (n !== NIL) {
      if (pfn < F[n]!) n = this.I[n]!;
      else if (pfn > F[n + 1]!) n = this.I[n + 1]!;
      else return n;
    }
    return NIL;
  }

  /** The highest node with `lo < x`, or NIL. */
  highestLoBelow(x: number): number {
    let n = this.root;
    let best = NIL;
    const F = this.F;
    while (n !== NIL) {
      if (F[n]! < x) {
        best = n;
        n = this.I[n + 1]!;
      } else n = this.I[n]!;
    }
    return best;
  }

  /** The lowest node with `hi >= x`, or NIL. */
  lowestHiAtLeast(x: number): number {
    const F = this.F;
    let n = this.root;
    let best = NIL;
    while (n !== NIL) {
      if (F[n + 1]! >= x) {
        best = n;
        n = this.I[n]!;
      } else n = this.I[n + 1]!;
    }
    return best;
  }

  /** Number of nodes below `n` (its 0-based position in ascending order). O(log n). */
  rank(n: number): number {
    const I = this.I;

    let r = I[I[n]! + 3]!;
    let p = I[n + 2]!;
    while (p !== NIL) {
      if (n === I[p + 1]) r += I[I[p]! + 3]! + 1;
      n = p;
      p = I[n + 2]!;
    }
    return r;
  }

  /**
   * The highest node at or below `n` (strictly below when `inclusive` is false) whose `gap` is at least
   * `size`, or NIL. O(log n) through `mgap`.
   */
  prevWithGap(n: number, size: number, inclusive: boolean): number {
    const F = this.F;
    const I = this.I;

    if (inclusive && F[n + 2]! >= size) return n;
    if (F[I[n]! + 3]! >= size) return this.maxWithGap(I[n]!, size);
    let p = I[n + 2]!;
    while (p !== NIL) {
      if (n === I[p + 1]) {
        if (F[p + 2]! >= size) return p;
        if (F[I[p]! + 3]! >= size) return this.maxWithGap(I[p]!, size);
      }
      n = p;
      p = I[n + 2]!;
    }
    return NIL;
  }

  /** The highest node in the subtree `t` with `gap >= size`; `F[t + 3] >= size` must hold. */
  private maxWithGap(t: number, size: number): number {
    const F = this.F;
    const I = this.I;
    for (;;) {
      const r = I[t + 1]!;
      if (F[r + 3]! >= size) t = r;
      else if (F[t + 2]! >= size) return t;
      else t = I[t]!;
    }
  }

  /**
   * `iova_find_limit(iovad, limit)` for the case the kernel searches the tree (limit at or below 4 GiB),
   * on this tree's shape, exactly as the kernel walks it: the lowest node with `hi >= limit`, except that
   * when a node straddles `limit` the kernel may return that node's successor, depending on the shape.
   * `limit` is exclusive (the kernel's `limit_pfn + 1`). The anchor guarantees a result.
   */
  findLimit(limit: number): number {
    const F = this.F;
    const I = this.I;
    let node = this.root;
    while (F[node + 1]! < limit) node = I[node + 1]!;
    for (;;) {
      while (I[node] !== NIL && F[I[node]!]! >= limit) node = I[node]!;
      if (I[node] === NIL) return node;
      let next = I[node]!;
      let moved = false;
      while (I[next + 1] !== NIL) {
        next = I[next + 1]!;
        if (F[next]! >= limit) {
          node = next;
          moved = true;
          break;
        }
      }
      if (!moved) return node;
    }
  }

  // ---- augmentation callbacks ----

  private recompute(n: number): void {
    const F = this.F;
    const L = this.I[n]!;
    const R = this.I[n + 1]!;
    this.I[n + 3] = 1 + this.I[L + 3]! + this.I[R + 3]!;
    let m = this.F[n + 2]!;
    if (F[L + 3]! > m) m = F[L + 3]!;
    if (F[R + 3]! > m) m = F[R + 3]!;
    F[n + 3] = m;
  }

  private propagate(n: number, stop: number): void {
    const I = this.I;
    while (n !== stop) {
      this.recompute(n);
      n = I[n + 2]!;
    }
  }

  private augCopy(old: number, nw: number): void {
    this.I[nw + 3] = this.I[old + 3]!;
    this.F[nw + 3] = this.F[old + 3]!;
  }

  private augRotate(old: number, nw: number): void {
    this.I[nw + 3] = this.I[old + 3]!;
    this.F[nw + 3] = this.F[old + 3]!;
    this.recompute(old);
  }

  /**
   * One pass from `from` up to the root after a change at or below `from` (and at `reach`, a node on that
   * path, or NIL): adds `d` to every `cnt` (a node was linked below, or unlinked), and recomputes `mgap`
   * until, at or above `reach`, a node's `mgap` comes out unchanged (as the kernel's augmented
   * `propagate` stops), after which only the counts change.
   */
  private fixUp(from: number, reach: number, d: number): void {
    const F = this.F;
    const I = this.I;
    let reached = reach === NIL;
    let p = from;
    while (p !== NIL) {
      I[p + 3] = I[p + 3]! + d;
      const old = F[p + 3]!;
      const l = I[p]!;
      const r = I[p + 1]!;
      let m = F[p + 2]!;
      const ml = F[l + 3]!;
      const mr = F[r + 3]!;
      if (ml > m) m = ml;
      if (mr > m) m = mr;
      F[p + 3] = m;
      if (p === reach) reached = true;
      p = I[p + 2]!;
      if (reached && m === old) break;
    }
    if (d !== 0) {
      while (p !== NIL) {
        I[p + 3] = I[p + 3]! + d;
        p = I[p + 2]!;
      }
    }
  }

  // ---- insert (iova_insert_rbtree + rb_insert_color) ----

  /**
   * Inserts `[lo, hi]` at its place in pfn_lo order, as `iova_insert_rbtree` does, and rebalances as
   * `rb_insert_color` does. Returns the new node id. Throws INTERNAL if a node with the same `lo` exists
   * (the kernel WARNs and leaves the tree unchanged; the domain never asks for that).
   */
  insert(lo: number, hi: number): number {
    let cur = this.root;
    let pred = NIL;
    let succ = NIL;
    while (cur !== NIL) {
      const clo = this.F[cur]!;
      if (lo < clo) {
        succ = cur;
        cur = this.I[cur]!;
      } else if (lo > clo) {
        pred = cur;
        cur = this.I[cur + 1]!;
      } else {
        throw new DmasimError(ErrorCode.INTERNAL, `IOVA tree already holds a node starting at pfn ${lo}`);
      }
    }
    return this.insertBetween(lo, hi, pred, succ);
  }

  /**
   * Inserts `[lo, hi]` between its neighbours `pred` and `succ` (NIL where there is none), which the
   * caller knows (the allocator's walk ends at them). A binary search tree has exactly one empty slot
   * between two neighbours (the left slot of `succ`, or else the right slot of `pred`), which is where the
   * kernel's descent from the root (or from `prev`, as `alloc_iova` does) puts the node: same shape.
   */
  insertBetween(lo: number, hi: number, pred: number, succ: number): number {
    const n = this.newId();
    const I = this.I;
    let p: number;
    if (succ !== NIL && I[succ] === NIL) {
      p = succ;
      I[succ] = n;
    } else if (pred !== NIL) {
      p = pred;
      I[pred + 1] = n;
    } else {
      p = NIL;
      this.root = n;
    }
    this.F[n] = lo;
    this.F[n + 1] = hi;
    I[n] = NIL;
    I[n + 1] = NIL;
    this.I[n + 2] = p;
    this.B[n] = RED;
    this.count++;
    const g = gapOf(lo, pred === NIL ? -1 : this.F[pred + 1]!);
    this.F[n + 2] = g;
    this.I[n + 3] = 1;
    this.F[n + 3] = g;
    // succ is an ancestor of the new leaf (its parent, or an ancestor of pred): one pass up fixes both.
    if (succ !== NIL) this.F[succ + 2] = gapOf(this.F[succ]!, hi);
    this.fixUp(p, succ, 1);
    this.insertColor(n);
    return n;
  }

  private changeChild(old: number, nw: number, parent: number): void {
    if (parent !== NIL) {
      if (this.I[parent] === old) this.I[parent] = nw;
      else this.I[parent + 1] = nw;
    } else this.root = nw;
  }

  private rotateSetParents(old: number, nw: number, color: number): void {
    const I = this.I;
    const parent = I[old + 2]!;
    I[nw + 2] = I[old + 2]!;
    this.B[nw] = this.B[old]!;
    I[old + 2] = nw;
    this.B[old] = color;
    this.changeChild(old, nw, parent);
  }

  private insertColor(node: number): void {
    const I = this.I;
    const B = this.B;
    let parent = I[node + 2]!;
    for (;;) {
      if (parent === NIL) {
        I[node + 2] = NIL;
        B[node] = BLACK;
        break;
      }
      if (B[parent] === BLACK) break;
      const gparent = I[parent + 2]!;
      let tmp = I[gparent + 1]!;
      if (parent !== tmp) {
        if (tmp !== NIL && B[tmp] === RED) {
          I[tmp + 2] = gparent;
          B[tmp] = BLACK;
          I[parent + 2] = gparent;
          B[parent] = BLACK;
          node = gparent;
          parent = I[node + 2]!;
          B[node] = RED;
          continue;
        }
        tmp = I[parent + 1]!;
        if (node === tmp) {
          tmp = I[node]!;
          I[parent + 1] = tmp;
          I[node] = parent;
          if (tmp !== NIL) {
            I[tmp + 2] = parent;
            B[tmp] = BLACK;
          }
          I[parent + 2] = node;
          B[parent] = RED;
          this.augRotate(parent, node);
          parent = node;
          tmp = I[node + 1]!;
        }
        I[gparent] = tmp;
        I[parent + 1] = gparent;
        if (tmp !== NIL) {
          I[tmp + 2] = gparent;
          B[tmp] = BLACK;
        }
        this.rotateSetParents(gparent, parent, RED);
        this.augRotate(gparent, parent);
        break;
      } else {
        tmp = I[gparent]!;
        if (tmp !== NIL && B[tmp] === RED) {
          I[tmp + 2] = gparent;
          B[tmp] = BLACK;
          I[parent + 2] = gparent;
          B[parent] = BLACK;
          node = gparent;
          parent = I[node + 2]!;
          B[node] = RED;
          continue;
        }
        tmp = I[parent]!;
        if (node === tmp) {
          tmp = I[node + 1]!;
          I[parent] = tmp;
          I[node + 1] = parent;
          if (tmp !== NIL) {
            I[tmp + 2] = parent;
            B[tmp] = BLACK;
          }
          I[parent + 2] = node;
          B[parent] = RED;
          this.augRotate(parent, node);
          parent = node;
          tmp = I[node]!;
        }
        I[gparent + 1] = tmp;
        I[parent] = gparent;
        if (tmp !== NIL) {
          I[tmp + 2] = gparent;
          B[tmp] = BLACK;
        }
        this.rotateSetParents(gparent, parent, RED);
        this.augRotate(gparent, parent);
        break;
      }
    }
  }

  // ---- erase (rb_erase) ----

  /**
   * Removes node `n` exactly as `rb_erase` does; its id may be reused by a later insert. `pred` and `succ`
   * are its neighbours if the caller knows them (pass -1 to have them looked up).
   */
  erase(n: number, pred = -1, succ = -1): void {
    if (pred < 0) pred = this.prev(n);
    if (succ < 0) succ = this.next(n);
    if (succ !== NIL) {
      // succ's new gap, set before the erase: every aggregate the erase recomputes sees it. succ is an
      // ancestor of n, or n's right child (a red leaf that takes n's place), or the leftmost node of n's
      // right subtree (which takes n's place): the erase's own pass up from n's place covers the first and
      // the last; a leaf's aggregate is its gap.
      this.F[succ + 2] = gapOf(this.F[succ]!, pred === NIL ? -1 : this.F[pred + 1]!);
      if (this.I[succ] === NIL && this.I[succ + 1] === NIL) this.F[succ + 3] = this.F[succ + 2]!;
    }
    const rebalance = this.eraseAugmented(n, succ);
    if (rebalance !== NIL) this.eraseColor(rebalance);
    this.count--;
    this.I[n + 1] = this.freeIds;
    this.freeIds = n;
  }

  /** Lowers `lo` of node `n` (reserve_iova stretching a node down); the caller keeps the order valid. */
  setLo(n: number, lo: number): void {
    const pred = this.prev(n);
    this.F[n] = lo;
    this.F[n + 2] = gapOf(lo, pred === NIL ? -1 : this.F[pred + 1]!);
    this.fixUp(n, n, 0);
  }

  /**
   * `__rb_erase_augmented`. `succ` is the node's successor, whose gap the caller has already updated: it
   * is an ancestor of `node` (cases without a right subtree), or its right child that takes its place (a
   * red leaf), or the leftmost node of its right subtree that takes its place; the final pass up must not
   * stop before it.
   */
  private eraseAugmented(node: number, succ: number): number {
    const I = this.I;
    const B = this.B;
    const child = I[node + 1]!;
    let tmp = I[node]!;
    let rebalance: number;
    let reach: number;
    if (tmp === NIL) {
      const pcParent = I[node + 2]!;
      const pcBlack = B[node]!;
      reach = child === NIL ? succ : NIL;
      this.changeChild(node, child, pcParent);
      if (child !== NIL) {
        I[child + 2] = pcParent;
        B[child] = pcBlack;
        rebalance = NIL;
      } else rebalance = pcBlack === BLACK ? pcParent : NIL;
      tmp = pcParent;
    } else if (child === NIL) {
      const pcParent = I[node + 2]!;
      reach = succ;
      I[tmp + 2] = pcParent;
      B[tmp] = B[node]!;
      this.changeChild(node, tmp, pcParent);
      rebalance = NIL;
      tmp = pcParent;
    } else {
      let successor = child;
      let parent: number;
      let child2: number;
      tmp = I[child]!;
      if (tmp === NIL) {
        parent = successor;
        child2 = I[successor + 1]!;
        this.augCopy(node, successor);
      } else {
        do {
          parent = successor;
          successor = tmp;
          tmp = I[tmp]!;
        } while (tmp !== NIL);
        child2 = I[successor + 1]!;
        I[parent] = child2;
        I[successor + 1] = child;
        I[child + 2] = successor;
        // The nodes from the successor's old place up to node's right child lose it: recomputed from
        // their children. The successor takes node's aggregate; the pass below takes one off its count.
        this.augCopy(node, successor);
        this.propagate(parent, successor);
      }
      tmp = I[node]!;
      I[successor] = tmp;
      I[tmp + 2] = successor;
      const pcParent = I[node + 2]!;
      const pcBlack = B[node]!;
      this.changeChild(node, successor, pcParent);
      if (child2 !== NIL) {
        I[child2 + 2] = parent;
        B[child2] = BLACK;
        rebalance = NIL;
      } else rebalance = B[successor] === BLACK ? parent : NIL;
      I[successor + 2] = pcParent;
      B[successor] = pcBlack;
      tmp = successor;
      reach = successor;
    }
    this.fixUp(tmp, reach, -1);
    return rebalance;
  }

  private eraseColor(parent: number): void {
    const I = this.I;
    const B = this.B;
    let node = NIL;
    for (;;) {
      let sibling = I[parent + 1]!;
      let tmp1: number;
      let tmp2: number;
      if (node !== sibling) {
        if (B[sibling] === RED) {
          tmp1 = I[sibling]!;
          I[parent + 1] = tmp1;
          I[sibling] = parent;
          I[tmp1 + 2] = parent;
          B[tmp1] = BLACK;
          this.rotateSetParents(parent, sibling, RED);
          this.augRotate(parent, sibling);
          sibling = tmp1;
        }
        tmp1 = I[sibling + 1]!;
        if (tmp1 === NIL || B[tmp1] === BLACK) {
          tmp2 = I[sibling]!;
          if (tmp2 === NIL || B[tmp2] === BLACK) {
            I[sibling + 2] = parent;
            B[sibling] = RED;
            if (B[parent] === RED) B[parent] = BLACK;
            else {
              node = parent;
              parent = I[node + 2]!;
              if (parent !== NIL) continue;
            }
            break;
          }
          tmp1 = I[tmp2 + 1]!;
          I[sibling] = tmp1;
          I[tmp2 + 1] = sibling;
          I[parent + 1] = tmp2;
          if (tmp1 !== NIL) {
            I[tmp1 + 2] = sibling;
            B[tmp1] = BLACK;
          }
          this.augRotate(sibling, tmp2);
          tmp1 = sibling;
          sibling = tmp2;
        }
        tmp2 = I[sibling]!;
        I[parent + 1] = tmp2;
        I[sibling] = parent;
        I[tmp1 + 2] = sibling;
        B[tmp1] = BLACK;
        if (tmp2 !== NIL) I[tmp2 + 2] = parent;
        this.rotateSetParents(parent, sibling, BLACK);
        this.augRotate(parent, sibling);
        break;
      } else {
        sibling = I[parent]!;
        if (B[sibling] === RED) {
          tmp1 = I[sibling + 1]!;
          I[parent] = tmp1;
          I[sibling + 1] = parent;
          I[tmp1 + 2] = parent;
          B[tmp1] = BLACK;
          this.rotateSetParents(parent, sibling, RED);
          this.augRotate(parent, sibling);
          sibling = tmp1;
        }
        tmp1 = I[sibling]!;
        if (tmp1 === NIL || B[tmp1] === BLACK) {
          tmp2 = I[sibling + 1]!;
          if (tmp2 === NIL || B[tmp2] === BLACK) {
            I[sibling + 2] = parent;
            B[sibling] = RED;
            if (B[parent] === RED) B[parent] = BLACK;
            else {
              node = parent;
              parent = I[node + 2]!;
              if (parent !== NIL) continue;
            }
            break;
          }
          tmp1 = I[tmp2]!;
          I[sibling + 1] = tmp1;
          I[tmp2] = sibling;
          I[parent] = tmp2;
          if (tmp1 !== NIL) {
            I[tmp1 + 2] = sibling;
            B[tmp1] = BLACK;
          }
          this.augRotate(sibling, tmp2);
          tmp1 = sibling;
          sibling = tmp2;
        }
        tmp2 = I[sibling + 1]!;
        I[parent] = tmp2;
        I[sibling + 1] = parent;
        I[tmp1 + 2] = sibling;
        B[tmp1] = BLACK;
        if (tmp2 !== NIL) I[tmp2 + 2] = parent;
        this.rotateSetParents(parent, sibling, BLACK);
        this.augRotate(parent, sibling);
        break;
      }
    }
  }

  /**
   * The shape of the tree, for snapshots: for each node in ascending order, `depth * 2 + black`. Together
   * with the in-order keys this determines the tree exactly.
   */
  shape(): number[] {
    const out: number[] = [];
    const walk = (n: number, depth: number) => {
      if (n === NIL) return;
      walk(this.I[n]!, depth + 1);
      out.push(depth * 2 + this.B[n]!);
      walk(this.I[n + 1]!, depth + 1);
    };
    walk(this.root, 0);
    return out;
  }

  /** Node ids in ascending order. */
  ids(): number[] {
    const out: number[] = [];
    for (let n = this.first(); n !== NIL; n = this.next(n)) out.push(n);
    return out;
  }
}
