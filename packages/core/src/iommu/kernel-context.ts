/**
 * The simulated kernel that DMA devices and IOMMU domains live in: boot parameters (`iommu.forcedac`,
 * kdump's deferred attach), HZ, the number of CPUs, the CPU that runs timers, the per-call-site "once"
 * flags of `WARN_ONCE`/`dev_err_once` (global in the kernel, so shared by every device here), the virtual
 * clock, and the sink that receives step records. One per simulated machine.
 *
 * Step records go to `onStep` in the order the kernel would perform the steps (kernel-model.md 5). A DMA
 * API call may pass its own sink for the duration of the call ({@link KernelContext.withSink}).
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import type { IommuStep } from './iommu-steps.ts';

const NO_STEPS: IommuStep[] = [];

/** Receives step records. */
export type StepSink = (step: IommuStep) => void;

/** Something with timers that the kernel's clock drives (an IOMMU domain). */
export interface TimerOwner {
  /** Virtual time (ns) of the earliest pending timer, or undefined. */
  nextTimerAt(): number | undefined;
  /** Fires every timer due at or before `tNs`, in time order, and sets the owner's clock to `tNs`. */
  advanceTo(tNs: number): void;
}

/** Options of {@link KernelContext}. */
export interface KernelContextOptions {
  /**
   * Online (= possible) CPUs: per-CPU IOVA caches and flush queues, 0..cpus-1.
   * @defaultValue 1
   */
  cpus?: number;
  /**
   * Timer frequency: the flush-queue timeout is `msecs_to_jiffies(ms)` jiffies (kernel-model.md 7.5-6).
   * @defaultValue 1000
   */
  hz?: number;
  /**
   * `iommu.forcedac=1`: PCI devices start without the 32-bit-first IOVA policy (kernel-model.md 4.2).
   * @defaultValue false
   */
  forcedac?: boolean;
  /**
   * A kdump kernel: IOMMU attach is deferred to the first DMA API call, which can fail (3.4.1 step 3).
   * @defaultValue false
   */
  kdump?: boolean;
  /**
   * CPU on which timers (flush-queue timeout) run and into whose IOVA caches they release (7.5-5).
   * @defaultValue 0
   */
  timerCpu?: number;
  /** Default sink for step records. */
  onStep?: StepSink;
}

/** The simulated kernel instance. */
export class KernelContext {
  readonly cpus: number;
  readonly hz: number;
  readonly forcedac: boolean;
  readonly kdump: boolean;
  readonly timerCpu: number;
  /** Default sink; may be replaced. */
  onStep: StepSink | undefined;
  private readonly fired = new Set<string>();
  private readonly sinkStack: (StepSink | undefined)[] = [];
  /** Buffers of the {@link capture} calls in progress, innermost last. */
  private readonly captures: IommuStep[][] = [];
  /** The sink of every {@link capture}: into the innermost capture's buffer (one function, not one a call). */
  private readonly captureSink: StepSink = (s) => {
    this.captures[this.captures.length - 1]!.push(s);
  };
  private readonly timerOwners: TimerOwner[] = [];
  private nowNs = 0;

  constructor(opts: KernelContextOptions = {}) {
    this.cpus = opts.cpus ?? 1;
    this.hz = opts.hz ?? 1000;
    this.forcedac = opts.forcedac ?? false;
    this.kdump = opts.kdump ?? false;
    this.timerCpu = opts.timerCpu ?? 0;
    this.onStep = opts.onStep;
    if (!Number.isInteger(this.cpus) || this.cpus < 1) {
      throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `kernel: cpus must be an integer >= 1, found ${opts.cpus}`);
    }
    if (!Number.isInteger(this.hz) || this.hz < 1) {
      throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `kernel: hz must be an integer >= 1, found ${opts.hz}`);
    }
    this.checkCpu(this.timerCpu, 'timerCpu');
  }

  /** Throws unless `cpu` is 0..cpus-1. */
  checkCpu(cpu: number, what = 'cpu'): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpus) {
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `${what} must be an integer in 0..${this.cpus - 1} (the kernel has ${this.cpus} CPUs), found ${cpu}`,
      );
    }
  }

  /** Virtual time in ns: the last `advanceTo`. */
  get now(): number {
    return this.nowNs;
  }

  /** `msecs_to_jiffies(ms)`: rounds up to whole ticks. */
  msecsToJiffies(ms: number): number {
    return Math.ceil((ms * this.hz) / 1000);
  }

  /**
   * Virtual time at which a timer armed at `nowNs` with `mod_timer(jiffies + msecs_to_jiffies(ms))`
   * expires: the tick `floor(now / tick) + n`.
   */
  timerExpiry(nowNs: number, ms: number): number {
    const tickNs = 1e9 / this.hz;
    const jiffies = Math.floor(nowNs / tickNs);
    return Math.round((jiffies + this.msecsToJiffies(ms)) * tickNs);
  }

  /** Registers an owner of timers (each IOMMU domain registers itself). */
  addTimerOwner(owner: TimerOwner): void {
    this.timerOwners.push(owner);
  }

  /** Earliest pending timer of any owner, or undefined. */
  nextTimerAt(): number | undefined {
    let best: number | undefined;
    for (const o of this.timerOwners) {
      const t = o.nextTimerAt();
      if (t !== undefined && (best === undefined || t < best)) best = t;
    }
    return best;
  }

  /**
   * Moves the clock to `tNs`, firing every timer due until then in time order (ties: the owner registered
   * first). Time never goes back.
   */
  advanceTo(tNs: number): void {
    if (!(tNs >= this.nowNs)) {
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `kernel: time must not go back (now ${this.nowNs} ns, asked ${tNs} ns)`,
      );
    }
    for (;;) {
      let owner: TimerOwner | undefined;
      let at: number | undefined;
      for (const o of this.timerOwners) {
        const t = o.nextTimerAt();
        if (t !== undefined && t <= tNs && (at === undefined || t < at)) {
          at = t;
          owner = o;
        }
      }
      if (owner === undefined || at === undefined) break;
      this.nowNs = at;
      owner.advanceTo(at);
    }
    this.nowNs = tNs;
    for (const o of this.timerOwners) o.advanceTo(tNs);
  }

  /** `*_ONCE` semantics: true the first time `key` is seen, false afterwards. */
  once(key: string): boolean {
    if (this.fired.has(key)) return false;
    this.fired.add(key);
    return true;
  }

  /** Marks a once-key as fired (used by the reducer). */
  markOnce(key: string): void {
    this.fired.add(key);
  }

  /** The once-keys that have fired, sorted (for snapshots). */
  onceFired(): string[] {
    return [...this.fired].sort();
  }

  /** Some sink will receive records now (callers may skip building records when false). */
  get tracing(): boolean {
    return this.sinkStack.length > 0 || this.onStep !== undefined;
  }

  /** Sends a step record to the current sink. */
  emit(step: IommuStep): void {
    const sink = this.sinkStack.length > 0 ? this.sinkStack[this.sinkStack.length - 1] : this.onStep;
    sink?.(step);
  }

  /** Runs `fn` with `sink` (when given) as the current sink. */
  withSink<T>(sink: StepSink | undefined, fn: () => T): T {
    if (sink === undefined) return fn();
    this.pushSink(sink);
    try {
      return fn();
    } finally {
      this.popSink();
    }
  }

  /** Makes `sink` the current sink until the matching {@link popSink} (callers pop in a `finally`). */
  pushSink(sink: StepSink): void {
    this.sinkStack.push(sink);
  }

  /** Restores the sink that was current before the last {@link pushSink}. */
  popSink(): void {
    this.sinkStack.pop();
  }

  /**
   * Runs `fn` and returns its value with the steps it emitted, without delivering them: for events that the
   * kernel order puts before their sub-steps but whose fields are known only afterwards.
   */
  capture<T>(fn: () => T): { value: T; steps: IommuStep[] } {
    if (!this.tracing) return { value: fn(), steps: NO_STEPS };
    const steps: IommuStep[] = [];
    this.captures.push(steps);
    this.sinkStack.push(this.captureSink);
    try {
      return { value: fn(), steps };
    } finally {
      this.sinkStack.pop();
      this.captures.pop();
    }
  }

  /** Delivers captured steps to the current sink. */
  emitAll(steps: readonly IommuStep[]): void {
    for (const s of steps) this.emit(s);
  }
}
