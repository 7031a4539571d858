/**
 * The simulator: one simulated machine (topology, kernel with virtual clock, IOMMU domains and DMA
 * devices of the importers, P2PDMA state of the exporters) and the DMA-buf objects on it. Operations are
 * what user space and drivers do (export, attach, map, unmap, detach, memory decode off/on, close); each
 * runs on a CPU at the current virtual time and reports every kernel-visible step as an event, in
 * kernel order, with a gapless sequence number.
 *
 * Pure and deterministic: no I/O, no clock, no randomness (the workload driver brings a seeded PRNG).
 */
import type { BarRange, PhysRange, SgEntry } from '../dmabuf/dmabuf-types.ts';
import {
  dmaBufFreeSgt,
  dmaBufPhysVecToSgt,
  type Emit,
  type SgtEnv,
  type SgtMapping,
} from '../dmabuf/phys-vec-to-sgt.ts';
import { maxSgEntrySize } from '../dmabuf/sg-table.ts';
import { vfioAttachResult, vfioCheckDmabufExport, vfioPinResult } from '../dmabuf/vfio-exporter.ts';
import { DmasimError, ErrorCode } from '../errors.ts';
import type { EventData, EventType, SimEvent } from '../events/event-schema.ts';
import { stateHash } from '../events/state-hash.ts';
import { type StepEventType, stepEventType, stepPayload } from '../events/step-events.ts';
import { dmaMapPhys, dmaUnmapPhys } from '../iommu/dma-api.ts';
import { DmaDevice } from '../iommu/dma-device.ts';
import { DmaAttr } from '../iommu/dma-mapping.ts';
import { Errno, errnoName } from '../iommu/errno.ts';
import { AMD_HT_REGION, IommuDomain, type IommuReservedRegion, X86_MSI_REGION } from '../iommu/iommu-domain.ts';
import { snapshotIommuSystem } from '../iommu/iommu-reducer.ts';
import type { IommuStep } from '../iommu/iommu-steps.ts';
import { KernelContext } from '../iommu/kernel-context.ts';
import type { MapTypeName } from '../p2p/map-type.ts';
import { type MapTypeOptions, pciP2pdmaMapType } from '../p2p/p2pdma-map-type.ts';
import { type P2pdmaProvider, type P2pdmaState, pcimP2pdmaInit } from '../p2p/p2pdma-state.ts';
import type { PciFunction, Topology } from '../topology/topology.ts';
import type { SimConfig, SimExporterConfig, SimImporterConfig } from './sim-config.ts';
import type { SimSnapshot } from './sim-state.ts';
import { SystemMemory } from './system-memory.ts';

/** DMA direction names and numbers. */
export type DirName = 'BIDIRECTIONAL' | 'TO_DEVICE' | 'FROM_DEVICE';
const DIR_NUM: Record<DirName, 0 | 1 | 2> = { BIDIRECTIONAL: 0, TO_DEVICE: 1, FROM_DEVICE: 2 };

/** A live importer. */
export interface ImporterRt {
  readonly cfg: SimImporterConfig;
  readonly fn: PciFunction;
  readonly dev: DmaDevice;
  readonly domain: IommuDomain | null;
}

/** A live exporter. */
export interface ExporterRt {
  readonly cfg: SimExporterConfig;
  readonly fn: PciFunction;
  readonly p2p: P2pdmaState | null;
  /** Options of its map-type decisions (one object, so the p2p area's resolved-options cache hits). */
  readonly mapTypeOptions: MapTypeOptions;
  memoryEnabled: boolean;
  registered: boolean;
  /** Its dma-buf ids, ascending. */
  dmabufs: number[];
}

/** A live dma-buf. */
export interface DmabufRt {
  readonly id: number;
  readonly exporter: ExporterRt;
  readonly bar: number;
  readonly provider: P2pdmaProvider | null;
  readonly physVec: readonly PhysRange[];
  readonly size: bigint;
  revoked: boolean;
  backing: 'bar' | 'system';
  systemRanges: PhysRange[];
  /** Live attachment ids, ascending (ids only grow, so appending keeps the order). */
  attachments: number[];
}

/** A live attachment. */
export interface AttachmentRt {
  readonly id: number;
  readonly dmabuf: DmabufRt;
  readonly importer: ImporterRt;
  readonly dynamic: boolean;
  readonly peer2peer: boolean;
  readonly decision: 'keep_p2p' | 'migrate' | null;
  /** Live mapping ids, ascending. */
  mappings: number[];
}

/** A live mapping. */
export interface MappingRt {
  readonly id: number;
  readonly attachment: AttachmentRt;
  readonly mode: 'bus_addr' | 'iova' | 'per_range' | 'system';
  readonly entries: SgEntry[];
  readonly dir: 0 | 1 | 2;
  /** Helper bookkeeping (null for system-memory mappings). */
  readonly sgt: SgtMapping | null;
  readonly size: bigint;
}

/** The watchers of one event type ({@link Simulator.watch}, {@link Simulator.watchSteps}). */
interface TypeWatchers {
  readonly events: ((e: SimEvent) => void)[];
  readonly steps: ((step: IommuStep, tNs: number) => void)[];
}

/** Outcome of an operation: 0 or a negative errno, and the id of what it made. */
export interface OpResult {
  readonly result: number;
  readonly id: number | null;
}

/** Outcome of {@link Simulator.map}. */
export interface MapOutcome extends OpResult {
  readonly mode: 'bus_addr' | 'iova' | 'per_range' | 'system' | 'none';
  readonly mapType: MapTypeName | null;
  readonly entries: readonly SgEntry[];
  /** The THRU map fell back to per-range mode because no IOVA block was found. */
  readonly fellBack: boolean;
}

/** Receives events as parts (a frame encoder): see {@link SimulatorOptions.sink}. */
export interface EventPartsSink {
  pushParts(type: EventType, seq: number, tNs: number, cpu: number, origin: 'sim', data: Record<string, unknown>): void;
}

/** Options of {@link Simulator}. */
export interface SimulatorOptions {
  readonly scenarioId: string;
  /** Receives every event, in order. */
  readonly onEvent?: (e: SimEvent) => void;
  /**
   * Receives every event, in order, as parts. Without `onEvent`, events that no watcher needs are never
   * built as objects (with or without a sink): step records go to the sink as they are (their `kind` is
   * not written; absent optional fields are written as null), which spares an allocation and a copy per
   * event.
   */
  readonly sink?: EventPartsSink;
}

const VFIO_EXP_NAME = 'vfio_pci_core';
const MOVABLE_EXP_NAME = 'dmasim_movable';

/*
 * Id lists are rebuilt at their exact size instead of pushed to: V8 gives an array grown by push 17
 * slots, which for the one or two ids most lists hold is most of a live mapping's memory. They are
 * copied by index into an array made at its final length (`concat` and `filter` are slow generic
 * builtins, and a spread leaves spare slots).
 */

/** `ids` with `id` appended (ids only grow, so the list stays ascending). */
function appendId(ids: readonly number[], id: number): number[] {
  if (ids.length === 0) return [id];
  const out = new Array<number>(ids.length + 1);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i]!;
  out[ids.length] = id;
  return out;
}

/** `ids` without `id`. */
function removeId(ids: readonly number[], id: number): number[] {
  if (ids.length === 1 && ids[0] === id) return [];
  let n = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] !== id) n++;
  const out = new Array<number>(n);
  let k = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] !== id) out[k++] = ids[i]!;
  return out;
}

function insertionSorted<T>(items: Iterable<T>, key: (t: T) => number): T[] {
  return [...items].sort((a, b) => key(a) - key(b));
}

/** One simulated machine. */
export class Simulator {
  readonly config: SimConfig;
  readonly topology: Topology;
  readonly kernel: KernelContext;
  readonly scenarioId: string;
  readonly importers = new Map<string, ImporterRt>();
  readonly exporters = new Map<string, ExporterRt>();
  readonly dmabufs = new Map<number, DmabufRt>();
  readonly attachments = new Map<number, AttachmentRt>();
  readonly mappings = new Map<number, MappingRt>();
  private readonly domains = new Map<number, IommuDomain>();
  private readonly systemMemory = new SystemMemory();
  private readonly onEvent: ((e: SimEvent) => void) | undefined;
  private readonly sink: EventPartsSink | undefined;
  /** No `onEvent`: events that no watcher needs are never built as objects (the sink takes parts). */
  private readonly watchedOnly: boolean;
  private seq = 0;
  private cpu = 0;
  private nextDmabufId = 1;
  private nextAttachmentId = 1;
  private nextMappingId = 1;
  private ended = false;
  /** Listeners for derived statistics (the run summary, the workload driver), by event type. */
  private readonly watchers = new Map<EventType, TypeWatchers>();

  private watchersOf(t: EventType): TypeWatchers {
    let w = this.watchers.get(t);
    if (w === undefined) {
      w = { events: [], steps: [] };
      this.watchers.set(t, w);
    }
    return w;
  }

  /**
   * Calls `fn` with every event of the given types, after `onEvent` (derived statistics, the workload
   * driver's bookkeeping). Dispatch is by type, so the many events nobody watches cost nothing here.
   */
  watch(types: readonly EventType[], fn: (e: SimEvent) => void): void {
    for (const t of types) this.watchersOf(t).events.push(fn);
  }

  /**
   * Calls `fn` with the step record of every event of the given step types, as the layer made it (with
   * `kind`; optional fields may be absent), and the event's time, right after the event is emitted. For
   * statistics that read a few fields of frequent records: no payload copy or event object is made for
   * them (see {@link watch}).
   */
  watchSteps(types: readonly StepEventType[], fn: (step: IommuStep, tNs: number) => void): void {
    for (const t of types) this.watchersOf(t).steps.push(fn);
  }

  constructor(config: SimConfig, opts: SimulatorOptions) {
    this.config = config;
    this.topology = config.topology;
    this.scenarioId = opts.scenarioId;
    this.onEvent = opts.onEvent;
    this.sink = opts.sink;
    this.watchedOnly = opts.onEvent === undefined;
    const k = config.kernel;
    this.kernel = new KernelContext({
      cpus: k.cpus,
      hz: k.hz,
      timerCpu: k.timerCpu,
      forcedac: k.forcedac,
      onStep: (s) => this.onStep(s),
    });
    this.emit('sim.begin', {
      schemaVersion: 1,
      seed: config.seed,
      topologyId: this.topology.id,
      configHash: config.configHash,
      pageSize: this.topology.platform.pageSize,
      onlineCpus: k.cpus,
    });
    for (const imp of config.importers) this.probeImporter(imp);
    for (const exp of config.exporters) this.probeExporter(exp);
  }

  // ------------------------------------------------------------------------------------------ events

  /** Number of events emitted so far (= the next seq). */
  get eventCount(): number {
    return this.seq;
  }

  /** Current virtual time (ns). */
  get now(): number {
    return this.kernel.now;
  }

  /** Emits one event at the current time on the current CPU. */
  readonly emit: Emit = <T extends EventType>(type: T, data: EventData<T>): void => {
    this.emitTo(type, data, this.watchers.get(type));
  };

  /** No event object is needed for a type with watchers `w`: no `onEvent`, and none of `w` takes events. */
  private partsOnly(w: TypeWatchers | undefined): boolean {
    return this.watchedOnly && (w === undefined || w.events.length === 0);
  }

  /** Hands the next event to the sink as parts, without building it (see {@link partsOnly}). */
  private pushParts(type: EventType, data: unknown): void {
    const seq = this.seq++;
    this.sink?.pushParts(type, seq, this.kernel.now, this.cpu, 'sim', data as Record<string, unknown>);
  }

  /** {@link emit} with the type's watchers looked up already (one lookup per event). */
  private emitTo(type: EventType, data: unknown, w: TypeWatchers | undefined): void {
    if (this.partsOnly(w)) {
      this.pushParts(type, data);
      return;
    }
    const e = {
      scenarioId: this.scenarioId,
      seq: this.seq++,
      tNs: this.kernel.now,
      cpu: this.cpu,
      origin: 'sim',
      type,
      data,
    } as SimEvent;
    this.sink?.pushParts(type, e.seq, e.tNs, e.cpu, 'sim', data as unknown as Record<string, unknown>);
    this.onEvent?.(e);
    if (w !== undefined) for (let i = 0; i < w.events.length; i++) w.events[i]!(e);
  }

  private onStep(step: IommuStep): void {
    const type = stepEventType(step);
    const w = this.watchers.get(type);
    // The step record itself is the payload the sink reads, unless an event object must be built.
    if (this.partsOnly(w)) this.pushParts(type, step);
    else this.emitTo(type, stepPayload(type, step), w);
    if (w !== undefined) for (let i = 0; i < w.steps.length; i++) w.steps[i]!(step, this.kernel.now);
    switch (step.kind) {
      case 'iova.alloc':
        if (step.phantom) {
          this.hazard(
            'phantom_pfn0',
            step.device ?? null,
            step.domainId,
            null,
            0n,
            0n,
            'pfn 0 taken from rcache bin 0 (a phantom): treated as a miss (kernel-model.md 3.8-5)',
          );
        }
        if (step.pfnLo >= 0) this.checkDoubleUse(step.domainId, step.pfnLo, step.pagesEffective, step.device ?? null);
        return;
      case 'iova.rcache_flush':
      case 'iova.depot':
        if (step.notFound > 0) {
          this.hazard(
            'phantom_rcache',
            null,
            step.domainId,
            null,
            null,
            null,
            `${step.notFound} cached pfns were not in the tree when returned to it (the kernel warns)`,
          );
        }
        return;
      case 'iommu.unmap':
        if (!step.unroll && step.unmappedSize < step.size) {
          this.hazard(
            'short_unmap',
            null,
            step.domainId,
            null,
            step.iova + step.unmappedSize,
            step.size - step.unmappedSize,
            `iommu_unmap stopped at a hole: ${step.unmappedSize} of ${step.size} bytes unmapped`,
          );
        }
        return;
      default:
        return;
    }
  }

  private checkDoubleUse(domainId: number, pfnLo: number, pages: number, device: string | null): void {
    const d = this.domains.get(domainId);
    if (!d) return;
    const shift = d.pfnShift;
    const iova = BigInt(pfnLo) << shift;
    const size = BigInt(pages) << shift;
    if (d.pageTable.overlaps(iova, size)) {
      this.hazard(
        'iova_double_use',
        device,
        domainId,
        null,
        iova,
        size,
        'the allocator handed out IOVA that a live mapping still uses (kernel-model.md 3.8-2)',
      );
    }
  }

  private hazard(
    kind: EventData<'hazard'>['kind'],
    device: string | null,
    domainId: number | null,
    mappingId: number | null,
    iova: bigint | null,
    size: bigint | null,
    text: string,
    dmabufId: number | null = null,
  ): void {
    this.emit('hazard', { kind, device, domainId, dmabufId, mappingId, iova, size, text });
  }

  private error(
    op: EventData<'error'>['op'],
    errno: number,
    message: string,
    ids: Partial<EventData<'error'>> = {},
  ): void {
    this.emit('error', {
      op,
      errno,
      code: errnoName(errno).replace(/^-/, ''),
      message,
      device: ids.device ?? null,
      dmabufId: ids.dmabufId ?? null,
      attachmentId: ids.attachmentId ?? null,
      mappingId: ids.mappingId ?? null,
    });
  }

  // ------------------------------------------------------------------------------------------ setup

  /** The function named `name` (a kernel name, or a topology label). */
  resolveDevice(name: string): PciFunction {
    const fn = this.topology.find(name) ?? this.topology.functions.find((f) => f.label === name);
    if (!fn) {
      throw new DmasimError(ErrorCode.DEVICE_NOT_FOUND, `device ${name} is not in topology ${this.topology.id}`, {
        device: name,
      });
    }
    return fn;
  }

  private probeImporter(cfg: SimImporterConfig): void {
    const fn = this.resolveDevice(cfg.device);
    let domain: IommuDomain | null = null;
    if (cfg.mode !== 'off') {
      domain = this.domains.get(cfg.group) ?? null;
      if (domain === null) {
        const regions: IommuReservedRegion[] = [];
        if (cfg.reservations === 'x86') {
          regions.push(X86_MSI_REGION);
          if (this.topology.platform.iommu?.vendor === 'amd') regions.push(AMD_HT_REGION);
        }
        domain = new IommuDomain(this.kernel, {
          id: cfg.group,
          type: cfg.mode === 'identity' ? 'identity' : cfg.mode === 'dma' ? 'dma' : 'dma_fq',
          pageSize: BigInt(this.topology.platform.pageSize),
          geometry: { apertureStart: 0n, apertureEnd: cfg.apertureEnd, forceAperture: true },
          reservedRegions: regions,
          shadowOnFlush: cfg.flushQueue === 'single',
          linkCollision: cfg.linkCollision,
          depotTrim: this.config.kernel.depotTrim,
        });
        this.domains.set(cfg.group, domain);
      }
    }
    const windows = fn.hostBridge.windows.map((w) => ({
      type: w.type,
      cpuStart: w.cpuStart,
      cpuEnd: w.cpuEnd,
      offset: w.offset,
    }));
    const dev = new DmaDevice(this.kernel, {
      name: fn.bdf,
      domain,
      dmaMask: cfg.dmaMask,
      busDmaLimit: fn.busDmaLimit,
      untrusted: fn.untrusted,
      swiotlbForce: this.config.kernel.swiotlbForce,
      hostBridge: cfg.reservations === 'none' ? null : { windows },
    });
    if (this.importers.has(fn.bdf)) {
      throw new DmasimError(ErrorCode.SCENARIO_INVALID, `importer ${fn.bdf} is listed twice`, { device: fn.bdf });
    }
    this.importers.set(fn.bdf, { cfg, fn, dev, domain });
  }

  private probeExporter(cfg: SimExporterConfig): void {
    const fn = this.resolveDevice(cfg.device);
    if (this.exporters.has(fn.bdf)) {
      throw new DmasimError(ErrorCode.SCENARIO_INVALID, `exporter ${fn.bdf} is listed twice`, { device: fn.bdf });
    }
    const init = pcimP2pdmaInit(this.topology, fn.bdf);
    const providers = init.state
      ? init.state.providers
          .filter((p) => p.owner !== null)
          .map((p) => ({ bar: p.bar, cpuStart: p.cpuStart, len: p.length, busOffset: p.busOffset }))
      : [];
    this.emit('p2p.provider_init', { device: fn.bdf, result: init.ret, providers });
    this.exporters.set(fn.bdf, {
      cfg,
      fn,
      p2p: init.state,
      mapTypeOptions: { ...this.config.kernel.p2p, provider: fn.bdf, detectStaleCache: false },
      memoryEnabled: true,
      registered: true,
      dmabufs: [],
    });
  }

  // ------------------------------------------------------------------------------------------ time

  /** Moves virtual time to `tNs` (ns), firing due timers on the timer CPU. */
  advanceTo(tNs: number): void {
    if (tNs <= this.kernel.now) return;
    const saved = this.cpu;
    this.cpu = this.config.kernel.timerCpu;
    this.kernel.advanceTo(tNs);
    this.cpu = saved;
  }

  private onCpu(cpu: number): void {
    this.kernel.checkCpu(cpu);
    this.cpu = cpu;
  }

  // ------------------------------------------------------------------------------------------ exporters

  private exporterOf(name: string): ExporterRt {
    const fn = this.resolveDevice(name);
    const e = this.exporters.get(fn.bdf);
    if (!e)
      throw new DmasimError(ErrorCode.SCENARIO_INVALID, `${fn.bdf} is not an exporter of this scenario`, {
        device: fn.bdf,
      });
    return e;
  }

  /**
   * Creates a dma-buf of BAR `bar` of `exporter` from `ranges` (offsets from the BAR start): the vfio-pci
   * feature ioctl with every check of kernel-model.md 3.1, or the movable exporter's allocation (same
   * bounds checks). Emits `dmabuf.export` (and `error` on failure).
   */
  exportBuffer(exporter: string, bar: number, ranges: readonly BarRange[], cpu = 0): OpResult {
    this.onCpu(cpu);
    const exp = this.exporterOf(exporter);
    const pageSize = this.topology.platform.pageSize;
    const out = vfioCheckDmabufExport(
      {
        p2pdmaEnabled: this.topology.platform.p2pdmaEnabled,
        getDmabufPhys: exp.cfg.kind === 'movable' || exp.cfg.driver !== 'other',
        provider: (b) => exp.p2p?.provider(b) ?? null,
        bar: (b) => {
          const r = exp.fn.resources[b];
          return r ? { start: r.cpuStart, len: r.length } : { start: 0n, len: 0n };
        },
        registered: exp.registered,
        memoryEnabled: exp.memoryEnabled,
      },
      { regionIndex: bar, ranges },
      pageSize,
    );
    const id = out.ok ? this.nextDmabufId++ : 0;
    const request = ranges.map((r) => ({ offset: r.offset, length: r.length }));
    const expName = exp.cfg.kind === 'movable' ? MOVABLE_EXP_NAME : VFIO_EXP_NAME;
    if (!out.ok) {
      this.emit('dmabuf.export', {
        dmabufId: 0,
        exporter: exp.fn.bdf,
        exporterKind: exp.cfg.kind,
        bar,
        request,
        ranges: [],
        size: 0n,
        expName,
        ino: 0,
        revoked: false,
        result: out.errno,
        check: out.check,
      });
      this.error('export', out.errno, `dma-buf export from ${exp.fn.bdf} BAR ${bar} refused: ${out.check}`, {
        device: exp.fn.bdf,
      });
      return { result: out.errno, id: null };
    }
    const revoked = exp.cfg.kind === 'vfio-pci' ? out.revoked : false;
    const d: DmabufRt = {
      id,
      exporter: exp,
      bar,
      provider: out.provider,
      physVec: out.physVec,
      size: out.size,
      revoked,
      backing: 'bar',
      systemRanges: [],
      attachments: [],
    };
    this.dmabufs.set(id, d);
    exp.dmabufs = appendId(exp.dmabufs, id);
    this.emit('dmabuf.export', {
      dmabufId: id,
      exporter: exp.fn.bdf,
      exporterKind: exp.cfg.kind,
      bar,
      request,
      ranges: out.physVec.map((r) => ({ paddr: r.paddr, len: r.len })),
      size: out.size,
      expName,
      ino: id,
      revoked,
      result: 0,
      check: null,
    });
    return { result: 0, id };
  }

  /**
   * Memory decoding of a vfio-pci exporter off (`on = false`) or on: every live dma-buf of the device is
   * revoked or restored and its importers notified (`move_notify`); dynamic importers unmap at once.
   */
  setMemoryDecode(exporter: string, on: boolean, cpu = 0): void {
    this.onCpu(cpu);
    const exp = this.exporterOf(exporter);
    if (exp.memoryEnabled === on || !exp.registered) return;
    exp.memoryEnabled = on;
    this.emit('exporter.memory', { device: exp.fn.bdf, memoryEnabled: on, registered: exp.registered });
    if (exp.cfg.kind !== 'vfio-pci') return;
    for (const id of [...exp.dmabufs]) {
      const d = this.dmabufs.get(id)!;
      if (d.revoked === !on) continue;
      this.revokeBuffer(d, !on, on ? 'decode_on' : 'decode_off');
    }
  }

  /** The exporter device is closed: every dma-buf is revoked for good. */
  closeExporter(exporter: string, cpu = 0): void {
    this.onCpu(cpu);
    const exp = this.exporterOf(exporter);
    if (!exp.registered) return;
    exp.registered = false;
    this.emit('exporter.memory', { device: exp.fn.bdf, memoryEnabled: exp.memoryEnabled, registered: false });
    for (const id of [...exp.dmabufs]) {
      const d = this.dmabufs.get(id)!;
      if (exp.cfg.kind === 'vfio-pci') this.revokeBuffer(d, true, 'close');
    }
  }

  private revokeBuffer(d: DmabufRt, revoked: boolean, reason: EventData<'dmabuf.revoke'>['reason']): void {
    d.revoked = revoked;
    const notified = [...d.attachments];
    this.emit('dmabuf.revoke', { dmabufId: d.id, revoked, reason, attachmentsNotified: notified });
    if (!revoked) return;
    for (const aid of notified) {
      const a = this.attachments.get(aid)!;
      if (!a.dynamic) continue;
      for (const mid of [...a.mappings]) this.unmapInternal(this.mappings.get(mid)!, 'move_notify');
    }
  }

  // ------------------------------------------------------------------------------------------ importers

  private importerOf(name: string): ImporterRt {
    const fn = this.resolveDevice(name);
    const i = this.importers.get(fn.bdf);
    if (!i)
      throw new DmasimError(ErrorCode.SCENARIO_INVALID, `${fn.bdf} is not an importer of this scenario`, {
        device: fn.bdf,
      });
    return i;
  }

  private mapType(d: DmabufRt, imp: ImporterRt): MapTypeName {
    const dec = pciP2pdmaMapType(d.exporter.p2p, imp.fn.bdf, this.topology, d.exporter.mapTypeOptions);
    this.emit('p2p.map_type', {
      provider: dec.provider,
      client: dec.client,
      cacheKey: dec.cacheKey,
      cacheHit: dec.cacheHit,
      result: dec.result as EventData<'p2p.map_type'>['result'],
      resultValue: dec.resultValue,
      distance: dec.distance,
      commonAncestor: dec.commonAncestor,
      acsNodes: dec.acsNodes.length === 0 ? [] : [...dec.acsNodes],
      acsList: dec.acsList,
      acsRedirect: dec.acsRedirect,
      decidedBy: dec.decidedBy,
      hostBridges:
        dec.hostBridges.length === 0
          ? []
          : dec.hostBridges.map((h) => ({
              hostBridge: h.hostBridge,
              device: h.device,
              id: h.id,
              sameHostBridge: h.sameHostBridge,
              listed: h.listed,
              reason: h.reason,
            })),
    });
    for (const l of dec.log) {
      this.emit('kernel.log', { device: l.device, level: l.level, text: l.text, msg: 'p2pdma.warn', once: null });
    }
    for (const h of dec.hazards) {
      this.hazard(h.kind as EventData<'hazard'>['kind'], imp.fn.bdf, null, null, null, null, h.message, d.id);
    }
    return dec.result;
  }

  /**
   * An importer attaches to a dma-buf. vfio-pci: refused without `peer2peer` (-EOPNOTSUPP) or while
   * revoked (-ENODEV). Movable exporter: its policy decides from the map type (keep P2P, migrate, refuse).
   * A pinning importer then pins (6.19-era vfio-pci refuses: the attachment is undone, -EOPNOTSUPP).
   */
  attach(dmabufId: number, importer: string, cpu = 0): OpResult {
    this.onCpu(cpu);
    const d = this.dmabufs.get(dmabufId);
    const imp = this.importerOf(importer);
    if (!d) {
      this.error('attach', -Errno.EINVAL, `no dma-buf ${dmabufId}`, { dmabufId, device: imp.fn.bdf });
      return { result: -Errno.EINVAL, id: null };
    }
    const id = this.nextAttachmentId++;
    const peer2peer = imp.cfg.dynamic && imp.cfg.peer2peer;
    let result = 0;
    let decision: 'keep_p2p' | 'migrate' | null = null;
    if (d.exporter.cfg.kind === 'vfio-pci') {
      result = vfioAttachResult(peer2peer, d.revoked);
    } else {
      const mt = this.mapType(d, imp);
      const pol = d.exporter.cfg.policy;
      let choice: 'keep_p2p' | 'migrate' | 'refuse' =
        mt === 'BUS_ADDR' ? pol.busAddr : mt === 'THRU_HOST_BRIDGE' ? pol.thruHostBridge : pol.notSupported;
      if (!peer2peer && choice === 'keep_p2p') choice = pol.notSupported;
      this.emit('exporter.policy', {
        dmabufId: d.id,
        attachmentId: id,
        importer: imp.fn.bdf,
        mapType: mt as EventData<'exporter.policy'>['mapType'],
        decision: choice,
      });
      if (choice === 'refuse') result = -Errno.EOPNOTSUPP;
      else decision = choice;
    }
    this.emit('dmabuf.attach', {
      dmabufId: d.id,
      attachmentId: id,
      importer: imp.fn.bdf,
      isDynamic: imp.cfg.dynamic,
      peer2peer,
      result,
    });
    if (result !== 0) {
      this.error('attach', result, `attach of ${imp.fn.bdf} to dma-buf ${d.id} refused`, {
        dmabufId: d.id,
        attachmentId: id,
        device: imp.fn.bdf,
      });
      return { result, id: null };
    }
    const a: AttachmentRt = {
      id,
      dmabuf: d,
      importer: imp,
      dynamic: imp.cfg.dynamic,
      peer2peer,
      decision,
      mappings: [],
    };
    this.attachments.set(id, a);
    d.attachments = appendId(d.attachments, id);
    if (imp.cfg.pins) {
      const pin = this.pin(a, 'attach');
      if (pin !== 0) {
        this.detachInternal(a, 'pin_failed');
        return { result: pin, id: null };
      }
    }
    return { result: 0, id };
  }

  private pin(a: AttachmentRt, at: 'attach' | 'map'): number {
    const result = a.dmabuf.exporter.cfg.kind === 'vfio-pci' ? vfioPinResult(this.config.kernel.vfioPinAllowed) : 0;
    this.emit('dmabuf.pin', { dmabufId: a.dmabuf.id, attachmentId: a.id, at, result });
    if (result !== 0) {
      this.error('map', result, `pinning dma-buf ${a.dmabuf.id} for ${a.importer.fn.bdf} refused`, {
        dmabufId: a.dmabuf.id,
        attachmentId: a.id,
        device: a.importer.fn.bdf,
      });
    }
    return result;
  }

  /** The helper's surroundings for one call; `seen` records the map type the helper asked for. */
  private sgtEnv(a: AttachmentRt, mappingId: number, seen?: { type: MapTypeName | null }): SgtEnv {
    return {
      dev: a.importer.dev,
      cpu: this.cpu,
      sgChunk: this.config.kernel.sgChunk,
      pageSize: this.topology.platform.pageSize,
      mapType: () => {
        const t = this.mapType(a.dmabuf, a.importer);
        if (seen) seen.type = t;
        return t;
      },
      emit: this.emit,
      mappingId,
      dmabufId: a.dmabuf.id,
    };
  }

  /**
   * `dma_buf_map_attachment`: the exporter's map callback. vfio-pci: -ENODEV while revoked, else the
   * helper (kernel-model.md 3.2). Movable exporter: the helper from the BAR (keep P2P), or a mapping of the
   * system-memory copy (after migrating the buffer there if needed).
   */
  map(attachmentId: number, dir: DirName = 'BIDIRECTIONAL', cpu = 0): MapOutcome {
    this.onCpu(cpu);
    const a = this.attachments.get(attachmentId);
    if (!a) {
      this.error('map', -Errno.EINVAL, `no attachment ${attachmentId}`, { attachmentId });
      return { result: -Errno.EINVAL, id: null, mode: 'none', mapType: null, entries: [], fellBack: false };
    }
    const d = a.dmabuf;
    const id = this.nextMappingId++;
    const dirNum = DIR_NUM[dir];
    // The dma-buf core pins at map time for non-dynamic importers, and for all without move_notify.
    if (!a.dynamic || !this.config.kernel.moveNotify) {
      const pin = this.pin(a, 'map');
      if (pin !== 0) return { result: pin, id: null, mode: 'none', mapType: null, entries: [], fellBack: false };
    }
    let backing: 'bar' | 'system' = 'bar';
    if (d.exporter.cfg.kind === 'movable') {
      if (a.decision === 'migrate' && d.backing === 'bar') this.migrate(d, 'system', a.id);
      else if (a.decision === 'keep_p2p' && d.backing === 'system' && !this.needsSystem(d))
        this.migrate(d, 'device', a.id);
      backing = d.backing;
    }
    const ranges = backing === 'system' ? d.systemRanges : d.physVec;
    this.emit('dmabuf.map.begin', {
      dmabufId: d.id,
      attachmentId: a.id,
      mappingId: id,
      dir,
      nrRanges: ranges.length,
      size: d.size,
      revoked: d.revoked,
      backing,
    });
    if (d.revoked) {
      this.mapEnd(a, id, 'none', -Errno.ENODEV, [], 0, [], null, 0n);
      this.error('map', -Errno.ENODEV, `dma-buf ${d.id} is revoked`, {
        dmabufId: d.id,
        attachmentId: a.id,
        mappingId: id,
      });
      return { result: -Errno.ENODEV, id: null, mode: 'none', mapType: null, entries: [], fellBack: false };
    }
    if (backing === 'system') return this.mapSystem(a, id, dirNum);

    const seen: { type: MapTypeName | null } = { type: null };
    const r = dmaBufPhysVecToSgt(
      this.sgtEnv(a, id, seen),
      d.provider,
      d.physVec,
      d.size,
      dirNum,
      DmaAttr.MMIO | this.config.kernel.providerDmaAttrs,
    );
    const mapTypeSeen = seen.type;
    if (!r.ok) {
      const st = r.state && r.state.size !== 0n ? { addr: r.state.addr, size: r.state.size } : null;
      this.mapEnd(a, id, r.mode, r.errno, r.entries, r.nents, r.warnings, st, r.mappedLen);
      this.error('map', r.errno, `mapping dma-buf ${d.id} for ${a.importer.fn.bdf} failed (${r.mode})`, {
        dmabufId: d.id,
        attachmentId: a.id,
        mappingId: id,
        device: a.importer.fn.bdf,
      });
      return { result: r.errno, id: null, mode: r.mode, mapType: mapTypeSeen, entries: r.entries, fellBack: false };
    }
    const sgt = r.sgt;
    const iova = sgt.mode === 'iova' && sgt.state ? { addr: sgt.state.addr, size: sgt.state.size } : null;
    this.mapEnd(a, id, sgt.mode, 0, sgt.entries, sgt.nents, sgt.warnings, iova, sgt.mappedLen);
    const m: MappingRt = { id, attachment: a, mode: sgt.mode, entries: sgt.entries, dir: dirNum, sgt, size: d.size };
    this.mappings.set(id, m);
    a.mappings = appendId(a.mappings, id);
    this.checkAccess(m);
    if (sgt.mode === 'bus_addr') this.checkBusReach(m);
    return {
      result: 0,
      id,
      mode: sgt.mode,
      mapType: mapTypeSeen,
      entries: sgt.entries,
      fellBack: sgt.mode === 'per_range' && a.importer.dev.dmaIommu,
    };
  }

  private needsSystem(d: DmabufRt): boolean {
    for (const aid of d.attachments) if (this.attachments.get(aid)!.decision === 'migrate') return true;
    return false;
  }

  private migrate(d: DmabufRt, to: 'system' | 'device', by: number): void {
    if (to === 'system') d.systemRanges = this.systemMemory.allocate(d.size);
    else {
      this.systemMemory.free(d.systemRanges);
      d.systemRanges = [];
    }
    d.backing = to === 'system' ? 'system' : 'bar';
    const notified: number[] = [];
    for (const aid of [...d.attachments]) {
      if (aid !== by && this.attachments.get(aid)!.mappings.length > 0) notified.push(aid);
    }
    this.emit('exporter.migrate', {
      dmabufId: d.id,
      to,
      bytes: d.size,
      ranges: d.systemRanges.map((r) => ({ paddr: r.paddr, len: r.len })),
      attachmentsNotified: notified,
    });
    for (const aid of notified) {
      const a = this.attachments.get(aid)!;
      for (const mid of [...a.mappings]) this.unmapInternal(this.mappings.get(mid)!, 'move_notify');
    }
  }

  /** `dmabuf.map.end` of mapping `id` of attachment `a`: how the map call ended. */
  private mapEnd(
    a: AttachmentRt,
    id: number,
    mode: EventData<'dmabuf.map.end'>['mode'],
    result: number,
    entries: readonly SgEntry[],
    nents: number,
    warnings: EventData<'dmabuf.map.end'>['warnings'],
    iova: { addr: bigint; size: bigint } | null,
    mappedLen: bigint,
  ): void {
    const d = a.dmabuf;
    this.emit('dmabuf.map.end', {
      dmabufId: d.id,
      attachmentId: a.id,
      mappingId: id,
      mode,
      nents,
      entries: entries.map((e) => ({ dmaAddress: e.dmaAddress, dmaLength: e.dmaLength })),
      result,
      warnings,
      iovaAddr: iova?.addr ?? null,
      iovaSize: iova?.size ?? null,
      size: d.size,
      mappedLen,
    });
  }

  private mapSystem(a: AttachmentRt, id: number, dir: 0 | 1 | 2): MapOutcome {
    // System memory through the DMA API. dmasim's dma-api models MMIO mappings only, so these go through
    // dma_map_phys with DMA_ATTR_MMIO: IOVA and page-table effects are those of a RAM mapping of the
    // same ranges; attrs/prot in the records differ from a real kernel's (see docs/SCENARIOS.md).
    const dev = a.importer.dev;
    const entries: SgEntry[] = [];
    for (const r of a.dmabuf.systemRanges) {
      const m = dmaMapPhys(dev, r.paddr, r.len, dir, DmaAttr.MMIO, { cpu: this.cpu });
      if (!m.ok) {
        for (const e of entries)
          dmaUnmapPhys(dev, e.dmaAddress, BigInt(e.dmaLength), dir, DmaAttr.MMIO, { cpu: this.cpu });
        this.mapEnd(a, id, 'system', -Errno.ENOMEM, entries, entries.length, [], null, 0n);
        this.error(
          'map',
          -Errno.ENOMEM,
          `mapping the system-memory copy of dma-buf ${a.dmabuf.id} failed (${m.reason})`,
          {
            dmabufId: a.dmabuf.id,
            attachmentId: a.id,
            mappingId: id,
            device: dev.name,
          },
        );
        return { result: -Errno.ENOMEM, id: null, mode: 'system', mapType: null, entries, fellBack: false };
      }
      entries.push({ dmaAddress: m.dmaAddr, dmaLength: Number(r.len) });
    }
    const table = entries.slice(); // exact size (see appendId)
    this.mapEnd(a, id, 'system', 0, table, table.length, [], null, a.dmabuf.size);
    const mr: MappingRt = { id, attachment: a, mode: 'system', entries: table, dir, sgt: null, size: a.dmabuf.size };
    this.mappings.set(id, mr);
    a.mappings = appendId(a.mappings, id);
    this.checkAccess(mr);
    return { result: 0, id, mode: 'system', mapType: null, entries: table, fellBack: false };
  }

  /**
   * The importer touches every byte of every entry: unmapped IOVA faults (hazard 3.8-1). Only an IOVA-mode
   * mapping of several ranges can have holes right after it was made (every other mapping was just
   * mapped whole), so only those are walked.
   */
  private checkAccess(m: MappingRt): void {
    if (!this.config.access || m.mode !== 'iova' || (m.sgt?.ranges.length ?? 0) < 2) return;
    const dev = m.attachment.importer.dev;
    const domain = dev.dmaIommu ? dev.domain : null;
    if (domain === null) return;
    for (const e of m.entries) {
      if (e.dmaLength === 0) continue;
      const len = BigInt(e.dmaLength);
      const cursor = domain.pageTable.mappedRunEnd(e.dmaAddress, len);
      if (cursor < e.dmaAddress + len) {
        // Intel-style fault reason: DMA read/write to an unmapped page; flags as the tracepoint prints them.
        this.emit('device.fault', { device: dev.name, iova: cursor, flags: 0, mappingId: m.id });
        return;
      }
    }
  }

  /** BUS_ADDR entries are never checked against the importer's mask (kernel-model.md 8.6): flag them. */
  private checkBusReach(m: MappingRt): void {
    const dev = m.attachment.importer.dev;
    const limit = dev.busDmaLimit !== 0n && dev.busDmaLimit < dev.dmaGetMask() ? dev.busDmaLimit : dev.dmaGetMask();
    for (const e of m.entries) {
      if (e.dmaLength > 0 && e.dmaAddress + BigInt(e.dmaLength) - 1n > limit) {
        this.hazard(
          'bus_addr_unreachable',
          dev.name,
          null,
          m.id,
          e.dmaAddress,
          BigInt(e.dmaLength),
          `BUS_ADDR entry 0x${e.dmaAddress.toString(16)} + 0x${e.dmaLength.toString(16)} lies above the importer's DMA mask 0x${limit.toString(16)}`,
          m.attachment.dmabuf.id,
        );
        return;
      }
    }
  }

  /** `dma_buf_unmap_attachment`: the exporter's unmap callback (kernel-model.md 3.6). */
  unmap(mappingId: number, cpu = 0): number {
    this.onCpu(cpu);
    const m = this.mappings.get(mappingId);
    if (!m) {
      this.error('unmap', -Errno.EINVAL, `no mapping ${mappingId}`, { mappingId });
      return -Errno.EINVAL;
    }
    this.unmapInternal(m, 'importer');
    return 0;
  }

  private unmapInternal(m: MappingRt, reason: EventData<'dmabuf.unmap'>['reason']): void {
    const a = m.attachment;
    this.emit('dmabuf.unmap', { dmabufId: a.dmabuf.id, attachmentId: a.id, mappingId: m.id, mode: m.mode, reason });
    if (m.sgt) {
      dmaBufFreeSgt(this.sgtEnv(a, m.id), m.sgt);
    } else {
      for (const e of m.entries) {
        dmaUnmapPhys(a.importer.dev, e.dmaAddress, BigInt(e.dmaLength), m.dir, DmaAttr.MMIO, { cpu: this.cpu });
      }
    }
    this.mappings.delete(m.id);
    a.mappings = removeId(a.mappings, m.id);
  }

  /** The importer detaches; it unmaps its live mappings first. */
  detach(attachmentId: number, cpu = 0): number {
    this.onCpu(cpu);
    const a = this.attachments.get(attachmentId);
    if (!a) {
      this.error('detach', -Errno.EINVAL, `no attachment ${attachmentId}`, { attachmentId });
      return -Errno.EINVAL;
    }
    for (const mid of [...a.mappings]) this.unmapInternal(this.mappings.get(mid)!, 'detach');
    this.detachInternal(a, 'importer');
    return 0;
  }

  private detachInternal(a: AttachmentRt, reason: EventData<'dmabuf.detach'>['reason']): void {
    this.emit('dmabuf.detach', {
      dmabufId: a.dmabuf.id,
      attachmentId: a.id,
      importer: a.importer.fn.bdf,
      isDynamic: a.dynamic,
      reason,
    });
    this.attachments.delete(a.id);
    a.dmabuf.attachments = removeId(a.dmabuf.attachments, a.id);
  }

  // ------------------------------------------------------------------------------------------ state

  /** The canonical state (see {@link SimSnapshot}). */
  snapshot(): SimSnapshot {
    const ranges = (rs: readonly PhysRange[]) => rs.map((r) => ({ paddr: r.paddr, len: r.len }));
    return {
      dmabufs: insertionSorted(this.dmabufs.values(), (d) => d.id).map((d) => ({
        id: d.id,
        exporter: d.exporter.fn.bdf,
        kind: d.exporter.cfg.kind,
        bar: d.bar,
        ranges: ranges(d.physVec),
        size: d.size,
        revoked: d.revoked,
        backing: d.backing,
        systemRanges: ranges(d.systemRanges),
      })),
      attachments: insertionSorted(this.attachments.values(), (a) => a.id).map((a) => ({
        id: a.id,
        dmabufId: a.dmabuf.id,
        importer: a.importer.fn.bdf,
        dynamic: a.dynamic,
        peer2peer: a.peer2peer,
        decision: a.decision,
      })),
      mappings: insertionSorted(this.mappings.values(), (m) => m.id).map((m) => ({
        id: m.id,
        attachmentId: m.attachment.id,
        mode: m.mode,
        entries: m.entries.map((e) => ({ dmaAddress: e.dmaAddress, dmaLength: e.dmaLength })),
        iovaAddr: m.mode === 'iova' && m.sgt?.state ? m.sgt.state.addr : null,
        iovaSize: m.mode === 'iova' && m.sgt?.state ? m.sgt.state.size : null,
        size: m.size,
      })),
      exporters: [...this.exporters.values()]
        .sort((a, b) => (a.fn.bdf < b.fn.bdf ? -1 : 1))
        .map((e) => ({
          device: e.fn.bdf,
          memoryEnabled: e.memoryEnabled,
          registered: e.registered,
          mapTypes: (e.p2p?.entries() ?? [])
            .map(([k, v]) => [k, v.value, v.client] as const)
            .sort((x, y) => x[0] - y[0]),
        })),
      dma: snapshotIommuSystem(
        this.kernel,
        [...this.importers.values()].map((i) => i.dev),
      ),
    };
  }

  /** The canonical state hash of {@link snapshot}. */
  stateHash(): string {
    return stateHash(this.snapshot());
  }

  /** Emits a `sim.state_hash` checkpoint with the live hash. */
  checkpoint(): string {
    const h = this.stateHash();
    this.emit('sim.state_hash', { stateHash: h, events: this.seq });
    return h;
  }

  /** Ends the run: emits `sim.end` with the final live state hash. Idempotent. */
  end(): string {
    const h = this.stateHash();
    if (!this.ended) {
      this.ended = true;
      this.emit('sim.end', { stateHash: h, events: this.seq });
    }
    return h;
  }

  private sortedDomains: IommuDomain[] | null = null;

  /** The IOMMU domains, by id (all exist from construction on). */
  domainList(): readonly IommuDomain[] {
    this.sortedDomains ??= insertionSorted(this.domains.values(), (d) => d.id);
    return this.sortedDomains;
  }

  /** The largest SG entry of this kernel version (bytes). */
  get maxSgEntry(): bigint {
    return maxSgEntrySize(this.config.kernel.sgChunk, this.topology.platform.pageSize);
  }
}
