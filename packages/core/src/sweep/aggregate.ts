/**
 * Aggregates a sweep's per-scenario summaries into the capacity-planning report (`report.json`, schema in
 * `report.schema.json` beside this file), per configuration group and overall. Streaming: one pass over the
 * shard results, memory bounded by the number of groups and importer domains, never by the number of
 * scenarios. Order-independent: integer sums (bytes as bigint), minima and maxima, and example lists that
 * keep the lowest scenario indexes, so an embedded and a distributed run give the same report bit for bit.
 */
import { canonicalJson, fnv1a64Hex } from '../hash.ts';
import { pairMatrix } from '../p2p/pair-matrix.ts';
import { scenarioTopologySpec, scenarioToSimConfig } from '../scenario/scenario-config.ts';
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

/**
 * Exact integer sums without a bigint operation per value: `lo` collects values as a double while the running
 * sum stays below 2^53 in magnitude (integer addition is exact there), and is folded into the bigint `hi`
 * before it would not. The sum is always `hi + lo`, exactly what adding every value as a bigint gives.
 */
const SAFE = 2 ** 53;
interface Stat {
  n: number;
  hi: bigint;
  lo: number;
  min: number;
  max: number;
}
const newStat = (): Stat => ({ n: 0, hi: 0n, lo: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY });
function addStat(s: Stat, v: number): void {
  s.n++;
  const x = Math.round(v);
  const t = s.lo + x;
  if (t >= SAFE || t <= -SAFE) {
    s.hi += BigInt(s.lo) + BigInt(x);
    s.lo = 0;
  } else s.lo = t;
  if (v < s.min) s.min = v;
  if (v > s.max) s.max = v;
}
const statSum = (s: Stat): bigint => s.hi + BigInt(s.lo);
function mergeStat(a: Stat, b: Stat): void {
  a.n += b.n;
  a.hi = statSum(a) + statSum(b);
  a.lo = 0;
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
    : { scenarios: s.n, min: s.min, mean: Number(statSum(s) / BigInt(s.n)), max: s.max };
}

/**
 * Fields of a scenario's domain summary that newer runners record (older summaries lack them; the report
 * then says "not recorded"). Read defensively so stored results of either version aggregate.
 */
interface DomainExtras {
  /** Lowest DMA limit of the domain's devices (mask + 1, capped by the aperture), bytes. */
  readonly dmaLimitBytes?: number;
  /** Aperture end + 1, bytes. */
  readonly apertureBytes?: number;
  /** IOVA allocations (`alloc_iova_fast` calls), tree nodes they visited, and those the range cache served. */
  readonly allocations?: number;
  readonly nodesVisited?: number;
  readonly rcacheHits?: number;
  /** Successful mappings into this domain and the IOVA bytes they took. */
  readonly mappings?: number;
  readonly mappedIovaBytes?: number;
  /** Virtual time (ns) of the domain's first allocation that found no space. */
  readonly firstFailureNs?: number | null;
  /** IOVA use over virtual time, see {@link Timeline}. */
  readonly timeline?: { readonly binNs: number; readonly end: readonly number[]; readonly peak: readonly number[] };
}

/**
 * Mergeable IOVA-use timeline of a domain over many scenarios. Bin `i` covers virtual time
 * `[i * binNs, (i + 1) * binNs)` with `binNs` a power of two; per bin: the largest peak of any scenario, and
 * the sum and number of "bin-end" values (use at the end of the bin, or at the scenario's end if it ended
 * in it), kept apart for scenarios whose last bin it is so that two bins merge into one exactly. Widening
 * (doubling `binNs`) and adding commute, so the result depends only on the set of scenarios.
 */
interface Timeline {
  binNs: number;
  peak: number[];
  /** Sums of bin-end values as `sumEnd[i] + endLo[i]` (see {@link addStat} for the split). */
  sumEnd: bigint[];
  endLo: number[];
  nEnd: number[];
  sumLast: bigint[];
  nLast: number[];
}

/** Folds the double parts of the bin sums into the bigints (before bins are combined). */
function foldTimeline(t: Timeline): void {
  for (let i = 0; i < t.endLo.length; i++) {
    if (t.endLo[i]) {
      t.sumEnd[i] = (t.sumEnd[i] ?? 0n) + BigInt(t.endLo[i]!);
      t.endLo[i] = 0;
    }
  }
}
/** At most this many bins: a timeline is widened until it fits. */
export const TIMELINE_BINS = 64;

function widen(t: Timeline): void {
  foldTimeline(t);
  const n = Math.ceil(t.peak.length / 2);
  const peak: number[] = [];
  const sumEnd: bigint[] = [];
  const nEnd: number[] = [];
  const sumLast: bigint[] = [];
  const nLast: number[] = [];
  for (let j = 0; j < n; j++) {
    const a = 2 * j;
    const b = a + 1;
    peak.push(Math.max(t.peak[a] ?? 0, t.peak[b] ?? 0));
    sumEnd.push((t.sumEnd[b] ?? 0n) + (t.sumLast[a] ?? 0n));
    nEnd.push((t.nEnd[b] ?? 0) + (t.nLast[a] ?? 0));
    sumLast.push((t.sumLast[a] ?? 0n) + (t.sumLast[b] ?? 0n));
    nLast.push((t.nLast[a] ?? 0) + (t.nLast[b] ?? 0));
  }
  t.binNs *= 2;
  t.peak = peak;
  t.sumEnd = sumEnd;
  t.endLo = sumEnd.map(() => 0);
  t.nEnd = nEnd;
  t.sumLast = sumLast;
  t.nLast = nLast;
}

function mergeTimeline(into: Timeline, from: Timeline): void {
  const f = from.binNs < into.binNs ? structuredClone(from) : from;
  foldTimeline(into);
  foldTimeline(f);
  while (f.binNs < into.binNs) widen(f);
  while (into.binNs < f.binNs) widen(into);
  for (let i = 0; i < f.peak.length; i++) {
    into.peak[i] = Math.max(into.peak[i] ?? 0, f.peak[i] ?? 0);
    into.sumEnd[i] = (into.sumEnd[i] ?? 0n) + (f.sumEnd[i] ?? 0n);
    into.nEnd[i] = (into.nEnd[i] ?? 0) + (f.nEnd[i] ?? 0);
    into.sumLast[i] = (into.sumLast[i] ?? 0n) + (f.sumLast[i] ?? 0n);
    into.nLast[i] = (into.nLast[i] ?? 0) + (f.nLast[i] ?? 0);
  }
  for (let i = 0; i < into.peak.length; i++) into.endLo[i] = 0;
  for (let i = f.peak.length; i < into.peak.length; i++) {
    into.sumEnd[i] ??= 0n;
    into.nEnd[i] ??= 0;
    into.sumLast[i] ??= 0n;
    into.nLast[i] ??= 0;
  }
  while (into.peak.length > TIMELINE_BINS) widen(into);
}

/** One scenario's timeline (bin-end values `end`, per-bin peaks `peak`) as a mergeable {@link Timeline}. */
function scenarioTimeline(t: NonNullable<DomainExtras['timeline']>): Timeline | null {
  const n = Math.min(t.end.length, t.peak.length);
  if (n === 0 || !(t.binNs > 0) || !Number.isInteger(Math.log2(t.binNs))) return null;
  const out: Timeline = { binNs: t.binNs, peak: [], sumEnd: [], endLo: [], nEnd: [], sumLast: [], nLast: [] };
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    out.peak.push(t.peak[i]!);
    out.sumEnd.push(BigInt(Math.round(t.end[i]!)));
    out.endLo.push(0);
    out.nEnd.push(1);
    out.sumLast.push(last ? BigInt(Math.round(t.end[i]!)) : 0n);
    out.nLast.push(last ? 1 : 0);
  }
  while (out.peak.length > TIMELINE_BINS) widen(out);
  return out;
}

/** A domain's timeline in the report: per bin the mean use over the scenarios still running, and the largest peak. */
export interface TimelineOut {
  binNs: number;
  meanUsedBytes: (number | null)[];
  maxPeakBytes: number[];
  scenarios: number[];
}

/**
 * Adds one scenario's timeline; the common case (same bin width, fits) adds in place with no allocation,
 * which gives the same sums as {@link mergeTimeline} of its {@link scenarioTimeline}.
 */
function addScenarioTimeline(acc: Timeline | null, t: NonNullable<DomainExtras['timeline']>): Timeline | null {
  const n = Math.min(t.end.length, t.peak.length);
  if (acc === null || acc.binNs !== t.binNs || n > TIMELINE_BINS) {
    const s = scenarioTimeline(t);
    if (!s) return acc;
    if (acc === null) return s;
    mergeTimeline(acc, s);
    return acc;
  }
  for (let i = acc.peak.length; i < n; i++) {
    acc.peak.push(0);
    acc.sumEnd.push(0n);
    acc.endLo.push(0);
    acc.nEnd.push(0);
    acc.sumLast.push(0n);
    acc.nLast.push(0);
  }
  for (let i = 0; i < n; i++) {
    const p = t.peak[i]!;
    if (p > acc.peak[i]!) acc.peak[i] = p;
    const v = Math.round(t.end[i]!);
    const sum = acc.endLo[i]! + v;
    if (sum >= SAFE || sum <= -SAFE) {
      acc.sumEnd[i] = acc.sumEnd[i]! + BigInt(acc.endLo[i]!) + BigInt(v);
      acc.endLo[i] = 0;
    } else acc.endLo[i] = sum;
    acc.nEnd[i]!++;
  }
  if (n > 0) {
    acc.sumLast[n - 1] = acc.sumLast[n - 1]! + BigInt(Math.round(t.end[n - 1]!));
    acc.nLast[n - 1]!++;
  }
  return acc;
}

function timelineOut(t: Timeline | null): TimelineOut | null {
  if (!t) return null;
  foldTimeline(t);
  return {
    binNs: t.binNs,
    meanUsedBytes: t.sumEnd.map((s, i) => ((t.nEnd[i] ?? 0) ? Number(s / BigInt(t.nEnd[i]!)) : null)),
    maxPeakBytes: [...t.peak],
    scenarios: [...t.nEnd],
  };
}

interface DomainAcc {
  topology: string;
  type: string;
  devices: string[];
  dmaLimitBytes: number | null;
  apertureBytes: number | null;
  allocations: number;
  nodesVisited: number;
  rcacheHits: number;
  allocatorRecorded: boolean;
  mappings: number;
  mappedIovaBytes: bigint;
  headroomMappings: Stat;
  firstFailure: Stat;
  timeline: Timeline | null;
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
  const scenarioMappings = (s.modes.iova ?? 0) + (s.modes.per_range ?? 0) + (s.modes.system ?? 0);
  const scenarioMeanIova = scenarioMappings ? s.whatIf.iovaBytesSpent / scenarioMappings : 0;
  for (const d of s.domains) {
    const x = d as typeof d & DomainExtras;
    const limit = typeof x.dmaLimitBytes === 'number' ? x.dmaLimitBytes : null;
    const key = `${s.topologyId} ${d.type} ${[...d.devices].sort().join('+')}${limit === null ? '' : ` ${limit}`}`;
    let a = g.domains.get(key);
    if (!a) {
      a = {
        topology: s.topologyId,
        type: d.type,
        devices: [...d.devices].sort(),
        dmaLimitBytes: limit,
        apertureBytes: typeof x.apertureBytes === 'number' ? x.apertureBytes : null,
        allocations: 0,
        nodesVisited: 0,
        rcacheHits: 0,
        allocatorRecorded: false,
        mappings: 0,
        mappedIovaBytes: 0n,
        headroomMappings: newStat(),
        firstFailure: newStat(),
        timeline: null,
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
    if (typeof x.allocations === 'number') {
      a.allocatorRecorded = true;
      a.allocations += x.allocations;
      a.nodesVisited += x.nodesVisited ?? 0;
      a.rcacheHits += x.rcacheHits ?? 0;
    }
    // Headroom in mappings of this scenario's own size mix: the domain's mean IOVA per mapping when recorded,
    // else the scenario's. (An upper bound: alignment and holes smaller than a mapping are not subtracted;
    // the fragmentation figure beside it says how far off that may be.)
    if (typeof x.mappings === 'number') {
      a.mappings += x.mappings;
      a.mappedIovaBytes += BigInt(Math.round(x.mappedIovaBytes ?? 0));
    }
    const mean = x.mappings ? (x.mappedIovaBytes ?? 0) / x.mappings : scenarioMeanIova;
    if (mean > 0) addStat(a.headroomMappings, Math.floor(d.headroomBytes / mean));
    if (typeof x.firstFailureNs === 'number') addStat(a.firstFailure, x.firstFailureNs);
    if (x.timeline) a.timeline = addScenarioTimeline(a.timeline, x.timeline);
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
    for (const f of [
      'peak',
      'used',
      'headroom',
      'free32',
      'largestFree32',
      'fragmentationPermille',
      'headroomMappings',
      'firstFailure',
    ] as const)
      mergeStat(x[f], d[f]);
    x.allocFailures += d.allocFailures;
    x.leakedBytes += d.leakedBytes;
    x.allocatorRecorded ||= d.allocatorRecorded;
    x.allocations += d.allocations;
    x.nodesVisited += d.nodesVisited;
    x.rcacheHits += d.rcacheHits;
    x.mappings += d.mappings;
    x.mappedIovaBytes += d.mappedIovaBytes;
    if (x.apertureBytes === null) x.apertureBytes = d.apertureBytes;
    else if (d.apertureBytes !== null) x.apertureBytes = Math.max(x.apertureBytes, d.apertureBytes);
    if (d.timeline) {
      if (x.timeline) mergeTimeline(x.timeline, d.timeline);
      else x.timeline = structuredClone(d.timeline);
    }
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
  /** One entry per importer IOMMU domain (machine, type, devices and DMA limit), bytes. */
  domains: {
    /** Topology id of the machine the domain is on. */
    topology: string;
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
    /** Lowest DMA limit of the domain's devices (bytes; 2^32 for a 32-bit importer), null if not recorded. */
    dmaLimitBytes: number | null;
    /** Aperture end + 1 (bytes), null if not recorded. */
    apertureBytes: number | null;
    /** More mappings of the workload's size mix the free IOVA below the DMA limit takes at the end. */
    headroomMappings: StatOut;
    /** The kernel allocator's cost: tree nodes walked per allocation, range-cache hit rate (null: not recorded). */
    allocator: { allocations: number; nodesPerAllocation: number | null; rcacheHitRate: number | null } | null;
    /** Successful mappings into the domain and their mean IOVA bytes (null: not recorded). */
    mappings: { count: number; meanIovaBytes: number | null } | null;
    /** Virtual time (ns) of the domain's first allocation failure, over the scenarios that had one. */
    firstFailureNs: StatOut;
    /** IOVA use over virtual time (null: not recorded). */
    timeline: TimelineOut | null;
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
        topology: d.topology,
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
        dmaLimitBytes: d.dmaLimitBytes,
        apertureBytes: d.apertureBytes,
        headroomMappings: statOut(d.headroomMappings),
        allocator: d.allocatorRecorded
          ? {
              allocations: d.allocations,
              nodesPerAllocation: d.allocations ? d.nodesVisited / d.allocations : null,
              rcacheHitRate: d.allocations ? d.rcacheHits / d.allocations : null,
            }
          : null,
        mappings: d.allocatorRecorded
          ? { count: d.mappings, meanIovaBytes: d.mappings ? Number(d.mappedIovaBytes / BigInt(d.mappings)) : null }
          : null,
        firstFailureNs: statOut(d.firstFailure),
        timeline: timelineOut(d.timeline),
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

/** A machine of the sweep: the device-pair matrix the kernel computes for it (on an empty map-type cache). */
export interface MachineReport {
  /** Key of the machine in this report (groups name it): 16 hex digits of its topology and P2P options. */
  key: string;
  /** Topology id. */
  id: string;
  /** Configuration groups (their keys as `axis = value` text) whose scenarios run on it. */
  groups: string[];
  devices: { bdf: string; label: string | null; class: string | null; role: 'exporter' | 'importer' | null }[];
  /** Every ordered pair of two different devices (provider a, client b). */
  pairs: { a: string; b: string; mapType: string; distance: number; pathClass: string; reason: string }[];
  /** Pairs by map type. */
  verdict: Record<string, number>;
}

/** At most this many devices per machine matrix: the exporters and importers first, then GPUs, NICs, ... */
export const MACHINE_DEVICES = 16;
const CLASS_ORDER = ['gpu', 'nic', 'accel', 'nvme'];

function groupTitle(key: Readonly<Record<string, string>>): string {
  return Object.entries(key)
    .map(([k, v]) => {
      let t = v;
      try {
        const j = JSON.parse(v) as unknown;
        if (typeof j === 'string') t = j;
      } catch {
        // labels of set values are plain text
      }
      return `${k} = ${t}`;
    })
    .join(', ');
}

/**
 * The machine of each group's first scenario (lowest index: order-independent) and its device-pair matrix,
 * from the scenarios the sweep recorded (topologies are inline there). Scenarios whose configuration is
 * invalid are skipped (their error is in the group's errors).
 */
function sweepMachines(
  sweep: Sweep,
  firstIndex: ReadonlyMap<string, { key: Record<string, string>; index: number }>,
): { machines: MachineReport[]; byGroup: Map<string, string> } {
  const machines = new Map<string, MachineReport>();
  const byGroup = new Map<string, string>();
  for (const [gk, g] of [...firstIndex.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    let cfg: ReturnType<typeof scenarioToSimConfig>;
    let mk: string;
    try {
      const scenario = sweep.scenarioAt(g.index).scenario as never;
      cfg = scenarioToSimConfig(scenario, '<scenario>');
      mk = fnv1a64Hex(canonicalJson({ t: scenarioTopologySpec(scenario, '<scenario>'), p2p: cfg.kernel.p2p ?? {} }));
    } catch {
      continue;
    }
    const t = cfg.topology;
    byGroup.set(gk, mk);
    const have = machines.get(mk);
    if (have) {
      have.groups.push(groupTitle(g.key));
      continue;
    }
    const role = new Map<string, 'exporter' | 'importer'>();
    for (const e of cfg.exporters) role.set(e.device, 'exporter');
    for (const i of cfg.importers) if (!role.has(i.device)) role.set(i.device, 'importer');
    const rank = (f: (typeof t.functions)[number]): number => {
      const r = role.get(f.bdf);
      if (r === 'exporter') return 0;
      if (r === 'importer') return 1;
      const c = CLASS_ORDER.indexOf(f.deviceClass ?? '');
      return c < 0 ? 99 : 2 + c;
    };
    const chosen = t.functions
      .filter((f) => rank(f) < 99 && !f.physfn)
      .sort((a, b) => rank(a) - rank(b) || (a.bdf < b.bdf ? -1 : 1))
      .slice(0, MACHINE_DEVICES);
    const rows = pairMatrix(
      t,
      chosen.map((f) => f.bdf),
      { ...(cfg.kernel.p2p ?? {}), ordered: true },
    );
    const verdict: Record<string, number> = {};
    for (const r of rows) verdict[r.mapType] = (verdict[r.mapType] ?? 0) + 1;
    machines.set(mk, {
      key: mk,
      id: t.id,
      groups: [groupTitle(g.key)],
      devices: chosen.map((f) => ({
        bdf: f.bdf,
        label: f.label ?? null,
        class: f.deviceClass ?? null,
        role: role.get(f.bdf) ?? null,
      })),
      pairs: rows.map((r) => ({
        a: r.a,
        b: r.b,
        mapType: r.mapType,
        distance: r.distance,
        pathClass: r.pathClass,
        reason: r.reason,
      })),
      verdict: sortedObject(verdict),
    });
  }
  return { machines: [...machines.values()], byGroup };
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
  /** One per configuration group: the values of the groupBy axes (canonical JSON text each), and its machine's key. */
  groups: (GroupReport & { key: Record<string, string>; title: string; machine: string | null })[];
  /** The machines of the sweep with their device-pair matrices. */
  machines: MachineReport[];
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
  const groups = new Map<string, { key: Record<string, string>; acc: GroupAcc; index: number }>();
  const seen = new Set<number>();
  for await (const shard of shards) {
    for (const rec of shard.scenarios) {
      if (seen.has(rec.index)) continue;
      seen.add(rec.index);
      const gk = canonicalJson(rec.group);
      let g = groups.get(gk);
      if (!g) {
        g = { key: { ...rec.group }, acc: newGroup(), index: rec.index };
        groups.set(gk, g);
      } else if (rec.index < g.index) g.index = rec.index;
      if (rec.summary !== undefined && !rec.error) addSummary(g.acc, rec, rec.summary as ScenarioSummary);
      else addError(g.acc, rec);
    }
  }
  const overall = newGroup();
  const sortedGroups = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, g] of sortedGroups) mergeGroup(overall, g.acc);
  const out = groupOut(overall);
  const { machines, byGroup } = sweepMachines(sweep, groups);
  return {
    kind: 'dmasim-report',
    version: 1,
    sweepId: sweep.id,
    ...(sweep.spec.description ? { description: sweep.spec.description } : {}),
    scenarios: { total: out.scenarios, ok: out.scenarios - out.failedScenarios, failed: out.failedScenarios },
    axes: sweep.axes.map((a) => ({ name: a.name, path: a.path, values: a.count })),
    groupBy: [...sweep.groupBy],
    overall: out,
    groups: sortedGroups.map(([gk, g]) => ({
      key: g.key,
      title: groupTitle(g.key),
      machine: byGroup.get(gk) ?? null,
      ...groupOut(g.acc),
    })),
    machines,
    ...(run ? { run } : {}),
  };
}
