/**
 * IOVA allocator benchmarks (issue 3): the four standard traces of `generateIovaTrace` (2,000,000
 * operations each, seed IOVA_TRACE_SEED; see packages/core/src/iova/iova-trace.ts), replayed through the
 * allocator alone, against the kernel's own iova.c (-O2, userspace) on the same traces as `baseline`; and
 * the memory the domain holds per live allocation. Same measurement as `dmasim iova bench --generate all`.
 */
import {
  generateIovaTrace,
  IOVA_KERNEL_OPS_PER_S,
  IOVA_TARGET_RATIO,
  IOVA_TRACE_VARIANTS,
  type IovaTraceVariant,
} from '@dmasim/core';
import { benchIovaTrace } from '../packages/cli/src/commands/iova/measure.ts';
import { type Benchmark, type BenchResult, result } from './harness.ts';

/**
 * Replays per trace (the best is reported, which filters out other load on a shared machine): the
 * oldest-first traces take under a second each, the random-order ones several.
 */
const REPEAT: Record<IovaTraceVariant, number> = {
  'slow-oldest': 7,
  'fast-oldest': 7,
  'slow-random': 2,
  'fast-random': 2,
};

export const benchmarks: Benchmark[] = IOVA_TRACE_VARIANTS.map((variant) => ({
  name: `iova-${variant}`,
  async run(): Promise<BenchResult[]> {
    const vf = generateIovaTrace(variant);
    const f = benchIovaTrace(vf, { repeat: REPEAT[variant], search: 'indexed', standard: variant });
    const baseline = IOVA_KERNEL_OPS_PER_S[variant];
    const target = IOVA_TARGET_RATIO[variant];
    const extra = {
      ops: f.ops,
      repeat: f.repeat,
      bestMs: f.bestMs,
      opsPerSecByCpuTime: f.cpuOpsPerSec,
      ratioByCpuTime: f.cpuOpsPerSec / baseline,
      targetRatio: target,
      targetMet: f.opsPerSec / baseline >= target,
      allocations: f.allocations,
      failures: f.failures,
      kernelWalkNodesPerAlloc: f.nodesVisitedPerAlloc,
      liveAtEnd: f.liveAtEnd,
      cachedPfns: f.cachedPfns,
      loadAverage: f.loadAverage,
      command: `dmasim iova bench --generate ${variant}`,
    };
    return [
      result(`iova.${variant}.ops_per_s`, 'ops/s', f.opsPerSec, baseline, extra),
      result(`iova.${variant}.heap_per_live`, 'bytes', f.heapBytesPerLive, null, {
        treeBytesPerLive: f.treeBytesPerLive,
        liveAtEnd: f.liveAtEnd,
      }),
    ];
  },
}));
