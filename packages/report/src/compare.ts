/**
 * `dmasim report --compare A B`: two result sets on one page, the differences first (key numbers of the
 * whole sweep and of every group both have, changed ones highlighted), then both reports side by side.
 */
import { type GroupReport, humanBytes, humanNs, type SweepReport } from '@dmasim/core';
import { int, page, pct, reportSections } from './html.ts';

const esc = (s: string): string =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

interface Metric {
  name: string;
  get: (g: GroupReport) => number | null;
  show: (v: number | null) => string;
  /** Whether a larger value is better (for the sign of the change). */
  better: 'higher' | 'lower' | 'none';
}

const share = (g: GroupReport, k: string): number => {
  const t = Object.values(g.mapTypes).reduce((a, b) => a + b, 0);
  return t ? (g.mapTypes[k] ?? 0) / t : 0;
};
const showPct = (v: number | null): string => (v === null ? '-' : pct(v));
const minOf = (xs: (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? Math.min(...v) : null;
};

/** The numbers compared, in order. */
export const METRICS: readonly Metric[] = [
  { name: 'scenarios', get: (g) => g.scenarios, show: (v) => int(v ?? 0), better: 'none' },
  { name: 'BUS_ADDR share', get: (g) => share(g, 'BUS_ADDR'), show: showPct, better: 'higher' },
  { name: 'THRU_HOST_BRIDGE share', get: (g) => share(g, 'THRU_HOST_BRIDGE'), show: showPct, better: 'none' },
  { name: 'NOT_SUPPORTED share', get: (g) => share(g, 'NOT_SUPPORTED'), show: showPct, better: 'lower' },
  { name: 'mapping failure rate', get: (g) => g.mappings.failureRate, show: showPct, better: 'lower' },
  { name: 'per-range fallbacks', get: (g) => g.mappings.perRangeFallbacks, show: (v) => int(v ?? 0), better: 'lower' },
  { name: 'scenarios that ran out of IOVA', get: (g) => g.exhaustion.rate, show: showPct, better: 'lower' },
  { name: 'earliest first failure', get: (g) => g.exhaustion.firstNs.min, show: humanNs, better: 'higher' },
  {
    name: 'largest peak IOVA of a domain',
    get: (g) => Math.max(0, ...g.domains.map((d) => d.peakBytes.max ?? 0)),
    show: humanBytes,
    better: 'lower',
  },
  {
    name: 'least headroom of a domain (mappings)',
    get: (g) => minOf(g.domains.map((d) => d.headroomMappings?.min ?? null)),
    show: (v) => (v === null ? '-' : int(v)),
    better: 'higher',
  },
  { name: 'IOVA spent', get: (g) => g.whatIf.iovaBytesSpent ?? 0, show: humanBytes, better: 'lower' },
  { name: 'IOVA saved by BUS_ADDR', get: (g) => g.whatIf.iovaBytesSaved ?? 0, show: humanBytes, better: 'higher' },
  {
    name: 'bytes migrated to system memory',
    get: (g) => g.whatIf.bytesMigrated ?? 0,
    show: humanBytes,
    better: 'lower',
  },
  {
    name: 'hazard events',
    get: (g) => g.hazards.reduce((a, h) => a + h.events, 0),
    show: (v) => int(v ?? 0),
    better: 'lower',
  },
];

/** One compared row. */
export interface CompareRow {
  scope: string;
  metric: string;
  a: number | null;
  b: number | null;
  changed: boolean;
}

/** Every metric for the whole sweep and for each group title both reports have. */
export function compareRows(a: SweepReport, b: SweepReport): CompareRow[] {
  const rows: CompareRow[] = [];
  const add = (scope: string, ga: GroupReport, gb: GroupReport): void => {
    for (const m of METRICS) {
      const va = m.get(ga);
      const vb = m.get(gb);
      rows.push({ scope, metric: m.name, a: va, b: vb, changed: va !== vb });
    }
  };
  add('all scenarios', a.overall, b.overall);
  const title = (g: SweepReport['groups'][number]): string => g.title ?? JSON.stringify(g.key);
  const byTitle = new Map(b.groups.map((g) => [title(g), g]));
  for (const ga of a.groups) {
    const gb = byTitle.get(title(ga));
    if (gb) add(title(ga), ga, gb);
  }
  return rows;
}

function diffTable(a: SweepReport, b: SweepReport): string {
  const rows = compareRows(a, b);
  const metric = new Map(METRICS.map((m) => [m.name, m]));
  const changed = rows.filter((r) => r.changed);
  const body = rows
    .map((r) => {
      const m = metric.get(r.metric)!;
      const cls = r.changed ? ' class="diff"' : '';
      let delta = '';
      if (r.changed && r.a !== null && r.b !== null) {
        const d = r.b - r.a;
        const good = m.better === 'none' ? '' : d > 0 === (m.better === 'higher') ? ' (better)' : ' (worse)';
        delta = `${d > 0 ? '+' : '−'}${m.show(Math.abs(d)).replace(/^-/, '')}${good}`;
      } else if (r.changed) delta = 'changed';
      return `<tr${cls} data-scope="${esc(r.scope)}" data-metric="${esc(r.metric)}"><td>${esc(r.scope)}</td><td>${esc(r.metric)}</td><td${r.changed ? ' class="changed"' : ''}>${esc(m.show(r.a))}</td><td${r.changed ? ' class="changed"' : ''}>${esc(m.show(r.b))}</td><td>${esc(delta)}</td></tr>`;
    })
    .join('');
  return `<section id="differences"><h2>Differences</h2><p><span class="num" data-k="compare.changed" data-v="${changed.length}">${changed.length}</span> of ${rows.length} compared numbers differ (highlighted). Groups are matched by their title; groups only one side has are in its own report below.</p><table class="data"><thead><tr><th>scope</th><th>number</th><th>A: ${esc(a.sweepId)}</th><th>B: ${esc(b.sweepId)}</th><th>B − A</th></tr></thead><tbody>${body}</tbody></table></section>`;
}

/** The comparison page of two result sets. */
export function renderCompareHtml(
  a: SweepReport,
  b: SweepReport,
  opts: { labelA?: string; labelB?: string; outDirA?: string; outDirB?: string } = {},
): string {
  const la = opts.labelA ?? a.sweepId;
  const lb = opts.labelB ?? b.sweepId;
  const header = `<h1>dmasim comparison: ${esc(la)} vs ${esc(lb)}</h1><p>A: ${esc(la)}, ${int(a.scenarios.total)} scenarios; B: ${esc(lb)}, ${int(b.scenarios.total)} scenarios.</p>`;
  const body = `${diffTable(a, b)}<div class="cols"><div><h2>A: ${esc(la)}</h2>${reportSections(a, { outDir: opts.outDirA ?? a.sweepId, maxGroupSections: 6 }, 'a')}</div><div><h2>B: ${esc(lb)}</h2>${reportSections(b, { outDir: opts.outDirB ?? b.sweepId, maxGroupSections: 6 }, 'b')}</div></div>`;
  return page(`dmasim comparison: ${la} vs ${lb}`, header, body);
}
