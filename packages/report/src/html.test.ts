import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aggregateSweep, type ShardResultLike, Sweep, type SweepReport } from '@dmasim/core';
import { compareRows, renderCompareHtml } from './compare.ts';
import { renderReportHtml } from './html.ts';

const sweep = new Sweep({
  kind: 'dmasim-sweep',
  version: 1,
  id: 'html',
  base: {
    kind: 'dmasim-scenario',
    version: 1,
    seed: 1,
    topology: { generate: { sockets: 2, devices: 8, seed: 1 } },
    importers: [{ device: 'NIC0' }],
    exporters: [{ device: 'GPU0', bar: 1 }],
  },
  axes: [{ name: 'label', path: 'description', values: ['<b>one</b> & "two"', 'plain'] }],
  seeds: { count: 3 },
});

function summary(i: number, withTimeline: boolean) {
  const le = Array.from({ length: 32 }, (_, k) => 2 ** k);
  return {
    kind: 'dmasim-summary',
    version: 1,
    scenarioId: `s${i}`,
    attempt: 1,
    seed: i,
    topologyId: 'gen-1',
    stateHash: 'h',
    eventCount: 10,
    durationNs: 1e6,
    ops: { map: { attempts: 10, failures: 1 } },
    mapTypes: { BUS_ADDR: 2, THRU_HOST_BRIDGE: 8, NOT_SUPPORTED: 0 },
    modes: { bus_addr: 2, iova: 6, per_range: 1, system: 0 },
    sgEntries: { le, counts: le.map((_, k) => (k < 2 ? 3 + i : 0)) },
    domains: [
      {
        domainId: 1,
        type: 'dma_fq',
        devices: ['0000:05:00.0'],
        usedBytes: 0,
        peakBytes: 2 ** 30 + i,
        reservedBytes: 0,
        free32Bytes: 2 ** 31,
        largestFree32Bytes: 2 ** 30,
        fragmentation32: 0.5,
        headroomBytes: 2 ** 31,
        allocFailures: 1,
        leakedBytes: 0,
        ...(withTimeline
          ? {
              dmaLimitBytes: 2 ** 32,
              apertureBytes: 2 ** 48,
              allocations: 10,
              nodesVisited: 25,
              rcacheHits: 4,
              mappings: 7,
              mappedIovaBytes: 7 * 2 ** 24,
              firstFailureNs: 300_000,
              timeline: { binNs: 2 ** 17, end: [0, 2 ** 29, 2 ** 30], peak: [2 ** 28, 2 ** 30, 2 ** 30] },
            }
          : {}),
      },
    ],
    failures: { 'map.ENOMEM': 1 },
    fallbacks: { iovaToPerRange: 1, dacSwitches: 0, rcacheFlushes: 0 },
    firstExhaustionNs: 500_000,
    leaks: { iovaLeakEvents: 0, iovaLeakBytes: 0, unaccountedIovaBytes: 0 },
    hazards: { multi_range_link_overlap: 1 },
    faults: 0,
    whatIf: {
      mappingsKeptP2p: 9,
      mappingsMigrated: 0,
      attachmentsRefused: 0,
      migrations: 0,
      bytesMigrated: 0,
      iovaBytesSpent: 7 * 2 ** 24,
      iovaBytesSaved: 2 ** 24,
      decisions: { keep_p2p: 0, migrate: 0, refuse: 0 },
    },
    pairs: [],
  };
}

async function report(withTimeline = true): Promise<SweepReport> {
  const scenarios = [];
  for (let i = 0; i < sweep.size; i++) {
    const p = sweep.scenarioAt(i);
    scenarios.push({ index: i, id: p.id, group: p.group, summary: summary(i, withTimeline) });
  }
  return await aggregateSweep(sweep, [{ scenarios } satisfies ShardResultLike]);
}

/** Every `<figure class="chart">` with its SVG. */
function charts(html: string): { id: string; svg: string }[] {
  return [...html.matchAll(/<figure class="chart" id="([^"]+)">(.*?)<\/figure>/gs)].map((m) => ({
    id: m[1]!,
    svg: /<svg[\s\S]*<\/svg>/.exec(m[2]!)?.[0] ?? '',
  }));
}

test('the page is self-contained: no script, no external reference, every chart an inline SVG with marks', async () => {
  const html = renderReportHtml(await report());
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /<link\b/i);
  // The only URLs are the SVG namespaces.
  const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
  for (const u of urls) assert.match(u, /^http:\/\/www\.w3\.org\/(2000\/svg|1999\/xlink)$/);
  const cs = charts(html);
  const ids = cs.map((c) => c.id);
  for (const id of [
    'r-mix-chart',
    'r-machine-0',
    'r-overall-timeline-0',
    'r-overall-headroom',
    'r-overall-sg',
    'r-overall-whatif',
  ])
    assert.ok(ids.includes(id), `${id} in ${ids.join(', ')}`);
  for (const c of cs) assert.ok((c.svg.match(/<(path|rect)\b/g) ?? []).length >= 5, `${c.id} has marks`);
});

test('user text is escaped, and key numbers carry their exact report.json values', async () => {
  const r = await report();
  const html = renderReportHtml(r);
  assert.doesNotMatch(html, /<b>one<\/b>/);
  assert.match(html, /&lt;b&gt;one&lt;\/b&gt; &amp; &quot;two&quot;/);
  assert.match(
    html,
    new RegExp(`data-k="overall.domains\\[0\\].peakBytes.max" data-v="${r.overall.domains[0]!.peakBytes.max}"`),
  );
  assert.match(html, /data-k="overall.domains\[0\].allocator.nodesPerAllocation" data-v="2.5"/);
  assert.match(html, /data-k="overall.domains\[0\].allocator.rcacheHitRate" data-v="0.4"/);
  assert.match(html, /dmasim replay html\/events.dmlog --scenario html-[0-9a-f]{16} --show/);
  assert.match(html, /first failure 300.0 µs/);
});

test('results without the newer per-domain fields render, saying what is not recorded', async () => {
  const html = renderReportHtml(await report(false));
  assert.match(html, /has no IOVA timelines/);
  assert.match(html, /not recorded/);
  assert.ok(!charts(html).some((c) => c.id.includes('timeline')));
});

test('only the largest groups are drawn in full when there are many', async () => {
  const r = await report();
  const html = renderReportHtml(r, { maxGroupSections: 1 });
  assert.equal((html.match(/<details/g) ?? []).length, 1);
  assert.match(html, /1 smaller groups are not drawn/);
});

test('the comparison finds exactly the numbers that changed and highlights them', async () => {
  const a = await report();
  const b = structuredClone(a);
  b.groups[1]!.mappings.failureRate = 0.5;
  b.overall.whatIf.iovaBytesSaved = 0;
  const rows = compareRows(a, b);
  assert.deepEqual(
    rows.filter((x) => x.changed).map((x) => `${x.scope}: ${x.metric}`),
    ['all scenarios: IOVA saved by BUS_ADDR', `${a.groups[1]!.title}: mapping failure rate`],
  );
  assert.equal(compareRows(a, a).filter((x) => x.changed).length, 0);
  const html = renderCompareHtml(a, b);
  assert.match(html, /data-k="compare.changed" data-v="2"/);
  assert.equal((html.match(/<tr class="diff"/g) ?? []).length, 2);
  assert.match(html, /\(worse\)/);
});

test('SVG attributes are well formed (no unescaped quotes inside attribute values)', async () => {
  const html = renderReportHtml(await report());
  for (const m of html.matchAll(/style="([^"]*)"/g)) assert.doesNotMatch(m[1]!, /[<>]/);
  // A quote inside a style value would end the attribute early and leave text like `Segoe UI",`.
  assert.doesNotMatch(html, /" [A-Z][a-z]+ [A-Z]+", /);
  assert.doesNotMatch(html, /font-family:[^;"]*"[^;]*;"/);
});
