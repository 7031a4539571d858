/**
 * Readable forms of one scenario's events: the `--show` timeline (one line an event, with the
 * lifetimes of attachments and mappings marked) and the Chrome trace / Perfetto JSON export
 * (`--perfetto OUT.json`, the "JSON trace event format" both viewers load): one thread per CPU with an
 * instant per event, a slice per map call (`dmabuf.map.begin` .. `dmabuf.map.end`), and async slices for
 * the life of every attachment and mapping. Times are the run's virtual nanoseconds.
 */
import { eventToJson, formatEventLine, type SimEvent } from '@dmasim/core';

/** One line of the `--show` timeline. */
export function timelineLine(e: SimEvent): string {
  const line = formatEventLine(e);
  const t = `${(e.tNs / 1000).toFixed(3).padStart(12)}us`;
  // formatEventLine: `#seq t=..ns cpuN type fields`; keep seq, put time in a column.
  const rest = line.replace(/^#\d+ t=\d+ns /, '');
  return `${String(e.seq).padStart(7)} ${t} ${rest}`;
}

/** A Chrome trace event (the subset we write). */
interface TraceEvent {
  name: string;
  cat?: string;
  ph: 'i' | 'X' | 'b' | 'e' | 'M';
  ts?: number;
  dur?: number;
  pid: number;
  tid?: number;
  id?: string;
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}

const CATEGORY: Record<string, string> = {
  sim: 'sim',
  p2p: 'p2p',
  dmabuf: 'dmabuf',
  exporter: 'dmabuf',
  dma: 'dma',
  iommu: 'iommu',
  iova: 'iova',
  kernel: 'kernel',
  device: 'fault',
  hazard: 'hazard',
  error: 'error',
};

/**
 * Builds the trace viewer JSON of one scenario's events (in seq order).
 * @returns the object to `JSON.stringify`; load it at ui.perfetto.dev or chrome://tracing.
 */
export class PerfettoTrace {
  private readonly events: TraceEvent[] = [];
  private readonly cpus = new Set<number>();
  private readonly mapStart = new Map<number, SimEvent>();
  private readonly pid = 1;
  private readonly scenarioId: string;

  constructor(scenarioId: string) {
    this.scenarioId = scenarioId;
  }

  add(e: SimEvent): void {
    const ts = e.tNs / 1000;
    this.cpus.add(e.cpu);
    const json = eventToJson(e) as { data: Record<string, unknown> };
    const cat = CATEGORY[e.type.split('.')[0]!] ?? 'other';
    this.events.push({
      name: e.type,
      cat,
      ph: 'i',
      s: e.type === 'hazard' || e.type === 'error' ? 'p' : 't',
      ts,
      pid: this.pid,
      tid: e.cpu,
      args: { seq: e.seq, ...json.data },
    });
    switch (e.type) {
      case 'dmabuf.map.begin':
        this.mapStart.set(e.data.mappingId, e);
        break;
      case 'dmabuf.map.end': {
        const b = this.mapStart.get(e.data.mappingId);
        this.mapStart.delete(e.data.mappingId);
        if (b) {
          this.events.push({
            name: `map ${e.data.mappingId} (${e.data.mode}${e.data.result !== 0 ? `, errno ${e.data.result}` : ''})`,
            cat: 'dmabuf',
            ph: 'X',
            ts: b.tNs / 1000,
            dur: Math.max((e.tNs - b.tNs) / 1000, 0.001),
            pid: this.pid,
            tid: b.cpu,
            args: { seqBegin: b.seq, seqEnd: e.seq, nents: e.data.nents },
          });
        }
        if (e.data.result === 0) {
          this.events.push({
            name: `mapping ${e.data.mappingId} ${e.data.mode}`,
            cat: 'mapping',
            ph: 'b',
            id: `m${e.data.mappingId}`,
            ts,
            pid: this.pid,
            args: { attachmentId: e.data.attachmentId, dmabufId: e.data.dmabufId },
          });
        }
        break;
      }
      case 'dmabuf.unmap':
        this.events.push({
          name: `mapping ${e.data.mappingId} ${e.data.mode}`,
          cat: 'mapping',
          ph: 'e',
          id: `m${e.data.mappingId}`,
          ts,
          pid: this.pid,
          args: { reason: e.data.reason },
        });
        break;
      case 'dmabuf.attach':
        if (e.data.result === 0) {
          this.events.push({
            name: `attachment ${e.data.attachmentId} ${e.data.importer}`,
            cat: 'attachment',
            ph: 'b',
            id: `a${e.data.attachmentId}`,
            ts,
            pid: this.pid,
            args: { dmabufId: e.data.dmabufId },
          });
        }
        break;
      case 'dmabuf.detach':
        this.events.push({
          name: `attachment ${e.data.attachmentId} ${e.data.importer}`,
          cat: 'attachment',
          ph: 'e',
          id: `a${e.data.attachmentId}`,
          ts,
          pid: this.pid,
        });
        break;
      default:
        break;
    }
  }

  /** The JSON object (trace events plus process and thread names). */
  toJson(): { traceEvents: TraceEvent[]; displayTimeUnit: 'ns'; otherData: Record<string, unknown> } {
    const meta: TraceEvent[] = [
      { name: 'process_name', ph: 'M', pid: this.pid, args: { name: `dmasim scenario ${this.scenarioId}` } },
    ];
    for (const c of [...this.cpus].sort((a, b) => a - b)) {
      meta.push({ name: 'thread_name', ph: 'M', pid: this.pid, tid: c, args: { name: `cpu ${c}` } });
    }
    return {
      traceEvents: [...meta, ...this.events],
      displayTimeUnit: 'ns',
      otherData: { scenarioId: this.scenarioId, producer: 'dmasim replay --perfetto', timeUnit: 'virtual ns' },
    };
  }
}
