/**
 * Timing of IOVA traces for `dmasim iova bench` and `npm run bench` (bench/iova.bench.ts): replays of a
 * compiled trace through the allocator's number API on fresh domains, best of N, with the cost model's
 * totals and the memory the domain holds.
 */
import { availableParallelism, loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  compileIovaTrace,
  IOVA_KERNEL_OPS_PER_S,
  IOVA_TARGET_RATIO,
  IovaDomain,
  type IovaTraceVariant,
  type IovaVectorFile,
  replayCompiledIovaTrace,
} from '@dmasim/core';

/** How the first fit is searched. */
export type Search = 'indexed' | 'linear';

/** A garbage collection on demand, so that timed replays start from a collected heap. */
function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** What `dmasim iova bench` measured for one trace. */
export interface IovaBenchFigures {
  name: string;
  ops: number;
  repeat: number;
  search: Search;
  /** Best wall time of one replay, ms. */
  bestMs: number;
  opsPerSec: number;
  /** Rate by process CPU time of the best replay (less sensitive to other load on the machine). */
  cpuOpsPerSec: number;
  allocations: number;
  failures: number;
  /** Cost model: node visits of the kernel's walk, per allocation. */
  nodesVisitedPerAlloc: number;
  peakLive: number;
  liveAtEnd: number;
  /** pfns held in range caches at the end (they are live nodes too). */
  cachedPfns: number;
  /** Bytes of the node arrays per live node at the end (capacity, grows by doubling). */
  treeBytesPerLive: number;
  /**
   * Bytes the domain holds per live node at the end, from its own accounting (`IovaDomain.heapBytes`:
   * node array capacity plus magazines); a GC-based measurement in a quiet process agrees within a few
   * percent (docs/IOVA.md), while one taken here would mostly measure the collector.
   */
  heapBytesPerLive: number;
  /** `os.loadavg()[0]` and the CPU count when the figures were taken: other load makes wall time longer. */
  loadAverage: number;
  cpus: number;
  /** The kernel's rate on this trace, when it is a standard trace. */
  baseline: number | null;
  ratio: number | null;
  target: number | null;
}

/** Times replays of one trace through the allocator alone (the trace is parsed and compiled before). */
export function benchIovaTrace(
  vf: IovaVectorFile,
  o: { repeat: number; search: Search; standard?: IovaTraceVariant },
): IovaBenchFigures {
  const ct = compileIovaTrace(vf);
  const gc = gcFunction();
  let bestMs = Number.POSITIVE_INFINITY;
  let bestCpuMs = Number.POSITIVE_INFINITY;
  let figures: Omit<IovaBenchFigures, 'bestMs' | 'opsPerSec' | 'cpuOpsPerSec'> | undefined;
  // One collection before the first replay (the trace's construction left garbage); none between replays,
  // where a collector still sweeping would be timed with the allocator.
  gc();
  for (let i = 0; i < o.repeat; i++) {
    const d = new IovaDomain({
      granule: BigInt(vf.header.granule),
      startPfn: BigInt(vf.header.startPfn),
      cpus: vf.header.cpus,
      depotTrim: false,
      search: o.search,
    });
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = replayCompiledIovaTrace(d, ct);
    const ms = performance.now() - t0;
    const cu = process.cpuUsage(c0);
    const live = Math.max(1, d.liveNodes());
    const liveAtEnd = d.liveNodes();
    const treeBytes = d.treeBytes();
    const accounted = d.heapBytes();
    const cachedPfns = d.cachedPfns();
    bestMs = Math.min(bestMs, ms);
    bestCpuMs = Math.min(bestCpuMs, (cu.user + cu.system) / 1000);
    const baseline = o.standard ? IOVA_KERNEL_OPS_PER_S[o.standard] : null;
    figures = {
      name: vf.header.name || vf.file,
      ops: r.ops,
      repeat: o.repeat,
      search: o.search,
      allocations: r.allocations,
      failures: r.failures,
      nodesVisitedPerAlloc: r.nodesVisited / Math.max(1, r.allocations),
      peakLive: r.peakLive,
      liveAtEnd,
      cachedPfns,
      treeBytesPerLive: treeBytes / live,
      heapBytesPerLive: accounted / live,
      loadAverage: loadavg()[0] ?? 0,
      cpus: availableParallelism(),
      baseline,
      ratio: null,
      target: o.standard ? IOVA_TARGET_RATIO[o.standard] : null,
    };
  }
  const opsPerSec = (figures!.ops / bestMs) * 1000;
  const result: IovaBenchFigures = {
    ...figures!,
    bestMs,
    opsPerSec,
    cpuOpsPerSec: (figures!.ops / bestCpuMs) * 1000,
  };
  result.ratio = result.baseline ? opsPerSec / result.baseline : null;
  return result;
}
