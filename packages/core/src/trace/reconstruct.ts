/**
 * Reconstruction of DMA-buf objects and mappings from a parsed capture (kernel-model.md 6.5):
 *
 * - `dma_buf_export` / `dma_buf_dynamic_attach` / `dma_buf_detach`: dma-bufs by `ino`, attachments by
 *   their hashed pointer (a dma-buf exported before the capture started is known from its attaches);
 * - IOVA mode: one or more `map` lines at one IOVA from one task, not followed by a `dma_map_phys` of
 *   the same address (several at the same base are the offset-0 overlap of hazard 3.8-1), unmapped by
 *   one `unmap` at that base;
 * - per-range mode under an IOMMU: per range `map` immediately followed (same task) by `dma_map_phys`
 *   with the same address; at unmap, per SG entry, `unmap` then `dma_unmap_phys`;
 * - per-range mode under dma-direct: `dma_map_phys` alone, `dma_addr == phys_addr`; `dma_unmap_phys`;
 * - BUS_ADDR: nothing.
 *
 * The iommu lines carry no device: IOVA-mode mappings are attributed to the live attachment whose
 * dma-buf has the mapping's size (the only candidate, else the most recent one, flagged ambiguous).
 * Per-range ranges of one helper call are consecutive lines of one task; they are grouped until their
 * sizes add up to the size of a live attachment's dma-buf of that device. Lines that fit no DMA-buf
 * (other drivers' streaming DMA, VFIO user mappings) are counted as foreign; with `isMmio` (from the
 * topology: the address lies in a BAR) foreign RAM mappings are told apart up front.
 */
import type { FtraceRecord } from './ftrace-parser.ts';

type Rec<K extends FtraceRecord['kind']> = Extract<FtraceRecord, { kind: K }>;

/** A dma-buf seen in the capture. */
export interface TracedDmabuf {
  /** dmasim id (1, 2, ... in order of appearance). */
  readonly id: number;
  readonly ino: number;
  readonly expName: string;
  readonly size: bigint;
  /** Line of `dma_buf_export`, or null when the export happened before the capture. */
  readonly exportLine: number | null;
  readonly tNs: number;
  readonly cpu: number;
}

/** An attachment seen in the capture. */
export interface TracedAttachment {
  readonly id: number;
  readonly dmabufId: number;
  readonly pointer: string;
  readonly importer: string;
  readonly isDynamic: boolean;
  readonly attachLine: number;
  readonly tNs: number;
  readonly cpu: number;
  /** Task that attached. */
  readonly pid: number;
  detachLine: number | null;
  detachTNs: number | null;
  detachCpu: number | null;
}

/** One range of a traced mapping. */
export interface TracedRange {
  readonly paddr: bigint;
  readonly len: bigint;
  /** DMA address the importer got (per-range; IOVA mode: the block base for every range). */
  readonly dmaAddr: bigint;
  readonly line: number;
}

/** A mapping (one call of the DMA-buf helper) reconstructed from the capture. */
export interface TracedMapping {
  /** 1, 2, ... in order of the first line. */
  id: number;
  readonly mode: 'iova' | 'per_range_iommu' | 'direct';
  /** Importer device: from the dma lines, else from the attachment it was attributed to. */
  importer: string | null;
  attachmentId: number | null;
  dmabufId: number | null;
  /** More than one live attachment could own it (IOVA mode has no device in its lines). */
  ambiguous: boolean;
  readonly ranges: TracedRange[];
  /** IOVA mode: the block base (`state.addr`). */
  readonly iovaBase: bigint | null;
  /** Some range failed (`dma_addr=ffffffffffffffff`). */
  failed: boolean;
  readonly dir: string | null;
  readonly pid: number;
  readonly cpu: number;
  readonly tNs: number;
  readonly line: number;
  /** Unmap: line, time and CPU of the first unmap line; null while mapped. */
  unmapLine: number | null;
  unmapTNs: number | null;
  unmapCpu: number | null;
  /** Unmap lines seen (IOVA mode: 1; per-range: one per SG entry). */
  unmapLines: number;
  /** `unmapped_size < size` on an unmap line (hazard 3.8-1 after overwrite/keep, or a hole). */
  shortUnmap: boolean;
}

/** What {@link reconstructMappings} found. */
export interface TraceReconstruction {
  readonly dmabufs: TracedDmabuf[];
  readonly attachments: TracedAttachment[];
  readonly mappings: TracedMapping[];
  readonly faults: Rec<'iommu.fault'>[];
  /** Lines that belong to no DMA-buf mapping (other IOMMU or DMA API users), by kind. */
  readonly foreign: { readonly map: number; readonly unmap: number; readonly dma: number };
  /** Notes on what could not be paired. */
  readonly notes: { readonly line: number; readonly text: string }[];
}

/** Options of {@link reconstructMappings}. */
export interface ReconstructOptions {
  /** IOVA granule (bytes). Default 4096. */
  readonly granule?: number;
  /** MAX_SG_ENT_SZ for SG entry counts. Default 0xFFFFF000 (4 KiB pages, page-aligned chunks). */
  readonly maxSgEntry?: bigint;
  /** True when a physical address is device memory (a BAR); false marks RAM mappings foreign. */
  readonly isMmio?: (paddr: bigint) => boolean;
  /**
   * True when `importer` would map memory at `paddr` through the IOMMU (a THRU_HOST_BRIDGE route and an
   * IOMMU-DMA domain): narrows the owners of an IOVA-mode mapping, whose lines name no device.
   */
  readonly canMapViaIommu?: (importer: string, paddr: bigint) => boolean;
}

const MAPPING_ERROR = 0xffffffffffffffffn;

/** Entries `dma_buf_phys_vec_to_sgt` fills for a length (3.3). */
function entriesFor(len: bigint, max: bigint): number {
  return Number((len + max - 1n) / max);
}

/** Rebuilds the DMA-buf objects and mappings of a capture (records in time order). */
export function reconstructMappings(
  records: readonly FtraceRecord[],
  opts: ReconstructOptions = {},
): TraceReconstruction {
  const granule = BigInt(opts.granule ?? 4096);
  const maxEnt = opts.maxSgEntry ?? 0xfffff000n;
  const alignUp = (x: bigint) => (x + granule - 1n) & ~(granule - 1n);
  const isMmio = opts.isMmio ?? (() => true);
  const dmabufs: TracedDmabuf[] = [];
  const byIno = new Map<number, TracedDmabuf>();
  const attachments: TracedAttachment[] = [];
  const liveAttach = new Map<string, TracedAttachment>();
  const mappings: TracedMapping[] = [];
  const faults: Rec<'iommu.fault'>[] = [];
  const notes: { line: number; text: string }[] = [];
  const foreign = { map: 0, unmap: 0, dma: 0 };

  const dmabufOf = (
    r: { ino: number; expName: string; size: bigint; line: number; tNs: number; cpu: number },
    exported: boolean,
  ) => {
    let d = byIno.get(r.ino);
    if (!d) {
      d = {
        id: dmabufs.length + 1,
        ino: r.ino,
        expName: r.expName,
        size: r.size,
        exportLine: exported ? r.line : null,
        tNs: r.tNs,
        cpu: r.cpu,
      };
      dmabufs.push(d);
      byIno.set(r.ino, d);
    }
    return d;
  };
  const live = (): TracedAttachment[] => [...liveAttach.values()];
  const sizeOf = (a: TracedAttachment) => dmabufs[a.dmabufId - 1]!.size;

  // Per task: iommu maps not yet claimed by a dma_map_phys, and the open per-range mapping.
  const pendingMaps = new Map<number, Rec<'iommu.map'>[]>();
  const openPerRange = new Map<number, { m: TracedMapping; sum: bigint; target: bigint | null }>();
  // Per task: the iommu unmap waiting for its dma_unmap_phys.
  const pendingUnmap = new Map<number, Rec<'iommu.unmap'>>();
  const liveIova = new Map<bigint, TracedMapping>();
  const liveEntries = new Map<bigint, { m: TracedMapping; left: number }>();
  const perRangeLeft = new Map<TracedMapping, number>();

  const attribute = (m: TracedMapping, size: bigint, device: string | null): void => {
    let cands = live().filter((a) => (device === null || a.importer === device) && sizeOf(a) === size);
    if (cands.length === 0 && device !== null) cands = live().filter((a) => a.importer === device);
    const paddr = m.ranges[0]?.paddr ?? 0n;
    if (device === null && opts.canMapViaIommu && cands.some((a) => opts.canMapViaIommu!(a.importer, paddr))) {
      cands = cands.filter((a) => opts.canMapViaIommu!(a.importer, paddr));
    }
    // The task that attached usually maps: prefer attachments made by the mapping's task.
    if (cands.some((a) => a.pid === m.pid)) cands = cands.filter((a) => a.pid === m.pid);
    if (cands.length === 0) return;
    const a = cands[cands.length - 1]!;
    m.attachmentId = a.id;
    m.dmabufId = a.dmabufId;
    m.importer ??= a.importer;
    m.ambiguous = cands.length > 1 && new Set(cands.map((c) => c.importer)).size > 1;
  };

  const flushMaps = (pid: number): void => {
    const list = pendingMaps.get(pid);
    if (!list || list.length === 0) return;
    pendingMaps.delete(pid);
    // Consecutive maps at one IOVA are one IOVA-mode mapping (ranges linked at offset 0).
    let i = 0;
    while (i < list.length) {
      const first = list[i]!;
      const group = [first];
      while (i + group.length < list.length && list[i + group.length]!.iova === first.iova)
        group.push(list[i + group.length]!);
      i += group.length;
      if (!group.some((g) => isMmio(g.paddr))) {
        foreign.map += group.length;
        continue;
      }
      const m: TracedMapping = {
        id: mappings.length + 1,
        mode: 'iova',
        importer: null,
        attachmentId: null,
        dmabufId: null,
        ambiguous: false,
        ranges: group.map((g) => ({ paddr: g.paddr, len: g.size, dmaAddr: g.iova, line: g.line })),
        iovaBase: first.iova,
        failed: false,
        dir: null,
        pid,
        cpu: first.cpu,
        tNs: first.tNs,
        line: first.line,
        unmapLine: null,
        unmapTNs: null,
        unmapCpu: null,
        unmapLines: 0,
        shortUnmap: false,
      };
      attribute(
        m,
        group.reduce((s, g) => s + g.size, 0n),
        null,
      );
      mappings.push(m);
      liveIova.set(first.iova, m);
    }
  };

  const closePerRange = (pid: number): void => {
    const o = openPerRange.get(pid);
    if (!o) return;
    openPerRange.delete(pid);
    if (o.m.attachmentId === null) attribute(o.m, o.sum, o.m.importer);
    let entries = 0;
    for (const r of o.m.ranges) entries += entriesFor(r.len, maxEnt);
    perRangeLeft.set(o.m, entries);
    for (const r of o.m.ranges) {
      if (r.dmaAddr === MAPPING_ERROR) continue;
      let addr = r.dmaAddr;
      let left = r.len;
      while (left > 0n) {
        const chunk = left < maxEnt ? left : maxEnt;
        liveEntries.set(addr, { m: o.m, left: 1 });
        addr += chunk;
        left -= chunk;
      }
    }
  };

  for (const r of records) {
    switch (r.kind) {
      case 'dmabuf.export':
        flushMaps(r.pid);
        dmabufOf(r, true);
        break;
      case 'dmabuf.attach': {
        flushMaps(r.pid);
        const d = dmabufOf(r, false);
        const a: TracedAttachment = {
          id: attachments.length + 1,
          dmabufId: d.id,
          pointer: r.attachment,
          importer: r.devName,
          isDynamic: r.isDynamic,
          attachLine: r.line,
          tNs: r.tNs,
          cpu: r.cpu,
          pid: r.pid,
          detachLine: null,
          detachTNs: null,
          detachCpu: null,
        };
        attachments.push(a);
        liveAttach.set(`${r.ino}/${r.attachment}`, a);
        break;
      }
      case 'dmabuf.detach': {
        flushMaps(r.pid);
        closePerRange(r.pid);
        const k = `${r.ino}/${r.attachment}`;
        const a = liveAttach.get(k);
        if (!a) {
          notes.push({
            line: r.line,
            text: `detach of attachment ${r.attachment} (ino ${r.ino}) whose attach is not in the capture`,
          });
          break;
        }
        a.detachLine = r.line;
        a.detachTNs = r.tNs;
        a.detachCpu = r.cpu;
        liveAttach.delete(k);
        break;
      }
      case 'iommu.map': {
        const o = openPerRange.get(r.pid);
        if (o && o.target !== null && o.sum >= o.target) closePerRange(r.pid);
        const list = pendingMaps.get(r.pid) ?? [];
        list.push(r);
        pendingMaps.set(r.pid, list);
        break;
      }
      case 'dma.map': {
        const list = pendingMaps.get(r.pid);
        const off = r.physAddr & (granule - 1n);
        const last = list?.[list.length - 1];
        let mode: TracedMapping['mode'] = 'direct';
        if (last && last.iova === r.dmaAddr - off && last.size === alignUp(r.size + off)) {
          list!.pop();
          mode = 'per_range_iommu';
        } else if (r.dmaAddr === MAPPING_ERROR) {
          // A failed map: nothing was mapped. Within a helper call it has the call's mode; alone it is
          // dma-direct's mask test (an IOMMU-DMA failure alone cannot be told apart: assumed direct).
          const open = openPerRange.get(r.pid);
          mode = open && open.m.importer === r.device ? open.m.mode : 'direct';
        } else if (r.dmaAddr !== r.physAddr) {
          mode = 'per_range_iommu';
          notes.push({ line: r.line, text: `${r.event} at 0x${r.dmaAddr.toString(16)} without its iommu map line` });
        }
        flushMaps(r.pid);
        if (!isMmio(r.physAddr)) {
          foreign.dma++;
          break;
        }
        let o = openPerRange.get(r.pid);
        if (o && (o.m.importer !== r.device || o.m.mode !== mode || (o.target !== null && o.sum >= o.target))) {
          closePerRange(r.pid);
          o = undefined;
        }
        if (!o) {
          const m: TracedMapping = {
            id: mappings.length + 1,
            mode,
            importer: r.device,
            attachmentId: null,
            dmabufId: null,
            ambiguous: false,
            ranges: [],
            iovaBase: null,
            failed: false,
            dir: r.dir,
            pid: r.pid,
            cpu: r.cpu,
            tNs: r.tNs,
            line: r.line,
            unmapLine: null,
            unmapTNs: null,
            unmapCpu: null,
            unmapLines: 0,
            shortUnmap: false,
          };
          mappings.push(m);
          const cands = live().filter((a) => a.importer === r.device);
          const sizes = [...new Set(cands.map(sizeOf))];
          o = { m, sum: 0n, target: sizes.length === 1 ? sizes[0]! : null };
          openPerRange.set(r.pid, o);
        }
        o.m.ranges.push({ paddr: r.physAddr, len: r.size, dmaAddr: r.dmaAddr, line: r.line });
        o.sum += r.size;
        if (r.dmaAddr === MAPPING_ERROR) {
          o.m.failed = true;
          closePerRange(r.pid);
        } else if (o.target === null) {
          const exact = live().filter((a) => a.importer === r.device && sizeOf(a) === o!.sum);
          if (exact.length > 0) {
            o.target = o.sum;
            attribute(o.m, o.sum, r.device);
            closePerRange(r.pid);
          }
        } else if (o.sum >= o.target) {
          closePerRange(r.pid);
        }
        break;
      }
      case 'iommu.unmap': {
        flushMaps(r.pid);
        closePerRange(r.pid);
        const m = liveIova.get(r.iova);
        if (m) {
          liveIova.delete(r.iova);
          m.unmapLine = r.line;
          m.unmapTNs = r.tNs;
          m.unmapCpu = r.cpu;
          m.unmapLines++;
          if (r.unmappedSize < r.size) m.shortUnmap = true;
          break;
        }
        pendingUnmap.set(r.pid, r);
        break;
      }
      case 'dma.unmap': {
        flushMaps(r.pid);
        closePerRange(r.pid);
        const iu = pendingUnmap.get(r.pid);
        pendingUnmap.delete(r.pid);
        const e = liveEntries.get(r.dmaAddr);
        let m = e?.m;
        if (!m && r.size === 0n) {
          // An unfilled {0, 0} entry unmapped by the error path of a failed per-range mapping (3.5).
          m = [...mappings].reverse().find((x) => x.failed && x.importer === r.device && x.mode !== 'iova');
        }
        if (!m) {
          foreign.dma++;
          if (iu) foreign.unmap++;
          break;
        }
        if (e) liveEntries.delete(r.dmaAddr);
        if (m.unmapLine === null) {
          m.unmapLine = iu?.line ?? r.line;
          m.unmapTNs = iu?.tNs ?? r.tNs;
          m.unmapCpu = r.cpu;
        }
        m.unmapLines++;
        if (iu && iu.unmappedSize < iu.size) m.shortUnmap = true;
        perRangeLeft.set(m, (perRangeLeft.get(m) ?? 1) - 1);
        break;
      }
      case 'iommu.fault':
        faults.push(r);
        break;
      default:
        break;
    }
  }
  for (const pid of [...pendingMaps.keys()]) flushMaps(pid);
  for (const pid of [...openPerRange.keys()]) closePerRange(pid);
  mappings.sort((a, b) => a.tNs - b.tNs || a.line - b.line);
  mappings.forEach((m, i) => {
    m.id = i + 1;
  });
  for (const iu of pendingUnmap.values()) {
    foreign.unmap++;
    notes.push({ line: iu.line, text: `unmap at 0x${iu.iova.toString(16)} matches no mapping of the capture` });
  }
  return { dmabufs, attachments, mappings, faults, foreign, notes };
}
