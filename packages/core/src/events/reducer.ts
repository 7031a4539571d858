/**
 * The pure reducer: rebuilds the full simulator state from events alone. The DMA-buf objects (dma-bufs,
 * attachments, mappings), the exporters' map-type caches and memory state are rebuilt here; the DMA
 * layer (page tables, flush queues, IOVA domains, device flags, once-fired messages) by the IOMMU area's
 * {@link IommuReducer}, fed the step records the events carry. Nothing is re-simulated: every fact is read
 * from an event, so a replay that matches the live state hash proves the log complete.
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import { IommuReducer } from '../iommu/iommu-reducer.ts';
import type {
  AttachmentSnapshot,
  DmabufSnapshot,
  ExporterSnapshot,
  MappingSnapshot,
  SimSnapshot,
} from '../sim/sim-state.ts';
import type { SimEvent } from './event-schema.ts';
import { stateHash } from './state-hash.ts';
import { eventToStep, isStepEventType } from './step-events.ts';

interface ExporterState {
  memoryEnabled: boolean;
  registered: boolean;
  readonly mapTypes: Map<number, [number, string]>;
}

function mismatch(e: SimEvent, problem: string): DmasimError {
  return new DmasimError(
    ErrorCode.STATE_HASH_MISMATCH,
    `event seq ${e.seq} (${e.type}) does not fit the rebuilt state: ${problem}`,
    {
      seq: e.seq,
      type: e.type,
    },
  );
}

/** Rebuilds a {@link SimSnapshot} from events, one at a time, in order. */
export class SimReducer {
  private readonly dma = new IommuReducer();
  private readonly dmabufs = new Map<number, { -readonly [K in keyof DmabufSnapshot]: DmabufSnapshot[K] }>();
  private readonly attachments = new Map<number, AttachmentSnapshot>();
  private readonly mappings = new Map<number, MappingSnapshot>();
  private readonly exporters = new Map<string, ExporterState>();
  private readonly decisions = new Map<number, 'keep_p2p' | 'migrate'>();
  /** Events applied. */
  applied = 0;
  /** The last `sim.state_hash` / `sim.end` hash seen, with its seq. */
  lastRecordedHash: { seq: number; stateHash: string } | null = null;

  /**
   * Applies one event.
   * @throws DmasimError STATE_HASH_MISMATCH when the event names state that does not exist.
   */
  apply(e: SimEvent): void {
    this.applied++;
    if (isStepEventType(e.type)) {
      this.dma.apply(eventToStep(e.type, e.data as unknown as Record<string, unknown>));
      return;
    }
    switch (e.type) {
      case 'p2p.provider_init':
        this.exporters.set(e.data.device, { memoryEnabled: true, registered: true, mapTypes: new Map() });
        return;
      case 'p2p.map_type': {
        const d = e.data;
        if (d.cacheHit || d.decidedBy === 'no_provider_state' || d.decidedBy === 'non_pci_client') return;
        if (d.provider === null || d.cacheKey === null || d.client === null)
          throw mismatch(e, 'a computed decision without provider, key or client');
        const x = this.exporters.get(d.provider);
        if (!x) throw mismatch(e, `unknown exporter ${d.provider}`);
        x.mapTypes.set(d.cacheKey, [d.resultValue, d.client]);
        return;
      }
      case 'exporter.memory': {
        const x = this.exporters.get(e.data.device);
        if (!x) throw mismatch(e, `unknown exporter ${e.data.device}`);
        x.memoryEnabled = e.data.memoryEnabled;
        x.registered = e.data.registered;
        return;
      }
      case 'dmabuf.export': {
        const d = e.data;
        if (d.result !== 0) return;
        this.dmabufs.set(d.dmabufId, {
          id: d.dmabufId,
          exporter: d.exporter,
          kind: d.exporterKind,
          bar: d.bar,
          ranges: d.ranges.map((r) => ({ paddr: r.paddr, len: r.len })),
          size: d.size,
          revoked: d.revoked,
          backing: 'bar',
          systemRanges: [],
        });
        return;
      }
      case 'exporter.policy':
        if (e.data.decision !== 'refuse') this.decisions.set(e.data.attachmentId, e.data.decision);
        return;
      case 'dmabuf.attach': {
        const d = e.data;
        const decision = this.decisions.get(d.attachmentId) ?? null;
        this.decisions.delete(d.attachmentId);
        if (d.result !== 0) return;
        if (!this.dmabufs.has(d.dmabufId)) throw mismatch(e, `unknown dma-buf ${d.dmabufId}`);
        this.attachments.set(d.attachmentId, {
          id: d.attachmentId,
          dmabufId: d.dmabufId,
          importer: d.importer,
          dynamic: d.isDynamic,
          peer2peer: d.peer2peer,
          decision,
        });
        return;
      }
      case 'dmabuf.map.end': {
        const d = e.data;
        if (d.result !== 0) return;
        if (!this.attachments.has(d.attachmentId)) throw mismatch(e, `unknown attachment ${d.attachmentId}`);
        if (d.mode === 'none') throw mismatch(e, 'a successful map without a mode');
        this.mappings.set(d.mappingId, {
          id: d.mappingId,
          attachmentId: d.attachmentId,
          mode: d.mode,
          entries: d.entries.map((x) => ({ dmaAddress: x.dmaAddress, dmaLength: x.dmaLength })),
          iovaAddr: d.iovaAddr,
          iovaSize: d.iovaSize,
          size: d.size,
        });
        return;
      }
      case 'dmabuf.unmap':
        if (!this.mappings.delete(e.data.mappingId)) throw mismatch(e, `unknown mapping ${e.data.mappingId}`);
        return;
      case 'dmabuf.detach':
        if (!this.attachments.delete(e.data.attachmentId))
          throw mismatch(e, `unknown attachment ${e.data.attachmentId}`);
        return;
      case 'dmabuf.revoke': {
        const d = this.dmabufs.get(e.data.dmabufId);
        if (!d) throw mismatch(e, `unknown dma-buf ${e.data.dmabufId}`);
        d.revoked = e.data.revoked;
        return;
      }
      case 'exporter.migrate': {
        const d = this.dmabufs.get(e.data.dmabufId);
        if (!d) throw mismatch(e, `unknown dma-buf ${e.data.dmabufId}`);
        d.backing = e.data.to === 'system' ? 'system' : 'bar';
        d.systemRanges = e.data.ranges.map((r) => ({ paddr: r.paddr, len: r.len }));
        return;
      }
      case 'sim.state_hash':
      case 'sim.end':
        this.lastRecordedHash = { seq: e.seq, stateHash: e.data.stateHash };
        return;
      default:
        // sim.begin, dmabuf.pin, dmabuf.map.begin, dmabuf.map.cleanup, hazard, error, device.fault:
        // no state of their own (their effects are the events around them).
        return;
    }
  }

  /** The rebuilt state, in the shape of the live simulator's snapshot. */
  snapshot(): SimSnapshot {
    const byId = <T extends { id: number }>(m: Map<number, T>) => [...m.values()].sort((a, b) => a.id - b.id);
    const exporters: ExporterSnapshot[] = [...this.exporters]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([device, x]) => ({
        device,
        memoryEnabled: x.memoryEnabled,
        registered: x.registered,
        mapTypes: [...x.mapTypes].map(([k, [v, c]]) => [k, v, c] as const).sort((p, q) => p[0] - q[0]),
      }));
    return {
      dmabufs: byId(this.dmabufs),
      attachments: byId(this.attachments),
      mappings: byId(this.mappings),
      exporters,
      dma: this.dma.snapshot(),
    };
  }

  /** The state hash of {@link snapshot}. */
  stateHash(): string {
    return stateHash(this.snapshot());
  }
}

/** Result of {@link replayEvents}. */
export interface ReplayResult {
  readonly stateHash: string;
  readonly events: number;
  /** Checkpoints (`sim.state_hash`, `sim.end`) verified. */
  readonly checkpoints: number;
}

/**
 * Replays a whole event log and verifies every recorded checkpoint: at each `sim.state_hash` and
 * `sim.end`, the hash of the state rebuilt from the events before it must equal the recorded one.
 * @throws DmasimError STATE_HASH_MISMATCH naming the first checkpoint that differs.
 */
export function replayEvents(events: Iterable<SimEvent>): ReplayResult {
  const r = new SimReducer();
  let checkpoints = 0;
  let n = 0;
  for (const e of events) {
    if (e.type === 'sim.state_hash' || e.type === 'sim.end') {
      const h = r.stateHash();
      if (h !== e.data.stateHash) {
        throw new DmasimError(
          ErrorCode.STATE_HASH_MISMATCH,
          `replay of scenario ${e.scenarioId}: state hash ${h} before event seq ${e.seq} (${e.type}), the run recorded ${e.data.stateHash}`,
          { seq: e.seq, replayed: h, recorded: e.data.stateHash },
        );
      }
      checkpoints++;
    }
    r.apply(e);
    n++;
  }
  return { stateHash: r.stateHash(), events: n, checkpoints };
}
