/**
 * The report of a 10^6-scenario sweep: 10^6 scenario records are synthesised in memory (never all at once:
 * shards of 1,000 are made as the aggregation pulls them), streamed through `aggregateSweep` and rendered
 * to report.html. Targets (issue 9): generated in under 30 s, the HTML under 5 MB.
 */
import { performance } from 'node:perf_hooks';
import { aggregateSweep, type ShardResultLike, Sweep } from '@dmasim/core';
import { renderReportHtml } from '@dmasim/report';
import { type Benchmark, result } from './harness.ts';

const SCENARIOS = Number(process.env.DMASIM_BENCH_REPORT_SCENARIOS ?? 1_000_000);
const SHARD = 1000;
const SEEDS = Math.ceil(SCENARIOS / 24);

/** 4 machines x 3 IOMMU modes x 2 masks x 41,667 seeds (>= 10^6 points), grouped by machine and IOMMU mode. */
const sweep = new Sweep({
  kind: 'dmasim-sweep',
  version: 1,
  id: 'bench',
  base: {
    kind: 'dmasim-scenario',
    version: 1,
    seed: 1,
    topology: { generate: { sockets: 2, devices: 8, seed: 1 } },
    importers: [{ device: 'NIC0' }, { device: 'NIC2' }],
    exporters: [{ device: 'GPU0', bar: 1 }],
    workload: { operations: 400 },
  },
  axes: [
    {
      name: 'machine',
      path: 'topology.generate.seed',
      values: [1, 2, 3, 4],
    },
    { name: 'iommu', path: 'iommu.mode', values: ['dma-fq', 'dma', 'identity'] },
    { name: 'mask', path: 'importers[0].dmaMask', values: [64, 32] },
  ],
  seeds: { start: 1, count: SEEDS },
  groupBy: ['machine', 'iommu'],
});

const LE = Array.from({ length: 32 }, (_, k) => 2 ** k);

/**
 * Timelines of 48 to 63 bins ramping to different peaks: a pool the records share (the aggregation only
 * reads them), so that the benchmark measures aggregation and rendering rather than making arrays.
 */
const TIMELINES = Array.from({ length: 251 }, (_, v) => {
  const bins = 48 + (v % 16);
  const peak = Math.floor((2 ** 31 * (v + 1)) / 251);
  return {
    binNs: 2 ** 24,
    end: Array.from({ length: bins }, (_, k) => Math.floor((peak * k) / bins)),
    peak: Array.from({ length: bins }, (_, k) => Math.floor((peak * (k + 1)) / bins)),
  };
});

/** A plausible summary whose numbers vary with the index (two domains, a timeline each). */
function summary(i: number, group: number) {
  const r = (k: number) => ((i * 2654435761 + k * 40503) >>> 0) / 2 ** 32;
  const counts = LE.map((_, k) => (k < 3 ? Math.floor(50 * r(k)) : 0));
  const domain = (id: number, dev: string, limit: number) => {
    const peak = Math.floor(2 ** 31 * r(id));
    return {
      domainId: id,
      type: group % 3 === 0 ? 'dma_fq' : 'dma',
      devices: [dev],
      usedBytes: 0,
      peakBytes: peak,
      reservedBytes: 2 ** 28,
      free32Bytes: 2 ** 31,
      largestFree32Bytes: 2 ** 30,
      fragmentation32: r(id + 1),
      headroomBytes: limit - peak,
      allocFailures: r(id + 2) < 0.1 ? 1 : 0,
      leakedBytes: 0,
      dmaLimitBytes: limit,
      apertureBytes: 2 ** 48,
      allocations: 200,
      nodesVisited: 200 + Math.floor(800 * r(id + 3)),
      rcacheHits: Math.floor(150 * r(id + 4)),
      mappings: 100,
      mappedIovaBytes: 100 * 2 ** 24,
      firstFailureNs: r(id + 2) < 0.1 ? Math.floor(1e9 * r(id + 5)) : null,
      timeline: TIMELINES[(i + id) % TIMELINES.length]!,
    };
  };
  return {
    kind: 'dmasim-summary',
    version: 1,
    scenarioId: `bench-${i}`,
    attempt: 1,
    seed: i,
    topologyId: `gen-${1 + (group >> 2)}`,
    stateHash: '0',
    eventCount: 3000,
    durationNs: 64 * 2 ** 24,
    ops: { map: { attempts: 200, failures: Math.floor(20 * r(6)) } },
    mapTypes: { BUS_ADDR: 10, THRU_HOST_BRIDGE: 190, NOT_SUPPORTED: 0 },
    modes: { bus_addr: 10, iova: 120, per_range: 50, system: 0 },
    sgEntries: { le: LE, counts },
    domains: [domain(1, '0000:05:00.0', i % 2 ? 2 ** 32 : 2 ** 48), domain(2, '0000:0a:00.0', 2 ** 48)],
    failures: { 'map.ENOMEM': Math.floor(20 * r(6)) },
    fallbacks: { iovaToPerRange: Math.floor(3 * r(7)), dacSwitches: 0, rcacheFlushes: 1 },
    firstExhaustionNs: r(8) < 0.1 ? Math.floor(1e9 * r(8)) : null,
    leaks: { iovaLeakEvents: 0, iovaLeakBytes: 0, unaccountedIovaBytes: 0 },
    hazards: r(10) < 0.01 ? { multi_range_link_overlap: 1 } : {},
    faults: 0,
    whatIf: {
      mappingsKeptP2p: 180,
      mappingsMigrated: 0,
      attachmentsRefused: 0,
      migrations: 0,
      bytesMigrated: 0,
      iovaBytesSpent: 170 * 2 ** 24,
      iovaBytesSaved: 10 * 2 ** 24,
      decisions: { keep_p2p: 0, migrate: 0, refuse: 0 },
    },
    pairs: [{ exporter: '0000:03:00.0', importer: '0000:05:00.0', mapType: 'THRU_HOST_BRIDGE', distance: 4 }],
  };
}

/** Shards made on demand, as the result store streams them. */
function* shards(): Generator<ShardResultLike> {
  for (let start = 0; start < SCENARIOS; start += SHARD) {
    const scenarios = [];
    for (let i = start; i < Math.min(SCENARIOS, start + SHARD); i++) {
      // The group of index i without building the scenario: seeds vary fastest, then mask, iommu, machine.
      const rest = Math.floor(Math.floor(i / SEEDS) / 2);
      const iommu = rest % 3;
      const machine = Math.floor(rest / 3);
      scenarios.push({
        index: i,
        id: `bench-${i.toString(16).padStart(16, '0')}`,
        group: { machine: String(machine + 1), iommu: JSON.stringify(['dma-fq', 'dma', 'identity'][iommu]) },
        summary: summary(i, machine * 3 + iommu),
      });
    }
    yield { scenarios };
  }
}

export const benchmarks: Benchmark[] = [
  {
    name: 'report',
    async run() {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const report = await aggregateSweep(sweep, shards());
      const t1 = performance.now();
      const c1 = process.cpuUsage();
      const html = renderReportHtml(report);
      const t2 = performance.now();
      const c2 = process.cpuUsage();
      const cpu = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => (b.user - a.user + b.system - a.system) / 1e6;
      const bytes = Buffer.byteLength(html);
      const total = (t2 - t0) / 1000;
      const extra = {
        scenarios: report.scenarios.total,
        groups: report.groups.length,
        machines: report.machines.length,
        charts: (html.match(/<figure class="chart"/g) ?? []).length,
        cpuSeconds: { aggregate: cpu(c0, c1), render: cpu(c1, c2), total: cpu(c0, c2) },
        loadAverage: (await import('node:os')).loadavg()[0],
      };
      return [
        result('report.1e6.total', 's', total, null, { ...extra, target: '< 30 s', met: total < 30 }),
        result('report.1e6.aggregate', 's', (t1 - t0) / 1000, null, extra),
        result('report.1e6.render-html', 's', (t2 - t1) / 1000, null, extra),
        result('report.1e6.html-size', 'MiB', bytes / 2 ** 20, null, {
          ...extra,
          target: '< 5 MiB',
          met: bytes < 5 * 2 ** 20,
        }),
        result('report.1e6.aggregate-rate', 'scenarios/s', SCENARIOS / ((t1 - t0) / 1000), null, extra),
      ];
    },
  },
];
