/** Renders a {@link SweepReport} as Markdown (`report.md`): one section per configuration group. */
import type { GroupReport, StatOut, SweepReport } from './aggregate.ts';

/** Bytes in units people read: `512 KiB`, `1.5 GiB`. */
export function humanBytes(n: number | null): string {
  if (n === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

/** Virtual nanoseconds as `12.5 ms`, `3.2 s`. */
export function humanNs(ns: number | null): string {
  if (ns === null) return '-';
  if (ns < 1e3) return `${ns} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const statBytes = (s: StatOut): string =>
  s.scenarios ? `${humanBytes(s.min)} / ${humanBytes(s.mean)} / ${humanBytes(s.max)}` : '-';
const esc = (s: string): string => s.replaceAll('|', '\\|');

function groupSection(g: GroupReport, sweepId: string): string[] {
  const out: string[] = [];
  const mt = g.mapTypes;
  const totalMt = Object.values(mt).reduce((a, b) => a + b, 0);
  out.push(
    `- scenarios: ${g.scenarios}${g.failedScenarios ? ` (${g.failedScenarios} failed, see errors)` : ''}; events: ${g.events}`,
  );
  out.push('', '**Map-type mix** (decisions of map requests; THRU_HOST_BRIDGE split by how it was mapped)', '');
  out.push('| map type | decisions | share |', '|---|---:|---:|');
  for (const k of ['BUS_ADDR', 'THRU_HOST_BRIDGE', 'NOT_SUPPORTED']) {
    out.push(`| ${k} | ${mt[k] ?? 0} | ${totalMt ? pct((mt[k] ?? 0) / totalMt) : '-'} |`);
  }
  out.push(`| ↳ THRU with one IOVA block | ${g.modes.iova ?? 0} mappings | |`);
  out.push(`| ↳ THRU per range (dma_map_phys) | ${g.modes.per_range ?? 0} mappings | |`);
  if (g.modes.system) out.push(`| migrated to system memory | ${g.modes.system} mappings | |`);
  out.push('', '**Mappings**', '');
  out.push(
    `- map requests: ${g.mappings.attempted}, failed: ${g.mappings.failed} (${pct(g.mappings.failureRate)}); ` +
      `IOVA-to-per-range fallbacks: ${g.mappings.perRangeFallbacks} (${pct(g.mappings.fallbackRate)} of THRU decisions)`,
  );
  const f = Object.entries(g.failures);
  if (f.length) out.push(`- failures by kind: ${f.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  out.push(
    `- SG entries per mapping: p50 ≤ ${g.sgEntries.p50 ?? '-'}, p99 ≤ ${g.sgEntries.p99 ?? '-'}, max ≤ ${g.sgEntries.max ?? '-'} ` +
      `(${g.sgEntries.mappings} mappings; buckets ${g.sgEntries.buckets.map((b) => `≤${b.le}: ${b.count}`).join(', ') || 'none'})`,
  );
  if (g.domains.length) {
    out.push('', '**IOVA per importer domain** (min / mean / max over scenarios)', '');
    out.push(
      '| domain | devices | DMA limit | peak IOVA | headroom at end | more mappings (worst) | free below 4 GiB | nodes walked / alloc | range-cache hits | alloc failures | leaked |',
      '|---|---|---|---|---|---:|---|---:|---:|---:|---:|',
    );
    for (const d of g.domains) {
      const a = d.allocator;
      out.push(
        `| ${d.type} | ${esc(`${d.topology ? `${d.topology}: ` : ''}${d.devices.join(', ')}`)} | ${d.dmaLimitBytes === null || d.dmaLimitBytes === undefined ? '-' : humanBytes(d.dmaLimitBytes)} | ${statBytes(d.peakBytes)} | ${statBytes(d.headroomBytes)} | ${d.headroomMappings?.min ?? '-'} | ${statBytes(d.free32Bytes)} | ${a?.nodesPerAllocation?.toFixed(1) ?? '-'} | ${a?.rcacheHitRate === null || a?.rcacheHitRate === undefined ? '-' : pct(a.rcacheHitRate)} | ${d.allocFailures} | ${humanBytes(d.leakedBytes)} |`,
      );
    }
  }
  out.push('', '**Exhaustion**', '');
  if (g.exhaustion.scenarios) {
    out.push(
      `- ${g.exhaustion.scenarios} of ${g.scenarios} scenarios (${pct(g.exhaustion.rate)}) ran out of IOVA; first failure at ` +
        `${humanNs(g.exhaustion.firstNs.min)} (earliest) / ${humanNs(g.exhaustion.firstNs.mean)} (mean) of virtual time; e.g. ${g.exhaustion.examples.map((e) => `\`${e.id}\``).join(', ')}`,
    );
  } else {
    out.push('- no scenario ran out of IOVA');
  }
  const w = g.whatIf;
  out.push('', '**Exporter policy what-if** (kernel-model.md 8.1)', '');
  out.push(
    `- mappings kept P2P: ${w.mappingsKeptP2p ?? 0}, migrated to system memory: ${w.mappingsMigrated ?? 0} ` +
      `(${humanBytes(w.bytesMigrated ?? 0)} moved), attachments refused: ${w.attachmentsRefused ?? 0}; ` +
      `IOVA spent: ${humanBytes(w.iovaBytesSpent ?? 0)}, IOVA saved by BUS_ADDR: ${humanBytes(w.iovaBytesSaved ?? 0)}`,
  );
  out.push('', '**Hazards seen** (kernel-model.md 3.8, 2.6, 2.7)', '');
  if (g.hazards.length) {
    out.push('| hazard | events | scenarios | replay one |', '|---|---:|---:|---|');
    for (const h of g.hazards) {
      const ex = h.examples[0];
      out.push(
        `| ${h.kind} | ${h.events} | ${h.scenarios} | ${ex ? `\`dmasim replay ${sweepId}/events.dmlog --scenario ${ex.id} --show\`` : ''} |`,
      );
    }
  } else {
    out.push('- none');
  }
  if (g.leaks.iovaLeakEvents || g.leaks.unaccountedIovaBytes) {
    out.push(
      `- IOVA leaked by error paths: ${g.leaks.iovaLeakEvents} times, ${humanBytes(g.leaks.iovaLeakBytes)}; unaccounted at the end: ${humanBytes(g.leaks.unaccountedIovaBytes)}`,
    );
  }
  if (g.errors.length) {
    out.push('', '**Scenario errors**', '');
    for (const e of g.errors)
      out.push(`- ${e.code} in ${e.scenarios} scenarios (e.g. \`${e.examples[0]?.id ?? ''}\`): ${e.message}`);
  }
  return out;
}

/** The whole report as Markdown. */
export function renderReportMarkdown(r: SweepReport): string {
  const out: string[] = [`# dmasim capacity report: ${r.sweepId}`, ''];
  if (r.description) out.push(r.description.trim(), '');
  out.push(
    `${r.scenarios.total} scenarios (${r.scenarios.failed} failed) over ${r.axes.length} axes: ` +
      (r.axes.map((a) => `${a.name} (${a.values})`).join(', ') || 'none') +
      `; groups by ${r.groupBy.join(', ') || 'nothing (one group)'}.`,
    '',
  );
  if (r.machines?.length) {
    out.push('## Machines', '', '| machine | devices | pairs by map type | groups |', '|---|---:|---|---|');
    for (const m of r.machines)
      out.push(
        `| ${esc(m.id)} | ${m.devices.length} | ${Object.entries(m.verdict)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')} | ${m.groups.length} |`,
      );
    out.push('', 'The pair matrices are in report.json (`machines[].pairs`) and drawn in report.html.', '');
  }
  out.push('## Overall', '', ...groupSection(r.overall, r.sweepId), '');
  if (r.groups.length > 1) {
    for (const g of r.groups) {
      const title = Object.entries(g.key)
        .map(([k, v]) => `${k} = ${v.length > 60 ? `${v.slice(0, 57)}...` : v}`)
        .join(', ');
      out.push(`## ${title}`, '', ...groupSection(g, r.sweepId), '');
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}
