/**
 * Parser of kernel ftrace text output (`trace`, `trace_pipe`, `trace-cmd report`) for the `iommu:`,
 * `dma:` and `dma_buf:` events of kernel-model.md section 6. Pure: it takes the text and a file name
 * for messages.
 *
 * Line format (6.1): `<comm>-<pid> [(<tgid>)] [<cpu>] [<flags>] <sec>.<usec>: <event>: <payload>`;
 * comm may hold spaces and dashes (split at the last `-` before the pid), the tgid column and the
 * irq-info flags column (4 or 5 characters) are optional, timestamps have 6 decimals (9 with some
 * clocks and trace-cmd options). Event names are bare (`map`, not `iommu:map`); `trace-cmd report`
 * lines have the same shape after its header lines.
 *
 * Every line is one of: blank or a `#` comment; a `trace-cmd report` header line; a `[LOST n EVENTS]`
 * marker (events missing from the capture: a problem); an event line; anything else is malformed. An
 * event line of one of our events whose payload does not match its format (6.2-6.4) is malformed too;
 * other events (sched, irq, ...) are counted and skipped. Problems fail the parse, naming file:line and
 * what was found and expected, unless `lenient` is set, in which case the line is skipped and reported.
 */
import { DmasimError, ErrorCode, parseError } from '../errors.ts';

/** Fields every parsed event line has. */
export interface FtraceLineBase {
  /** 1-based line number in the capture. */
  readonly line: number;
  readonly comm: string;
  readonly pid: number;
  readonly tgid: number | null;
  readonly cpu: number;
  /** Irq/preempt flags column, or null when irq-info is off. */
  readonly flags: string | null;
  /** Timestamp in nanoseconds (from `<sec>.<fraction>`). */
  readonly tNs: number;
  /** The event name as printed. */
  readonly event: string;
}

/** DMA direction names as the `dma` events print them (6.3); `0x..` for an unknown value. */
export type FtraceDir = 'BIDIRECTIONAL' | 'TO_DEVICE' | 'FROM_DEVICE' | 'NONE' | string;

/** One of our events, parsed. */
export type FtraceRecord = FtraceLineBase &
  (
    | {
        readonly kind: 'iommu.map';
        readonly iova: bigint;
        readonly end: bigint | null;
        readonly paddr: bigint;
        readonly size: bigint;
      }
    | {
        readonly kind: 'iommu.unmap';
        readonly iova: bigint;
        readonly end: bigint | null;
        readonly size: bigint;
        readonly unmappedSize: bigint;
      }
    | {
        readonly kind: 'dma.map';
        /** `phys` (6.18+), `page` or `resource` (older names). */
        readonly api: 'phys' | 'page' | 'resource';
        readonly device: string;
        readonly dir: FtraceDir;
        readonly dmaAddr: bigint;
        readonly size: bigint;
        readonly physAddr: bigint;
        readonly attrs: readonly string[];
      }
    | {
        readonly kind: 'dma.unmap';
        readonly api: 'phys' | 'page' | 'resource';
        readonly device: string;
        readonly dir: FtraceDir;
        readonly dmaAddr: bigint;
        readonly size: bigint;
        readonly attrs: readonly string[];
      }
    | { readonly kind: 'dmabuf.export'; readonly expName: string; readonly size: bigint; readonly ino: number }
    | {
        readonly kind: 'dmabuf.attach' | 'dmabuf.detach';
        readonly expName: string;
        readonly size: bigint;
        readonly ino: number;
        /** The hashed `%p` of the attachment: an opaque identifier. */
        readonly attachment: string;
        readonly isDynamic: boolean;
        readonly devName: string;
      }
    | {
        readonly kind: 'dmabuf.other';
        readonly expName: string;
        readonly size: bigint;
        readonly ino: number;
        readonly fd: number | null;
      }
    | {
        readonly kind: 'iommu.fault';
        readonly driver: string;
        readonly device: string;
        readonly iova: bigint;
        readonly faultFlags: number;
      }
    | { readonly kind: 'iommu.group'; readonly op: 'add' | 'remove'; readonly groupId: number; readonly device: string }
    | { readonly kind: 'iommu.device'; readonly op: 'attach' | 'detach'; readonly device: string }
  );

/** A line that could not be used. */
export interface FtraceProblem {
  readonly line: number;
  readonly kind: 'malformed' | 'truncated' | 'bad_payload' | 'lost_events' | 'time_backwards';
  readonly message: string;
  readonly text: string;
}

/** Result of {@link parseFtrace}. */
export interface FtraceCapture {
  readonly file: string;
  /** Our events, in capture order. */
  readonly records: FtraceRecord[];
  /** Lines skipped (only non-empty with `lenient`). */
  readonly problems: FtraceProblem[];
  /** Other events seen, by name (skipped). */
  readonly otherEvents: Readonly<Record<string, number>>;
  /** Event lines read (ours and others). */
  readonly eventLines: number;
  /** Events the kernel reported lost (`[LOST n EVENTS]`). */
  readonly lostEvents: number;
  /** `trace-cmd report` header seen. */
  readonly traceCmd: boolean;
}

/** Options of {@link parseFtrace}. */
export interface ParseFtraceOptions {
  /** Skip (and report) malformed, truncated and lost-event lines instead of failing. Default false. */
  readonly lenient?: boolean;
}

/** kernel-model.md 6.1, with the optional columns as groups. */
const LINE = /^\s*(.*)-(\d+)\s+(?:\(\s*([-\d]+)\)\s+)?\[(\d+)\]\s+(?:(\S{4,5})\s+)?(\d+)\.(\d+):\s+(\w+):\s?(.*)$/;
const LOST = /^\s*CPU:\s*(\d+)\s+\[LOST (\d+) EVENTS\]\s*$/;
const TRACE_CMD_HEADER =
  /^(cpus=\d+|version = \d+|CPU \d+ is empty|CPU\d+ data recorded at offset=.*|\s+\d+ bytes in size.*|trace-cmd: .*)$/;

const HEX16 = '0x([0-9a-f]{1,16})';
const MAP_NEW = new RegExp(`^IOMMU: iova=${HEX16} - ${HEX16} paddr=${HEX16} size=(\\d+)$`);
const MAP_OLD = new RegExp(`^IOMMU: iova=${HEX16} paddr=${HEX16} size=(\\d+)$`);
const UNMAP_NEW = new RegExp(`^IOMMU: iova=${HEX16} - ${HEX16} size=(\\d+) unmapped_size=(\\d+)$`);
const UNMAP_OLD = new RegExp(`^IOMMU: iova=${HEX16} size=(\\d+) unmapped_size=(\\d+)$`);
const DMA_MAP =
  /^(\S+) dir=(BIDIRECTIONAL|TO_DEVICE|FROM_DEVICE|NONE|0x[0-9a-f]+) dma_addr=([0-9a-f]{1,16}) size=(\d+) phys_addr=([0-9a-f]{1,16}) attrs=(\S*)$/;
const DMA_UNMAP =
  /^(\S+) dir=(BIDIRECTIONAL|TO_DEVICE|FROM_DEVICE|NONE|0x[0-9a-f]+) dma_addr=([0-9a-f]{1,16}) size=(\d+) attrs=(\S*)$/;
const DMABUF_BASE = /^exp_name=(\S+) size=(\d+) ino=(\d+)$/;
const DMABUF_FD = /^exp_name=(\S+) size=(\d+) ino=(\d+) fd=(-?\d+)$/;
const DMABUF_ATTACH = /^exp_name=(\S+) size=(\d+) ino=(\d+) attachment:(\S+) is_dynamic=([01]) dev_name=(\S+)$/;
const FAULT = new RegExp(`^IOMMU:(\\S+) (\\S+) iova=${HEX16} flags=0x([0-9a-f]{1,8})$`);
const GROUP = /^IOMMU: groupID=(\d+) device=(\S+)$/;
const DEVICE = /^IOMMU: device=(\S+)$/;

/** Attribute names in the order `dma` events print them (6.3). */
export const DMA_ATTR_NAMES = [
  'WEAK_ORDERING',
  'WRITE_COMBINE',
  'NO_KERNEL_MAPPING',
  'SKIP_CPU_SYNC',
  'FORCE_CONTIGUOUS',
  'ALLOC_SINGLE_PAGES',
  'NO_WARN',
  'PRIVILEGED',
  'MMIO',
  'CACHELINES_OVERLAP',
  'REQUIRE_COHERENT',
  'CC_SHARED',
  'ALLOC_CC_SHARED',
] as const;
const ATTR_SET: ReadonlySet<string> = new Set(DMA_ATTR_NAMES);

const DMA_EVENTS: Record<string, { map: boolean; api: 'phys' | 'page' | 'resource' }> = {
  dma_map_phys: { map: true, api: 'phys' },
  dma_map_page: { map: true, api: 'page' },
  dma_map_resource: { map: true, api: 'resource' },
  dma_unmap_phys: { map: false, api: 'phys' },
  dma_unmap_page: { map: false, api: 'page' },
  dma_unmap_resource: { map: false, api: 'resource' },
};

const OURS: ReadonlySet<string> = new Set([
  'map',
  'unmap',
  'io_page_fault',
  'add_device_to_group',
  'remove_device_from_group',
  'attach_device_to_domain',
  'detach_device_from_domain',
  'dma_buf_export',
  'dma_buf_fd',
  'dma_buf_get',
  'dma_buf_put',
  'dma_buf_mmap',
  'dma_buf_mmap_internal',
  'dma_buf_dynamic_attach',
  'dma_buf_detach',
  ...Object.keys(DMA_EVENTS),
]);

const hex = (s: string): bigint => BigInt(`0x${s}`);

function attrsOf(s: string): string[] | null {
  if (s === '') return [];
  const parts = s.split('|');
  for (const p of parts) if (!ATTR_SET.has(p) && !/^0x[0-9a-f]+$/.test(p)) return null;
  return parts;
}

type DistOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Payload = DistOmit<FtraceRecord, keyof FtraceLineBase> | string;

/** Parses one of our events' payload; a string is the reason it does not match. */
function parsePayload(event: string, p: string): Payload {
  let m: RegExpExecArray | null;
  switch (event) {
    case 'map': {
      m = MAP_NEW.exec(p);
      if (m) {
        const iova = hex(m[1]!);
        const end = hex(m[2]!);
        const size = BigInt(m[4]!);
        if (((iova + size) & 0xffffffffffffffffn) !== end) return `end 0x${m[2]} is not iova + size`;
        return { kind: 'iommu.map', iova, end, paddr: hex(m[3]!), size };
      }
      m = MAP_OLD.exec(p);
      if (m) return { kind: 'iommu.map', iova: hex(m[1]!), end: null, paddr: hex(m[2]!), size: BigInt(m[3]!) };
      return 'expected "IOMMU: iova=0x<16 hex> - 0x<16 hex> paddr=0x<16 hex> size=<decimal>"';
    }
    case 'unmap': {
      m = UNMAP_NEW.exec(p);
      if (m) {
        const iova = hex(m[1]!);
        const end = hex(m[2]!);
        const size = BigInt(m[3]!);
        if (((iova + size) & 0xffffffffffffffffn) !== end) return `end 0x${m[2]} is not iova + size`;
        return { kind: 'iommu.unmap', iova, end, size, unmappedSize: BigInt(m[4]!) };
      }
      m = UNMAP_OLD.exec(p);
      if (m) {
        return { kind: 'iommu.unmap', iova: hex(m[1]!), end: null, size: BigInt(m[2]!), unmappedSize: BigInt(m[3]!) };
      }
      return 'expected "IOMMU: iova=0x<16 hex> - 0x<16 hex> size=<decimal> unmapped_size=<decimal>"';
    }
    case 'io_page_fault':
      m = FAULT.exec(p);
      if (m) {
        return {
          kind: 'iommu.fault',
          driver: m[1]!,
          device: m[2]!,
          iova: hex(m[3]!),
          faultFlags: Number.parseInt(m[4]!, 16),
        };
      }
      return 'expected "IOMMU:<driver> <device> iova=0x<hex> flags=0x<hex>"';
    case 'add_device_to_group':
    case 'remove_device_from_group':
      m = GROUP.exec(p);
      if (m) {
        return {
          kind: 'iommu.group',
          op: event === 'add_device_to_group' ? 'add' : 'remove',
          groupId: Number(m[1]),
          device: m[2]!,
        };
      }
      return 'expected "IOMMU: groupID=<n> device=<name>"';
    case 'attach_device_to_domain':
    case 'detach_device_from_domain':
      m = DEVICE.exec(p);
      if (m) {
        return { kind: 'iommu.device', op: event === 'attach_device_to_domain' ? 'attach' : 'detach', device: m[1]! };
      }
      return 'expected "IOMMU: device=<name>"';
    case 'dma_buf_export':
      m = DMABUF_BASE.exec(p);
      if (m) return { kind: 'dmabuf.export', expName: m[1]!, size: BigInt(m[2]!), ino: Number(m[3]) };
      return 'expected "exp_name=<name> size=<decimal> ino=<decimal>"';
    case 'dma_buf_put':
    case 'dma_buf_mmap':
    case 'dma_buf_mmap_internal':
      m = DMABUF_BASE.exec(p);
      if (m) {
        return { kind: 'dmabuf.other', expName: m[1]!, size: BigInt(m[2]!), ino: Number(m[3]), fd: null };
      }
      return 'expected "exp_name=<name> size=<decimal> ino=<decimal>"';
    case 'dma_buf_fd':
    case 'dma_buf_get':
      m = DMABUF_FD.exec(p);
      if (m) {
        return { kind: 'dmabuf.other', expName: m[1]!, size: BigInt(m[2]!), ino: Number(m[3]), fd: Number(m[4]) };
      }
      return 'expected "exp_name=<name> size=<decimal> ino=<decimal> fd=<decimal>"';
    case 'dma_buf_dynamic_attach':
    case 'dma_buf_detach':
      m = DMABUF_ATTACH.exec(p);
      if (m) {
        return {
          kind: event === 'dma_buf_detach' ? 'dmabuf.detach' : 'dmabuf.attach',
          expName: m[1]!,
          size: BigInt(m[2]!),
          ino: Number(m[3]),
          attachment: m[4]!,
          isDynamic: m[5] === '1',
          devName: m[6]!,
        };
      }
      return 'expected "exp_name=<name> size=<decimal> ino=<decimal> attachment:<ptr> is_dynamic=<0|1> dev_name=<name>"';
    default: {
      const d = DMA_EVENTS[event]!;
      if (d.map) {
        m = DMA_MAP.exec(p);
        if (m) {
          const attrs = attrsOf(m[6]!);
          if (!attrs) return `attrs "${m[6]}" are not DMA attribute names joined by |`;
          return {
            kind: 'dma.map',
            api: d.api,
            device: m[1]!,
            dir: m[2]!,
            dmaAddr: hex(m[3]!),
            size: BigInt(m[4]!),
            physAddr: hex(m[5]!),
            attrs,
          };
        }
        return 'expected "<device> dir=<DIR> dma_addr=<hex> size=<decimal> phys_addr=<hex> attrs=<names>"';
      }
      m = DMA_UNMAP.exec(p);
      if (m) {
        const attrs = attrsOf(m[5]!);
        if (!attrs) return `attrs "${m[5]}" are not DMA attribute names joined by |`;
        return {
          kind: 'dma.unmap',
          api: d.api,
          device: m[1]!,
          dir: m[2]!,
          dmaAddr: hex(m[3]!),
          size: BigInt(m[4]!),
          attrs,
        };
      }
      return 'expected "<device> dir=<DIR> dma_addr=<hex> size=<decimal> attrs=<names>"';
    }
  }
}

function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 97)}...` : s;
}

/**
 * Parses a capture.
 * @throws DmasimError TRACE_PARSE at the first problem (unless `lenient`), naming file:line.
 */
export function parseFtrace(text: string, file: string, opts: ParseFtraceOptions = {}): FtraceCapture {
  const lines = text.split('\n');
  const endsWithNewline = text.endsWith('\n');
  if (endsWithNewline) lines.pop();
  const records: FtraceRecord[] = [];
  const problems: FtraceProblem[] = [];
  const other: Record<string, number> = {};
  let eventLines = 0;
  let lost = 0;
  let traceCmd = false;
  const lastT = new Map<number, number>();
  const problem = (p: FtraceProblem): void => {
    if (!opts.lenient) {
      throw parseError(ErrorCode.TRACE_PARSE, { file, line: p.line }, `${p.message}: "${clip(p.text)}"`);
    }
    problems.push(p);
  };
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    const lineNo = i + 1;
    const isLast = i === lines.length - 1 && !endsWithNewline;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) continue;
    if (TRACE_CMD_HEADER.test(raw)) {
      traceCmd = true;
      continue;
    }
    const lm = LOST.exec(raw);
    if (lm) {
      lost += Number(lm[2]);
      problem({
        line: lineNo,
        kind: 'lost_events',
        message: `the kernel lost ${lm[2]} events on CPU ${lm[1]} (the ring buffer overflowed): the capture has a hole, mappings around it cannot be reconstructed reliably; record again with a larger buffer_size_kb`,
        text: raw,
      });
      continue;
    }
    const m = LINE.exec(raw);
    if (!m) {
      problem({
        line: lineNo,
        kind: isLast ? 'truncated' : 'malformed',
        message: isLast
          ? 'truncated last line (the capture was cut mid-line)'
          : 'not an ftrace event line: expected "<comm>-<pid> [<cpu>] <flags> <sec>.<usec>: <event>: <payload>"',
        text: raw,
      });
      continue;
    }
    eventLines++;
    const event = m[8]!;
    if (!OURS.has(event)) {
      other[event] = (other[event] ?? 0) + 1;
      continue;
    }
    const payload = parsePayload(event, m[9]!);
    if (typeof payload === 'string') {
      problem({
        line: lineNo,
        kind: isLast ? 'truncated' : 'bad_payload',
        message: isLast ? `truncated last line (${event} payload incomplete: ${payload})` : `${event}: ${payload}`,
        text: raw,
      });
      continue;
    }
    const frac = m[7]!;
    if (frac.length > 9) {
      problem({ line: lineNo, kind: 'malformed', message: `timestamp with ${frac.length} decimals`, text: raw });
      continue;
    }
    const tNs = Number(m[6]!) * 1e9 + Number(frac.padEnd(9, '0'));
    const cpu = Number(m[4]!);
    const prev = lastT.get(cpu);
    if (prev !== undefined && tNs < prev) {
      problem({
        line: lineNo,
        kind: 'time_backwards',
        message: `timestamp goes backwards on CPU ${cpu} (${prev} ns then ${tNs} ns): lines out of order or two captures mixed`,
        text: raw,
      });
      continue;
    }
    lastT.set(cpu, tNs);
    records.push({
      line: lineNo,
      comm: m[1]!.trim(),
      pid: Number(m[2]!),
      tgid: m[3] !== undefined && m[3] !== '-----' && /^\d+$/.test(m[3]) ? Number(m[3]) : null,
      cpu,
      flags: m[5] ?? null,
      tNs,
      event,
      ...payload,
    } as FtraceRecord);
  }
  if (eventLines === 0 && records.length === 0 && problems.length === 0) {
    throw new DmasimError(ErrorCode.TRACE_PARSE, `${file}: no ftrace event lines found (is this a trace capture?)`, {
      file,
    });
  }
  // Captures from several CPUs are merged in time order (trace_pipe and trace already are; keep stable).
  records.sort((a, b) => a.tNs - b.tNs || a.line - b.line);
  return { file, records, problems, otherEvents: other, eventLines, lostEvents: lost, traceCmd };
}
