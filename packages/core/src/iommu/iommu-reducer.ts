/**
 * Rebuilds the state of the IOMMU-DMA layer from its step records alone, without re-running any policy:
 * page tables (from `iommu.map` / `iommu.unmap`), flush queues with their counters and timer (from the
 * `flush_queue` `iova.free`, `iova.fq_flush` and the `fqQueue` of releases), the devices' flags (from
 * `dma.device_setup` and `iova.dac_switch`), the once-fired kernel messages, and the IOVA domains (each
 * allocator record is handed to the IOVA area's {@link applyIovaStep}).
 *
 * {@link snapshotIommuSystem} gives the live system's canonical state and {@link IommuReducer.snapshot}
 * the rebuilt one, in the same shape: applying every step a live kernel emitted, in order, to a fresh
 * reducer gives deep-equal snapshots after every DMA API call (test/iommu-reducer.test.ts).
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import { IovaDomain } from '../iova/iova-domain.ts';
import { applyIovaStep } from '../iova/iova-reducer.ts';
import type { IovaStep } from '../iova/iova-steps.ts';
import type { DmaDevice, DmaDeviceSnapshot } from './dma-device.ts';
import type { FlushQueueOptions, FlushQueueSnapshot, FqEntry } from './flush-queue.ts';
import { IoPageTable } from './io-page-table.ts';
import type { IommuDomainKind, IommuDomainSnapshot } from './iommu-domain.ts';
import type { IommuStep, IovaPassStep } from './iommu-steps.ts';
import type { KernelContext } from './kernel-context.ts';

/** Canonical state of a simulated kernel's DMA layer: what the state hash is computed over. */
export interface IommuSystemSnapshot {
  /** `*_ONCE` call sites that have fired, sorted. */
  readonly once: readonly string[];
  /** Domains of the devices, by id. */
  readonly domains: readonly IommuDomainSnapshot[];
  /** Devices by name. */
  readonly devices: readonly DmaDeviceSnapshot[];
}

function byId<T extends { id: number }>(a: T, b: T): number {
  return a.id - b.id;
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The live state of `devices` (and of their domains) in canonical form. */
export function snapshotIommuSystem(kernel: KernelContext, devices: Iterable<DmaDevice>): IommuSystemSnapshot {
  const domains = new Map<number, IommuDomainSnapshot>();
  const devs: DmaDeviceSnapshot[] = [];
  for (const d of devices) {
    devs.push(d.snapshot());
    if (d.domain !== null && !domains.has(d.domain.id)) domains.set(d.domain.id, d.domain.snapshot());
  }
  return { once: kernel.onceFired(), domains: [...domains.values()].sort(byId), devices: devs.sort(byName) };
}

interface ReducedQueue {
  readonly options: FlushQueueOptions;
  flushStart: number;
  flushFinish: number;
  timerAt: number | null;
  readonly queues: FqEntry[][];
}

interface ReducedDomain {
  readonly id: number;
  type: IommuDomainKind;
  readonly pageTable: IoPageTable;
  iova: IovaDomain | null;
  fq: ReducedQueue | null;
}

function mismatch(problem: string): DmasimError {
  return new DmasimError(ErrorCode.STATE_HASH_MISMATCH, `IOMMU step does not fit the rebuilt state: ${problem}`);
}

/** State rebuilt from step records. */
export class IommuReducer {
  private readonly domains = new Map<number, ReducedDomain>();
  private readonly devices = new Map<string, { dmaIommu: boolean; pci32bitWorkaround: boolean }>();
  private readonly once = new Set<string>();
  /** Records applied so far. */
  applied = 0;

  private domain(id: number | null | undefined): ReducedDomain {
    const d = id === null || id === undefined ? undefined : this.domains.get(id);
    if (d === undefined) throw mismatch(`unknown domain ${String(id)}`);
    return d;
  }

  private iova(id: number): IovaDomain {
    const d = this.domain(id);
    if (d.iova === null) throw mismatch(`domain ${id} has no IOVA domain`);
    return d.iova;
  }

  /** Applies one record. Throws STATE_HASH_MISMATCH when it cannot apply (the log and state diverged). */
  apply(step: IommuStep): void {
    this.applied++;
    switch (step.kind) {
      case 'iommu.domain_init': {
        const d = this.domains.get(step.domainId) ?? {
          id: step.domainId,
          type: step.type,
          pageTable: new IoPageTable(),
          iova: null,
          fq: null,
        };
        d.type = step.type;
        d.iova = new IovaDomain({ granule: step.granule, startPfn: step.startPfn, cpus: step.cpus });
        const o = step.flushQueue;
        d.fq =
          o === null
            ? null
            : {
                options: { kind: o.kind, size: o.size, timeoutMs: o.timeoutMs },
                flushStart: 0,
                flushFinish: 0,
                timerAt: null,
                queues: Array.from({ length: o.kind === 'single' ? 1 : step.cpus }, () => []),
              };
        this.domains.set(d.id, d);
        return;
      }
      case 'dma.device_setup': {
        if (step.domainId !== null && !this.domains.has(step.domainId)) {
          this.domains.set(step.domainId, {
            id: step.domainId,
            type: step.domainType ?? 'identity',
            pageTable: new IoPageTable(),
            iova: null,
            fq: null,
          });
        }
        this.devices.set(step.device, { dmaIommu: step.dmaIommu, pci32bitWorkaround: step.pci32bitWorkaround });
        return;
      }
      case 'iova.dac_switch': {
        const dev = this.devices.get(step.device);
        if (dev === undefined) throw mismatch(`unknown device ${step.device}`);
        dev.pci32bitWorkaround = false;
        return;
      }
      case 'iommu.map':
        this.domain(step.domainId).pageTable.map(
          step.iova,
          step.paddr,
          step.size,
          step.prot,
          step.collision === 'keep' ? 'keep' : 'overwrite',
        );
        return;
      case 'iommu.unmap':
        this.domain(step.domainId).pageTable.unmap(step.iova, step.unmappedSize);
        return;
      case 'iova.fq_flush': {
        const fq = this.domain(step.domainId).fq;
        if (fq === null) throw mismatch(`domain ${step.domainId} has no flush queue`);
        fq.flushStart = step.flushStart;
        fq.flushFinish = step.flushFinish;
        if (step.reason === 'timer') fq.timerAt = null;
        return;
      }
      case 'kernel.log':
        if (step.once !== null) this.once.add(step.once);
        return;
      case 'iova.free':
        if (step.destination === 'flush_queue') {
          const fq = this.domain(step.domainId).fq;
          const q = fq?.queues[step.queue];
          if (fq === null || q === undefined)
            throw mismatch(`domain ${step.domainId} has no flush queue ${step.queue}`);
          q.push({ pfn: BigInt(step.pfn), pages: BigInt(step.pages), counter: step.counter });
          if (step.timerArmedFor !== null) fq.timerAt = step.timerArmedFor;
          return;
        }
        this.applyIova(step);
        return;
      case 'iova.alloc':
      case 'iova.rcache_flush':
      case 'iova.depot':
      case 'iova.reserve':
        this.applyIova(step);
        return;
      default:
        // dma.iova_try_alloc, dma.iova_link, dma.iova_sync, dma.map_phys, dma.unmap_phys, dma.iova_destroy:
        // their state changes are the records that follow them.
        return;
    }
  }

  private applyIova(step: IovaPassStep): void {
    if (step.kind === 'iova.free' && step.fqQueue !== undefined && step.fqQueue !== null) {
      const fq = this.domain(step.domainId).fq;
      const entry = fq?.queues[step.fqQueue]?.shift();
      if (entry === undefined || entry.pfn !== BigInt(step.pfn)) {
        throw mismatch(`release of pfn ${step.pfn} from flush queue ${step.fqQueue} of domain ${step.domainId}`);
      }
    }
    applyIovaStep(this.iova(step.domainId), step as IovaStep);
  }

  /** Applies records in order. */
  applyAll(steps: Iterable<IommuStep>): void {
    for (const s of steps) this.apply(s);
  }

  /** The rebuilt state, in the shape of {@link snapshotIommuSystem}. */
  snapshot(): IommuSystemSnapshot {
    const domains: IommuDomainSnapshot[] = [];
    for (const d of this.domains.values()) {
      const fq: FlushQueueSnapshot | null =
        d.fq === null
          ? null
          : {
              options: d.fq.options,
              flushStart: d.fq.flushStart,
              flushFinish: d.fq.flushFinish,
              timerAt: d.fq.timerAt,
              queues: d.fq.queues.map((q) => [...q]),
            };
      domains.push({
        id: d.id,
        type: d.type,
        initialised: d.iova !== null,
        pageTable: d.pageTable.snapshot(),
        flushQueue: fq,
        iova: d.iova?.snapshot() ?? null,
      });
    }
    const devices: DmaDeviceSnapshot[] = [...this.devices].map(([name, f]) => ({
      name,
      dmaIommu: f.dmaIommu,
      pci32bitWorkaround: f.pci32bitWorkaround,
    }));
    return { once: [...this.once].sort(), domains: domains.sort(byId), devices: devices.sort(byName) };
  }
}
