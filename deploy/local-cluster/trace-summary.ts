/**
 * Reads the JSON-lines trace files of a local cluster run (DMASIM_TRACE_FILE of the coordinator and of each
 * worker, see deploy/local-cluster.sh) and shows how one sweep's trace spread over the worker nodes: per node
 * the shard jobs (`process dmasim-shards` spans) and scenarios (`dmasim.scenario` spans) it ran, and whether
 * the sweep's trace is connected (every span's parent is in the trace, from the one root `dmasim.sweep`).
 *
 *   node deploy/local-cluster/trace-summary.ts DIR [--require-nodes N]
 *
 * Exit status 0 when the trace is connected and at least N nodes (default 1) ran shards, 1 otherwise.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The fields of a trace-file span this summary reads (docs/TELEMETRY.md has the whole format). */
export interface SummarySpan {
  readonly signal: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly durationMs: number;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly resource: Readonly<Record<string, unknown>>;
}

/** Per node: shards and scenarios run, busy time. */
export interface NodeRow {
  readonly node: string;
  readonly shards: number;
  readonly scenarios: number;
  readonly shardSeconds: number;
}

/** What one sweep's trace looks like. */
export interface TraceSummary {
  readonly traceId: string;
  readonly sweepId: string;
  readonly spans: number;
  /** Spans whose parent is not in the trace (0 when connected). */
  readonly orphans: number;
  readonly roots: number;
  readonly services: readonly string[];
  readonly nodes: readonly NodeRow[];
}

/** Every span line of the `.jsonl` files in `dir`. */
export function readSpans(dir: string): SummarySpan[] {
  const out: SummarySpan[] = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .sort()) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const v = JSON.parse(line) as SummarySpan;
      if (v.signal === 'span') out.push(v);
    }
  }
  return out;
}

const nodeOf = (s: SummarySpan): string => String(s.resource['host.name'] ?? s.resource['service.instance.id'] ?? '?');

/** One summary per sweep trace (a trace with a `dmasim.sweep` root). */
export function summarize(spans: readonly SummarySpan[]): TraceSummary[] {
  const out: TraceSummary[] = [];
  for (const root of spans.filter((s) => s.name === 'dmasim.sweep')) {
    const trace = spans.filter((s) => s.traceId === root.traceId);
    const ids = new Set(trace.map((s) => s.spanId));
    const rows = new Map<string, { shards: number; scenarios: number; shardSeconds: number }>();
    const row = (n: string) => {
      let r = rows.get(n);
      if (!r) {
        r = { shards: 0, scenarios: 0, shardSeconds: 0 };
        rows.set(n, r);
      }
      return r;
    };
    for (const s of trace) {
      if (s.name === 'process dmasim-shards') {
        const r = row(nodeOf(s));
        r.shards++;
        r.shardSeconds += s.durationMs / 1000;
      } else if (s.name === 'dmasim.scenario') row(nodeOf(s)).scenarios++;
    }
    out.push({
      traceId: root.traceId,
      sweepId: String(root.attributes['dmasim.sweep.id'] ?? '?'),
      spans: trace.length,
      orphans: trace.filter((s) => s.parentSpanId !== undefined && !ids.has(s.parentSpanId)).length,
      roots: trace.filter((s) => s.parentSpanId === undefined).length,
      services: [...new Set(trace.map((s) => String(s.resource['service.name'])))].sort(),
      nodes: [...rows.entries()].map(([node, r]) => ({ node, ...r })).sort((a, b) => a.node.localeCompare(b.node)),
    });
  }
  return out;
}

/** The summary as the text the script prints. */
export function render(t: TraceSummary): string {
  const lines = [
    `sweep ${t.sweepId}: trace ${t.traceId}, ${t.spans} spans from ${t.services.join(', ')}; ` +
      (t.orphans === 0 && t.roots === 1
        ? 'connected (one root, every parent present)'
        : `NOT connected (${t.roots} roots, ${t.orphans} spans without their parent)`),
    `  ${'node'.padEnd(14)}${'shards'.padStart(8)}${'scenarios'.padStart(11)}${'shard s'.padStart(10)}`,
  ];
  for (const n of t.nodes) {
    lines.push(
      `  ${n.node.padEnd(14)}${String(n.shards).padStart(8)}${String(n.scenarios).padStart(11)}${n.shardSeconds.toFixed(2).padStart(10)}`,
    );
  }
  return lines.join('\n');
}

if (import.meta.main) {
  const [dir, ...rest] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write('usage: node deploy/local-cluster/trace-summary.ts DIR [--require-nodes N]\n');
    process.exit(2);
  }
  const i = rest.indexOf('--require-nodes');
  const need = i >= 0 ? Number(rest[i + 1]) : 1;
  const sums = summarize(readSpans(dir));
  if (sums.length === 0) {
    process.stderr.write(`no dmasim.sweep span in ${dir}/*.jsonl\n`);
    process.exit(1);
  }
  let ok = true;
  for (const t of sums) {
    process.stdout.write(`${render(t)}\n`);
    const busy = t.nodes.filter((n) => n.shards > 0).length;
    if (t.orphans !== 0 || t.roots !== 1 || busy < need) ok = false;
    if (busy < need) process.stdout.write(`  only ${busy} node(s) ran shards; expected at least ${need}\n`);
  }
  process.exit(ok ? 0 : 1);
}
