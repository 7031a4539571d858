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
 * Storage is structure-of-arrays: a node is an integer id (1, 2, ...; 0 is the null node) indexing typed
 * arrays. pfns are JavaScript numbers; the domain guarantees every pfn stored is below 2^53 (the anchor is
 * stored as {@link ANCHOR_PFN}). Ids of erased nodes are reused.
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

/** The kernel rbtree of IOVA nodes, augmented with subtree size and largest gap. */
export class IovaTree {
  /** Lowest pfn of each node (inclusive). */
  lo: Float64Array;
  /** Highest pfn of each node (inclusive). */
  hi: Float64Array;
  left: Int32Array;
  right: Int32Array;
  parent: Int32Array;
  /** 1 for black, 0 for red. */
  black: Uint8Array;
  /** Nodes in the subtree. */
  cnt: Int32Array;
  /** Free pfns directly below the node. */
  gap: Float64Array;
  /** Largest `gap` in the subtree (-Infinity for the null node). */
  mgap: Float64Array;
  /** Root node id (NIL when empty). */
  root = NIL;
  /** Number of nodes. */
  count = 0;
  private capacity: number;
  private nextId = 1;
  private freeIds = NIL;

  constructor(initialCapacity = 64) {
    this.capacity = Math.max(2, initialCapacity);
    this.lo = new Float64Array(this.capacity);
    this.hi = new Float64Array(this.capacity);
    this.left = new Int32Array(this.capacity);
    this.right = new Int32Array(this.capacity);
    this.parent = new Int32Array(this.capacity);
    this.black = new Uint8Array(this.capacity);
    this.cnt = new Int32Array(this.capacity);
    this.gap = new Float64Array(this.capacity);
    this.mgap = new Float64Array(this.capacity);
    this.black[NIL] = BLACK;
    this.mgap[NIL] = Number.NEGATIVE_INFINITY;
  }

  /** Bytes held by the node arrays (their capacity, not only the live nodes). */
  get bytes(): number {
    return this.capacity * (8 + 8 + 4 + 4 + 4 + 1 + 4 + 8 + 8);
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.lo = f64(this.lo);
    this.hi = f64(this.hi);
    this.gap = f64(this.gap);
    this.mgap = f64(this.mgap);
    this.left = i32(this.left);
    this.right = i32(this.right);
    this.parent = i32(this.parent);
    this.cnt = i32(this.cnt);
    const b = new Uint8Array(cap);
    b.set(this.black);
    this.black = b;
    this.capacity = cap;
  }

  private newId(): number {
    if (this.freeIds !== NIL) {
      const id = this.freeIds;
      this.freeIds = this.right[id]!;
      return id;
    }
    if (this.nextId === this.capacity) this.grow();
    return this.nextId++;
  }

  // ---- navigation (lib/rbtree.c) ----

  /** `rb_first`: the lowest node, or NIL. */
  first(): number {
    let n = this.root;
    if (n === NIL) return NIL;
    const L = this.left;
    while (L[n] !== NIL) n = L[n]!;
    return n;
  }

  /** `rb_last`: the highest node, or NIL. */
  last(): number {
    let n = this.root;
    if (n === NIL) return NIL;
    const R = this.right;
    while (R[n] !== NIL) n = R[n]!;
    return n;
  }

  /** `rb_next`: the next higher node, or NIL. */
  next(n: number): number {
    const L = this.left;
    const R = this.right;
    const P = this.parent;
    if (R[n] !== NIL) {
      n = R[n]!;
      while (L[n] !== NIL) n = L[n]!;
      return n;
    }
    let p = P[n]!;
    while (p !== NIL && n === R[p]) {
      n = p;
      p = P[n]!;
    }
    return p;
  }

  /** `rb_prev`: the next lower node, or NIL. */
  prev(n: number): number {
    const L = this.left;
    const R = this.right;
    const P = this.parent;
    if (L[n] !== NIL) {
      n = L[n]!;
      while (R[n] !== NIL) n = R[n]!;
      return n;
    }
    let p = P[n]!;
    while (p !== NIL && n === L[p]) {
      n = p;
      p = P[n]!;
    }
    return p;
  }

  /** `private_find_iova`: the node with `lo <= pfn <= hi`, or NIL. */
  find(pfn: number): number {
    let n = this.root;
    const lo = this.lo;
    const hi = this.hi;
    while (n !== NIL) {
      if (pfn < lo[n]!) n = this.left[n]!;
      else if (pfn > hi[n]!) n = this.right[n]!;
      else return n;
    }
    return NIL;
  }

  /** The highest node with `lo < x`, or NIL. */
  highestLoBelow(x: number): number {
    let n = this.root;
    let best = NIL;
    const lo = this.lo;
    while (n !== NIL) {
      if (lo[n]! < x) {
        best = n;
        n = this.right[n]!;
      } else n = this.left[n]!;
    }
    return best;
  }

  /** The lowest node with `hi >= x`, or NIL. */
  lowestHiAtLeast(x: number): number {
    let n = this.root;
    let best = NIL;
    const hi = this.hi;
    while (n !== NIL) {
      if (hi[n]! >= x) {
        best = n;
        n = this.left[n]!;
      } else n = this.right[n]!;
    }
    return best;
  }

  /** Number of nodes below `n` (its 0-based position in ascending order). O(log n). */
  rank(n: number): number {
    const L = this.left;
    const R = this.right;
    const P = this.parent;
    const cnt = this.cnt;
    let r = cnt[L[n]!]!;
    let p = P[n]!;
    while (p !== NIL) {
      if (n === R[p]) r += cnt[L[p]!]! + 1;
      n = p;
      p = P[n]!;
    }
    return r;
  }

  /**
   * The highest node at or below `n` (strictly below when `inclusive` is false) whose `gap` is at least
   * `size`, or NIL. O(log n) through `mgap`.
   */
  prevWithGap(n: number, size: number, inclusive: boolean): number {
    const gap = this.gap;
    const mgap = this.mgap;
    const L = this.left;
    const P = this.parent;
    const R = this.right;
    if (inclusive && gap[n]! >= size) return n;
    if (mgap[L[n]!]! >= size) return this.maxWithGap(L[n]!, size);
    let p = P[n]!;
    while (p !== NIL) {
      if (n === R[p]) {
        if (gap[p]! >= size) return p;
        if (mgap[L[p]!]! >= size) return this.maxWithGap(L[p]!, size);
      }
      n = p;
      p = P[n]!;
    }
    return NIL;
  }

  /** The highest node in the subtree `t` with `gap >= size`; `mgap[t] >= size` must hold. */
  private maxWithGap(t: number, size: number): number {
    const gap = this.gap;
    const mgap = this.mgap;
    const L = this.left;
    const R = this.right;
    for (;;) {
      const r = R[t]!;
      if (mgap[r]! >= size) t = r;
      else if (gap[t]! >= size) return t;
      else t = L[t]!;
    }
  }

  /**
   * `iova_find_limit(iovad, limit)` for the case the kernel searches the tree (limit at or below 4 GiB),
   * on this tree's shape, exactly as the kernel walks it: the lowest node with `hi >= limit`, except that
   * when a node straddles `limit` the kernel may return that node's successor, depending on the shape.
   * `limit` is exclusive (the kernel's `limit_pfn + 1`). The anchor guarantees a result.
   */
  findLimit(limit: number): number {
    const lo = this.lo;
    const hi = this.hi;
    const L = this.left;
    const R = this.right;
    let node = this.root;
    while (hi[node]! < limit) node = R[node]!;
    for (;;) {
      while (L[node] !== NIL && lo[L[node]!]! >= limit) node = L[node]!;
      if (L[node] === NIL) return node;
      let next = L[node]!;
      let moved = false;
      while (R[next] !== NIL) {
        next = R[next]!;
        if (lo[next]! >= limit) {
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
    const L = this.left[n]!;
    const R = this.right[n]!;
    const mgap = this.mgap;
    this.cnt[n] = 1 + this.cnt[L]! + this.cnt[R]!;
    let m = this.gap[n]!;
    if (mgap[L]! > m) m = mgap[L]!;
    if (mgap[R]! > m) m = mgap[R]!;
    mgap[n] = m;
  }

  private propagate(n: number, stop: number): void {
    const P = this.parent;
    while (n !== stop) {
      this.recompute(n);
      n = P[n]!;
    }
  }

  private augCopy(old: number, nw: number): void {
    this.cnt[nw] = this.cnt[old]!;
    this.mgap[nw] = this.mgap[old]!;
  }

  private augRotate(old: number, nw: number): void {
    this.cnt[nw] = this.cnt[old]!;
    this.mgap[nw] = this.mgap[old]!;
    this.recompute(old);
  }

  /** Sets the gap of `n` from its predecessor `pred` (NIL: none) and fixes the aggregates above it. */
  private setGap(n: number, pred: number): void {
    this.gap[n] = this.lo[n]! - (pred === NIL ? -1 : this.hi[pred]!) - 1;
    this.propagate(n, NIL);
  }

  // ---- insert (iova_insert_rbtree + rb_insert_color) ----

  /**
   * Inserts `[lo, hi]` at its place in pfn_lo order, as `iova_insert_rbtree` does, and rebalances as
   * `rb_insert_color` does. Returns the new node id. Throws INTERNAL if a node with the same `lo` exists
   * (the kernel WARNs and leaves the tree unchanged; the domain never asks for that).
   */
  insert(lo: number, hi: number): number {
    let p = NIL;
    let cur = this.root;
    let goLeft = false;
    let pred = NIL;
    let succ = NIL;
    while (cur !== NIL) {
      p = cur;
      const clo = this.lo[cur]!;
      if (lo < clo) {
        succ = cur;
        cur = this.left[cur]!;
        goLeft = true;
      } else if (lo > clo) {
        pred = cur;
        cur = this.right[cur]!;
        goLeft = false;
      } else {
        throw new DmasimError(ErrorCode.INTERNAL, `IOVA tree already holds a node starting at pfn ${lo}`);
      }
    }
    const n = this.newId();
    this.lo[n] = lo;
    this.hi[n] = hi;
    this.left[n] = NIL;
    this.right[n] = NIL;
    this.parent[n] = p;
    this.black[n] = RED;
    if (p === NIL) this.root = n;
    else if (goLeft) this.left[p] = n;
    else this.right[p] = n;
    this.count++;
    this.gap[n] = lo - (pred === NIL ? -1 : this.hi[pred]!) - 1;
    this.cnt[n] = 1;
    this.mgap[n] = this.gap[n]!;
    this.propagate(p, NIL);
    if (succ !== NIL) this.setGap(succ, n);
    this.insertColor(n);
    return n;
  }

  private changeChild(old: number, nw: number, parent: number): void {
    if (parent !== NIL) {
      if (this.left[parent] === old) this.left[parent] = nw;
      else this.right[parent] = nw;
    } else this.root = nw;
  }

  private rotateSetParents(old: number, nw: number, color: number): void {
    const P = this.parent;
    const parent = P[old]!;
    P[nw] = P[old]!;
    this.black[nw] = this.black[old]!;
    P[old] = nw;
    this.black[old] = color;
    this.changeChild(old, nw, parent);
  }

  private insertColor(node: number): void {
    const P = this.parent;
    const L = this.left;
    const R = this.right;
    const B = this.black;
    let parent = P[node]!;
    for (;;) {
      if (parent === NIL) {
        P[node] = NIL;
        B[node] = BLACK;
        break;
      }
      if (B[parent] === BLACK) break;
      const gparent = P[parent]!;
      let tmp = R[gparent]!;
      if (parent !== tmp) {
        if (tmp !== NIL && B[tmp] === RED) {
          P[tmp] = gparent;
          B[tmp] = BLACK;
          P[parent] = gparent;
          B[parent] = BLACK;
          node = gparent;
          parent = P[node]!;
          B[node] = RED;
          continue;
        }
        tmp = R[parent]!;
        if (node === tmp) {
          tmp = L[node]!;
          R[parent] = tmp;
          L[node] = parent;
          if (tmp !== NIL) {
            P[tmp] = parent;
            B[tmp] = BLACK;
          }
          P[parent] = node;
          B[parent] = RED;
          this.augRotate(parent, node);
          parent = node;
          tmp = R[node]!;
        }
        L[gparent] = tmp;
        R[parent] = gparent;
        if (tmp !== NIL) {
          P[tmp] = gparent;
          B[tmp] = BLACK;
        }
        this.rotateSetParents(gparent, parent, RED);
        this.augRotate(gparent, parent);
        break;
      } else {
        tmp = L[gparent]!;
        if (tmp !== NIL && B[tmp] === RED) {
          P[tmp] = gparent;
          B[tmp] = BLACK;
          P[parent] = gparent;
          B[parent] = BLACK;
          node = gparent;
          parent = P[node]!;
          B[node] = RED;
          continue;
        }
        tmp = L[parent]!;
        if (node === tmp) {
          tmp = R[node]!;
          L[parent] = tmp;
          R[node] = parent;
          if (tmp !== NIL) {
            P[tmp] = parent;
            B[tmp] = BLACK;
          }
          P[parent] = node;
          B[parent] = RED;
          this.augRotate(parent, node);
          parent = node;
          tmp = L[node]!;
        }
        R[gparent] = tmp;
        L[parent] = gparent;
        if (tmp !== NIL) {
          P[tmp] = gparent;
          B[tmp] = BLACK;
        }
        this.rotateSetParents(gparent, parent, RED);
        this.augRotate(gparent, parent);
        break;
      }
    }
  }

  // ---- erase (rb_erase) ----

  /** Removes node `n` exactly as `rb_erase` does; its id may be reused by a later insert. */
  erase(n: number): void {
    const pred = this.prev(n);
    const succ = this.next(n);
    const rebalance = this.eraseAugmented(n);
    if (rebalance !== NIL) this.eraseColor(rebalance);
    if (succ !== NIL) this.setGap(succ, pred);
    this.count--;
    this.right[n] = this.freeIds;
    this.freeIds = n;
  }

  /** Lowers `lo` of node `n` (reserve_iova stretching a node down); the caller keeps the order valid. */
  setLo(n: number, lo: number): void {
    this.lo[n] = lo;
    this.setGap(n, this.prev(n));
  }

  private eraseAugmented(node: number): number {
    const P = this.parent;
    const L = this.left;
    const R = this.right;
    const B = this.black;
    const child = R[node]!;
    let tmp = L[node]!;
    let rebalance: number;
    if (tmp === NIL) {
      const pcParent = P[node]!;
      const pcBlack = B[node]!;
      this.changeChild(node, child, pcParent);
      if (child !== NIL) {
        P[child] = pcParent;
        B[child] = pcBlack;
        rebalance = NIL;
      } else rebalance = pcBlack === BLACK ? pcParent : NIL;
      tmp = pcParent;
    } else if (child === NIL) {
      const pcParent = P[node]!;
      P[tmp] = pcParent;
      B[tmp] = B[node]!;
      this.changeChild(node, tmp, pcParent);
      rebalance = NIL;
      tmp = pcParent;
    } else {
      let successor = child;
      let parent: number;
      let child2: number;
      tmp = L[child]!;
      if (tmp === NIL) {
        parent = successor;
        child2 = R[successor]!;
        this.augCopy(node, successor);
      } else {
        do {
          parent = successor;
          successor = tmp;
          tmp = L[tmp]!;
        } while (tmp !== NIL);
        child2 = R[successor]!;
        L[parent] = child2;
        R[successor] = child;
        P[child] = successor;
        this.augCopy(node, successor);
        this.propagate(parent, successor);
      }
      tmp = L[node]!;
      L[successor] = tmp;
      P[tmp] = successor;
      const pcParent = P[node]!;
      const pcBlack = B[node]!;
      this.changeChild(node, successor, pcParent);
      if (child2 !== NIL) {
        P[child2] = parent;
        B[child2] = BLACK;
        rebalance = NIL;
      } else rebalance = B[successor] === BLACK ? parent : NIL;
      P[successor] = pcParent;
      B[successor] = pcBlack;
      tmp = successor;
    }
    this.propagate(tmp, NIL);
    return rebalance;
  }

  private eraseColor(parent: number): void {
    const P = this.parent;
    const L = this.left;
    const R = this.right;
    const B = this.black;
    let node = NIL;
    for (;;) {
      let sibling = R[parent]!;
      let tmp1: number;
      let tmp2: number;
      if (node !== sibling) {
        if (B[sibling] === RED) {
          tmp1 = L[sibling]!;
          R[parent] = tmp1;
          L[sibling] = parent;
          P[tmp1] = parent;
          B[tmp1] = BLACK;
          this.rotateSetParents(parent, sibling, RED);
          this.augRotate(parent, sibling);
          sibling = tmp1;
        }
        tmp1 = R[sibling]!;
        if (tmp1 === NIL || B[tmp1] === BLACK) {
          tmp2 = L[sibling]!;
          if (tmp2 === NIL || B[tmp2] === BLACK) {
            P[sibling] = parent;
            B[sibling] = RED;
            if (B[parent] === RED) B[parent] = BLACK;
            else {
              node = parent;
              parent = P[node]!;
              if (parent !== NIL) continue;
            }
            break;
          }
          tmp1 = R[tmp2]!;
          L[sibling] = tmp1;
          R[tmp2] = sibling;
          R[parent] = tmp2;
          if (tmp1 !== NIL) {
            P[tmp1] = sibling;
            B[tmp1] = BLACK;
          }
          this.augRotate(sibling, tmp2);
          tmp1 = sibling;
          sibling = tmp2;
        }
        tmp2 = L[sibling]!;
        R[parent] = tmp2;
        L[sibling] = parent;
        P[tmp1] = sibling;
        B[tmp1] = BLACK;
        if (tmp2 !== NIL) P[tmp2] = parent;
        this.rotateSetParents(parent, sibling, BLACK);
        this.augRotate(parent, sibling);
        break;
      } else {
        sibling = L[parent]!;
        if (B[sibling] === RED) {
          tmp1 = R[sibling]!;
          L[parent] = tmp1;
          R[sibling] = parent;
          P[tmp1] = parent;
          B[tmp1] = BLACK;
          this.rotateSetParents(parent, sibling, RED);
          this.augRotate(parent, sibling);
          sibling = tmp1;
        }
        tmp1 = L[sibling]!;
        if (tmp1 === NIL || B[tmp1] === BLACK) {
          tmp2 = R[sibling]!;
          if (tmp2 === NIL || B[tmp2] === BLACK) {
            P[sibling] = parent;
            B[sibling] = RED;
            if (B[parent] === RED) B[parent] = BLACK;
            else {
              node = parent;
              parent = P[node]!;
              if (parent !== NIL) continue;
            }
            break;
          }
          tmp1 = L[tmp2]!;
          R[sibling] = tmp1;
          L[tmp2] = sibling;
          L[parent] = tmp2;
          if (tmp1 !== NIL) {
            P[tmp1] = sibling;
            B[tmp1] = BLACK;
          }
          this.augRotate(sibling, tmp2);
          tmp1 = sibling;
          sibling = tmp2;
        }
        tmp2 = R[sibling]!;
        L[parent] = tmp2;
        R[sibling] = parent;
        P[tmp1] = sibling;
        B[tmp1] = BLACK;
        if (tmp2 !== NIL) P[tmp2] = parent;
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
      walk(this.left[n]!, depth + 1);
      out.push(depth * 2 + this.black[n]!);
      walk(this.right[n]!, depth + 1);
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
