/**
 * The per-domain figures the report draws, as the scenario runner records them: the IOVA timeline agrees
 * with the end-of-run figures, the DMA limit tells 32-bit from 64-bit importers, the allocator counters and
 * the IOVA taken per domain add up to the run's totals, and the first failure per domain matches the run's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runScenario, type ScenarioSpec } from '@dmasim/core';
import fc from 'fast-check';

function spec(seed: number, mode: string): ScenarioSpec {
  return {
    kind: 'dmasim-scenario',
    version: 1,
    seed,
    topology: { generate: { sockets: 2, devices: 8, seed: 1 } },
    iommu: { mode },
    importers: [{ device: 'NIC0', dmaMask: 32 }, { device: 'NIC2' }],
    exporters: [{ device: 'GPU0', bar: 1 }],
    workload: {
      buffers: {
        count: 6,
        size: { log2uniform: { min: '64KiB', max: '1GiB' } },
        ranges: { min: 1, max: 4 },
        fragmentation: 0.2,
      },
      attach: { pattern: 'all' },
      churn: { map: 4, unmap: 3, detach: 0.2, attach: 0.2 },
      operations: 150,
    },
  } as unknown as ScenarioSpec;
}

test('domain timelines, limits, allocator counters and first failures agree with the run', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10_000 }), fc.constantFrom('dma-fq', 'dma'), (seed, mode) => {
      const s = runScenario(spec(seed, mode));
      assert.equal(s.domains.length, 2);
      let mapped = 0;
      let mappings = 0;
      for (const d of s.domains) {
        const t = d.timeline!;
        assert.ok(Number.isInteger(Math.log2(t.binNs)), 'bin width is a power of two');
        assert.ok(t.end.length >= 1 && t.end.length <= 64 && t.peak.length === t.end.length);
        assert.equal(t.end.length, Math.floor(s.durationNs / t.binNs) + 1, 'the timeline reaches the end of the run');
        assert.equal(t.end[t.end.length - 1], d.usedBytes, 'the last bin ends at the use at the end');
        assert.equal(Math.max(...t.peak), d.peakBytes, 'the largest bin peak is the run peak');
        for (let i = 0; i < t.end.length; i++) assert.ok(t.end[i]! <= t.peak[i]!);
        assert.equal(d.apertureBytes! > 0, true);
        assert.ok(d.rcacheHits! <= d.allocations!);
        assert.ok(d.nodesVisited! >= 0);
        mapped += d.mappedIovaBytes!;
        mappings += d.mappings!;
        if (d.allocFailures > 0) assert.ok(d.firstFailureNs !== null && d.firstFailureNs! >= 0);
        else assert.equal(d.firstFailureNs, null);
      }
      const nic0 = s.domains.find((d) => d.dmaLimitBytes === 2 ** 32);
      assert.ok(nic0, 'the 32-bit importer’s domain has a 4 GiB limit');
      assert.ok(s.domains.some((d) => d.dmaLimitBytes! > 2 ** 32));
      assert.ok(nic0.headroomBytes <= 2 ** 32);
      assert.equal(mapped, s.whatIf.iovaBytesSpent, 'IOVA taken per domain adds up to the run total');
      assert.equal(mappings, s.modes.iova + s.modes.per_range);
      const firsts = s.domains.map((d) => d.firstFailureNs).filter((x): x is number => x !== null);
      assert.equal(firsts.length ? Math.min(...firsts) : null, s.firstExhaustionNs);
    }),
    { numRuns: 12 },
  );
});
