/**
 * The scenario thread pool of a worker node (piscina). Threads default to the number of cores. When the
 * node runs from TypeScript sources, the threads get the `@dmasim/source` resolution condition too.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { PoolTask, PoolTaskResult } from './pool-task.ts';

/** Options of {@link ScenarioPool}. */
export interface ScenarioPoolOptions {
  /** Worker threads (default: the number of cores). */
  threads?: number;
}

/** A pool of threads that run {@link PoolTask}s. */
export class ScenarioPool {
  private readonly piscina: Piscina;
  readonly threads: number;

  constructor(opts: ScenarioPoolOptions = {}) {
    this.threads = Math.max(1, opts.threads ?? availableParallelism());
    const here = import.meta.url;
    const fromSource = here.endsWith('.ts');
    const filename = new URL(fromSource ? './pool-task.ts' : './pool-task.js', here).href;
    // Worker threads refuse process-wide flags (--expose-gc, --max-old-space-size, ...): pass on only the
    // module-resolution and warning flags they accept.
    const execArgv = process.execArgv.filter((a) =>
      /^(--conditions|-C|--import|--require|--enable-source-maps|--disable-warning|--no-warnings|--experimental-)/.test(
        a,
      ),
    );
    if (fromSource && !execArgv.some((a) => a.includes('@dmasim/source'))) execArgv.push('--conditions=@dmasim/source');
    this.piscina = new Piscina({
      filename,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 60_000,
      execArgv,
      // Tasks beyond the threads wait in piscina's queue; the shard executor bounds how many it submits.
      maxQueue: 'auto',
    });
  }

  /** Runs a task on a thread; rejects if the task throws or `signal` aborts (the thread is then replaced). */
  run(task: PoolTask, signal?: AbortSignal): Promise<PoolTaskResult> {
    return this.piscina.run(task, signal ? { signal } : {}) as Promise<PoolTaskResult>;
  }

  /** Tasks waiting for a thread. */
  get queued(): number {
    return this.piscina.queueSize;
  }

  /** Stops the threads (after running tasks finish). */
  async close(): Promise<void> {
    await this.piscina.close();
  }
}
