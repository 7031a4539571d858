import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { aggregateSweep, type ShardResultLike, TIMELINE_BINS } from './aggregate.ts';
import { renderReportMarkdown } from './report-md.ts';
import { Sweep } from './sweep.ts';

const sweep = new Sweep({
  kind: 'dmasim-sweep',
  version: 1,
  id: 'agg',
  base: {},
  axes: [{ name: 'mode', path: 'iommu.mode', values: ['dma', 'identity'] }],
  seeds: { count: 10 },
  shardSize: 3,
});

/** A scenario summary whose numbers are derived from its index, so sums can be checked. */
function summary(i: number) {
  const le = Array.from({ length: 32 }, (_, k) => 2 ** k);
  const counts = le.map((_, k) => (k === i % 3 ? 2 : 0));
  return {
    kind: 'dmasim-summary',
    version: 1,
    scenarioId: `s${i}`,
    attempt: 1,
    seed: i,
    topologyId: 't',
    stateHash: 'h',
    eventCount: 100 + i,
    durationNs: 1e6,
    ops: { map: { attempts: 10, failures: i % 2 } },
    mapTypes: { BUS_ADDR: 1, THRU_HOST_BRIDGE: 8, NOT_SUPPORTED: 1 },
    modes: { bus_addr: 1, iova: 7, per_range: 1, system: 0 },
    sgEntries: { le, counts },
    domains: [
      {
        domainId: 1,
        type: 'dma_fq',
        devices: ['0000:06:00.0'],
        usedBytes: 4096 * i,
        peakBytes: 2 ** 40 + i,
        reservedBytes: 0,
        free32Bytes: 1,
        largestFree32Bytes: 1,
        fragmentation32: 0.25,
        headroomBytes: 2 ** 47 - i,
        allocFailures: i % 4 === 0 ? 1 : 0,
        leakedBytes: 0,
      },
    ],
    failures: { 'map.ENOMEM': i % 2 },
    fallbacks: { iovaToPerRange: 1, dacSwitches: 0, rcacheFlushes: 0 },
    firstExhaustionNs: i % 4 === 0 ? 1000 * (i + 1) : null,
    leaks: { iovaLeakEvents: 0, iovaLeakBytes: 0, unaccountedIovaBytes: 0 },
    hazards: i % 5 === 0 ? { link_overlap: 2 } : {},
    faults: 0,
    whatIf: {
      mappingsKeptP2p: 9,
      mappingsMigrated: 0,
      attachmentsRefused: 0,
      migrations: 0,
      bytesMigrated: 0,
      iovaBytesSpent: 2 ** 30,
      iovaBytesSaved: 0,
      decisions: { keep_p2p: 9, migrate: 0, refuse: 0 },
    },
    pairs: [{ exporter: 'GPU0', importer: 'NIC0', mapType: 'THRU_HOST_BRIDGE', distance: 4 }],
  };
}

function shards(): ShardResultLike[] {
  const out: ShardResultLike[] = [];
  for (let k = 0; k < sweep.shardCount; k++) {
    const r = sweep.shardRange(k);
    const scenarios = [];
    for (let i = r.start; i < r.end; i++) {
      const p = sweep.scenarioAt(i);
      scenarios.push(
        i === 7
          ? {
              index: i,
              id: p.id,
              group: p.group,
              error: { code: 'SCENARIO_INVALID', message: 'importer NIC9 is not in the topology' },
            }
          : { index: i, id: p.id, group: p.group, summary: summary(i) },
      );
    }
    out.push({ scenarios });
  }
  return out;
}

test('the report sums every scenario once, per group and overall', async () => {
  const input = shards();
  const r = await aggregateSweep(sweep, [...input, input[0]!], { mode: 'embedded', durationMs: 5 });
  assert.equal(r.sweepId, 'agg');
  assert.deepEqual(r.scenarios, { total: 20, ok: 19, failed: 1 });
  assert.equal(r.groups.length, 2);
  assert.deepEqual(
    r.groups.map((g) => g.key),
    [{ mode: '"dma"' }, { mode: '"identity"' }],
  );
  assert.equal(r.overall.mapTypes.THRU_HOST_BRIDGE, 19 * 8);
  assert.equal(r.overall.mappings.attempted, 190);
  assert.equal(r.overall.sgEntries.mappings, 19 * 2);
  const d = r.overall.domains[0]!;
  assert.equal(d.peakBytes.max, 2 ** 40 + 19);
  assert.equal(d.headroomBytes.min, 2 ** 47 - 19);
  assert.equal(r.overall.exhaustion.scenarios, 5);
  assert.equal(r.overall.exhaustion.firstNs.min, 1000);
  const h = r.overall.hazards.find((x) => x.kind === 'link_overlap')!;
  assert.equal(h.scenarios, 4);
  assert.deepEqual(
    h.examples.map((e) => e.index),
    [0, 5, 10, 15],
  );
  assert.equal(r.overall.errors[0]!.code, 'SCENARIO_INVALID');
  assert.equal(r.overall.whatIf.iovaBytesSpent, 19 * 2 ** 30);
  const md = renderReportMarkdown(r);
  assert.match(md, /^# dmasim capacity report: agg/);
  assert.match(md, /\| link_overlap \| 8 \| 4 \| `dmasim replay/);
  assert.match(md, /SCENARIO_INVALID in 1 scenarios/);
});

test('the report does not depend on the order shard results arrive in', async () => {
  const input = shards();
  const reference = JSON.stringify(await aggregateSweep(sweep, input));
  await fc.assert(
    fc.asyncProperty(fc.shuffledSubarray(input, { minLength: input.length }), async (order) => {
      assert.equal(JSON.stringify(await aggregateSweep(sweep, order)), reference);
    }),
    { numRuns: 50 },
  );
});

test('report.json validates against its published JSON Schema', async () => {
  const { Ajv } = await import('ajv');
  const schema = (await import('./report.schema.json', { with: { type: 'json' } })).default;
  const validate = new Ajv({ strict: true, allowUnionTypes: true }).compile(schema);
  const r = JSON.parse(JSON.stringify(await aggregateSweep(sweep, shards(), { mode: 'embedded', durationMs: 1 }))) as {
    overall: { mappings: { failureRate: number } };
  };
  assert.ok(validate(r), JSON.stringify(validate.errors));
  r.overall.mappings.failureRate = 2;
  assert.equal(validate(r), false);
});

/** A timeline as a runner records it: bins of `binNs` from 0, bin-end values and per-bin peaks. */
function recordedTimeline(samples: readonly [number, number][], binNs: number) {
  // samples: (tNs, bytes) in time order; bin-end value = last sample in the bin (carried forward), peak = max.
  const last = samples[samples.length - 1]![0];
  const n = Math.floor(last / binNs) + 1;
  const end: number[] = [];
  const peak: number[] = [];
  let v = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    let p = v;
    while (j < samples.length && samples[j]![0] < (i + 1) * binNs) {
      v = samples[j]![1];
      if (v > p) p = v;
      j++;
    }
    end.push(v);
    peak.push(p);
  }
  return { binNs, end, peak };
}

const samplesArb = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 0, max: 2 ** 40 })), {
    minLength: 1,
    maxLength: 40,
  })
  .map((steps) => {
    let t = 0;
    return steps.map(([dt, b]) => {
      t += dt;
      return [t, b] as [number, number];
    });
  });

function timelineSweepInput(runs: readonly { samples: [number, number][]; binNs: number }[]): ShardResultLike[] {
  return runs.map((r, i) => {
    const p = sweep.scenarioAt(i % sweep.size);
    const s = summary(i);
    const d = { ...s.domains[0]!, timeline: recordedTimeline(r.samples, r.binNs) };
    return { scenarios: [{ index: i, id: `${p.id}-${i}`, group: { mode: '"dma"' }, summary: { ...s, domains: [d] } }] };
  });
}

test('IOVA timelines merge exactly: the same as binning every scenario at the final width, in any order', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ samples: samplesArb, binNs: fc.constantFrom(64, 128, 1024) }), {
        minLength: 1,
        maxLength: 8,
      }),
      fc.integer({ min: 0, max: 1000 }),
      async (runs, shuffleSeed) => {
        const input = timelineSweepInput(runs);
        const r = await aggregateSweep(sweep, input);
        const t = r.overall.domains[0]!.timeline!;
        assert.ok(t.maxPeakBytes.length <= TIMELINE_BINS);
        // Reference: every scenario binned directly at the final width.
        const direct = runs.map((x) => recordedTimeline(x.samples, t.binNs));
        const bins = Math.max(...direct.map((d) => d.end.length));
        assert.equal(t.maxPeakBytes.length, bins);
        for (let i = 0; i < bins; i++) {
          const alive = direct.filter((d) => d.end.length > i);
          const sum = alive.reduce((a, d) => a + BigInt(d.end[i]!), 0n);
          assert.equal(t.scenarios[i], alive.length);
          assert.equal(t.meanUsedBytes[i], alive.length ? Number(sum / BigInt(alive.length)) : null);
          assert.equal(t.maxPeakBytes[i], Math.max(...alive.map((d) => d.peak[i]!)));
        }
        // Any order gives the same report.
        const order = [...input].sort(
          (a, b) =>
            ((a.scenarios[0]!.index * 7919 + shuffleSeed) % 101) - ((b.scenarios[0]!.index * 7919 + shuffleSeed) % 101),
        );
        assert.equal(JSON.stringify(await aggregateSweep(sweep, order)), JSON.stringify(r));
      },
    ),
    { numRuns: 60 },
  );
});

test('byte statistics are exact beyond 2^53 (sums of 2^52-sized values)', async () => {
  const big = 2 ** 52 + 1;
  const input: ShardResultLike[] = [];
  for (let i = 0; i < 20; i++) {
    const s = summary(i);
    input.push({
      scenarios: [
        {
          index: i,
          id: `x${i}`,
          group: { mode: '"dma"' },
          summary: { ...s, domains: [{ ...s.domains[0]!, headroomBytes: big + i }] },
        },
      ],
    });
  }
  const r = await aggregateSweep(sweep, input);
  let sum = 0n;
  for (let i = 0; i < 20; i++) sum += BigInt(big + i);
  assert.equal(r.overall.domains[0]!.headroomBytes.mean, Number(sum / 20n));
});

test('the report names each group’s machine and carries its device-pair matrix', async () => {
  const machines = new Sweep({
    kind: 'dmasim-sweep',
    version: 1,
    id: 'mach',
    base: {
      kind: 'dmasim-scenario',
      version: 1,
      seed: 1,
      topology: { generate: { sockets: 2, devices: 8, seed: 1 } },
      importers: [{ device: 'NIC0' }],
      exporters: [{ device: 'GPU0', bar: 1 }],
    },
    axes: [{ name: 'cpu', path: 'topology.generate.cpu', values: ['intel:6', 'amd:0x19'] }],
    seeds: { count: 2 },
  });
  const input: ShardResultLike[] = [
    {
      scenarios: [0, 1, 2, 3].map((i) => {
        const p = machines.scenarioAt(i);
        return { index: i, id: p.id, group: p.group, summary: summary(i) };
      }),
    },
  ];
  const r = await aggregateSweep(machines, input);
  assert.equal(r.machines.length, 2, 'two CPUs: two machines, although the topology id is the same');
  assert.deepEqual(
    r.groups.map((g) => g.machine),
    r.machines.map((m) => m.key),
  );
  assert.deepEqual(
    r.groups.map((g) => g.title),
    ['cpu = amd:0x19', 'cpu = intel:6'],
  );
  for (const m of r.machines) {
    const n = m.devices.length;
    assert.equal(m.pairs.length, n * (n - 1));
    assert.equal(m.devices[0]!.role, 'exporter');
    assert.equal(m.devices[1]!.role, 'importer');
    assert.equal(
      Object.values(m.verdict).reduce((a, b) => a + b, 0),
      m.pairs.length,
    );
    for (const p of m.pairs) assert.match(p.pathClass, /^(PIX|PXB|PHB|NODE|SYS|X)$/);
  }
  const md = renderReportMarkdown(r);
  assert.match(md, /## Machines/);
  assert.match(md, new RegExp(`\\| gen-1 \\| ${r.machines[0]!.devices.length} \\| THRU_HOST_BRIDGE \\d+`));
  const { Ajv } = await import('ajv');
  const schema = (await import('./report.schema.json', { with: { type: 'json' } })).default;
  const validate = new Ajv({ strict: true, allowUnionTypes: true }).compile(schema);
  const withTimeline = await aggregateSweep(sweep, timelineSweepInput([{ samples: [[10, 4096]], binNs: 64 }]));
  for (const doc of [r, withTimeline])
    assert.ok(validate(JSON.parse(JSON.stringify(doc))), JSON.stringify(validate.errors));
});

test('32-bit and 64-bit importers are separate domains, with headroom in mappings and allocator cost', async () => {
  const input: ShardResultLike[] = [0, 1, 2, 3].map((i) => {
    const s = summary(i);
    const limit = i % 2 ? 2 ** 32 : 2 ** 48;
    const d = {
      ...s.domains[0]!,
      headroomBytes: limit / 2,
      dmaLimitBytes: limit,
      apertureBytes: 2 ** 48,
      allocations: 10,
      nodesVisited: 30,
      rcacheHits: 5,
      mappings: 4,
      mappedIovaBytes: 4 * 2 ** 20,
      firstFailureNs: i % 2 ? 1000 * (i + 1) : null,
    };
    return { scenarios: [{ index: i, id: `m${i}`, group: { mode: '"dma"' }, summary: { ...s, domains: [d] } }] };
  });
  const r = await aggregateSweep(sweep, input);
  const ds = r.overall.domains;
  assert.deepEqual(
    ds.map((d) => d.dmaLimitBytes),
    [2 ** 48, 2 ** 32],
  );
  const [d64, d32] = ds as [(typeof ds)[0], (typeof ds)[0]];
  assert.equal(d32.headroomMappings.min, 2 ** 31 / 2 ** 20);
  assert.equal(d64.headroomMappings.min, 2 ** 47 / 2 ** 20);
  assert.deepEqual(d32.allocator, { allocations: 20, nodesPerAllocation: 3, rcacheHitRate: 0.5 });
  assert.deepEqual(d32.mappings, { count: 8, meanIovaBytes: 2 ** 20 });
  assert.deepEqual(d32.firstFailureNs, { scenarios: 2, min: 2000, mean: 3000, max: 4000 });
  assert.equal(d64.firstFailureNs.scenarios, 0);
});
