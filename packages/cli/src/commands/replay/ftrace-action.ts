/**
 * `dmasim replay --ftrace FILE`: import a kernel ftrace capture, reconstruct its DMA-buf mappings, check
 * them against a topology (`--check`), write a scenario that re-drives them (`--to-scenario`), and run it
 * to compare dmasim's addresses with the kernel's (`--rerun`). docs/FTRACE.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import {
  barOwner,
  calcMapTypeAndDist,
  checkTrace,
  compareRedrive,
  DmasimError,
  defaultIommuMode,
  ErrorCode,
  parseFtrace,
  reconstructMappings,
  runScenario,
  type SimEvent,
  type Topology,
  type TopologySpec,
  traceToScenario,
} from '@dmasim/core';
import { stringify } from 'yaml';
import { ExitCode } from '../../exit.ts';
import { loadMachineQuiet } from '../../readers.ts';

/** Options of the ftrace mode of `dmasim replay`. */
export interface FtraceOpts {
  topology?: string;
  check?: boolean;
  toScenario?: string;
  rerun?: boolean;
  lenient?: boolean;
  json?: boolean;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

function viaIommu(t: Topology, importer: string, paddr: bigint): boolean {
  const owner = barOwner(t, paddr);
  if (!owner || !t.has(importer)) return false;
  const mode = defaultIommuMode(t, importer);
  return (
    (mode === 'dma' || mode === 'dma-fq') &&
    calcMapTypeAndDist(t, owner.device, importer, true).result === 'THRU_HOST_BRIDGE'
  );
}

/** Runs the ftrace import; sets `process.exitCode` (1 when a check or comparison fails). */
export async function ftraceAction(file: string, o: FtraceOpts): Promise<void> {
  if ((o.check || o.toScenario || o.rerun) && o.topology === undefined) {
    process.stderr.write('dmasim replay: --check, --to-scenario and --rerun need --topology FILE\n');
    process.exitCode = ExitCode.USAGE;
    return;
  }
  if (o.rerun && !o.toScenario) {
    process.stderr.write('dmasim replay: --rerun needs --to-scenario OUT.yaml\n');
    process.exitCode = ExitCode.USAGE;
    return;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `${file}: cannot read the capture (${(e as Error).message})`);
  }
  const capture = parseFtrace(text, file, { lenient: o.lenient === true });
  let topology: Topology | undefined;
  let topoSpec: TopologySpec | undefined;
  if (o.topology !== undefined) {
    const machine = loadMachineQuiet(o.topology);
    topoSpec = machine.spec;
    topology = machine.topology;
  }
  const recon = reconstructMappings(capture.records, {
    ...(topology
      ? {
          granule: topology.platform.pageSize,
          isMmio: (p: bigint) => barOwner(topology!, p) !== null,
          canMapViaIommu: (importer: string, p: bigint) => viaIommu(topology!, importer, p),
        }
      : {}),
  });
  const out: string[] = [];
  const counts = capture.records.reduce<Record<string, number>>((m, r) => {
    m[r.event] = (m[r.event] ?? 0) + 1;
    return m;
  }, {});
  out.push(
    `${file}: ${capture.records.length} dma/iommu/dma_buf events of ${capture.eventLines} event lines${capture.traceCmd ? ' (trace-cmd report)' : ''}: ${Object.entries(
      counts,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  for (const p of capture.problems) out.push(`skipped ${file}:${p.line}: ${p.kind}: ${p.message}`);
  out.push(
    `reconstructed ${recon.dmabufs.length} dma-bufs, ${recon.attachments.length} attachments, ${recon.mappings.length} mappings (${[
      'iova',
      'per_range_iommu',
      'direct',
    ]
      .map((m) => `${recon.mappings.filter((x) => x.mode === m).length} ${m.replace(/_/g, '-')}`)
      .join(', ')}); foreign lines: ${recon.foreign.map} map, ${recon.foreign.unmap} unmap, ${recon.foreign.dma} dma`,
  );
  for (const m of recon.mappings) {
    out.push(
      `  mapping ${m.id} line ${m.line}: ${m.mode.replace(/_/g, '-')} importer ${m.importer ?? '?'}${m.ambiguous ? ' (ambiguous)' : ''} attachment ${m.attachmentId ?? '-'}: ${m.ranges.map((r) => `${hex(r.paddr)}+${hex(r.len)}->${hex(r.dmaAddr)}`).join(' ')}${m.failed ? ' FAILED' : ''}${m.unmapLine !== null ? `, unmapped line ${m.unmapLine}` : ', still mapped'}`,
    );
  }
  for (const n of recon.notes) out.push(`  note line ${n.line}: ${n.text}`);
  let failed = false;
  const json: Record<string, unknown> = {
    file,
    events: capture.records.length,
    problems: capture.problems,
    dmabufs: recon.dmabufs.length,
    attachments: recon.attachments.length,
    mappings: recon.mappings.map((m) => ({
      ...m,
      iovaBase: m.iovaBase === null ? null : hex(m.iovaBase),
      ranges: m.ranges.map((r) => ({ paddr: hex(r.paddr), len: hex(r.len), dmaAddr: hex(r.dmaAddr), line: r.line })),
    })),
    foreign: recon.foreign,
  };
  if (o.check && topology) {
    const c = checkTrace(recon, topology);
    out.push(`check against ${o.topology}: ${c.matches} match, ${c.mismatches} mismatch`);
    for (const f of c.findings) out.push(`  ${f.level.toUpperCase().padEnd(8)} ${f.text}`);
    json.check = c;
    if (c.mismatches > 0) failed = true;
  }
  if (o.toScenario && topology) {
    const target = resolve(o.toScenario);
    const topoRef = { file: relative(dirname(target), resolve(o.topology!)) || o.topology! };
    const sc = traceToScenario(recon, topology, topoRef, { name: `ftrace re-drive of ${file}` });
    writeFileSync(target, stringify(sc.spec, { lineWidth: 0 }));
    out.push(
      `wrote ${o.toScenario}: ${sc.spec.workload?.trace && 'ops' in sc.spec.workload.trace ? sc.spec.workload.trace.ops.length : 0} operations (run it with dmasim run ${o.toScenario})`,
    );
    for (const a of sc.assumed) out.push(`  assumed: ${a}`);
    json.scenario = { file: o.toScenario, assumed: sc.assumed };
    if (o.rerun) {
      const events: SimEvent[] = [];
      runScenario(
        { ...sc.spec, topology: { inline: topoSpec! } },
        {
          scenarioId: 'ftrace-redrive',
          onEvent: (e) => events.push(e),
        },
      );
      const cmp = compareRedrive(recon, sc.mapOps, events);
      const bad = cmp.filter((x) => !x.ok).length;
      out.push(
        `re-drive on ${o.topology}: ${cmp.length - bad} of ${cmp.length} mappings with the kernel's mode and addresses`,
      );
      for (const x of cmp) out.push(`  ${x.ok ? 'SAME    ' : 'DIFFERS '} ${x.text}`);
      json.redrive = cmp;
      if (bad > 0) failed = true;
    }
  }
  if (o.json) process.stdout.write(`${JSON.stringify(json, (_k, v) => (typeof v === 'bigint' ? hex(v) : v))}\n`);
  else process.stdout.write(`${out.join('\n')}\n`);
  if (failed) process.exitCode = ExitCode.FAILED;
}
