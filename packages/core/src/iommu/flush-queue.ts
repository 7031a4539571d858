/**
 * The flush queue of a DMA_FQ (lazy invalidation) domain, as drivers/iommu/dma-iommu.c keeps it
 * (kernel-model.md 4.6.3): freed IOVAs are parked in rings with the flush counter of the moment and only
 * released to the allocator (`free_iova_fast`) once an IOTLB flush has finished after them. A ring of N
 * slots holds N - 1 entries; a full ring flushes at once; otherwise a timer flushes every ring
 * `fq_timeout` ms after the first park. Driven by virtual time: {@link FlushQueue.nextTimerAt} and
 * {@link FlushQueue.fireTimer}.
 */
import type { IovaFqFlushStep, IovaQueueStep } from './iommu-steps.ts';
import type { KernelContext } from './kernel-context.ts';

/** Per-CPU queue slots (`IOVA_DEFAULT_FQ_SIZE`); 255 usable. */
export const IOVA_DEFAULT_FQ_SIZE = 256;
/** Single-queue slots for IOMMUs that shadow flushes (`IOVA_SINGLE_FQ_SIZE`). */
export const IOVA_SINGLE_FQ_SIZE = 32768;
/** Per-CPU queue timeout in ms (`IOVA_DEFAULT_FQ_TIMEOUT`). */
export const IOVA_DEFAULT_FQ_TIMEOUT = 10;
/** Single-queue timeout in ms (`IOVA_SINGLE_FQ_TIMEOUT`). */
export const IOVA_SINGLE_FQ_TIMEOUT = 1000;

/** `struct iommu_dma_options` for the flush queue. */
export interface FlushQueueOptions {
  /** `per_cpu`: one ring per CPU; `single`: one shared ring (`shadow_on_flush` IOMMUs). */
  readonly kind: 'per_cpu' | 'single';
  /** Ring slots (a power of two); capacity is size - 1. */
  readonly size: number;
  /** Timer delay in ms. */
  readonly timeoutMs: number;
}

/** `iommu_dma_init_options`: the single queue when the IOMMU shadows flushes, else per-CPU. */
export function flushQueueOptions(shadowOnFlush: boolean): FlushQueueOptions {
  return shadowOnFlush
    ? { kind: 'single', size: IOVA_SINGLE_FQ_SIZE, timeoutMs: IOVA_SINGLE_FQ_TIMEOUT }
    : { kind: 'per_cpu', size: IOVA_DEFAULT_FQ_SIZE, timeoutMs: IOVA_DEFAULT_FQ_TIMEOUT };
}

/** One parked IOVA (`struct iova_fq_entry`). `pfn` and `pages` as the unmapping caller gave them. */
export interface FqEntry {
  readonly pfn: bigint;
  readonly pages: bigint;
  /** `flush_start_cnt` when parked; released once `flush_finish_cnt` exceeds it. */
  readonly counter: number;
}

/** Canonical state of a flush queue. */
export interface FlushQueueSnapshot {
  readonly options: FlushQueueOptions;
  readonly flushStart: number;
  readonly flushFinish: number;
  /** Expiry (virtual ns) of the armed timer, or null. */
  readonly timerAt: number | null;
  /** Entries of every ring from head to tail. */
  readonly queues: readonly (readonly FqEntry[])[];
}

/** Releases one entry to the allocator on `cpu` (`free_iova_fast`); `queue` is the ring it left. */
export type FqRelease = (pfn: bigint, pages: bigint, cpu: number, queue: number) => void;

/** A fixed-size ring as the kernel indexes it (head, tail, `mod_mask`). */
class Ring {
  readonly entries: (FqEntry | undefined)[];
  head = 0;
  tail = 0;
  readonly mask: number;

  constructor(size: number) {
    this.entries = new Array(size);
    this.mask = size - 1;
  }

  get length(): number {
    return (this.tail - this.head) & this.mask;
  }

  full(): boolean {
    return ((this.tail + 1) & this.mask) === this.head;
  }

  push(e: FqEntry): void {
    this.entries[this.tail] = e;
    this.tail = (this.tail + 1) & this.mask;
  }

  peek(): FqEntry | undefined {
    return this.head === this.tail ? undefined : this.entries[this.head];
  }

  shift(): FqEntry {
    const e = this.entries[this.head]!;
    this.entries[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    return e;
  }

  list(): FqEntry[] {
    const out: FqEntry[] = [];
    for (let i = this.head; i !== this.tail; i = (i + 1) & this.mask) out.push(this.entries[i]!);
    return out;
  }
}

/** The flush queue(s) and timer of one DMA_FQ domain. */
export class FlushQueue {
  readonly options: FlushQueueOptions;
  private readonly rings: Ring[];
  private startCnt = 0;
  private finishCnt = 0;
  private timerAt: number | null = null;
  private readonly kernel: KernelContext;
  private readonly domainId: number;
  private readonly release: FqRelease;

  constructor(kernel: KernelContext, domainId: number, options: FlushQueueOptions, release: FqRelease) {
    this.kernel = kernel;
    this.domainId = domainId;
    this.release = release;
    this.options = options;
    if (!Number.isInteger(options.size) || options.size < 2 || (options.size & (options.size - 1)) !== 0) {
      throw new RangeError(`flush queue size must be a power of two >= 2, found ${options.size}`);
    }
    const n = options.kind === 'single' ? 1 : kernel.cpus;
    this.rings = Array.from({ length: n }, () => new Ring(options.size));
  }

  /** `flush_start_cnt`. */
  get flushStart(): number {
    return this.startCnt;
  }

  /** `flush_finish_cnt`. */
  get flushFinish(): number {
    return this.finishCnt;
  }

  /** Entries parked in all rings. */
  get pending(): number {
    let n = 0;
    for (const r of this.rings) n += r.length;
    return n;
  }

  /** Ring used by `cpu`. */
  queueOf(cpu: number): number {
    return this.options.kind === 'single' ? 0 : cpu;
  }

  /** Expiry of the armed timer (virtual ns), or undefined. */
  nextTimerAt(): number | undefined {
    return this.timerAt ?? undefined;
  }

  /** `fq_flush_iotlb`: start += 1, invalidate the domain's IOTLB, finish += 1. */
  private flush(reason: 'full' | 'timer', cpu: number, released: number): void {
    this.startCnt++;
    this.finishCnt++;
    const step: IovaFqFlushStep = {
      kind: 'iova.fq_flush',
      domainId: this.domainId,
      reason,
      cpu,
      flushStart: this.startCnt,
      flushFinish: this.finishCnt,
      released,
    };
    this.kernel.emit(step);
  }

  /** `fq_ring_free_locked`: releases head entries flushed before now, on `cpu`. */
  private ringFree(q: number, cpu: number): void {
    const ring = this.rings[q]!;
    for (let e = ring.peek(); e !== undefined && e.counter < this.finishCnt; e = ring.peek()) {
      ring.shift();
      this.release(e.pfn, e.pages, cpu, q);
    }
  }

  /**
   * `queue_iova(pfn, pages)` on `cpu` at virtual time `nowNs`: release what earlier flushes freed, flush if
   * the ring is full, park the entry, arm the timer if it is not armed.
   */
  queueIova(pfn: bigint, pages: bigint, cpu: number, nowNs: number): void {
    const q = this.queueOf(cpu);
    const ring = this.rings[q]!;
    this.ringFree(q, cpu);
    if (ring.full()) {
      this.flush('full', cpu, ring.length);
      this.ringFree(q, cpu);
    }
    const counter = this.startCnt;
    ring.push({ pfn, pages, counter });
    let timerArmedFor: number | null = null;
    if (this.timerAt === null) {
      this.timerAt = this.kernel.timerExpiry(nowNs, this.options.timeoutMs);
      timerArmedFor = this.timerAt;
    }
    if (this.kernel.tracing) {
      const step: IovaQueueStep = {
        kind: 'iova.free',
        destination: 'flush_queue',
        domainId: this.domainId,
        cpu,
        queue: q,
        pfn: Number(pfn),
        pages: Number(pages),
        counter,
        timerArmedFor,
      };
      this.kernel.emit(step);
    }
  }

  /**
   * `fq_flush_timeout`: disarm, flush, release every ring's entries (ring 0 first) into the IOVA caches of
   * the kernel's timer CPU. Call at the expiry time.
   */
  fireTimer(): void {
    if (this.timerAt === null) return;
    this.timerAt = null;
    const cpu = this.kernel.timerCpu;
    this.flush('timer', cpu, this.pending);
    for (let q = 0; q < this.rings.length; q++) this.ringFree(q, cpu);
  }

  /** Fires the timer if it is due at or before `tNs` (firing never re-arms it). */
  advanceTo(tNs: number): void {
    if (this.timerAt !== null && this.timerAt <= tNs) this.fireTimer();
  }

  /** Canonical plain state. */
  snapshot(): FlushQueueSnapshot {
    return {
      options: this.options,
      flushStart: this.startCnt,
      flushFinish: this.finishCnt,
      timerAt: this.timerAt,
      queues: this.rings.map((r) => r.list()),
    };
  }
}
