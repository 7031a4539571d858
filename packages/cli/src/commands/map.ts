/**
 * `dmasim map`: one DMA-buf mapping on one machine: a vfio-pci (or movable-memory) exporter's BAR ranges
 * mapped for one importer, exactly as the kernel would (kernel-model.md 3). Prints the map type and why,
 * the mode, the SG table and every event; `--json` prints the same as one object.
 */
import {
  DmasimError,
  describeMapTypeDecision,
  ErrorCode,
  type EventData,
  errnoName,
  eventToJson,
  formatEventLine,
  parseByteCount,
  type ScenarioSpec,
  type SimEvent,
  Simulator,
  scenarioToSimConfig,
} from '@dmasim/core';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ExitCode } from '../exit.ts';
import type { CliCommand } from './registry.ts';
import { loadMachine, type MachineOpts, printWarnings, withMachineOptions } from './topo/machine.ts';

interface MapOpts extends MachineOpts {
  topology: string[];
  exporter: string;
  bar: number;
  range: { offset: bigint; length: bigint }[];
  importer: string;
  iommu?: 'off' | 'identity' | 'dma' | 'dma-fq';
  dmaMask?: number;
  dir: 'bidirectional' | 'to-device' | 'from-device';
  exporterKind: 'vfio-pci' | 'movable';
  linkCollision?: 'fail' | 'overwrite' | 'keep';
  sgChunk: 'page_aligned' | 'uint_max' | 'sz_2g';
  apertureBits?: number;
  forcedac?: boolean;
  json?: boolean;
}

/** `OFFSET+LEN` with byte counts (`0+2MiB`, `0x40000000+0x20000000`). */
export function parseRange(
  v: string,
  prev: { offset: bigint; length: bigint }[] = [],
): { offset: bigint; length: bigint }[] {
  const m = /^\s*([^+\s]+)\s*\+\s*([^+\s]+)\s*$/.exec(v);
  if (!m)
    throw new InvalidArgumentError(
      `expected OFFSET+LEN (e.g. 0+2MiB or 0x40000000+0x20000000), found ${JSON.stringify(v)}`,
    );
  try {
    return [...prev, { offset: parseByteCount(m[1]!), length: parseByteCount(m[2]!) }];
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function intIn(min: number, max: number, what: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${what} must be an integer ${min}..${max}, found ${JSON.stringify(v)}`);
    return n;
  };
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** What `--json` prints. */
export interface MapJson {
  mapType: string | null;
  distance: number | null;
  reason: string | null;
  mode: 'bus_addr' | 'iova' | 'per_range' | 'system' | 'none';
  sg: { dmaAddress: string; length: string }[];
  events: Record<string, unknown>[];
  error: null | { code: string; errno: number; message: string };
}

function mapAction(o: MapOpts): void {
  if (o.range.length === 0) {
    process.stderr.write('dmasim: map: give at least one --range OFFSET+LEN\n');
    process.exitCode = ExitCode.USAGE;
    return;
  }
  const m = loadMachine(o.topology, o);
  printWarnings(m, o);
  const importer = m.topology.find(o.importer) ?? m.topology.functions.find((f) => f.label === o.importer);
  const exporter = m.topology.find(o.exporter) ?? m.topology.functions.find((f) => f.label === o.exporter);
  for (const [what, name, fn] of [
    ['--importer', o.importer, importer],
    ['--exporter', o.exporter, exporter],
  ] as const) {
    if (!fn)
      throw new DmasimError(
        ErrorCode.DEVICE_NOT_FOUND,
        `${what} ${name}: no such device in ${m.source} (expected ssss:bb:dd.f or a label)`,
      );
  }
  const spec: ScenarioSpec = {
    kind: 'dmasim-scenario',
    version: 1,
    seed: 0,
    topology: { inline: m.spec },
    kernel: { sgChunk: o.sgChunk },
    iommu: {
      ...(o.iommu ? { mode: o.iommu } : {}),
      ...(o.linkCollision ? { linkCollision: o.linkCollision } : {}),
      ...(o.apertureBits !== undefined ? { apertureBits: o.apertureBits } : {}),
      ...(o.forcedac ? { forcedac: true } : {}),
    },
    importers: [{ device: importer!.bdf, ...(o.dmaMask !== undefined ? { dmaMask: o.dmaMask } : {}) }],
    exporters: [{ device: exporter!.bdf, kind: o.exporterKind, bar: o.bar }],
  };
  const config = scenarioToSimConfig(spec, m.source);
  const events: SimEvent[] = [];
  const sim = new Simulator(config, { scenarioId: 'map', onEvent: (e) => events.push(e) });
  const setupEvents = events.length;
  let error: MapJson['error'] = null;
  let mode: MapJson['mode'] = 'none';
  let sg: { dmaAddress: bigint; length: number }[] = [];
  const exp = sim.exportBuffer(exporter!.bdf, o.bar, o.range, 0);
  if (exp.id === null) {
    error = { code: errnoName(exp.result).replace(/^-/, ''), errno: exp.result, message: lastError(events) };
  } else {
    const att = sim.attach(exp.id, importer!.bdf, 0);
    if (att.id === null) {
      error = { code: errnoName(att.result).replace(/^-/, ''), errno: att.result, message: lastError(events) };
    } else {
      const r = sim.map(
        att.id,
        o.dir.toUpperCase().replace('-', '_') as 'BIDIRECTIONAL' | 'TO_DEVICE' | 'FROM_DEVICE',
        0,
      );
      mode = r.mode;
      sg = r.entries.map((e) => ({ dmaAddress: e.dmaAddress, length: e.dmaLength }));
      if (r.id === null)
        error = { code: errnoName(r.result).replace(/^-/, ''), errno: r.result, message: lastError(events) };
    }
  }
  const decision = [...events].reverse().find((e) => e.type === 'p2p.map_type')?.data as
    | EventData<'p2p.map_type'>
    | undefined;
  const shown = events.slice(setupEvents);
  if (o.json) {
    const out: MapJson = {
      mapType: decision?.result ?? null,
      distance: decision?.distance ?? null,
      reason: decision ? describeMapTypeDecision(decision) : null,
      mode,
      sg: sg.map((e) => ({ dmaAddress: hex(e.dmaAddress), length: hex(BigInt(e.length)) })),
      events: events.map(eventToJson),
      error,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    const imp = sim.importers.get(importer!.bdf)!;
    const lines: string[] = [];
    lines.push(`${exporter!.bdf} BAR${o.bar} -> ${importer!.bdf} on ${m.topology.id}`);
    lines.push(
      `importer   ${imp.cfg.mode === 'off' ? 'no IOMMU (dma-direct)' : `IOMMU ${imp.cfg.mode}${imp.domain ? ` (domain ${imp.domain.id}, ${imp.domain.type})` : ''}`}, DMA mask ${hex(imp.cfg.dmaMask)}`,
    );
    if (decision)
      lines.push(
        `map type   ${decision.result}, distance ${decision.distance ?? '-'}: ${describeMapTypeDecision(decision)}`,
      );
    lines.push(`mode       ${mode}${MODE_TEXT[mode]}`);
    lines.push(`sg table   ${sg.length} ${sg.length === 1 ? 'entry' : 'entries'}`);
    for (const [i, e] of sg.entries()) {
      lines.push(
        `  [${i}] dma_address 0x${e.dmaAddress.toString(16).padStart(16, '0')}  length 0x${e.length.toString(16)}`,
      );
    }
    if (error) lines.push(`error      ${error.code} (${error.errno}): ${error.message}`);
    lines.push(
      `events     ${shown.length} (after ${setupEvents} setup events: domain init, reservations, device setup)`,
    );
    for (const e of shown) lines.push(`  ${formatEventLine(e)}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  process.exitCode = error ? ExitCode.FAILED : ExitCode.OK;
}

const MODE_TEXT: Record<MapJson['mode'], string> = {
  bus_addr: ' (PCI bus addresses, no IOVA, no DMA API call)',
  iova: ' (one IOVA block for the whole buffer: dma_iova_try_alloc, a link per range, sync)',
  per_range: ' (dma_map_phys per range)',
  system: ' (the system-memory copy of a migrated buffer)',
  none: ' (nothing mapped)',
};

function lastError(events: SimEvent[]): string {
  const e = [...events].reverse().find((x) => x.type === 'error');
  return e ? (e.data as EventData<'error'>).message : 'failed';
}

/** `dmasim map`: map one DMA-buf BAR range for an importer and show the sg table and events. */
export const mapCommand: CliCommand = {
  name: 'map',
  summary: 'map one DMA-buf BAR range for an importer and show the sg table and events',
  register(program: Command) {
    withMachineOptions(
      program
        .command('map')
        .summary(this.summary)
        .description(
          'Export BAR ranges of --exporter as a dma-buf (with the vfio-pci checks), attach --importer and map it as ' +
            'dma_buf_phys_vec_to_sgt() does: the P2PDMA map type, then PCI bus addresses, one IOVA block, or ' +
            'dma_map_phys per range. Prints the map type and why, the mode, the SG table and every event. ' +
            'Exit 0 when the mapping succeeds, 1 when the kernel would refuse it, 2 for usage errors, 3 for bad input.',
        )
        .requiredOption(
          '--topology <FILE>',
          'dmasim topology file, real-machine folder or lspci/hwloc/sysfs input; repeatable',
          (v: string, p: string[] = []) => [...p, v],
        )
        .requiredOption('--exporter <BDF>', 'exporting function (ssss:bb:dd.f or a label such as GPU0)')
        .requiredOption('--bar <N>', 'BAR index 0..5', intIn(0, 5, '--bar'))
        .option(
          '--range <OFFSET+LEN>',
          'range relative to the BAR start, e.g. 0+2MiB; repeatable, in order',
          parseRange,
          [],
        )
        .requiredOption('--importer <BDF>', 'importing function (the device that does the DMA)')
        .addOption(
          new Option(
            '--iommu <mode>',
            "the importer's IOMMU default domain (default: the topology's, else dma-fq)",
          ).choices(['off', 'identity', 'dma', 'dma-fq']),
        )
        .option(
          '--dma-mask <BITS>',
          "the importer's streaming DMA mask in bits (default: the topology's, else 64)",
          intIn(12, 64, '--dma-mask'),
        )
        .addOption(
          new Option('--dir <dir>', 'DMA direction')
            .choices(['bidirectional', 'to-device', 'from-device'])
            .default('bidirectional')
            .argParser((v) => v.toUpperCase().replace('-', '_')),
        )
        .addOption(
          new Option('--exporter-kind <kind>', 'vfio-pci, or a driver owning movable memory')
            .choices(['vfio-pci', 'movable'])
            .default('vfio-pci'),
        )
        .addOption(
          new Option(
            '--link-collision <policy>',
            'IOMMU behaviour on a map over live entries (default: by IOMMU vendor)',
          ).choices(['fail', 'overwrite', 'keep']),
        )
        .addOption(
          new Option('--sg-chunk <variant>', 'helper version: SG entry size')
            .choices(['page_aligned', 'uint_max', 'sz_2g'])
            .default('page_aligned'),
        )
        .option('--aperture-bits <BITS>', 'IOMMU aperture end in bits (default 48)', intIn(32, 64, '--aperture-bits'))
        .option('--forcedac', 'iommu.forcedac=1: no 32-bit-first IOVA policy')
        .option('--json', 'print { mapType, distance, reason, mode, sg, events, error } as JSON'),
    ).action((o: MapOpts) => mapAction(o));
  },
};
