/**
 * The seeded workload generator and driver: buffers exported from every exporter (sizes, number of
 * physical ranges, fragmentation inside the BAR), attachments by pattern, an initial map of every
 * attachment, then steady-state churn (map, unmap, detach, re-attach, memory decode toggles) at random
 * times, and an optional teardown. Everything random comes from one {@link Rng} seeded by the scenario.
 */
import type { SimEvent } from '../events/event-schema.ts';
import type { DirName, Simulator } from '../sim/simulator.ts';
import { parseByteCount } from './byte-count.ts';
import { IdMap, IdSet, IndexedSet, type Rng } from './rng.ts';
import type { ScenarioSpec, SizeDistribution } from './scenario-spec.ts';

/** The workload of a scenario with defaults applied. Sizes in pages. */
export interface WorkloadPlan {
  readonly buffersPerExporter: number;
  readonly size: SizeDistribution;
  readonly rangesMin: number;
  readonly rangesMax: number;
  readonly fragmentation: number;
  readonly pattern: 'all' | 'round_robin' | 'random';
  readonly perBuffer: number;
  readonly weights: { map: number; unmap: number; detach: number; attach: number; revoke: number };
  readonly maxMappingsPerAttachment: number;
  readonly operations: number;
  readonly durationNs: number;
  readonly meanIntervalNs: number;
  readonly cpus: 'round_robin' | 'random' | 'importer';
  readonly dir: DirName;
  readonly teardown: boolean;
  readonly checkpointEvery: number;
}

/** Defaults of the scenario `workload` section. */
export function workloadPlan(spec: ScenarioSpec): WorkloadPlan {
  const w = spec.workload ?? {};
  const r = w.buffers?.ranges ?? 1;
  const c = w.churn ?? {};
  const weights = {
    map: c.map ?? 4,
    unmap: c.unmap ?? 4,
    detach: c.detach ?? 1,
    attach: c.attach ?? 1,
    revoke: c.revoke ?? 0,
  };
  return {
    buffersPerExporter: w.buffers?.count ?? 4,
    size: w.buffers?.size ?? { fixed: '2MiB' },
    rangesMin: typeof r === 'number' ? r : r.min,
    rangesMax: typeof r === 'number' ? r : r.max,
    fragmentation: w.buffers?.fragmentation ?? 0,
    pattern: w.attach?.pattern ?? 'all',
    perBuffer: w.attach?.perBuffer ?? 1,
    weights,
    maxMappingsPerAttachment: c.maxMappingsPerAttachment ?? 1,
    operations: w.operations ?? 1000,
    durationNs: w.durationNs ?? Number.MAX_SAFE_INTEGER,
    meanIntervalNs: w.meanIntervalNs ?? 100_000,
    cpus: w.cpus ?? 'round_robin',
    dir: w.dir ?? 'BIDIRECTIONAL',
    teardown: w.teardown ?? true,
    checkpointEvery: spec.checkpointEvery ?? 0,
  };
}

function pagesOf(bytes: bigint, page: bigint): number {
  return Number((bytes + page - 1n) / page);
}

/** Draws a buffer size in pages. */
function drawPages(rng: Rng, d: SizeDistribution, pageSize: number): number {
  const page = BigInt(pageSize);
  if ('fixed' in d) return pagesOf(parseByteCount(d.fixed), page);
  if ('choice' in d) return pagesOf(parseByteCount(rng.pick(d.choice)), page);
  if ('uniform' in d) {
    return rng.int(pagesOf(parseByteCount(d.uniform.min), page), pagesOf(parseByteCount(d.uniform.max), page));
  }
  const min = pagesOf(parseByteCount(d.log2uniform.min), page);
  const max = pagesOf(parseByteCount(d.log2uniform.max), page);
  // An exponent uniformly, then a size uniformly within that octave (clipped to [min, max]).
  let lo = 0;
  while (2 ** (lo + 1) <= min) lo++;
  let hi = lo;
  while (2 ** (hi + 1) <= max) hi++;
  const e = rng.int(lo, hi);
  const a = Math.max(min, 2 ** e);
  const b = Math.min(max, 2 ** (e + 1) - 1);
  return rng.int(a, Math.max(a, b));
}

/** Splits `pages` into `n` positive parts at random cut points. */
function split(rng: Rng, pages: number, n: number): number[] {
  if (n <= 1 || pages <= 1) return [pages];
  const k = Math.min(n, pages);
  const cuts = new Set<number>();
  while (cuts.size < k - 1) cuts.add(rng.int(1, pages - 1));
  const sorted = [...cuts].sort((a, b) => a - b);
  const out: number[] = [];
  let prev = 0;
  for (const c of sorted) {
    out.push(c - prev);
    prev = c;
  }
  out.push(pages - prev);
  return out;
}

/** Drives a simulator through a generated workload. */
export class WorkloadDriver {
  private readonly sim: Simulator;
  private readonly plan: WorkloadPlan;
  private readonly rng: Rng;
  private t = 0;
  private op = 0;
  private readonly liveMappings = new IdSet();
  private readonly mappable = new IdSet();
  private readonly liveAttachments = new IdSet();
  /** Planned (dma-buf, importer) pairs not attached now, keyed `dmabufId * 2^16 + importer index`. */
  private readonly detachedPairs = new IndexedSet<number>();
  /** Pair key + 1 of each live attachment (0: none). */
  private readonly attachmentPair = new IdMap();
  /** Live mappings of each attachment. */
  private readonly mappingCount = new IdMap();
  private readonly importerIndex = new Map<string, number>();
  private readonly importerNames: string[] = [];
  private readonly vfioExporters: string[];
  /** Called after every operation (the run's statistics sample IOVA use here). */
  onOperation: (() => void) | undefined;

  constructor(sim: Simulator, plan: WorkloadPlan, rng: Rng) {
    this.sim = sim;
    this.plan = plan;
    this.rng = rng;
    this.vfioExporters = [...sim.exporters.values()].filter((e) => e.cfg.kind === 'vfio-pci').map((e) => e.fn.bdf);
    for (const name of sim.importers.keys()) {
      this.importerIndex.set(name, this.importerNames.length);
      this.importerNames.push(name);
    }
    sim.watch(['dmabuf.attach', 'dmabuf.detach', 'dmabuf.map.end', 'dmabuf.unmap'], (e) => this.observe(e));
  }

  private observe(e: SimEvent): void {
    switch (e.type) {
      case 'dmabuf.attach': {
        if (e.data.result !== 0) return;
        const id = e.data.attachmentId;
        const key = this.pairKey(e.data.dmabufId, e.data.importer);
        this.liveAttachments.add(id);
        this.mappable.add(id);
        this.mappingCount.set(id, 0);
        this.attachmentPair.set(id, key + 1);
        this.detachedPairs.delete(key);
        return;
      }
      case 'dmabuf.detach': {
        const id = e.data.attachmentId;
        this.liveAttachments.delete(id);
        this.mappable.delete(id);
        this.mappingCount.set(id, 0);
        const key = this.attachmentPair.get(id);
        this.attachmentPair.set(id, 0);
        if (key !== 0) this.detachedPairs.add(key - 1);
        return;
      }
      case 'dmabuf.map.end': {
        if (e.data.result !== 0) return;
        const aid = e.data.attachmentId;
        this.liveMappings.add(e.data.mappingId);
        const n = this.mappingCount.get(aid) + 1;
        this.mappingCount.set(aid, n);
        if (n >= this.plan.maxMappingsPerAttachment) this.mappable.delete(aid);
        return;
      }
      case 'dmabuf.unmap': {
        this.liveMappings.delete(e.data.mappingId);
        const aid = e.data.attachmentId;
        const n = this.mappingCount.get(aid) - 1;
        if (this.liveAttachments.has(aid)) {
          this.mappingCount.set(aid, n);
          if (n < this.plan.maxMappingsPerAttachment) this.mappable.add(aid);
        }
        return;
      }
      default:
        return;
    }
  }

  private pairKey(dmabufId: number, importer: string): number {
    return dmabufId * 65536 + this.importerIndex.get(importer)!;
  }

  private pairOf(key: number): { dmabufId: number; importer: string } {
    return { dmabufId: Math.floor(key / 65536), importer: this.importerNames[key % 65536]! };
  }

  private step(): boolean {
    const gap = this.rng.int(1, 2 * this.plan.meanIntervalNs);
    if (this.t + gap > this.plan.durationNs) return false;
    this.t += gap;
    this.sim.advanceTo(this.t);
    return true;
  }

  private cpuFor(importer: string | null): number {
    const n = this.sim.config.kernel.cpus;
    const i = this.op++;
    if (this.plan.cpus === 'random') return this.rng.int(0, n - 1);
    if (this.plan.cpus === 'importer' && importer !== null) {
      const imp = this.sim.importers.get(importer);
      if (imp) return this.rng.pick(imp.cfg.cpus);
    }
    return i % n;
  }

  /** {@link cpuFor} an operation on attachment `aid` (its importer is looked up only when it decides). */
  private cpuOfAttachment(aid: number): number {
    const importer = this.plan.cpus === 'importer' ? (this.sim.attachments.get(aid)?.importer.fn.bdf ?? null) : null;
    return this.cpuFor(importer);
  }

  /** {@link cpuFor} an operation on mapping `mid`. */
  private cpuOfMapping(mid: number): number {
    const importer =
      this.plan.cpus === 'importer' ? (this.sim.mappings.get(mid)?.attachment.importer.fn.bdf ?? null) : null;
    return this.cpuFor(importer);
  }

  private after(): void {
    this.onOperation?.();
    const every = this.plan.checkpointEvery;
    if (every > 0 && this.op % every === 0) this.sim.checkpoint();
  }

  /** Runs setup, steady state and teardown. */
  run(): void {
    if (!this.setup()) return;
    this.steady();
    if (this.plan.teardown) this.teardown();
  }

  private setup(): boolean {
    const pageSize = this.sim.topology.platform.pageSize;
    const page = BigInt(pageSize);
    const importers = [...this.sim.importers.keys()];
    let k = 0;
    for (const exp of this.sim.exporters.values()) {
      const bar = exp.fn.resources[exp.cfg.bar];
      const barPages = bar ? Number(bar.length / page) : 0;
      let cursor = 0;
      for (let b = 0; b < this.plan.buffersPerExporter; b++) {
        const pages = drawPages(this.rng, this.plan.size, pageSize);
        const parts = split(this.rng, pages, this.rng.int(this.plan.rangesMin, this.plan.rangesMax));
        const ranges = parts.map((p) => {
          if (this.rng.chance(this.plan.fragmentation)) cursor += this.rng.int(1, Math.max(1, p));
          if (barPages > 0 && cursor + p > barPages) cursor = 0;
          const r = { offset: BigInt(cursor) * page, length: BigInt(p) * page };
          cursor += p;
          return r;
        });
        if (!this.step()) return false;
        const res = this.sim.exportBuffer(exp.fn.bdf, exp.cfg.bar, ranges, this.cpuFor(null));
        this.after();
        if (res.id === null) continue;
        const chosen =
          this.plan.pattern === 'all'
            ? importers
            : this.plan.pattern === 'round_robin'
              ? Array.from(
                  { length: Math.min(this.plan.perBuffer, importers.length) },
                  (_, j) => importers[(k + j) % importers.length]!,
                )
              : this.pickDistinct(importers, this.plan.perBuffer);
        k++;
        for (const imp of chosen) this.detachedPairs.add(this.pairKey(res.id, imp));
      }
    }
    for (const key of [...this.detachedPairs.values()]) {
      const p = this.pairOf(key);
      if (!this.step()) return false;
      this.sim.attach(p.dmabufId, p.importer, this.cpuFor(p.importer));
      this.after();
    }
    for (const aid of this.liveAttachments.values().sort((a, b) => a - b)) {
      if (!this.step()) return false;
      const imp = this.sim.attachments.get(aid)?.importer.fn.bdf ?? null;
      this.sim.map(aid, this.plan.dir, this.cpuFor(imp));
      this.after();
    }
    return true;
  }

  private pickDistinct(items: readonly string[], n: number): string[] {
    const pool = [...items];
    const out: string[] = [];
    while (out.length < n && pool.length > 0) out.push(pool.splice(this.rng.int(0, pool.length - 1), 1)[0]!);
    return out;
  }

  private steady(): void {
    const w = this.plan.weights;
    // The weight of each operation kind, 0 while there is nothing to do it to (one array for the run).
    const weights = [0, 0, 0, 0, 0];
    for (let n = 0; n < this.plan.operations; n++) {
      weights[0] = this.mappable.size > 0 ? w.map : 0;
      weights[1] = this.liveMappings.size > 0 ? w.unmap : 0;
      weights[2] = this.liveAttachments.size > 0 ? w.detach : 0;
      weights[3] = this.detachedPairs.size > 0 ? w.attach : 0;
      weights[4] = this.vfioExporters.length > 0 ? w.revoke : 0;
      if (weights[0] === 0 && weights[1] === 0 && weights[2] === 0 && weights[3] === 0 && weights[4] === 0) return;
      if (!this.step()) return;
      switch (this.rng.weighted(weights)) {
        case 0: {
          const aid = this.mappable.pick(this.rng);
          this.sim.map(aid, this.plan.dir, this.cpuOfAttachment(aid));
          break;
        }
        case 1: {
          const mid = this.liveMappings.pick(this.rng);
          this.sim.unmap(mid, this.cpuOfMapping(mid));
          break;
        }
        case 2: {
          const aid = this.liveAttachments.pick(this.rng);
          this.sim.detach(aid, this.cpuOfAttachment(aid));
          break;
        }
        case 3: {
          const p = this.pairOf(this.detachedPairs.pick(this.rng));
          this.sim.attach(p.dmabufId, p.importer, this.cpuFor(p.importer));
          break;
        }
        default: {
          const dev = this.rng.pick(this.vfioExporters);
          const exp = this.sim.exporters.get(dev)!;
          this.sim.setMemoryDecode(dev, !exp.memoryEnabled, this.cpuFor(null));
          break;
        }
      }
      this.after();
    }
  }

  private teardown(): void {
    for (const mid of this.liveMappings.values().sort((a, b) => a - b)) {
      this.t += 1000;
      this.sim.advanceTo(this.t);
      this.sim.unmap(mid, this.cpuOfMapping(mid));
      this.after();
    }
    for (const aid of this.liveAttachments.values().sort((a, b) => a - b)) {
      this.t += 1000;
      this.sim.advanceTo(this.t);
      this.sim.detach(aid, this.cpuOfAttachment(aid));
      this.after();
    }
    // Let flush-queue timers (10 ms) and depot trims (100 ms steps) run out.
    this.t += 1_000_000_000;
    this.sim.advanceTo(this.t);
  }
}
