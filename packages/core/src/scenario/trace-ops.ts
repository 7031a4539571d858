/**
 * Trace re-drive: the operations of a recorded run (export, attach, map, unmap, detach, memory decode
 * off/on, close), extracted from its events, and a driver that performs them again, at the same virtual
 * times and on the same CPUs, on another topology or configuration ("this trace with iommu=pt", "with a
 * 32-bit importer"). Consequences (unmaps caused by move_notify or detach) are not operations: the new run
 * derives its own. The recorded run's end becomes an `idle` operation, so that timers due until then fire.
 */
import type { SimEvent } from '../events/event-schema.ts';
import type { Simulator } from '../sim/simulator.ts';
import { parseByteCount } from './byte-count.ts';
import type { TraceOp } from './scenario-spec.ts';

const hex = (v: bigint) => `0x${v.toString(16)}`;

/**
 * The operations of a recorded run, in order. Failed exports and attaches are kept (the new
 * configuration may accept them); a revoke that touched several dma-bufs of one device is one operation.
 */
export function traceOpsFromEvents(events: Iterable<SimEvent>): TraceOp[] {
  const ops: TraceOp[] = [];
  for (const e of events) {
    const base = { tNs: e.tNs, cpu: e.cpu };
    switch (e.type) {
      case 'dmabuf.export':
        ops.push({
          ...base,
          op: 'export',
          exporter: e.data.exporter,
          bar: e.data.bar,
          ranges: e.data.request.map((r) => ({ offset: hex(r.offset), length: hex(r.length) })),
          dmabufId: e.data.dmabufId,
        });
        break;
      case 'dmabuf.attach':
        ops.push({
          ...base,
          op: 'attach',
          dmabufId: e.data.dmabufId,
          importer: e.data.importer,
          attachmentId: e.data.attachmentId,
        });
        break;
      case 'dmabuf.pin':
        // A map refused by the core's pin never reaches the exporter (no map.begin): still a map request.
        if (e.data.at === 'map' && e.data.result !== 0)
          ops.push({ ...base, op: 'map', attachmentId: e.data.attachmentId });
        break;
      case 'dmabuf.map.begin':
        ops.push({
          ...base,
          op: 'map',
          attachmentId: e.data.attachmentId,
          mappingId: e.data.mappingId,
          dir: e.data.dir,
        });
        break;
      case 'dmabuf.unmap':
        if (e.data.reason === 'importer') ops.push({ ...base, op: 'unmap', mappingId: e.data.mappingId });
        break;
      case 'dmabuf.detach':
        if (e.data.reason === 'importer') ops.push({ ...base, op: 'detach', attachmentId: e.data.attachmentId });
        break;
      case 'exporter.memory': {
        const prev = ops[ops.length - 1];
        const op = !e.data.registered ? 'close' : e.data.memoryEnabled ? 'restore' : 'revoke';
        if (prev && prev.op === op && prev.exporter === e.data.device && prev.tNs === e.tNs) break;
        ops.push({ ...base, op, exporter: e.data.device });
        break;
      }
      case 'sim.end':
        ops.push({ ...base, op: 'idle' });
        break;
      default:
        break;
    }
  }
  return ops;
}

/** Performs recorded operations on `sim`; returns how many could not be (their object did not exist). */
export function runTraceOps(
  sim: Simulator,
  ops: readonly TraceOp[],
  deviceMap: Readonly<Record<string, string>> = {},
  after?: () => void,
): number {
  const dev = (d: string | undefined) => (d === undefined ? undefined : (deviceMap[d] ?? d));
  const dmabufs = new Map<number, number>();
  const attachments = new Map<number, number>();
  const mappings = new Map<number, number>();
  let skipped = 0;
  const cpus = sim.config.kernel.cpus;
  for (const op of ops) {
    sim.advanceTo(op.tNs);
    const cpu = op.cpu < cpus ? op.cpu : op.cpu % cpus;
    switch (op.op) {
      case 'export': {
        const ranges = (op.ranges ?? []).map((r) => ({
          offset: parseByteCount(r.offset),
          length: parseByteCount(r.length),
        }));
        const res = sim.exportBuffer(dev(op.exporter)!, op.bar ?? 0, ranges, cpu);
        if (res.id !== null && op.dmabufId !== undefined) dmabufs.set(op.dmabufId, res.id);
        break;
      }
      case 'attach': {
        const id = op.dmabufId === undefined ? undefined : dmabufs.get(op.dmabufId);
        if (id === undefined || op.importer === undefined) {
          skipped++;
          break;
        }
        const res = sim.attach(id, dev(op.importer)!, cpu);
        if (res.id !== null && op.attachmentId !== undefined) attachments.set(op.attachmentId, res.id);
        break;
      }
      case 'map': {
        const id = op.attachmentId === undefined ? undefined : attachments.get(op.attachmentId);
        if (id === undefined || !sim.attachments.has(id)) {
          skipped++;
          break;
        }
        const res = sim.map(id, op.dir ?? 'BIDIRECTIONAL', cpu);
        if (res.id !== null && op.mappingId !== undefined) mappings.set(op.mappingId, res.id);
        break;
      }
      case 'unmap': {
        const id = op.mappingId === undefined ? undefined : mappings.get(op.mappingId);
        if (id === undefined || !sim.mappings.has(id)) {
          skipped++;
          break;
        }
        sim.unmap(id, cpu);
        break;
      }
      case 'detach': {
        const id = op.attachmentId === undefined ? undefined : attachments.get(op.attachmentId);
        if (id === undefined || !sim.attachments.has(id)) {
          skipped++;
          break;
        }
        sim.detach(id, cpu);
        break;
      }
      case 'revoke':
      case 'restore':
        sim.setMemoryDecode(dev(op.exporter)!, op.op === 'restore', cpu);
        break;
      case 'close':
        sim.closeExporter(dev(op.exporter)!, cpu);
        break;
      case 'idle':
        break;
    }
    after?.();
  }
  return skipped;
}
