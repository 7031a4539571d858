/**
 * The IOVA domain's node tree: the kernel's red-black tree (`lib/rbtree.c`, as used by
 * `drivers/iommu/iova.c`), with the same insert and erase algorithms, so that after the same sequence of
 * operations it has exactly the kernel's shape (which `iova_find_limit` depends on). It is augmented, as
 * `rbtree_augmented.h` allows, with values the kernel does not keep:
 *
 * - `cnt`: the number of nodes in the subtree (order statistics: {@link IovaTree.rank}), used to count
 *   the nodes the kernel's linear first-fit walk would visit without walking them. Counts are kept lazily:
 *   an update marks the nodes above it "dirty" up to the first node that already is (dirty nodes form an
 *   upward-closed set), and a rank query recounts the dirty part of the subtrees it needs, once. Each mark
 *   is cleared at most once, so this costs no more than exact counts and far less when queries are rare;
 * - fit bounds, upper bounds: for each alignment class k = 0..{@link FIT_CLASSES} - 1 (alignment 2^k), a
 *   number at least as large as the largest block of that alignment that fits in the free pfns directly
 *   below any node of the subtree, placed as the kernel places it (at the top of the gap). Class 0 is the
 *   gap itself (`mgap`, a float); classes 1..6 are bytes saturated at {@link FIT_CAP} pages. They are
 *   raised at once when a gap grows and left high when one shrinks; a search that finds a bound too high
 *   lowers it on its way back ({@link IovaTree.prevFit}), so the first fit is found in amortised O(log n)
 *   even when most gaps are too small or misaligned.
 *
 * `gap` of a node is the number of free pfns directly below it (`lo - predecessor.hi - 1`; `lo` for the
 * lowest node, whose predecessor is taken to end at pfn -1). Augmentation changes no pointer and no
 * colour, so the shape stays the kernel's.
 *
 * Storage: a node is an offset `n` (4, 8, 12, ...; 0 is the null node) into typed arrays, so that a
 * node's fields share cache lines: `F[n] = lo`, `F[n + 1] = hi`, `F[n + 2] = gap`, `F[n + 3] = mgap`
 * (Float64Array), `I[n] = left`, `I[n + 1] = right`, `I[n + 2] = parent`, `I[n + 3] = cnt` (Int32Array),
 * `B[n]` = 1 for black and `B[n + 1]` = 1 for a dirty count (Uint8Array), `M[2n + k]` = bound of class k
 * (Uint8Array). pfns are JavaScript
 * numbers; the domain guarantees every pfn stored is below 2^53 (the anchor is stored as
 * {@link ANCHOR_PFN}). Erased nodes are reused.
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import { alignDown } from './iova-math.ts';

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

/** Alignment classes with their own fit bound: alignments 1, 2, 4, ..., 64 pages. */
export const FIT_CLASSES = 7;
/** Byte fit bounds saturate here; classes 1..6 only serve requests of at most 64 pages. */
export const FIT_CAP = 64;

/**
 * Largest block of alignment `2^k` (k >= 1) that fits, placed at the top, in the gap of `g` pfns below a
 * node starting at `lo`, saturated at {@link FIT_CAP}: `lo - align_up(lo - g, 2^k)`, i.e. `g` minus the
 * pfns skipped to align the gap's start, `(-(lo - g)) mod 2^k`. The low 6 bits of `lo - g` (taken
 * through `>>> 0`, which is exact modulo 2^32 for any integer) decide it for every k up to 6.
 */
function ownFit(lo: number, g: number, k: number): number {
  if (g >= 2 * FIT_CAP) return FIT_CAP;
  if (g <= 0) return 0;
  return fitWithSkip(g, skipOf(lo, g) & ((1 << k) - 1));
}

/** pfns to skip to align the start of the gap below `lo` to 64 (its lower bits serve smaller alignments). */
function skipOf(lo: number, g: number): number {
  return (64 - ((lo - g) >>> 0)) & 63;
}

/** `g - skip`, saturated to 0..{@link FIT_CAP}. */
function fitWithSkip(g: number, skip: number): number {
  const c = g - skip;
  return c <= 0 ? 0 : Math.min(c, FIT_CAP);
}

/** The kernel rbtree of IOVA nodes, augmented with subtree size and largest gap. */
export class IovaTree {
  /** Per node: lo, hi, gap, mgap. */
  F: Float64Array;
  /** Per node: left, right, parent, cnt. */
  I: Int32Array;
  /** Per node (at its offset): 1 black, 0 red. */
  B: Uint8Array;
  /** Per node, at `2n + k`: fit bound of alignment class k (1..6). */
  M: Uint8Array;
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
    this.M = new Uint8Array(this.capacity * S * 2);
    this.B[NIL] = BLACK;
    this.F[NIL + 3] = Number.NEGATIVE_INFINITY;
  }

  /** Bytes held by the node arrays (their capacity, not only the live nodes). */
  get bytes(): number {
    return this.capacity * S * (8 + 4 + 1 + 2);
  }

  /** Whether `n` is the handle of a node in the tree (not one erased and not reused since). */
  isLive(n: number): boolean {
    return Number.isInteger(n) && n > 0 && n % S === 0 && n < this.nextId && this.F[n + 1]! >= 0;
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
    const M = new Uint8Array(cap * S * 2);
    M.set(this.M);
    this.F = F;
    this.I = I;
    this.B = B;
    this.M = M;
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

  /** Number of nodes below `n` (its 0-based position in ascending order). O(log n) amortised. */
  rank(n: number): number {
    const I = this.I;
    let r = this.size(I[n]!);
    let p = I[n + 2]!;
    while (p !== NIL) {
      if (n === I[p + 1]) r += this.size(I[p]!) + 1;
      n = p;
      p = I[n + 2]!;
    }
    return r;
  }

  /** Nodes in the subtree `t`, recounting (and cleaning) its dirty part. */
  size(t: number): number {
    if (t === NIL) return 0;
    const I = this.I;
    const B = this.B;
    if (B[t + 1] === 0) return I[t + 3]!;
    const c = 1 + this.size(I[t]!) + this.size(I[t + 1]!);
    I[t + 3] = c;
    B[t + 1] = 0;
    return c;
  }

  /**
   * The highest node at or below `n` (strictly below when `inclusive` is false), and with `lo >= minLo`,
   * below which a block of `size` pages aligned to `align` (a power of two) fits when placed as the kernel
   * places it: `align_down(lo - size, align) > predecessor.hi`. Returns NIL if there is none. Subtrees are
   * skipped through the fit bounds; bounds found too high are lowered.
   */
  prevFit(n: number, size: number, align: number, inclusive: boolean, minLo: number): number {
    const F = this.F;
    const I = this.I;
    const k = align <= 1 ? 0 : Math.log2(align);
    // Classes above 6, and sizes above the byte cap, filter by the gap alone (exact check per node).
    const cls = k < FIT_CLASSES && size <= FIT_CAP ? k : 0;
    if (F[n]! < minLo) return NIL;
    if (inclusive && this.fits(n, size, align)) return n;
    let r = this.descend(I[n]!, size, align, cls, minLo);
    if (r !== NIL) return r;
    let p = I[n + 2]!;
    while (p !== NIL) {
      if (n === I[p + 1]) {
        if (F[p]! < minLo) return NIL;
        if (this.fits(p, size, align)) return p;
        r = this.descend(I[p]!, size, align, cls, minLo);
        if (r !== NIL) return r;
      }
      n = p;
      p = I[n + 2]!;
    }
    return NIL;
  }

  /** Whether the block fits directly below node `n` (exact). */
  private fits(n: number, size: number, align: number): boolean {
    const F = this.F;
    const g = F[n + 2]!;
    if (g < size) return false;
    if (align <= 1) return true;
    const lo = F[n]!;
    return alignDown(lo - size, align) >= lo - g;
  }

  /** The highest fitting node in subtree `t` with `lo >= minLo`, or NIL (then `t`'s bound is lowered). */
  private descend(t: number, size: number, align: number, cls: number, minLo: number): number {
    if (t === NIL) return NIL;
    const F = this.F;
    const I = this.I;
    const M = this.M;
    if ((cls === 0 ? F[t + 3]! : M[2 * t + cls]!) < size) return NIL;
    let r = this.descend(I[t + 1]!, size, align, cls, minLo);
    if (r !== NIL) return r;
    if (F[t]! < minLo) return NIL;
    if (this.fits(t, size, align)) return t;
    r = this.descend(I[t]!, size, align, cls, minLo);
    if (r !== NIL) return r;
    // Nothing in t fits: its bound for this class is at most what its node and children now say.
    const l = I[t]!;
    const rr = I[t + 1]!;
    if (cls === 0) {
      let m = F[t + 2]!;
      if (F[l + 3]! > m) m = F[l + 3]!;
      if (F[rr + 3]! > m) m = F[rr + 3]!;
      F[t + 3] = m;
    } else {
      let m = ownFit(F[t]!, F[t + 2]!, cls);
      if (M[2 * l + cls]! > m) m = M[2 * l + cls]!;
      if (M[2 * rr + cls]! > m) m = M[2 * rr + cls]!;
      M[2 * t + cls] = m;
    }
    return NIL;
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

  /** Exact `cnt` and the bounds from the node's own gap and its children's bounds. */
  private recompute(n: number): void {
    const F = this.F;
    const I = this.I;
    const M = this.M;
    const l = I[n]!;
    const r = I[n + 1]!;
    const B = this.B;
    if (B[l + 1] === 0 && B[r + 1] === 0) {
      I[n + 3] = 1 + I[l + 3]! + I[r + 3]!;
      B[n + 1] = 0;
    } else B[n + 1] = 1;
    let m = F[n + 2]!;
    if (F[l + 3]! > m) m = F[l + 3]!;
    if (F[r + 3]! > m) m = F[r + 3]!;
    F[n + 3] = m;
    const g = F[n + 2]!;
    const big = g >= 2 * FIT_CAP;
    const skip = big || g <= 0 ? 0 : skipOf(F[n]!, g);
    const bn = 2 * n;
    const bl = 2 * l;
    const br = 2 * r;
    for (let k = 1; k < FIT_CLASSES; k++) {
      let b = big ? FIT_CAP : g <= 0 ? 0 : fitWithSkip(g, skip & ((1 << k) - 1));
      if (M[bl + k]! > b) b = M[bl + k]!;
      if (M[br + k]! > b) b = M[br + k]!;
      M[bn + k] = b;
    }
  }

  /** The augment `copy` callback: `nw` takes `old`'s aggregate (count, dirty flag, bounds). */
  private augCopy(old: number, nw: number): void {
    this.I[nw + 3] = this.I[old + 3]!;
    this.B[nw + 1] = this.B[old + 1]!;
    this.F[nw + 3] = this.F[old + 3]!;
    const M = this.M;
    for (let k = 1; k < FIT_CLASSES; k++) M[2 * nw + k] = M[2 * old + k]!;
  }

  private augRotate(old: number, nw: number): void {
    this.augCopy(old, nw);
    this.recompute(old);
  }

  /** Marks the counts of `from` and its ancestors dirty (a node was linked below, or unlinked). */
  private markDirty(from: number): void {
    const I = this.I;
    const B = this.B;
    while (from !== NIL && B[from + 1] === 0) {
      B[from + 1] = 1;
      from = I[from + 2]!;
    }
  }

  /**
   * Makes the bounds of `start` (default `from`) and its ancestors cover the own fits of node `x` (whose
   * gap grew, or which is new); bounds never decrease going up, so raising stops at the first node that
   * already covers them. With `dirty`, it also marks the counts above `from` dirty (a node linked below,
   * or about to be unlinked), which makes it one pass up per update; both stop early.
   */
  private raise(from: number, x: number, dirty = false, start = from): void {
    const F = this.F;
    const I = this.I;
    const M = this.M;
    const g = F[x + 2]!;
    let f1 = FIT_CAP;
    let f2 = FIT_CAP;
    let f3 = FIT_CAP;
    let f4 = FIT_CAP;
    let f5 = FIT_CAP;
    let f6 = FIT_CAP;
    if (g <= 0) {
      f1 = f2 = f3 = f4 = f5 = f6 = 0;
    } else if (g < 2 * FIT_CAP) {
      const skip = skipOf(F[x]!, g);
      f1 = fitWithSkip(g, skip & 1);
      f2 = fitWithSkip(g, skip & 3);
      f3 = fitWithSkip(g, skip & 7);
      f4 = fitWithSkip(g, skip & 15);
      f5 = fitWithSkip(g, skip & 31);
      f6 = fitWithSkip(g, skip & 63);
    }
    const B = this.B;
    let p = from;
    // Marking stops at the first node already dirty (everything above it is).
    let marking = dirty;
    while (p !== start) {
      if (marking && p !== from) {
        if (B[p + 1] === 1) marking = false;
        else B[p + 1] = 1;
      }
      p = I[p + 2]!;
    }
    while (p !== NIL) {
      if (marking && p !== from) {
        if (B[p + 1] === 1) marking = false;
        else B[p + 1] = 1;
      }
      const b = 2 * p;
      let changed = false;
      if (F[p + 3]! < g) {
        F[p + 3] = g;
        changed = true;
      }
      if (M[b + 1]! < f1) {
        M[b + 1] = f1;
        changed = true;
      }
      if (M[b + 2]! < f2) {
        M[b + 2] = f2;
        changed = true;
      }
      if (M[b + 3]! < f3) {
        M[b + 3] = f3;
        changed = true;
      }
      if (M[b + 4]! < f4) {
        M[b + 4] = f4;
        changed = true;
      }
      if (M[b + 5]! < f5) {
        M[b + 5] = f5;
        changed = true;
      }
      if (M[b + 6]! < f6) {
        M[b + 6] = f6;
        changed = true;
      }
      if (!changed && p !== x) break;
      p = I[p + 2]!;
    }
    // Past the last raised node only the marking may go on.
    if (marking && p !== NIL) this.markDirty(I[p + 2]!);
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
    this.B[n + 1] = 0;
    this.count++;
    const g = gapOf(lo, pred === NIL ? -1 : this.F[pred + 1]!);
    this.F[n + 2] = g;
    this.I[n + 3] = 1;
    this.F[n + 3] = Number.NEGATIVE_INFINITY;
    for (let k = 1; k < FIT_CLASSES; k++) this.M[2 * n + k] = 0;
    // succ's gap shrinks (its old bounds stay valid upper bounds); the new node's fits must be covered.
    if (succ !== NIL) this.F[succ + 2] = gapOf(this.F[succ]!, hi);
    this.raise(n, n, true);
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
    // succ's gap grows: raise succ and its ancestors first, and take one off the count of every node
    // above the place the tree loses a node (n itself, or succ when it takes n's place), in one pass. The
    // erase then only moves aggregates (a subtree that takes another's place takes its aggregate) or
    // recomputes them from children, which keeps counts exact and every bound an upper bound that does
    // not decrease going up.
    const I = this.I;
    if (succ === NIL) this.markDirty(I[n + 2]!);
    else {
      this.F[succ + 2] = gapOf(this.F[succ]!, pred === NIL ? -1 : this.F[pred + 1]!);
      // succ below n (n's right child, or the leftmost node of n's right subtree): the pass starts there;
      // otherwise succ is an ancestor of n and raising starts when the pass reaches it.
      if (I[n + 1] !== NIL) this.raise(succ, succ, true);
      else this.raise(n, succ, true, succ);
    }
    const rebalance = this.eraseAugmented(n);
    if (rebalance !== NIL) this.eraseColor(rebalance);
    this.count--;
    this.I[n + 1] = this.freeIds;
    this.freeIds = n;
    this.F[n + 1] = -1;
  }

  /** Lowers `lo` of node `n` (reserve_iova stretching a node down); the caller keeps the order valid. */
  setLo(n: number, lo: number): void {
    // The gap shrinks: the bounds stay valid upper bounds.
    const pred = this.prev(n);
    this.F[n] = lo;
    this.F[n + 2] = gapOf(lo, pred === NIL ? -1 : this.F[pred + 1]!);
  }

  /** `__rb_erase_augmented`; the caller has already updated counts and raised the successor's bounds. */
  private eraseAugmented(node: number): number {
    const I = this.I;
    const B = this.B;
    const child = I[node + 1]!;
    let tmp = I[node]!;
    let rebalance: number;
    if (tmp === NIL) {
      const pcParent = I[node + 2]!;
      const pcBlack = B[node]!;
      this.changeChild(node, child, pcParent);
      if (child !== NIL) {
        I[child + 2] = pcParent;
        B[child] = pcBlack;
        rebalance = NIL;
      } else rebalance = pcBlack === BLACK ? pcParent : NIL;
      tmp = pcParent;
    } else if (child === NIL) {
      const pcParent = I[node + 2]!;
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
        // The nodes from the successor's old place up to node's right child lose it: their bounds stay
        // upper bounds (and above their new children's), their counts are already marked dirty. The
        // successor takes node's aggregate.
        this.augCopy(node, successor);
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
    }
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
