/**
 * The capacity-planning report as one self-contained HTML page: inline styles, charts as inline SVG
 * rendered at report time (charts.ts), no script, no network. Every key number carries `data-k` (its path in
 * report.json) and `data-v` (the exact value) so that tests and tools can check the page against the JSON.
 */
import { type GroupReport, humanBytes, humanNs, type MachineReport, type SweepReport } from '@dmasim/core';
import { COLORS, renderSvg } from './charts.ts';

/** Options of {@link renderReportHtml}. */
export interface HtmlOptions {
  /** Sweep output folder as the user should type it in replay commands. @defaultValue `<sweep id>` */
  outDir?: string;
  /** Groups shown in full (largest first); the others are listed with their key numbers only. @defaultValue 24 */
  maxGroupSections?: number;
}

type Domain = GroupReport['domains'][number];

const esc = (s: string): string =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** A number people read: 1,234,567. */
export const int = (n: number): string => Math.round(n).toLocaleString('en-US');
export const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;

/** A key number: shown formatted, with its report.json path and exact value as attributes. */
function kv(path: string, value: number | string | null, text: string): string {
  return `<span class="num" data-k="${esc(path)}" data-v="${esc(String(value))}">${esc(text)}</span>`;
}

function figure(id: string, title: string, caption: string, svg: string): string {
  return `<figure class="chart" id="${esc(id)}"><figcaption><b>${esc(title)}.</b> ${esc(caption)}</figcaption>${svg}</figure>`;
}

function note(text: string): string {
  return `<p class="note">${esc(text)}</p>`;
}

const GIB = 2 ** 30;

/** Short label of a domain: its device labels (or bdfs), type and DMA limit. */
function domainLabel(d: Domain, labels: ReadonlyMap<string, string>): string {
  const devs = d.devices
    .map((b) => {
      const bdf = b.replace(/^0000:/, '');
      const l = labels.get(`${d.topology} ${b}`);
      return l ? `${l} ${bdf}` : bdf;
    })
    .join('+');
  const lim = d.dmaLimitBytes === null ? '' : `, limit ${humanBytes(d.dmaLimitBytes)}`;
  return `${d.topology ?? ''} ${devs} (${d.type}${lim})`.trim();
}

function mapMix(g: GroupReport): {
  busAddr: number;
  iova: number;
  perRange: number;
  thruFailed: number;
  notSupported: number;
} {
  const thru = g.mapTypes.THRU_HOST_BRIDGE ?? 0;
  const iova = g.modes.iova ?? 0;
  const perRange = g.modes.per_range ?? 0;
  return {
    busAddr: g.mapTypes.BUS_ADDR ?? 0,
    iova,
    perRange,
    thruFailed: Math.max(0, thru - iova - perRange),
    notSupported: g.mapTypes.NOT_SUPPORTED ?? 0,
  };
}

/** Map-type mix per group: one stacked bar each, % of map requests. */
function mapMixChart(groups: readonly { title: string; g: GroupReport }[], id: string): string {
  const series = [
    ['BUS_ADDR (no IOVA)', 'busAddr', COLORS.BUS_ADDR],
    ['THRU_HOST_BRIDGE, one IOVA block', 'iova', COLORS.THRU_IOVA],
    ['THRU_HOST_BRIDGE, per range', 'perRange', COLORS.THRU_PER_RANGE],
    ['THRU_HOST_BRIDGE, mapping failed', 'thruFailed', COLORS.THRU_FAILED],
    ['NOT_SUPPORTED', 'notSupported', COLORS.NOT_SUPPORTED],
  ] as const;
  const mixes = groups.map((x) => mapMix(x.g));
  const totals = mixes.map((m) => m.busAddr + m.iova + m.perRange + m.thruFailed + m.notSupported);
  const h = 90 + 26 * groups.length;
  const svg = renderSvg(
    {
      legend: { top: 0, left: 0, itemWidth: 12, itemGap: 22, textStyle: { fontSize: 11 } },
      grid: { left: 330, right: 30, top: 48, bottom: 42 },
      xAxis: { type: 'value', max: 100, name: 'share of map requests (%)', nameLocation: 'middle', nameGap: 26 },
      yAxis: {
        type: 'category',
        inverse: true,
        data: groups.map((x) => (x.title.length > 52 ? `${x.title.slice(0, 50)}…` : x.title)),
        axisLabel: { fontSize: 11 },
      },
      series: series.map(([name, k, color]) => ({
        name,
        type: 'bar',
        stack: 'mix',
        color,
        barWidth: 16,
        data: mixes.map((m, i) => (totals[i] ? Math.round((1000 * m[k]) / totals[i]!) / 10 : 0)),
      })),
    },
    980,
    h,
  );
  return figure(
    id,
    'Map-type mix per configuration group',
    'How the kernel mapped each map request (dma_buf_map_attachment): directly by bus address, through the host bridge with one IOVA block or per range, a THRU mapping that failed, or refused; as a share of all map requests of the group.',
    svg,
  );
}

/** The device-pair matrix of a machine, cells coloured by map type, path class written in each. */
function machineChart(m: MachineReport, idx: number): string {
  const names = m.devices.map((d) => d.label ?? d.bdf.replace(/^0000:/, ''));
  const at = new Map(m.devices.map((d, i) => [d.bdf, i]));
  const code = { BUS_ADDR: 0, THRU_HOST_BRIDGE: 1, NOT_SUPPORTED: 2 } as Record<string, number>;
  const data = m.pairs.map((p) => ({
    value: [at.get(p.b) ?? 0, at.get(p.a) ?? 0, code[p.mapType] ?? 2],
    label: { show: true, formatter: p.pathClass, fontSize: 10, color: '#fff' },
  }));
  const n = names.length;
  const cell = Math.max(30, Math.min(46, Math.floor(640 / Math.max(1, n))));
  const w = 170 + cell * n + 40;
  const h = 110 + cell * n + 40;
  const svg = renderSvg(
    {
      grid: { left: 150, top: 40, width: cell * n, height: cell * n },
      legend: { show: false },
      xAxis: {
        type: 'category',
        data: names,
        position: 'top',
        name: 'client (importer) →',
        nameLocation: 'middle',
        nameGap: 24,
        axisLabel: { fontSize: 10, rotate: n > 8 ? 45 : 0 },
        splitArea: { show: false },
      },
      yAxis: {
        type: 'category',
        data: names,
        inverse: true,
        name: 'provider (exporter) ↓',
        nameLocation: 'middle',
        nameGap: 120,
        axisLabel: { fontSize: 10 },
      },
      visualMap: {
        type: 'piecewise',
        dimension: 2,
        orient: 'horizontal',
        bottom: 0,
        left: 150,
        pieces: [
          { value: 0, label: 'BUS_ADDR', color: COLORS.BUS_ADDR },
          { value: 1, label: 'THRU_HOST_BRIDGE', color: COLORS.THRU_HOST_BRIDGE },
          { value: 2, label: 'NOT_SUPPORTED', color: COLORS.NOT_SUPPORTED },
        ],
      },
      series: [{ type: 'heatmap', data, itemStyle: { borderColor: '#fff', borderWidth: 1 } }],
    },
    w,
    h,
  );
  const verdict = Object.entries(m.verdict)
    .map(([k, v]) => `${k}: ${int(v)} pairs`)
    .join(', ');
  return figure(
    `machine-${idx}`,
    `Device pairs of ${m.id}`,
    `The map type pci_p2pdma_map_type() gives each ordered pair (row: the device whose BAR is mapped, column: the device that maps it), on an empty cache, with the nvidia-smi path class (PIX, PXB, PHB, NODE, SYS) in each cell. Kernel's verdict: ${verdict}.`,
    svg,
  );
}

/** IOVA use over virtual time of one domain, log scale, with the 32-bit window and the limits drawn. */
function timelineChart(d: Domain, label: string, id: string): string {
  const t = d.timeline;
  if (!t) return '';
  const xs = t.maxPeakBytes.map((_, i) => ((i + 1) * t.binNs) / 1e6);
  const marks: { yAxis: number; name: string; lineStyle: { color: string } }[] = [
    { yAxis: 4, name: '32-bit window (4 GiB)', lineStyle: { color: COLORS.limit32 } },
  ];
  if (d.dmaLimitBytes !== null && d.dmaLimitBytes !== 2 ** 32 && d.dmaLimitBytes !== d.apertureBytes)
    marks.push({
      yAxis: d.dmaLimitBytes / GIB,
      name: `DMA limit (${humanBytes(d.dmaLimitBytes)})`,
      lineStyle: { color: COLORS.neutral },
    });
  if (d.apertureBytes !== null)
    marks.push({
      yAxis: d.apertureBytes / GIB,
      name: `aperture (${humanBytes(d.apertureBytes)})`,
      lineStyle: { color: COLORS.aperture },
    });
  const first = d.firstFailureNs.min;
  const svg = renderSvg(
    {
      legend: { top: 0, left: 0, itemGap: 22, textStyle: { fontSize: 11 } },
      grid: { left: 80, right: 200, top: 40, bottom: 50 },
      xAxis: { type: 'value', name: 'virtual time (ms)', nameLocation: 'middle', nameGap: 28, min: 0 },
      yAxis: {
        type: 'log',
        logBase: 16,
        name: 'IOVA in use (log scale)',
        nameLocation: 'middle',
        nameGap: 62,
        min: 1 / 1024,
        // Mark lines do not stretch an axis: reach the highest limit drawn.
        max:
          16 **
          Math.ceil(
            Math.log(Math.max(...marks.map((m) => m.yAxis), ...t.maxPeakBytes.map((b) => b / GIB), 1)) / Math.log(16),
          ),
        axisLabel: { formatter: (v: number) => humanBytes(Math.round(v * GIB)) },
      },
      series: [
        {
          name: 'largest peak of any scenario',
          type: 'line',
          step: 'end',
          symbol: 'none',
          color: COLORS.THRU_FAILED,
          data: xs.map((x, i) => [x, Math.max(1 / 1024, (t.maxPeakBytes[i] ?? 0) / GIB)]),
          markLine: {
            symbol: 'none',
            label: { formatter: '{b}', position: 'end', fontSize: 10 },
            data: [
              ...marks,
              ...(first !== null
                ? [
                    {
                      xAxis: first / 1e6,
                      name: `first failure ${humanNs(first)}`,
                      lineStyle: { color: COLORS.NOT_SUPPORTED, type: 'dashed' as const },
                    },
                  ]
                : []),
            ],
          },
        },
        {
          name: 'mean over running scenarios',
          type: 'line',
          symbol: 'none',
          color: COLORS.THRU_IOVA,
          data: xs.map((x, i) => [x, Math.max(1 / 1024, (t.meanUsedBytes[i] ?? 0) / GIB)]),
        },
      ],
    },
    860,
    300,
  );
  return figure(
    id,
    `IOVA use over time: ${label}`,
    `IOVA bytes allocated in this importer domain over virtual time (bins of ${humanNs(t.binNs)}), mean over the scenarios still running and the largest peak of any; the 32-bit window, the device's DMA limit and the aperture are drawn as limits${first !== null ? `, and the dashed line is the earliest first allocation failure (${humanNs(first)})` : '; no allocation failed'}.`,
    svg,
  );
}

/** Headroom in mappings per domain (log scale), 32-bit and 64-bit importers told apart. */
function headroomChart(domains: readonly Domain[], labels: ReadonlyMap<string, string>, id: string): string {
  const rows = domains.filter((d) => d.headroomMappings.scenarios > 0);
  if (!rows.length) return note('No domain mapped anything, so there is no headroom to show.');
  const svg = renderSvg(
    {
      legend: { top: 0, left: 0, itemGap: 22, textStyle: { fontSize: 11 } },
      grid: { left: 10, right: 60, top: 36, bottom: 46, containLabel: true },
      xAxis: {
        type: 'log',
        name: 'more mappings before the first failure (log scale)',
        nameLocation: 'middle',
        nameGap: 28,
        min: 1,
      },
      yAxis: {
        type: 'category',
        inverse: true,
        data: rows.map((d) => domainLabel(d, labels)),
        axisLabel: { fontSize: 11 },
      },
      series: [
        {
          name: 'worst scenario (min)',
          type: 'bar',
          color: COLORS.THRU_FAILED,
          data: rows.map((d) => Math.max(1, d.headroomMappings.min ?? 0)),
          label: {
            show: true,
            position: 'right',
            fontSize: 10,
            formatter: (p: { value: unknown }) => int(Number(p.value)),
          },
        },
        {
          name: 'mean',
          type: 'bar',
          color: COLORS.THRU_IOVA,
          data: rows.map((d) => Math.max(1, d.headroomMappings.mean ?? 0)),
        },
      ],
    },
    980,
    80 + 44 * rows.length,
  );
  return figure(
    id,
    'Headroom per importer domain',
    'How many more mappings of the workload’s size mix (its mean IOVA bytes per mapping) fit in the free IOVA below each domain’s DMA limit at the end of a scenario: the worst scenario and the mean. 32-bit importers have 4 GiB; 64-bit ones the whole aperture.',
    svg,
  );
}

/** Fragmentation of the 32-bit window per domain, %. */
function fragmentationChart(domains: readonly Domain[], labels: ReadonlyMap<string, string>, id: string): string {
  if (!domains.length) return '';
  const svg = renderSvg(
    {
      legend: { top: 0, left: 0, itemGap: 22, textStyle: { fontSize: 11 } },
      grid: { left: 10, right: 60, top: 36, bottom: 46, containLabel: true },
      xAxis: {
        type: 'value',
        max: 100,
        name: 'fragmentation below 4 GiB (%: 1 − largest free hole / free space)',
        nameLocation: 'middle',
        nameGap: 28,
      },
      yAxis: {
        type: 'category',
        inverse: true,
        data: domains.map((d) => domainLabel(d, labels)),
        axisLabel: { fontSize: 11 },
      },
      series: [
        {
          name: 'mean',
          type: 'bar',
          color: COLORS.THRU_IOVA,
          data: domains.map((d) => (d.fragmentation32Permille.mean ?? 0) / 10),
        },
        {
          name: 'worst',
          type: 'bar',
          color: COLORS.THRU_FAILED,
          data: domains.map((d) => (d.fragmentation32Permille.max ?? 0) / 10),
        },
      ],
    },
    980,
    80 + 44 * domains.length,
  );
  return figure(
    id,
    'Fragmentation of the 32-bit IOVA window',
    'How shattered the free IOVA below 4 GiB is at the end of a scenario: 0 % is one free hole, near 100 % is many small ones (a large mapping then fails although free space remains).',
    svg,
  );
}

/** SG entries per mapping: histogram over power-of-two buckets. */
function sgChart(g: GroupReport, id: string): string {
  const b = g.sgEntries.buckets;
  if (!b.length) return note('No mapping succeeded, so there are no scatter-gather tables to show.');
  const svg = renderSvg(
    {
      grid: { left: 80, right: 30, top: 20, bottom: 50 },
      xAxis: {
        type: 'category',
        data: b.map((x) => `≤ ${x.le}`),
        name: 'sg entries per mapping',
        nameLocation: 'middle',
        nameGap: 30,
      },
      yAxis: { type: 'value', name: 'mappings', nameLocation: 'middle', nameGap: 56 },
      series: [
        {
          type: 'bar',
          color: COLORS.THRU_IOVA,
          data: b.map((x) => x.count),
          label: { show: true, position: 'top', fontSize: 10 },
        },
      ],
    },
    620,
    260,
  );
  return figure(
    id,
    'Scatter-gather entries per mapping',
    `Entries of the sg_table dma_buf_phys_vec_to_sgt() built for each successful mapping (one IOVA block gives one entry; per-range mapping one per range); p50 ≤ ${g.sgEntries.p50 ?? '-'}, p99 ≤ ${g.sgEntries.p99 ?? '-'}.`,
    svg,
  );
}

/** The exporter-policy what-if: mappings kept P2P, migrated, refused; IOVA spent and saved; bytes migrated. */
function whatIfChart(g: GroupReport, id: string): string {
  const w = g.whatIf;
  const svg = renderSvg(
    {
      grid: [
        { left: 90, width: 330, top: 30, bottom: 50 },
        { left: 560, width: 330, top: 30, bottom: 50 },
      ],
      title: [
        { text: 'mappings', left: 200, top: 0, textStyle: { fontSize: 12 } },
        { text: 'bytes (GiB)', left: 680, top: 0, textStyle: { fontSize: 12 } },
      ],
      xAxis: [
        {
          gridIndex: 0,
          type: 'category',
          data: ['kept P2P', 'migrated', 'refused'],
          name: 'policy outcome',
          nameLocation: 'middle',
          nameGap: 30,
        },
        {
          gridIndex: 1,
          type: 'category',
          data: ['IOVA spent', 'IOVA saved', 'migrated'],
          name: 'bytes',
          nameLocation: 'middle',
          nameGap: 30,
        },
      ],
      yAxis: [
        { gridIndex: 0, type: 'value', name: 'mappings', nameLocation: 'middle', nameGap: 60 },
        { gridIndex: 1, type: 'value', name: 'GiB', nameLocation: 'middle', nameGap: 50 },
      ],
      series: [
        {
          type: 'bar',
          xAxisIndex: 0,
          yAxisIndex: 0,
          data: [
            { value: w.mappingsKeptP2p ?? 0, itemStyle: { color: COLORS.BUS_ADDR } },
            { value: w.mappingsMigrated ?? 0, itemStyle: { color: COLORS.THRU_FAILED } },
            { value: w.attachmentsRefused ?? 0, itemStyle: { color: COLORS.NOT_SUPPORTED } },
          ],
          label: { show: true, position: 'top', fontSize: 10 },
        },
        {
          type: 'bar',
          xAxisIndex: 1,
          yAxisIndex: 1,
          data: [
            { value: (w.iovaBytesSpent ?? 0) / GIB, itemStyle: { color: COLORS.THRU_IOVA } },
            { value: (w.iovaBytesSaved ?? 0) / GIB, itemStyle: { color: COLORS.BUS_ADDR } },
            { value: (w.bytesMigrated ?? 0) / GIB, itemStyle: { color: COLORS.THRU_FAILED } },
          ],
        },
      ],
    },
    940,
    270,
  );
  return figure(
    id,
    'Exporter policy: keep P2P, migrate or refuse',
    'What the exporters’ policy did (kernel-model.md 8.1): mappings that stayed peer-to-peer in the BAR, mappings of a system-memory copy and refused attachments; IOVA bytes the mappings took, IOVA saved by BUS_ADDR mappings (no IOVA at all) and bytes migrated to system memory.',
    svg,
  );
}

function domainTable(domains: readonly Domain[], labels: ReadonlyMap<string, string>, path: string): string {
  if (!domains.length) return note('No importer domain with an IOVA allocator (identity or no IOMMU).');
  const rows = domains.map((d, i) => {
    const p = `${path}.domains[${i}]`;
    const a = d.allocator;
    return `<tr><td>${esc(domainLabel(d, labels))}</td><td>${kv(`${p}.peakBytes.max`, d.peakBytes.max, humanBytes(d.peakBytes.max))}</td><td>${kv(`${p}.headroomBytes.min`, d.headroomBytes.min, humanBytes(d.headroomBytes.min))}</td><td>${kv(`${p}.headroomMappings.min`, d.headroomMappings.min, d.headroomMappings.min === null ? '-' : int(d.headroomMappings.min))}</td><td>${kv(`${p}.fragmentation32Permille.mean`, d.fragmentation32Permille.mean, d.fragmentation32Permille.mean === null ? '-' : `${(d.fragmentation32Permille.mean / 10).toFixed(1)} %`)}</td><td>${a ? kv(`${p}.allocator.nodesPerAllocation`, a.nodesPerAllocation, a.nodesPerAllocation === null ? '-' : a.nodesPerAllocation.toFixed(1)) : 'not recorded'}</td><td>${a ? kv(`${p}.allocator.rcacheHitRate`, a.rcacheHitRate, a.rcacheHitRate === null ? '-' : pct(a.rcacheHitRate)) : 'not recorded'}</td><td>${kv(`${p}.allocFailures`, d.allocFailures, int(d.allocFailures))}</td><td>${kv(`${p}.leakedBytes`, d.leakedBytes, humanBytes(d.leakedBytes))}</td></tr>`;
  });
  return `<table class="data"><thead><tr><th>importer domain</th><th>peak IOVA (max)</th><th>free below DMA limit at end (min)</th><th>more mappings (worst)</th><th>fragmentation &lt; 4 GiB (mean)</th><th>tree nodes walked per allocation</th><th>range-cache hit rate</th><th>allocation failures</th><th>leaked</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function hazardsTable(g: GroupReport, outDir: string, path: string): string {
  const rows: string[] = [];
  g.hazards.forEach((h, i) => {
    const ex = h.examples[0];
    const cmd = ex ? `dmasim replay ${outDir}/events.dmlog --scenario ${ex.id} --show` : '';
    rows.push(
      `<tr><td>${esc(h.kind)}</td><td>${kv(`${path}.hazards[${i}].events`, h.events, int(h.events))}</td><td>${kv(`${path}.hazards[${i}].scenarios`, h.scenarios, int(h.scenarios))}</td><td>${h.examples.map((e) => `<code>${esc(e.id)}</code>`).join(' ')}</td><td><code class="cmd">${esc(cmd)}</code></td></tr>`,
    );
  });
  if (g.leaks.iovaLeakEvents || g.leaks.unaccountedIovaBytes)
    rows.push(
      `<tr><td>IOVA leaked</td><td>${kv(`${path}.leaks.iovaLeakEvents`, g.leaks.iovaLeakEvents, int(g.leaks.iovaLeakEvents))}</td><td colspan="3">${humanBytes(g.leaks.iovaLeakBytes)} leaked by error paths; ${humanBytes(g.leaks.unaccountedIovaBytes)} unaccounted at the end</td></tr>`,
    );
  if (!rows.length) return note('No kernel hazard was seen in these scenarios.');
  return `<table class="data"><thead><tr><th>hazard</th><th>events</th><th>scenarios</th><th>examples</th><th>replay the first</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function keyFigures(g: GroupReport, path: string): string {
  const m = g.mappings;
  const items = [
    ['scenarios', kv(`${path}.scenarios`, g.scenarios, int(g.scenarios))],
    ['map requests', kv(`${path}.mappings.attempted`, m.attempted, int(m.attempted))],
    ['failed', kv(`${path}.mappings.failureRate`, m.failureRate, pct(m.failureRate))],
    ['per-range fallbacks', kv(`${path}.mappings.perRangeFallbacks`, m.perRangeFallbacks, int(m.perRangeFallbacks))],
    ['ran out of IOVA', kv(`${path}.exhaustion.rate`, g.exhaustion.rate, pct(g.exhaustion.rate))],
    [
      'first failure (earliest)',
      kv(`${path}.exhaustion.firstNs.min`, g.exhaustion.firstNs.min, humanNs(g.exhaustion.firstNs.min)),
    ],
    [
      'IOVA spent',
      kv(`${path}.whatIf.iovaBytesSpent`, g.whatIf.iovaBytesSpent ?? 0, humanBytes(g.whatIf.iovaBytesSpent ?? 0)),
    ],
    ['hazard kinds', kv(`${path}.hazards.length`, g.hazards.length, int(g.hazards.length))],
  ];
  return `<dl class="figures">${items.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('')}</dl>`;
}

function groupBody(
  g: GroupReport,
  path: string,
  id: string,
  labels: ReadonlyMap<string, string>,
  outDir: string,
): string {
  const parts: string[] = [keyFigures(g, path)];
  const tl = g.domains.map((d, i) => timelineChart(d, domainLabel(d, labels), `${id}-timeline-${i}`)).filter(Boolean);
  parts.push('<h4>IOVA per importer domain</h4>');
  if (g.domains.length && !tl.length)
    parts.push(
      note(
        'This result set has no IOVA timelines (recorded by newer runners); the table shows the end-of-run figures.',
      ),
    );
  parts.push(...tl);
  parts.push(headroomChart(g.domains, labels, `${id}-headroom`));
  parts.push(fragmentationChart(g.domains, labels, `${id}-fragmentation`));
  parts.push(domainTable(g.domains, labels, path));
  parts.push('<h4>Scatter-gather tables</h4>', sgChart(g, `${id}-sg`));
  parts.push(
    `<p>IOVA-to-per-range fallbacks: ${kv(`${path}.mappings.perRangeFallbacks`, g.mappings.perRangeFallbacks, int(g.mappings.perRangeFallbacks))} (${pct(g.mappings.fallbackRate)} of THRU_HOST_BRIDGE decisions); DAC switches: ${int(g.fallbacks.dacSwitches ?? 0)}; range-cache flushes on failure: ${int(g.fallbacks.rcacheFlushes ?? 0)}.</p>`,
  );
  parts.push('<h4>Exporter policy what-if</h4>', whatIfChart(g, `${id}-whatif`));
  parts.push('<h4>Kernel hazards seen</h4>', hazardsTable(g, outDir, path));
  if (g.errors.length)
    parts.push(
      `<h4>Scenario errors</h4><ul>${g.errors.map((e) => `<li><b>${esc(e.code)}</b> in ${int(e.scenarios)} scenarios (e.g. <code>${esc(e.examples[0]?.id ?? '')}</code>): ${esc(e.message)}</li>`).join('')}</ul>`,
    );
  return parts.join('\n');
}

/** Device labels (NIC0, GPU1) by `topology id + bdf` over all machines, for domain names. */
function deviceLabels(r: SweepReport): Map<string, string> {
  const m = new Map<string, string>();
  for (const mc of r.machines ?? [])
    for (const d of mc.devices) if (d.label && !m.has(`${mc.id} ${d.bdf}`)) m.set(`${mc.id} ${d.bdf}`, d.label);
  return m;
}

export const STYLE = `
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#263238;margin:0;background:#fafafa}
header{background:#263238;color:#eceff1;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}header p{margin:2px 0;color:#cfd8dc}
main{padding:12px 28px 40px;max-width:1320px}section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px 18px 14px;margin:16px 0}
h2{font-size:18px;margin:10px 0}h3{font-size:16px;margin:12px 0 6px}h4{font-size:14px;margin:14px 0 6px;color:#37474f}
figure.chart{margin:10px 0;overflow-x:auto}figcaption{max-width:980px;margin-bottom:4px;color:#455a64}
table.data{border-collapse:collapse;margin:8px 0;font-size:12.5px}table.data th,table.data td{border:1px solid #e0e0e0;padding:3px 8px;text-align:left;vertical-align:top}
table.data th{background:#eceff1}.num{font-variant-numeric:tabular-nums}code{font-size:12px;background:#f5f5f5;padding:0 3px}
dl.figures{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0}dl.figures div{background:#eceff1;border-radius:4px;padding:4px 10px;min-width:130px}
dt{font-size:11px;color:#607d8b}dd{margin:0;font-size:17px;font-weight:600}.note{color:#78909c;font-style:italic}
details>summary{cursor:pointer;font-weight:600;font-size:15px;padding:6px 0}.diff{background:#fff3e0}.diff td.changed{background:#ffe0b2;font-weight:600}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}.cols>div{min-width:0;overflow-x:auto}
@media print{details{display:block}details>*{display:block}section{break-inside:avoid-page}}
`;

export function page(title: string, header: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body><header>${header}</header><main>
${body}
</main></body></html>
`;
}

/** The report's main content (no page chrome), also used by the comparison page. */
export function reportSections(r: SweepReport, opts: HtmlOptions = {}, idPrefix = 'r'): string {
  const outDir = opts.outDir ?? r.sweepId;
  const labels = deviceLabels(r);
  const max = opts.maxGroupSections ?? 24;
  const out: string[] = [];
  const groups = r.groups.map((g, i) => ({ title: g.title ?? JSON.stringify(g.key), g, i }));
  const short = (t: string): string =>
    t
      .split(/, (?=[^,=]+ = )/)
      .map((x) => x.replace(/^[^=]+ = /, ''))
      .join(' · ');
  out.push(
    `<section id="${idPrefix}-mix"><h2>Map-type mix</h2>${mapMixChart(
      groups.length > 1
        ? [{ title: 'all scenarios', g: r.overall }, ...groups.map((x) => ({ title: short(x.title), g: x.g }))]
        : [{ title: 'all scenarios', g: r.overall }],
      `${idPrefix}-mix-chart`,
    )}</section>`,
  );
  if (r.machines?.length) {
    out.push(
      `<section id="${idPrefix}-machines"><h2>Machines: who reaches whom, and how</h2>${[...r.machines]
        // Machines with a mixed verdict (some pairs direct, some not) first: they are the ones to look at.
        .sort((a, b) => Object.keys(b.verdict).length - Object.keys(a.verdict).length)
        .map(
          (m, i) =>
            `<h3>${esc(m.id)}</h3><p>Used by: ${m.groups.map((t) => esc(short(t))).join('; ')}.</p>${machineChart(m, i).replace('id="machine-', `id="${idPrefix}-machine-`)}`,
        )
        .join('\n')}</section>`,
    );
  }
  out.push(
    `<section id="${idPrefix}-overall"><h2>All scenarios</h2>${groupBody(r.overall, 'overall', `${idPrefix}-overall`, labels, outDir)}</section>`,
  );
  if (groups.length > 1) {
    const shown = [...groups].sort((a, b) => b.g.scenarios - a.g.scenarios || a.i - b.i).slice(0, max);
    const shownSet = new Set(shown.map((x) => x.i));
    out.push(`<section id="${idPrefix}-groups"><h2>Per configuration group</h2>`);
    for (const x of groups) {
      if (!shownSet.has(x.i)) continue;
      out.push(
        `<details${x.i === 0 ? ' open' : ''}><summary>${esc(x.title)} — ${int(x.g.scenarios)} scenarios</summary>${groupBody(x.g, `groups[${x.i}]`, `${idPrefix}-g${x.i}`, labels, outDir)}</details>`,
      );
    }
    const rest = groups.filter((x) => !shownSet.has(x.i));
    if (rest.length)
      out.push(
        `<p>${int(rest.length)} smaller groups are not drawn (their figures are in report.json): ${rest
          .slice(0, 50)
          .map((x) => esc(x.title))
          .join('; ')}${rest.length > 50 ? '; …' : ''}.</p>`,
      );
    out.push('</section>');
  }
  return out.join('\n');
}

function headerOf(r: SweepReport): string {
  return `<h1>dmasim capacity report: ${esc(r.sweepId)}</h1>${r.description ? `<p>${esc(r.description.trim())}</p>` : ''}<p>${kv('scenarios.total', r.scenarios.total, int(r.scenarios.total))} scenarios (${kv('scenarios.failed', r.scenarios.failed, int(r.scenarios.failed))} failed) over ${r.axes.length} axes: ${esc(r.axes.map((a) => `${a.name} (${a.values})`).join(', ') || 'none')}; grouped by ${esc(r.groupBy.join(', ') || 'nothing')}.</p>`;
}

/** The whole report as one self-contained HTML page. */
export function renderReportHtml(r: SweepReport, opts: HtmlOptions = {}): string {
  return page(`dmasim report: ${r.sweepId}`, headerOf(r), reportSections(r, opts));
}
