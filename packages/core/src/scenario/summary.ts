/**
 * The summary of one scenario run, and the statistics collector that builds it from the run's events
 * and the simulator's live state. A summary is JSON-safe (no bigint: byte counts are numbers, exact up to
 * 8 PiB; addresses never appear) and made of counters and fixed-bucket histograms, so that summaries of
 * millions of scenarios merge by addition ({@link mergeCounts}, {@link mergeHistograms}).
 */
import type { SimEvent } from '../events/event-schema.ts';
import type { IommuDomain } from '../iommu/iommu-domain.ts';
import type { IommuStep } from '../iommu/iommu-steps.ts';
import type { Simulator } from '../sim/simulator.ts';

/** A histogram with fixed power-of-two buckets: `counts[k]` counts values in `(2^(k-1), 2^k]` (k = 0: the value 1). */
export interface Histogram {
  /** Upper bounds of the buckets: 1, 2, 4, ..., 2^31. */
  readonly le: readonly number[];
  readonly counts: number[];
}

/** IOVA use of one IOMMU domain (bytes). */
export interface DomainSummary {
  readonly domainId: number;
  readonly type: string;
  readonly devices: string[];
  /**
   * IOVA bytes held by tree nodes at the end, not counting init-time reservations: live mappings, ranges
   * parked in range caches and flush queues (they stay in the tree), and leaks.
   */
  readonly usedBytes: number;
  /** Largest allocated IOVA bytes after any operation. */
  readonly peakBytes: number;
  /** Reserved at init (host-bridge windows, MSI and other regions), bytes. */
  readonly reservedBytes: number;
  /** Free IOVA below 4 GiB at the end, bytes, and its largest free hole. */
  readonly free32Bytes: number;
  readonly largestFree32Bytes: number;
  /** 1 - largest hole / free space below 4 GiB (0: one hole; near 1: shattered). */
  readonly fragmentation32: number;
  /** Free IOVA below the lowest DMA limit of the domain's devices at the end, bytes. */
  readonly headroomBytes: number;
  /** Allocations that found no IOVA at all (after the flush-and-retry). */
  readonly allocFailures: number;
  /** IOVA bytes held by nodes that no mapping, cache or flush queue accounts for at the end. */
  readonly leakedBytes: number;
  /** Lowest DMA limit of the domain's devices (mask + 1, capped by the aperture), bytes. */
  readonly dmaLimitBytes?: number;
  /** Aperture end + 1, bytes. */
  readonly apertureBytes?: number;
  /** IOVA allocations (`alloc_iova`/`alloc_iova_fast` calls), rbtree nodes they visited, range-cache hits. */
  readonly allocations?: number;
  readonly nodesVisited?: number;
  readonly rcacheHits?: number;
  /** Successful mappings into this domain that took IOVA, and the IOVA bytes they took. */
  readonly mappings?: number;
  readonly mappedIovaBytes?: number;
  /** Virtual time (ns) of the domain's first allocation that found no space, or null. */
  readonly firstFailureNs?: number | null;
  /**
   * IOVA use over virtual time, sampled at the end of every map attempt and at the end of the run: bin `i`
   * covers `[i * binNs, (i + 1) * binNs)` (`binNs` a power of two, at most {@link TIMELINE_MAX_BINS} bins);
   * `end[i]` is the use at the bin's last sample (carried forward through bins without one), `peak[i]` the
   * largest sample in it.
   */
  readonly timeline?: { readonly binNs: number; readonly end: number[]; readonly peak: number[] };
}

/** Bins of a domain's IOVA timeline at most; the bin width doubles to stay within it. */
export const TIMELINE_MAX_BINS = 64;
const TIMELINE_FIRST_BIN_NS = 2 ** 16;

/** Records samples (time order) into a power-of-two-binned timeline, widening to stay within the bins. */
class TimelineRecorder {
  binNs = TIMELINE_FIRST_BIN_NS;
  end: number[] = [];
  peak: number[] = [];
  private last = 0;

  record(tNs: number, v: number): void {
    let bin = Math.floor(tNs / this.binNs);
    while (bin >= TIMELINE_MAX_BINS) {
      const end: number[] = [];
      const peak: number[] = [];
      for (let j = 0; 2 * j < this.end.length; j++) {
        end.push(this.end[2 * j + 1] ?? this.end[2 * j]!);
        peak.push(Math.max(this.peak[2 * j]!, this.peak[2 * j + 1] ?? 0));
      }
      this.end = end;
      this.peak = peak;
      this.binNs *= 2;
      bin = Math.floor(tNs / this.binNs);
    }
    while (this.end.length <= bin) {
      this.end.push(this.last);
      this.peak.push(this.last);
    }
    this.end[bin] = v;
    if (v > this.peak[bin]!) this.peak[bin] = v;
    this.last = v;
  }
}

/** The summary of one scenario run. */
export interface ScenarioSummary {
  readonly kind: 'dmasim-summary';
  readonly version: 1;
  readonly scenarioId: string;
  readonly attempt: number;
  readonly seed: number;
  readonly topologyId: string;
  /** Canonical state hash at the end (equal to a replay's). */
  readonly stateHash: string;
  readonly eventCount: number;
  /** Virtual time at the end (ns). */
  readonly durationNs: number;
  /** Operations by kind: attempts and failures. */
  readonly ops: Record<string, { attempts: number; failures: number }>;
  /** Map-type decisions made while mapping, by result. */
  readonly mapTypes: { BUS_ADDR: number; THRU_HOST_BRIDGE: number; NOT_SUPPORTED: number };
  /** Successful mappings by mode. */
  readonly modes: { bus_addr: number; iova: number; per_range: number; system: number };
  /** SG entries per successful mapping. */
  readonly sgEntries: Histogram;
  readonly domains: DomainSummary[];
  /** Failures by operation and errno name (`map.EINVAL`, `attach.EOPNOTSUPP`). */
  readonly failures: Record<string, number>;
  /** THRU maps that fell back to per-range mode, 32-bit-first give-ups, failure-time rcache flushes. */
  readonly fallbacks: { iovaToPerRange: number; dacSwitches: number; rcacheFlushes: number };
  /** Virtual time (ns) of the first IOVA allocation that found no space, or null. */
  readonly firstExhaustionNs: number | null;
  /** IOVA leaked by error paths (hazard 3.8-4) and left unaccounted at the end. */
  readonly leaks: { iovaLeakEvents: number; iovaLeakBytes: number; unaccountedIovaBytes: number };
  /** Hazards seen, by kind. */
  readonly hazards: Record<string, number>;
  /** Device accesses to unmapped IOVA. */
  readonly faults: number;
  /** The exporter-policy what-if numbers (kernel-model.md 8.1). */
  readonly whatIf: {
    /** Successful mappings that stayed peer-to-peer in the BAR (BUS_ADDR, IOVA or per-range). */
    readonly mappingsKeptP2p: number;
    /** Successful mappings of a system-memory copy. */
    readonly mappingsMigrated: number;
    readonly attachmentsRefused: number;
    readonly migrations: number;
    readonly bytesMigrated: number;
    /** IOVA bytes taken by successful mappings (IOVA mode: the block; per-range and system: the ranges). */
    readonly iovaBytesSpent: number;
    /** Bytes mapped BUS_ADDR: no IOVA needed at all. */
    readonly iovaBytesSaved: number;
    /** Policy decisions by kind. */
    readonly decisions: { keep_p2p: number; migrate: number; refuse: number };
  };
  /** Route of every exporter -> importer pair mapped (for planning, kernel-model.md 8.1). */
  readonly pairs: { exporter: string; importer: string; mapType: string; distance: number | null }[];
  /** Trace re-drive only: recorded operations that could not be replayed (their object did not exist). */
  readonly traceSkipped?: number;
}

const LE = Array.from({ length: 32 }, (_, k) => 2 ** k);

function emptyHistogram(): Histogram {
  return { le: LE, counts: LE.map(() => 0) };
}

function bucket(v: number): number {
  let k = 0;
  while (k < 31 && 2 ** k < v) k++;
  return k;
}

/** Adds `b` into `a` (counter objects with the same keys or new ones). */
export function mergeCounts(a: Record<string, number>, b: Readonly<Record<string, number>>): Record<string, number> {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
  return a;
}

/** Adds histogram `b` into `a` (same buckets). */
export function mergeHistograms(a: Histogram, b: Histogram): Histogram {
  for (let i = 0; i < a.counts.length; i++) a.counts[i]! += b.counts[i] ?? 0;
  return a;
}

interface DomainAcc {
  reservedPages: number;
  peakPages: number;
  allocFailures: number;
  allocations: number;
  nodesVisited: number;
  rcacheHits: number;
  mappings: number;
  mappedIovaBytes: number;
  firstFailureNs: number | null;
  timeline: TimelineRecorder;
}

/** Collects the statistics of one run as events go by. */
export class RunStats {
  private readonly sim: Simulator;
  readonly ops: Record<string, { attempts: number; failures: number }> = {};
  readonly mapTypes = { BUS_ADDR: 0, THRU_HOST_BRIDGE: 0, NOT_SUPPORTED: 0 };
  readonly modes = { bus_addr: 0, iova: 0, per_range: 0, system: 0 };
  readonly sg = emptyHistogram();
  readonly failures: Record<string, number> = {};
  readonly fallbacks = { iovaToPerRange: 0, dacSwitches: 0, rcacheFlushes: 0 };
  firstExhaustionNs: number | null = null;
  readonly leaks = { iovaLeakEvents: 0, iovaLeakBytes: 0 };
  readonly hazards: Record<string, number> = {};
  faults = 0;
  readonly whatIf = {
    mappingsKeptP2p: 0,
    mappingsMigrated: 0,
    attachmentsRefused: 0,
    migrations: 0,
    bytesMigrated: 0,
    iovaBytesSpent: 0,
    iovaBytesSaved: 0,
    decisions: { keep_p2p: 0, migrate: 0, refuse: 0 },
  };
  private readonly pairs = new Map<
    string,
    { exporter: string; importer: string; mapType: string; distance: number | null }
  >();
  /** The key in {@link pairs} of each provider and client seen, made once (a fresh string hashes anew). */
  private readonly pairKeys = new Map<string | null, Map<string | null, string>>();
  private readonly domains = new Map<number, DomainAcc>();
  /** Each domain with its accumulator and granule (bytes), in id order: what {@link sample} walks. */
  private readonly sampled: { domain: IommuDomain; acc: DomainAcc; granule: number }[] = [];
  private inMap = false;
  private thruTryFailed = false;

  constructor(sim: Simulator) {
    this.sim = sim;
    for (const d of sim.domainList()) {
      const iova = d.iova;
      const acc: DomainAcc = {
        reservedPages: iova ? iova.usedPageCount : 0,
        peakPages: 0,
        allocFailures: 0,
        allocations: 0,
        nodesVisited: 0,
        rcacheHits: 0,
        mappings: 0,
        mappedIovaBytes: 0,
        firstFailureNs: null,
        timeline: new TimelineRecorder(),
      };
      this.domains.set(d.id, acc);
      this.sampled.push({ domain: d, acc, granule: Number(d.granule) });
    }
    sim.watch(
      [
        'dmabuf.export',
        'dmabuf.attach',
        'dmabuf.map.begin',
        'p2p.map_type',
        'dmabuf.map.end',
        'dmabuf.unmap',
        'dmabuf.detach',
        'dmabuf.revoke',
        'hazard',
        'error',
        'device.fault',
        'exporter.policy',
        'exporter.migrate',
      ],
      (e) => this.observe(e),
    );
    // Frequent DMA/IOVA records: their steps as they are (no event objects), for a few fields each.
    sim.watchSteps(
      ['dma.iova_try_alloc', 'dma.map_phys', 'iova.dac_switch', 'iova.rcache_flush', 'iova.alloc'],
      (s, tNs) => this.observeStep(s, tNs),
    );
  }

  private count(op: string, failed: boolean): void {
    let o = this.ops[op];
    if (o === undefined) {
      o = { attempts: 0, failures: 0 };
      this.ops[op] = o;
    }
    o.attempts++;
    if (failed) o.failures++;
  }

  private observe(e: SimEvent): void {
    switch (e.type) {
      case 'dmabuf.export':
        this.count('export', e.data.result !== 0);
        return;
      case 'dmabuf.attach':
        this.count('attach', e.data.result !== 0);
        return;
      case 'dmabuf.map.begin':
        this.inMap = true;
        this.thruTryFailed = false;
        return;
      case 'p2p.map_type': {
        if (!this.inMap) return;
        this.mapTypes[e.data.result]++;
        const key = this.pairKey(e.data.provider, e.data.client);
        const prev = this.pairs.get(key);
        if (!prev || (prev.distance === null && e.data.distance !== null)) {
          this.pairs.set(key, {
            exporter: e.data.provider ?? '',
            importer: e.data.client ?? '',
            mapType: e.data.result,
            distance: e.data.distance,
          });
        }
        return;
      }
      case 'dmabuf.map.end': {
        this.inMap = false;
        const ok = e.data.result === 0;
        this.count('map', !ok);
        // IOVA use only grows when something is mapped: the peak is sampled here, not after every operation.
        this.sample();
        if (!ok || e.data.mode === 'none') return;
        this.modes[e.data.mode]++;
        this.sg.counts[bucket(e.data.nents)]!++;
        const size = Number(e.data.size);
        if (e.data.mode === 'system') this.whatIf.mappingsMigrated++;
        else this.whatIf.mappingsKeptP2p++;
        if (e.data.mode === 'bus_addr') {
          this.whatIf.iovaBytesSaved += size;
        } else if (e.data.mode === 'iova') {
          const bytes = Number(e.data.iovaSize ?? 0n);
          this.whatIf.iovaBytesSpent += bytes;
          this.mappedInto(e.data.attachmentId, bytes);
        } else {
          const imp = this.sim.attachments.get(e.data.attachmentId)?.importer;
          if (imp?.dev.dmaIommu) {
            let bytes = 0;
            for (const x of e.data.entries) bytes += x.dmaLength;
            this.whatIf.iovaBytesSpent += bytes;
            this.mappedInto(e.data.attachmentId, bytes);
          }
        }
        if (e.data.mode === 'per_range' && this.thruTryFailed) this.fallbacks.iovaToPerRange++;
        return;
      }
      case 'dmabuf.unmap':
        if (e.data.reason === 'importer') this.count('unmap', false);
        return;
      case 'dmabuf.detach':
        this.count('detach', false);
        return;
      case 'dmabuf.revoke':
        this.count(e.data.revoked ? 'revoke' : 'restore', false);
        return;
      case 'hazard':
        this.hazards[e.data.kind] = (this.hazards[e.data.kind] ?? 0) + 1;
        if (e.data.kind === 'iova_leak') {
          this.leaks.iovaLeakEvents++;
          this.leaks.iovaLeakBytes += Number(e.data.size ?? 0n);
        }
        return;
      case 'error': {
        const k = `${e.data.op}.${e.data.code}`;
        this.failures[k] = (this.failures[k] ?? 0) + 1;
        return;
      }
      case 'device.fault':
        this.faults++;
        return;
      case 'exporter.policy':
        this.whatIf.decisions[e.data.decision]++;
        if (e.data.decision === 'refuse') this.whatIf.attachmentsRefused++;
        return;
      case 'exporter.migrate':
        if (e.data.to === 'system') {
          this.whatIf.migrations++;
          this.whatIf.bytesMigrated += Number(e.data.bytes);
        }
        return;
      default:
        return;
    }
  }

  private observeStep(s: IommuStep, tNs: number): void {
    switch (s.kind) {
      case 'dma.iova_try_alloc':
        if (s.result === 'no_iova') {
          this.thruTryFailed = true;
          this.exhausted(tNs, s.domainId);
        }
        return;
      case 'dma.map_phys':
        if (s.reason === 'no_iova') this.exhausted(tNs, s.domainId);
        return;
      case 'iova.dac_switch':
        this.fallbacks.dacSwitches++;
        return;
      case 'iova.rcache_flush':
        this.fallbacks.rcacheFlushes++;
        return;
      case 'iova.alloc': {
        const d = this.domains.get(s.domainId);
        if (d) {
          d.allocations++;
          d.nodesVisited += s.nodesVisited;
          if (s.source === 'rcache') d.rcacheHits++;
        }
        return;
      }
      default:
        return;
    }
  }

  /** `provider>client`, the key of a pair in {@link pairs}. */
  private pairKey(provider: string | null, client: string | null): string {
    let byClient = this.pairKeys.get(provider);
    if (byClient === undefined) {
      byClient = new Map();
      this.pairKeys.set(provider, byClient);
    }
    let key = byClient.get(client);
    if (key === undefined) {
      key = `${provider}>${client}`;
      byClient.set(client, key);
    }
    return key;
  }

  private exhausted(tNs: number, id: number | null | undefined): void {
    if (this.firstExhaustionNs === null) this.firstExhaustionNs = tNs;
    if (id !== null && id !== undefined) {
      const d = this.domains.get(id);
      if (d) {
        d.allocFailures++;
        if (d.firstFailureNs === null) d.firstFailureNs = tNs;
      }
    }
  }

  /** A successful mapping took `bytes` of IOVA in its importer's domain. */
  private mappedInto(attachmentId: number, bytes: number): void {
    const dom = this.sim.attachments.get(attachmentId)?.importer.domain;
    const d = dom ? this.domains.get(dom.id) : undefined;
    if (!d) return;
    d.mappings++;
    d.mappedIovaBytes += bytes;
  }

  /** Samples IOVA use (at the end of every map attempt, the only time it can reach a new peak). */
  sample(): void {
    const now = this.sim.now;
    for (let i = 0; i < this.sampled.length; i++) {
      const { domain, acc, granule } = this.sampled[i]!;
      const iova = domain.iova;
      if (!iova) continue;
      const used = iova.usedPageCount - acc.reservedPages;
      if (used > acc.peakPages) acc.peakPages = used;
      acc.timeline.record(now, used * granule);
    }
  }

  private domainSummary(id: number): DomainSummary {
    const sim = this.sim;
    const d = sim.domainList().find((x) => x.id === id)!;
    const acc = this.domains.get(id)!;
    const devices = [...sim.importers.values()]
      .filter((i) => i.domain === d)
      .map((i) => i.fn.bdf)
      .sort();
    const iova = d.iova;
    const g = Number(d.granule);
    if (!iova) {
      return {
        domainId: id,
        type: d.type,
        devices,
        usedBytes: 0,
        peakBytes: 0,
        reservedBytes: 0,
        free32Bytes: 0,
        largestFree32Bytes: 0,
        fragmentation32: 0,
        headroomBytes: 0,
        allocFailures: acc.allocFailures,
        leakedBytes: 0,
      };
    }
    const nodes = iova.ranges().map((r) => [Number(r.pfnLo), Number(r.pfnHi)] as const);
    const start = Number(iova.startPfn);
    const pfn32 = 2 ** (32 - d.shift);
    let limitPfn = Number((d.geometry.apertureEnd >> BigInt(d.shift)) + 1n);
    for (const i of sim.importers.values()) {
      if (i.domain !== d) continue;
      const l = Number((i.dev.dmaGetMask() >> BigInt(d.shift)) + 1n);
      if (l < limitPfn) limitPfn = l;
    }
    const free = (lo: number, hi: number) => {
      // Free pages and the largest hole in [lo, hi).
      let total = 0;
      let largest = 0;
      let cursor = lo;
      for (const [a, b] of nodes) {
        if (b < cursor) continue;
        if (a >= hi) break;
        if (a > cursor) {
          const gap = Math.min(a, hi) - cursor;
          total += gap;
          if (gap > largest) largest = gap;
        }
        cursor = Math.max(cursor, b + 1);
        if (cursor >= hi) break;
      }
      if (cursor < hi) {
        const gap = hi - cursor;
        total += gap;
        if (gap > largest) largest = gap;
      }
      return { total, largest };
    };
    const f32 = free(start, pfn32);
    const head = free(start, limitPfn);
    const used = iova.usedPageCount - acc.reservedPages;
    return {
      domainId: id,
      type: d.type,
      devices,
      usedBytes: used * g,
      peakBytes: Math.max(acc.peakPages, used) * g,
      reservedBytes: acc.reservedPages * g,
      free32Bytes: f32.total * g,
      largestFree32Bytes: f32.largest * g,
      fragmentation32: f32.total === 0 ? 0 : 1 - f32.largest / f32.total,
      headroomBytes: head.total * g,
      allocFailures: acc.allocFailures,
      leakedBytes: this.unaccounted(d.id) * g,
      dmaLimitBytes: limitPfn * g,
      apertureBytes: Number(d.geometry.apertureEnd + 1n),
      allocations: acc.allocations,
      nodesVisited: acc.nodesVisited,
      rcacheHits: acc.rcacheHits,
      mappings: acc.mappings,
      mappedIovaBytes: acc.mappedIovaBytes,
      firstFailureNs: acc.firstFailureNs,
      timeline: { binNs: acc.timeline.binNs, end: acc.timeline.end, peak: acc.timeline.peak },
    };
  }

  /**
   * Pages held by tree nodes that no reservation made at init, live mapping, range cache or flush queue
   * accounts for: what error paths leaked (and what mis-sized releases left behind).
   */
  private unaccounted(id: number): number {
    const sim = this.sim;
    const d = sim.domainList().find((x) => x.id === id)!;
    const iova = d.iova;
    if (!iova) return 0;
    const shift = BigInt(d.shift);
    const held: number[] = [];
    // The range caches and flush queues directly: a whole domain snapshot (page table included) for
    // these was a visible part of a sweep scenario's time.
    iova.collectCachedPfns(held);
    for (const q of d.flushQueue?.snapshot().queues ?? []) for (const e of q) held.push(Number(e.pfn));
    for (const m of sim.mappings.values()) {
      if (m.attachment.importer.domain !== d) continue;
      if (m.mode === 'iova' && m.sgt?.state) held.push(Number(m.sgt.state.addr >> shift));
      else for (const e of m.entries) held.push(Number(e.dmaAddress >> shift));
    }
    held.sort((a, b) => a - b);
    let pages = 0;
    let reservedLeft = this.domains.get(id)!.reservedPages;
    for (const r of iova.ranges()) {
      const lo = Number(r.pfnLo);
      const hi = Number(r.pfnHi);
      // Binary search: is any held pfn inside [lo, hi]?
      let a = 0;
      let b = held.length;
      while (a < b) {
        const mid = (a + b) >>> 1;
        if (held[mid]! < lo) a = mid + 1;
        else b = mid;
      }
      if (a < held.length && held[a]! <= hi) continue;
      pages += hi - lo + 1;
    }
    // Reservations are nodes no one holds: take them out.
    reservedLeft = Math.min(reservedLeft, pages);
    return pages - reservedLeft;
  }

  /** The summary (call once, at the end). */
  summary(scenarioId: string, attempt: number, seed: number, stateHash: string): ScenarioSummary {
    const sim = this.sim;
    this.sample();
    return {
      kind: 'dmasim-summary',
      version: 1,
      scenarioId,
      attempt,
      seed,
      topologyId: sim.topology.id,
      stateHash,
      eventCount: sim.eventCount,
      durationNs: sim.now,
      ops: this.ops,
      mapTypes: this.mapTypes,
      modes: this.modes,
      sgEntries: this.sg,
      domains: [...this.domains.keys()].sort((a, b) => a - b).map((id) => this.domainSummary(id)),
      failures: this.failures,
      fallbacks: this.fallbacks,
      firstExhaustionNs: this.firstExhaustionNs,
      leaks: {
        ...this.leaks,
        unaccountedIovaBytes: [...this.domains.keys()].reduce(
          (s, id) => s + this.unaccounted(id) * Number(sim.domainList().find((x) => x.id === id)!.granule),
          0,
        ),
      },
      hazards: this.hazards,
      faults: this.faults,
      whatIf: this.whatIf,
      pairs: [...this.pairs.values()].sort((a, b) => (a.exporter + a.importer < b.exporter + b.importer ? -1 : 1)),
    };
  }
}
