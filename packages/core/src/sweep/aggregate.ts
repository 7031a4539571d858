/**
 * Aggregates a sweep's per-scenario summaries into the capacity-planning report (`report.json`, schema in
 * `report.schema.json` beside this file), per configuration group and overall. Streaming: one pass over the
 * shard results, memory bounded by the number of groups and importer domains, never by the number of
 * scenarios. Order-independent: integer sums (bytes as bigint), minima and maxima, and example lists that
 * keep the lowest scenario indexes, so an embedded and a distributed run give the same report bit for bit.
 */
import { canonicalJson } from '../hash.ts';
import type { ScenarioSummary } from '../scenario/summary.ts';
import type { Sweep } from './sweep.ts';

/** What the aggregator reads of one scenario (the shape of a stored scenario record). */
export interface ScenarioRecordLike {
  readonly index: number;
  readonly id: string;
  readonly group: Readonly<Record<string, string>>;
  readonly summary?: unknown;
  readonly error?: { readonly code: string; readonly message: string };
}

/** What the aggregator reads of one shard result. */
export interface ShardResultLike {
  readonly scenarios: readonly ScenarioRecordLike[];
}

const EXAMPLES = 5;

/** Up to {@link EXAMPLES} scenarios (lowest indexes first) that showed something. */
export interface Examples {
  count: number;
  scenarios: { index: number; id: string }[];
}

function addExample(ex: Examples, index: number, id: string): void {
  ex.count++;
  const s = ex.scenarios;
  if (s.length < EXAMPLES || index < s[s.length - 1]!.index) {
    let at = s.findIndex((x) => x.index > index);
    if (at < 0) at = s.length;
    s.splice(at, 0, { index, id });
    if (s.length > EXAMPLES) s.pop();
  }
}

function mergeExamples(into: Examples, from: Examples): void {
  into.count += from.count - from.scenarios.length;
  for (const e of from.scenarios) addExample(into, e.index, e.id);
}

interface Stat {
  n: number;
  sum: bigint;
  min: number;
  max: number;
}
const newStat = (): Stat => ({ n: 0, sum: 0n, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY });
function addStat(s: Stat, v: number): void {
  s.n++;
  s.sum += BigInt(Math.round(v));
  if (v < s.min) s.min = v;
  if (v > s.max) s.max = v;
}
function mergeStat(a: Stat, b: Stat): void {
  a.n += b.n;
  a.sum += b.sum;
  a.min = Math.min(a.min, b.min);
  a.max = Math.max(a.max, b.max);
}
/** A summary statistic as it appears in the report. */
export interface StatOut {
  scenarios: number;
  min: number | null;
  mean: number | null;
  max: number | null;
}
function statOut(s: Stat): StatOut {
  return s.n === 0
    ? { scenarios: 0, min: null, mean: null, max: null }
    : { scenarios: s.n, min: s.min, mean: Number(s.sum / BigInt(s.n)), max: s.max };
}

interface DomainAcc {
  type: string;
  devices: string[];
  peak: Stat;
  used: Stat;
  headroom: Stat;
  free32: Stat;
  largestFree32: Stat;
  fragmentationPermille: Stat;
  allocFailures: number;
  leakedBytes: bigint;
}

interface GroupAcc {
  scenarios: number;
  failed: number;
  events: bigint;
  mapTypes: Record<string, number>;
  modes: Record<string, number>;
  ops: Record<string, { attempts: number; failures: number }>;
  failures: Record<string, number>;
  fallbacks: Record<string, number>;
  sg: number[];
  domains: Map<string, DomainAcc>;
  exhaustion: Stat;
  exhaustionExamples: Examples;
  hazards: Map<string, { events: number; examples: Examples }>;
  leaks: { iovaLeakEvents: number; iovaLeakBytes: bigint; unaccountedIovaBytes: bigint };
  faults: number;
  whatIf: Record<string, bigint>;
  decisions: Record<string, number>;
  pairs: Map<
    string,
    { exporter: string; importer: string; mapType: string; distance: number | null; scenarios: number }
  >;
  errors: Map<string, { message: string; examples: Examples }>;
}

function newGroup(): GroupAcc {
  return {
    scenarios: 0,
    failed: 0,
    events: 0n,
    mapTypes: {},
    modes: {},
    ops: {},
    failures: {},
    fallbacks: {},
    sg: [],
    domains: new Map(),
    exhaustion: newStat(),
    exhaustionExamples: { count: 0, scenarios: [] },
    hazards: new Map(),
    leaks: { iovaLeakEvents: 0, iovaLeakBytes: 0n, unaccountedIovaBytes: 0n },
    faults: 0,
    whatIf: {},
    decisions: {},
    pairs: new Map(),
    errors: new Map(),
  };
}

const addCounts = (into: Record<string, number>, from: Readonly<Record<string, number>>): void => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

type OpCounts = Record<string, { attempts: number; failures: number }>;
function addOps(into: OpCounts, from: Readonly<OpCounts>): void {
  for (const [k, v] of Object.entries(from)) {
    const o = into[k] ?? { attempts: 0, failures: 0 };
    o.attempts += v.attempts;
    o.failures += v.failures;
    into[k] = o;
  }
}

function addSummary(g: GroupAcc, rec: ScenarioRecordLike, s: ScenarioSummary): void {
  g.scenarios++;
  g.events += BigInt(s.eventCount);
  addCounts(g.mapTypes, s.mapTypes);
  addCounts(g.modes, s.modes);
  addOps(g.ops, s.ops);
  addCounts(g.failures, s.failures);
  addCounts(g.fallbacks, s.fallbacks);
  s.sgEntries.counts.forEach((c, i) => {
    g.sg[i] = (g.sg[i] ?? 0) + c;
  });
  for (const d of s.domains) {
    const key = `${d.type} ${[...d.devices].sort().join('+')}`;
    let a = g.domains.get(key);
    if (!a) {
      a = {
        type: d.type,
        devices: [...d.devices].sort(),
        peak: newStat(),
        used: newStat(),
        headroom: newStat(),
        free32: newStat(),
        largestFree32: newStat(),
        fragmentationPermille: newStat(),
        allocFailures: 0,
        leakedBytes: 0n,
      };
      g.domains.set(key, a);
    }
    addStat(a.peak, d.peakBytes);
    addStat(a.used, d.usedBytes);
    addStat(a.headroom, d.headroomBytes);
    addStat(a.free32, d.free32Bytes);
    addStat(a.largestFree32, d.largestFree32Bytes);
    addStat(a.fragmentationPermille, Math.round(d.fragmentation32 * 1000));
    a.allocFailures += d.allocFailures;
    a.leakedBytes += BigInt(d.leakedBytes);
  }
  if (s.firstExhaustionNs !== null) {
    addStat(g.exhaustion, s.firstExhaustionNs);
    addExample(g.exhaustionExamples, rec.index, rec.id);
  }
  for (const [kind, n] of Object.entries(s.hazards)) {
    if (n <= 0) continue;
    let h = g.hazards.get(kind);
    if (!h) {
      h = { events: 0, examples: { count: 0, scenarios: [] } };
      g.hazards.set(kind, h);
    }
    h.events += n;
    addExample(h.examples, rec.index, rec.id);
  }
  g.leaks.iovaLeakEvents += s.leaks.iovaLeakEvents;
  g.leaks.iovaLeakBytes += BigInt(s.leaks.iovaLeakBytes);
  g.leaks.unaccountedIovaBytes += BigInt(s.leaks.unaccountedIovaBytes);
  g.faults += s.faults;
  for (const [k, v] of Object.entries(s.whatIf)) {
    if (typeof v === 'number') g.whatIf[k] = (g.whatIf[k] ?? 0n) + BigInt(v);
  }
  addCounts(g.decisions, s.whatIf.decisions);
  for (const p of s.pairs) {
    const key = `${p.exporter}>${p.importer}`;
    const have = g.pairs.get(key);
    if (have) have.scenarios++;
    else g.pairs.set(key, { ...p, scenarios: 1 });
  }
}

function addError(g: GroupAcc, rec: ScenarioRecordLike): void {
  g.scenarios++;
  g.failed++;
  const code = rec.error?.code ?? 'INTERNAL';
  let e = g.errors.get(code);
  if (!e) {
    e = { message: rec.error?.message ?? 'no summary', examples: { count: 0, scenarios: [] } };
    g.errors.set(code, e);
  }
  addExample(e.examples, rec.index, rec.id);
}

function mergeGroup(a: GroupAcc, b: GroupAcc): void {
  a.scenarios += b.scenarios;
  a.failed += b.failed;
  a.events += b.events;
  addCounts(a.mapTypes, b.mapTypes);
  addCounts(a.modes, b.modes);
  addOps(a.ops, b.ops);
  addCounts(a.failures, b.failures);
  addCounts(a.fallbacks, b.fallbacks);
  b.sg.forEach((c, i) => {
    a.sg[i] = (a.sg[i] ?? 0) + c;
  });
  for (const [k, d] of b.domains) {
    const x = a.domains.get(k);
    if (!x) {
      a.domains.set(k, structuredClone(d));
      continue;
    }
    for (const f of ['peak', 'used', 'headroom', 'free32', 'largestFree32', 'fragmentationPermille'] as const)
      mergeStat(x[f], d[f]);
    x.allocFailures += d.allocFailures;
    x.leakedBytes += d.leakedBytes;
  }
  mergeStat(a.exhaustion, b.exhaustion);
  mergeExamples(a.exhaustionExamples, b.exhaustionExamples);
  for (const [k, h] of b.hazards) {
    const x = a.hazards.get(k);
    if (!x) a.hazards.set(k, structuredClone(h));
    else {
      x.events += h.events;
      mergeExamples(x.examples, h.examples);
    }
  }
  a.leaks.iovaLeakEvents += b.leaks.iovaLeakEvents;
  a.leaks.iovaLeakBytes += b.leaks.iovaLeakBytes;
  a.leaks.unaccountedIovaBytes += b.leaks.unaccountedIovaBytes;
  a.faults += b.faults;
  for (const [k, v] of Object.entries(b.whatIf)) a.whatIf[k] = (a.whatIf[k] ?? 0n) + v;
  addCounts(a.decisions, b.decisions);
  for (const [k, p] of b.pairs) {
    const x = a.pairs.get(k);
    if (x) x.scenarios += p.scenarios;
    else a.pairs.set(k, { ...p });
  }
  for (const [k, e] of b.errors) {
    const x = a.errors.get(k);
    if (!x) a.errors.set(k, structuredClone(e));
    else mergeExamples(x.examples, e.examples);
  }
}

/** Report of one configuration group (or of the whole sweep). */
export interface GroupReport {
  scenarios: number;
  failedScenarios: number;
  events: number;
  /** Map-type decisions of map requests, by result. */
  mapTypes: Record<string, number>;
  /** Successful mappings by mode (`iova`, `per_range` = THRU_HOST_BRIDGE sub-modes). */
  modes: Record<string, number>;
  mappings: { attempted: number; failed: number; failureRate: number; perRangeFallbacks: number; fallbackRate: number };
  failures: Record<string, number>;
  fallbacks: Record<string, number>;
  /** SG entries per successful mapping: power-of-two buckets (`le` = upper bound). */
  sgEntries: {
    buckets: { le: number; count: number }[];
    mappings: number;
    p50: number | null;
    p99: number | null;
    max: number | null;
  };
  /** One entry per importer IOMMU domain (type and devices), bytes. */
  domains: {
    type: string;
    devices: string[];
    peakBytes: StatOut;
    usedBytes: StatOut;
    headroomBytes: StatOut;
    free32Bytes: StatOut;
    largestFree32Bytes: StatOut;
    /** 1000 x (1 - largest free hole / free space below 4 GiB). */
    fragmentation32Permille: StatOut;
    allocFailures: number;
    leakedBytes: number;
  }[];
  /** Scenarios whose IOVA ran out, and when (virtual ns) it first happened. */
  exhaustion: { scenarios: number; rate: number; firstNs: StatOut; examples: { index: number; id: string }[] };
  hazards: { kind: string; events: number; scenarios: number; examples: { index: number; id: string }[] }[];
  leaks: { iovaLeakEvents: number; iovaLeakBytes: number; unaccountedIovaBytes: number };
  faults: number;
  /** The exporter-policy what-if (kernel-model.md 8.1), summed over scenarios. */
  whatIf: Record<string, number>;
  decisions: Record<string, number>;
  /** Routes of exporter -> importer pairs mapped (at most 64, most frequent first). */
  pairs: { exporter: string; importer: string; mapType: string; distance: number | null; scenarios: number }[];
  errors: { code: string; message: string; scenarios: number; examples: { index: number; id: string }[] }[];
}

function quantile(buckets: number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i] ?? 0;
    if (seen >= q * total) return 2 ** i;
  }
  return 2 ** (buckets.length - 1);
}

const sortedObject = <T>(o: Record<string, T>): Record<string, T> =>
  Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

function groupOut(g: GroupAcc): GroupReport {
  const map = g.ops.map ?? { attempts: 0, failures: 0 };
  const thru = g.mapTypes.THRU_HOST_BRIDGE ?? 0;
  const sgBuckets = g.sg.map((count, i) => ({ le: 2 ** i, count })).filter((b) => b.count > 0);
  const sgTotal = g.sg.reduce((a, b) => a + (b ?? 0), 0);
  let sgMax: number | null = null;
  for (let i = g.sg.length - 1; i >= 0; i--)
    if ((g.sg[i] ?? 0) > 0) {
      sgMax = 2 ** i;
      break;
    }
  return {
    scenarios: g.scenarios,
    failedScenarios: g.failed,
    events: Number(g.events),
    mapTypes: sortedObject(g.mapTypes),
    modes: sortedObject(g.modes),
    mappings: {
      attempted: map.attempts,
      failed: map.failures,
      failureRate: map.attempts ? map.failures / map.attempts : 0,
      perRangeFallbacks: g.fallbacks.iovaToPerRange ?? 0,
      fallbackRate: thru ? (g.fallbacks.iovaToPerRange ?? 0) / thru : 0,
    },
    failures: sortedObject(g.failures),
    fallbacks: sortedObject(g.fallbacks),
    sgEntries: {
      buckets: sgBuckets,
      mappings: sgTotal,
      p50: quantile(g.sg, 0.5),
      p99: quantile(g.sg, 0.99),
      max: sgMax,
    },
    domains: [...g.domains.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, d]) => ({
        type: d.type,
        devices: d.devices,
        peakBytes: statOut(d.peak),
        usedBytes: statOut(d.used),
        headroomBytes: statOut(d.headroom),
        free32Bytes: statOut(d.free32),
        largestFree32Bytes: statOut(d.largestFree32),
        fragmentation32Permille: statOut(d.fragmentationPermille),
        allocFailures: d.allocFailures,
        leakedBytes: Number(d.leakedBytes),
      })),
    exhaustion: {
      scenarios: g.exhaustion.n,
      rate: g.scenarios ? g.exhaustion.n / g.scenarios : 0,
      firstNs: statOut(g.exhaustion),
      examples: g.exhaustionExamples.scenarios,
    },
    hazards: [...g.hazards.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([kind, h]) => ({ kind, events: h.events, scenarios: h.examples.count, examples: h.examples.scenarios })),
    leaks: {
      iovaLeakEvents: g.leaks.iovaLeakEvents,
      iovaLeakBytes: Number(g.leaks.iovaLeakBytes),
      unaccountedIovaBytes: Number(g.leaks.unaccountedIovaBytes),
    },
    faults: g.faults,
    whatIf: sortedObject(Object.fromEntries(Object.entries(g.whatIf).map(([k, v]) => [k, Number(v)]))),
    decisions: sortedObject(g.decisions),
    pairs: [...g.pairs.values()]
      .sort((a, b) => b.scenarios - a.scenarios || (a.exporter + a.importer < b.exporter + b.importer ? -1 : 1))
      .slice(0, 64),
    errors: [...g.errors.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([code, e]) => ({ code, message: e.message, scenarios: e.examples.count, examples: e.examples.scenarios })),
  };
}

/** The capacity-planning report of a sweep (`report.json`). */
export interface SweepReport {
  kind: 'dmasim-report';
  version: 1;
  sweepId: string;
  description?: string;
  scenarios: { total: number; ok: number; failed: number };
  axes: { name: string; path: string; values: number }[];
  groupBy: string[];
  overall: GroupReport;
  /** One per configuration group: the values of the groupBy axes (canonical JSON text each). */
  groups: (GroupReport & { key: Record<string, string> })[];
  /** How this report was produced; differs between runs of the same sweep (excluded from comparisons). */
  run?: { mode: string; durationMs: number };
}

/**
 * Builds the report from every shard result of a sweep (streamed once). Each scenario counts once even if
 * a shard appears twice in the stream.
 */
export async function aggregateSweep(
  sweep: Sweep,
  shards: AsyncIterable<ShardResultLike> | Iterable<ShardResultLike>,
  run?: { mode: string; durationMs: number },
): Promise<SweepReport> {
  const groups = new Map<string, { key: Record<string, string>; acc: GroupAcc }>();
  const seen = new Set<number>();
  for await (const shard of shards) {
    for (const rec of shard.scenarios) {
      if (seen.has(rec.index)) continue;
      seen.add(rec.index);
      const gk = canonicalJson(rec.group);
      let g = groups.get(gk);
      if (!g) {
        g = { key: { ...rec.group }, acc: newGroup() };
        groups.set(gk, g);
      }
      if (rec.summary !== undefined && !rec.error) addSummary(g.acc, rec, rec.summary as ScenarioSummary);
      else addError(g.acc, rec);
    }
  }
  const overall = newGroup();
  const sortedGroups = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, g] of sortedGroups) mergeGroup(overall, g.acc);
  const out = groupOut(overall);
  return {
    kind: 'dmasim-report',
    version: 1,
    sweepId: sweep.id,
    ...(sweep.spec.description ? { description: sweep.spec.description } : {}),
    scenarios: { total: out.scenarios, ok: out.scenarios - out.failedScenarios, failed: out.failedScenarios },
    axes: sweep.axes.map((a) => ({ name: a.name, path: a.path, values: a.count })),
    groupBy: [...sweep.groupBy],
    overall: out,
    groups: sortedGroups.map(([, g]) => ({ key: g.key, ...groupOut(g.acc) })),
    ...(run ? { run } : {}),
  };
}
