/**
 * What a reconstructed capture says against a topology, and the capture as a re-drivable workload:
 *
 * - {@link checkTrace}: for every mapping and attachment, does the kernel's behaviour match what dmasim
 *   predicts? The exporter is the function whose BAR holds the physical addresses; dmasim's map type
 *   (`calcMapTypeAndDist`, section 2) must be THRU_HOST_BRIDGE for anything that produced trace lines
 *   (BUS_ADDR traces nothing, NOT_SUPPORTED fails with -EINVAL before mapping), the importer's default
 *   domain decides the path (identity / no IOMMU: dma-direct with `dma_addr == phys_addr`; DMA or
 *   DMA_FQ: IOVA mode, or per-range under the IOMMU after a failed block allocation), IOVA blocks are
 *   size-aligned (a power of two of pages) and below the importer's DMA mask.
 * - {@link traceToScenario}: the capture's operations (export, attach, map, unmap, detach) as a
 *   scenario's `workload.trace.ops`, so the scenario runner re-drives them under another configuration.
 * - {@link compareRedrive}: the addresses the re-driven run produced, mapping by mapping, against the
 *   capture's (the allocator's decisions are never traced; this is how they are validated, 6.5).
 */
import type { SimEvent } from '../events/event-schema.ts';
import { calcMapTypeAndDist } from '../p2p/calc-map-type.ts';
import type { ScenarioSpec, TraceOp } from '../scenario/scenario-spec.ts';
import { defaultIommuMode } from '../sim/sim-config.ts';
import type { Topology } from '../topology/topology.ts';
import type { Bdf } from '../topology/topology-spec.ts';
import type { TracedMapping, TraceReconstruction } from './reconstruct.ts';

/** One finding of {@link checkTrace}. */
export interface TraceFinding {
  readonly level: 'match' | 'mismatch' | 'note';
  /** Capture line the finding is about. */
  readonly line: number;
  readonly mappingId: number | null;
  readonly attachmentId: number | null;
  readonly text: string;
}

/** Result of {@link checkTrace}. */
export interface TraceCheck {
  readonly findings: TraceFinding[];
  readonly matches: number;
  readonly mismatches: number;
}

/** The function whose memory BAR holds `paddr`, with the BAR index and the offset in it. */
export function barOwner(topology: Topology, paddr: bigint): { device: Bdf; bar: number; offset: bigint } | null {
  for (const f of topology.functions) {
    for (const b of f.bars) {
      if (b.memory && paddr >= b.cpuStart && paddr <= b.cpuEnd)
        return { device: f.bdf, bar: b.index, offset: paddr - b.cpuStart };
    }
  }
  return null;
}

function pow2AtLeast(n: bigint): bigint {
  let p = 1n;
  while (p < n) p <<= 1n;
  return p;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/**
 * Checks a reconstruction against a topology.
 * @param granule IOVA granule in bytes (default: the topology's page size).
 */
export function checkTrace(recon: TraceReconstruction, topology: Topology, granule?: number): TraceCheck {
  const g = BigInt(granule ?? topology.platform.pageSize);
  const findings: TraceFinding[] = [];
  const add = (level: TraceFinding['level'], line: number, m: number | null, a: number | null, text: string) =>
    findings.push({ level, line, mappingId: m, attachmentId: a, text });
  const mappedAttachments = new Set<number>();
  const exporterOfDmabuf = new Map<number, Bdf>();

  for (const m of recon.mappings) {
    if (m.attachmentId !== null) mappedAttachments.add(m.attachmentId);
    const where = `mapping ${m.id} (line ${m.line}, ${m.mode.replace(/_/g, '-')}, ${m.ranges.length} range${m.ranges.length === 1 ? '' : 's'})`;
    const owners = m.ranges.map((r) => barOwner(topology, r.paddr));
    const exp = owners[0];
    if (!exp || owners.some((o) => o?.device !== exp.device)) {
      add(
        'mismatch',
        m.line,
        m.id,
        m.attachmentId,
        `${where}: physical addresses ${m.ranges.map((r) => hex(r.paddr)).join(', ')} are not all in one BAR of one device of the topology`,
      );
      continue;
    }
    if (m.dmabufId !== null) exporterOfDmabuf.set(m.dmabufId, exp.device);
    if (m.importer === null) {
      add(
        'note',
        m.line,
        m.id,
        null,
        `${where}: exporter ${exp.device} BAR ${exp.bar}; importer unknown (no live attachment of this size)`,
      );
      continue;
    }
    const imp = topology.find(m.importer as Bdf);
    if (!imp) {
      add('mismatch', m.line, m.id, m.attachmentId, `${where}: importer ${m.importer} is not in the topology`);
      continue;
    }
    const mt = calcMapTypeAndDist(topology, exp.device, imp.bdf, true);
    if (mt.result !== 'THRU_HOST_BRIDGE') {
      add(
        'mismatch',
        m.line,
        m.id,
        m.attachmentId,
        `${where}: the kernel mapped ${exp.device} -> ${imp.bdf} through the DMA API, dmasim predicts ${mt.result} (distance ${mt.distance}, decided by ${mt.decidedBy})${mt.result === 'BUS_ADDR' ? ', which traces nothing' : ', which fails with -EINVAL'}`,
      );
      continue;
    }
    const iommu = defaultIommuMode(topology, imp.bdf);
    const direct = iommu === 'off' || iommu === 'identity';
    if (direct !== (m.mode === 'direct')) {
      add(
        'mismatch',
        m.line,
        m.id,
        m.attachmentId,
        `${where}: the importer's default domain is ${iommu} in the topology, so dmasim predicts ${direct ? 'dma-direct' : 'IOVA mode (or per-range under the IOMMU)'}, the capture shows ${m.mode.replace(/_/g, '-')}`,
      );
      continue;
    }
    const problems: string[] = [];
    const mask = imp.dmaMask === 0n ? 0xffffffffn : imp.dmaMask;
    if (m.mode === 'direct') {
      for (const r of m.ranges) {
        if (r.dmaAddr === 0xffffffffffffffffn) {
          if (r.paddr + r.len - 1n <= mask)
            problems.push(`range ${hex(r.paddr)} failed although it is below the mask ${hex(mask)}`);
        } else if (r.dmaAddr !== r.paddr) problems.push(`dma_addr ${hex(r.dmaAddr)} != phys_addr ${hex(r.paddr)}`);
        else if (r.paddr + r.len - 1n > mask)
          problems.push(`range ${hex(r.paddr)} above the mask ${hex(mask)} was mapped`);
      }
    } else if (m.mode === 'iova') {
      const total = m.ranges.reduce((s, r) => s + r.len, 0n);
      const pages = (total + g - 1n) / g;
      const align = pow2AtLeast(pages) * g;
      const base = m.iovaBase!;
      if (base % align !== 0n)
        problems.push(`IOVA block ${hex(base)} is not aligned to ${hex(align)} (size-aligned allocation)`);
      if (base + total - 1n > mask)
        problems.push(`IOVA block ${hex(base)} + ${hex(total)} exceeds the DMA mask ${hex(mask)}`);
      if (m.ranges.length > 1)
        add(
          'note',
          m.line,
          m.id,
          m.attachmentId,
          `${where}: ${m.ranges.length} ranges linked at one IOVA (hazard 3.8-1, link_overlap), as dmasim reproduces`,
        );
    } else {
      for (const r of m.ranges) {
        if (r.dmaAddr === 0xffffffffffffffffn) continue;
        const pages = (r.len + g - 1n) / g;
        const align = pow2AtLeast(pages) * g;
        if ((r.dmaAddr - (r.paddr & (g - 1n))) % align !== 0n)
          problems.push(`range IOVA ${hex(r.dmaAddr)} is not size-aligned to ${hex(align)}`);
        if (r.dmaAddr + r.len - 1n > mask)
          problems.push(`range IOVA ${hex(r.dmaAddr)} exceeds the DMA mask ${hex(mask)}`);
      }
    }
    if (m.shortUnmap)
      add(
        'note',
        m.unmapLine ?? m.line,
        m.id,
        m.attachmentId,
        `${where}: unmapped less than requested (unmapped_size < size; a hole in the IOVA block)`,
      );
    if (problems.length > 0) add('mismatch', m.line, m.id, m.attachmentId, `${where}: ${problems.join('; ')}`);
    else
      add(
        'match',
        m.line,
        m.id,
        m.attachmentId,
        `${where}: ${exp.device} BAR ${exp.bar} -> ${imp.bdf}: THRU_HOST_BRIDGE (${mt.decidedBy}), ${iommu} domain, ${m.mode.replace(/_/g, '-')}${m.iovaBase !== null ? ` at ${hex(m.iovaBase)}` : ''}`,
      );
  }
  for (const a of recon.attachments) {
    if (mappedAttachments.has(a.id)) continue;
    const imp = topology.find(a.importer as Bdf);
    const exp = exporterOfDmabuf.get(a.dmabufId);
    if (!imp) {
      add(
        'mismatch',
        a.attachLine,
        null,
        a.id,
        `attachment ${a.id} (line ${a.attachLine}): importer ${a.importer} is not in the topology`,
      );
    } else if (exp === undefined) {
      add(
        'note',
        a.attachLine,
        null,
        a.id,
        `attachment ${a.id} (line ${a.attachLine}) of ${a.importer}: no mapping lines, exporter unknown (a BUS_ADDR mapping traces nothing)`,
      );
    } else {
      const mt = calcMapTypeAndDist(topology, exp, imp.bdf, true);
      add(
        mt.result === 'BUS_ADDR' ? 'match' : 'note',
        a.attachLine,
        null,
        a.id,
        `attachment ${a.id} (line ${a.attachLine}) ${exp} -> ${a.importer}: no mapping lines; dmasim predicts ${mt.result}${mt.result === 'BUS_ADDR' ? ' (traces nothing: consistent)' : ' (so the importer did not map it while tracing)'}`,
      );
    }
  }
  findings.sort((x, y) => x.line - y.line);
  return {
    findings,
    matches: findings.filter((f) => f.level === 'match').length,
    mismatches: findings.filter((f) => f.level === 'mismatch').length,
  };
}

/** What {@link traceToScenario} produced. */
export interface TraceScenario {
  readonly spec: ScenarioSpec;
  /** Assumptions made where the capture was silent. */
  readonly assumed: string[];
  /** Map operations in order, with the capture mapping each stands for (for {@link compareRedrive}). */
  readonly mapOps: readonly number[];
}

/**
 * The capture as a scenario that re-drives its operations on `topologyRef`. Times start at 0 at the
 * first operation; ids are the reconstruction's. Mappings without an attachment in the capture (kernels
 * without `dma_buf` tracepoints) get a synthesised export and attach just before them.
 */
export function traceToScenario(
  recon: TraceReconstruction,
  topology: Topology,
  topologyRef: ScenarioSpec['topology'],
  opts: { name?: string; seed?: number } = {},
): TraceScenario {
  const assumed: string[] = [];
  const ops: (TraceOp & { line: number })[] = [];
  const exporterOf = new Map<number, { device: Bdf; bar: number; ranges: { offset: string; length: string }[] }>();
  const rangesOf = (m: TracedMapping) => {
    const owners = m.ranges.map((r) => barOwner(topology, r.paddr));
    const o = owners[0];
    if (!o || owners.some((x) => x === null || x.device !== o.device || x.bar !== o.bar)) return null;
    return {
      device: o.device,
      bar: o.bar,
      ranges: m.ranges.map((r, i) => ({ offset: hex(owners[i]!.offset), length: hex(r.len) })),
    };
  };
  for (const m of recon.mappings) {
    if (m.dmabufId !== null && !exporterOf.has(m.dmabufId)) {
      const e = rangesOf(m);
      if (e) exporterOf.set(m.dmabufId, e);
    }
  }
  const devices = new Set([...exporterOf.values()].map((e) => e.device));
  const t0 = Math.min(
    ...recon.dmabufs.map((d) => d.tNs),
    ...recon.attachments.map((a) => a.tNs),
    ...recon.mappings.map((m) => m.tNs),
  );
  const rel = (t: number) => Math.max(0, Math.round(t - t0));
  const synthesized = new Map<Bdf, number>();
  let nextDmabuf = recon.dmabufs.length + 1;
  let nextAttach = recon.attachments.length + 1;
  for (const d of recon.dmabufs) {
    let e = exporterOf.get(d.id);
    if (!e) {
      if (devices.size !== 1) {
        assumed.push(
          `dma-buf ino ${d.ino} (${d.size} bytes): no mapping shows its ranges and the exporter is not unique; not re-driven`,
        );
        continue;
      }
      const device = [...devices][0]!;
      const bar = [...exporterOf.values()][0]!.bar;
      e = { device, bar, ranges: [{ offset: '0x0', length: hex(d.size) }] };
      exporterOf.set(d.id, e);
      assumed.push(
        `dma-buf ino ${d.ino}: no mapping shows its ranges; assumed one range of ${d.size} bytes at offset 0 of ${device} BAR ${bar}`,
      );
    }
    ops.push({
      line: d.exportLine ?? 0,
      tNs: rel(d.tNs),
      cpu: d.cpu,
      op: 'export',
      exporter: e.device,
      bar: e.bar,
      ranges: e.ranges,
      dmabufId: d.id,
    });
  }
  const importers = new Set<string>();
  for (const a of recon.attachments) {
    if (!exporterOf.has(a.dmabufId)) continue;
    importers.add(a.importer);
    ops.push({
      line: a.attachLine,
      tNs: rel(a.tNs),
      cpu: a.cpu,
      op: 'attach',
      dmabufId: a.dmabufId,
      attachmentId: a.id,
      importer: a.importer,
    });
    if (a.detachLine !== null) {
      ops.push({ line: a.detachLine, tNs: rel(a.detachTNs!), cpu: a.detachCpu!, op: 'detach', attachmentId: a.id });
    }
  }
  for (const m of recon.mappings) {
    let attachmentId = m.attachmentId;
    if (attachmentId === null || !exporterOf.has(m.dmabufId ?? -1)) {
      const e = rangesOf(m);
      if (!e || m.importer === null) {
        assumed.push(
          `mapping ${m.id} (line ${m.line}): ${m.importer === null ? 'importer unknown' : 'ranges outside the topology BARs'}; not re-driven`,
        );
        continue;
      }
      synthesized.set(e.device, e.bar);
      const dmabufId = nextDmabuf++;
      attachmentId = nextAttach++;
      ops.push({
        line: m.line,
        tNs: rel(m.tNs),
        cpu: m.cpu,
        op: 'export',
        exporter: e.device,
        bar: e.bar,
        ranges: e.ranges,
        dmabufId,
      });
      ops.push({
        line: m.line,
        tNs: rel(m.tNs),
        cpu: m.cpu,
        op: 'attach',
        dmabufId,
        attachmentId,
        importer: m.importer,
      });
      assumed.push(
        `mapping ${m.id} (line ${m.line}): no dma_buf attach in the capture; export and attach synthesised just before it`,
      );
    }
    importers.add(m.importer ?? '');
    const dir = m.dir === 'TO_DEVICE' || m.dir === 'FROM_DEVICE' ? m.dir : 'BIDIRECTIONAL';
    ops.push({ line: m.line, tNs: rel(m.tNs), cpu: m.cpu, op: 'map', attachmentId, mappingId: m.id, dir });
    if (m.unmapLine !== null)
      ops.push({ line: m.unmapLine, tNs: rel(m.unmapTNs!), cpu: m.unmapCpu!, op: 'unmap', mappingId: m.id });
  }
  const order: Record<string, number> = { export: 0, attach: 1, map: 2, unmap: 3, detach: 4 };
  ops.sort((a, b) => a.tNs - b.tNs || a.line - b.line || (order[a.op] ?? 9) - (order[b.op] ?? 9));
  const mapOps = ops.filter((o) => o.op === 'map').map((o) => o.mappingId!);
  const exporters = [
    ...new Map([...[...exporterOf.values()].map((e) => [e.device, e.bar] as const), ...synthesized]).entries(),
  ];
  importers.delete('');
  const spec: ScenarioSpec = {
    kind: 'dmasim-scenario',
    version: 1,
    name: opts.name ?? 'ftrace re-drive',
    description: 'Operations reconstructed from a kernel ftrace capture (dmasim replay --ftrace --to-scenario).',
    seed: opts.seed ?? 0,
    topology: topologyRef,
    importers: [...importers].sort().map((device) => ({ device })),
    exporters: exporters.map(([device, bar]) => ({ device, kind: 'vfio-pci' as const, bar })),
    workload: {
      teardown: false,
      access: false,
      trace: { ops: ops.map(({ line: _line, ...op }) => op) },
    },
  };
  return { spec, assumed, mapOps };
}

/** One mapping compared by {@link compareRedrive}. */
export interface RedriveComparison {
  readonly mappingId: number;
  readonly ok: boolean;
  readonly text: string;
}

function entryStarts(ranges: readonly { dmaAddr: bigint; len: bigint }[], max: bigint): bigint[] {
  const out: bigint[] = [];
  for (const r of ranges) {
    let a = r.dmaAddr;
    let left = r.len;
    while (left > 0n) {
      out.push(a);
      const c = left < max ? left : max;
      a += c;
      left -= c;
    }
  }
  return out;
}

/**
 * Compares the re-driven run's mappings with the capture's, in map order: same mode (IOVA mode,
 * per-range, dma-direct), same success, and the same DMA addresses entry by entry.
 */
export function compareRedrive(
  recon: TraceReconstruction,
  mapOps: readonly number[],
  events: Iterable<SimEvent>,
  maxSgEntry = 0xfffff000n,
): RedriveComparison[] {
  const ends: SimEvent<'dmabuf.map.end'>[] = [];
  for (const e of events) if (e.type === 'dmabuf.map.end') ends.push(e as SimEvent<'dmabuf.map.end'>);
  const byId = new Map(recon.mappings.map((m) => [m.id, m]));
  const out: RedriveComparison[] = [];
  for (let i = 0; i < mapOps.length; i++) {
    const m = byId.get(mapOps[i]!)!;
    const e = ends[i];
    if (!e) {
      out.push({ mappingId: m.id, ok: false, text: `mapping ${m.id}: the re-driven run made no map call for it` });
      continue;
    }
    const simMode = e.data.mode === 'per_range' ? (m.mode === 'direct' ? 'direct' : 'per_range_iommu') : e.data.mode;
    const simOk = e.data.result === 0;
    const want =
      m.mode === 'iova'
        ? entryStarts([{ dmaAddr: m.iovaBase!, len: m.ranges.reduce((s, r) => s + r.len, 0n) }], maxSgEntry)
        : entryStarts(m.ranges, maxSgEntry);
    const got = e.data.entries.map((x) => x.dmaAddress);
    const problems: string[] = [];
    if (simMode !== m.mode) problems.push(`mode ${e.data.mode} in dmasim, ${m.mode.replace(/_/g, '-')} in the capture`);
    if (simOk === m.failed)
      problems.push(
        simOk ? 'dmasim mapped it, the kernel failed' : `dmasim failed (errno ${e.data.result}), the kernel mapped it`,
      );
    if (problems.length === 0 && !m.failed && (got.length !== want.length || got.some((a, k) => a !== want[k]))) {
      problems.push(`DMA addresses ${got.map(hex).join(',')} in dmasim, ${want.map(hex).join(',')} in the capture`);
    }
    out.push({
      mappingId: m.id,
      ok: problems.length === 0,
      text:
        problems.length === 0
          ? `mapping ${m.id} (line ${m.line}): same mode and addresses (${want.map(hex).join(',') || 'failed'})`
          : `mapping ${m.id} (line ${m.line}): ${problems.join('; ')}`,
    });
  }
  return out;
}
