import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { aggregateSweep, type ShardResultLike } from './aggregate.ts';
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
