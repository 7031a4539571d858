/**
 * The options every `dmasim topo` subcommand shares (the facts a source may lack: `--cpu`,
 * `--host-bridge-id`, `--acs-default`, `--label`; and `--kind`, `--id`), and loading one machine from
 * FILE... with them.
 */
import {
  type AssumedDefault,
  applyOverrides,
  buildTopology,
  DmasimError,
  ErrorCode,
  type HostBridgeIdOverride,
  type ImportOptions,
  type InputKind,
  importTopology,
  isDmasimError,
  isInputKind,
  type LabelBinding,
  loadTopologyFile,
  type NvidiaSmiTopo,
  type PlatformSpec,
  parseAcsDefaultOption,
  parseCpuOption,
  parseHostBridgeIdOption,
  parseLabelOption,
  parseNumaNodeOption,
  type Topology,
  type TopologySpec,
} from '@dmasim/core';
import { type Command, InvalidArgumentError } from 'commander';
import { loadInputs } from './inputs.ts';

/** Parsed shared options. */
export interface MachineOpts {
  cpu?: PlatformSpec['cpu'];
  hostBridgeId: HostBridgeIdOverride[];
  acsDefault?: 'off' | 'on';
  label: { label: string; bdf: string }[];
  numaNode: { segment: number; rootBus: number; node: number }[];
  kind?: InputKind;
  id?: string;
  quiet?: boolean;
}

/** A commander parser from a core option parser: its DmasimError becomes a usage error (exit 2). */
function cli<T>(parse: (v: string) => T): (v: string) => T {
  return (v: string) => {
    try {
      return parse(v);
    } catch (e) {
      if (isDmasimError(e)) throw new InvalidArgumentError(e.message);
      throw e;
    }
  };
}

function collect<T>(parse: (v: string) => T): (v: string, prev: T[]) => T[] {
  const p = cli(parse);
  return (v, prev) => [...prev, p(v)];
}

/** Adds the shared options to a subcommand. */
export function withMachineOptions(cmd: Command): Command {
  return cmd
    .option(
      '--cpu <vendor:family>',
      'boot CPU, e.g. amd:0x19, intel:6 (default: from the data, else deduced from host-bridge ids)',
      cli(parseCpuOption),
    )
    .option(
      '--host-bridge-id <[ssss:bb=]vvvv:dddd>',
      'vendor:device of the first function of every (or one) root bus, which the P2PDMA whitelist reads; repeatable',
      collect(parseHostBridgeIdOption),
      [],
    )
    .option(
      '--acs-default <off|on>',
      'ACS of functions the data say nothing about (on: root/downstream ports redirect, as with an IOMMU)',
      cli(parseAcsDefaultOption),
    )
    .option(
      '--label <LABEL=ssss:bb:dd.f>',
      'bind a label (GPU0, NIC1) to a function; repeatable',
      collect(parseLabelOption),
      [],
    )
    .option(
      '--numa-node <ssss:bb=N>',
      'NUMA node of a root bus (and of the functions below it the data leave open); repeatable',
      collect(parseNumaNodeOption),
      [],
    )
    .option(
      '--kind <kind>',
      'read every FILE as this kind (lspci-tree, lspci-verbose, lspci-acsctl, hwloc-xml, nvidia-smi-topo, nvidia-smi-gpus) instead of detecting it',
      (v: string) => {
        if (!isInputKind(v) || v === 'sysfs') {
          throw new InvalidArgumentError(
            `expected one of lspci-tree, lspci-verbose, lspci-acsctl, hwloc-xml, nvidia-smi-topo, nvidia-smi-gpus, found ${JSON.stringify(v)}`,
          );
        }
        return v;
      },
    )
    .option('--id <name>', 'machine name (default: the folder or file name, or the host name in the data)')
    .option('-q, --quiet', 'do not print warnings');
}

/** One machine, as the subcommands use it. */
export interface Machine {
  spec: TopologySpec;
  topology: Topology;
  assumed: AssumedDefault[];
  warnings: string[];
  labels: LabelBinding[];
  nvidiaSmi: NvidiaSmiTopo[];
  /** Name for messages: the paths given. */
  source: string;
}

/** Imports (or loads) one machine from FILE... with the shared options. @throws DmasimError for bad inputs. */
export function loadMachine(paths: readonly string[], o: MachineOpts): Machine {
  const loaded = loadInputs(paths, o.kind);
  const source = paths.join(' ');
  if (loaded.kind === 'dmasim') {
    let spec = loadTopologyFile(loaded.text, loaded.file).spec;
    const warnings: string[] = [];
    if (o.cpu || o.hostBridgeId.length > 0) {
      const hostBridgeId: Record<string, string> = {};
      for (const h of o.hostBridgeId) {
        const id = `${h.vendor.toString(16).padStart(4, '0')}:${h.device.toString(16).padStart(4, '0')}`;
        if (h.rootBus === undefined) {
          for (let i = 0; i < spec.hostBridges.length; i++) hostBridgeId[String(i)] = id;
        } else {
          hostBridgeId[`${(h.segment ?? 0).toString(16).padStart(4, '0')}:${h.rootBus.toString(16).padStart(2, '0')}`] =
            id;
        }
      }
      spec = applyOverrides(
        spec,
        {
          ...(o.cpu ? { cpu: `${o.cpu.vendor}:0x${o.cpu.family.toString(16)}` } : {}),
          ...(o.hostBridgeId.length > 0 ? { hostBridgeId } : {}),
        },
        'the command line',
      );
    }
    for (const n of o.numaNode) {
      const hb = spec.hostBridges.find((h) => h.segment === n.segment && h.rootBus === n.rootBus);
      if (!hb) {
        throw new DmasimError(
          ErrorCode.TOPOLOGY_PARAMS_INVALID,
          `--numa-node: no root bus ${n.segment.toString(16).padStart(4, '0')}:${n.rootBus.toString(16).padStart(2, '0')} in ${loaded.file}`,
        );
      }
      hb.numaNode = n.node;
    }
    if (o.acsDefault)
      warnings.push(
        `${loaded.file}: --acs-default applies to imported data only; a dmasim topology file states every ACS register`,
      );
    const labels: LabelBinding[] = [];
    for (const f of spec.functions)
      if (f.label) labels.push({ label: f.label, bdf: f.bdf, how: `${loaded.file}: label` });
    for (const l of o.label) {
      const f = spec.functions.find((x) => x.bdf === l.bdf);
      if (!f)
        throw new DmasimError(
          ErrorCode.DEVICE_NOT_FOUND,
          `--label ${l.label}=${l.bdf}: no function ${l.bdf} in ${loaded.file}`,
        );
      f.label = l.label;
      labels.unshift({ label: l.label, bdf: l.bdf, how: '--label' });
    }
    return {
      spec,
      topology: buildTopology(spec, loaded.file),
      assumed: spec.assumed ?? [],
      warnings,
      labels,
      nvidiaSmi: [],
      source,
    };
  }
  const opts: ImportOptions = {
    ...(o.id ? { id: o.id } : {}),
    ...(o.cpu ? { cpu: o.cpu } : {}),
    ...(o.hostBridgeId.length > 0 ? { hostBridgeIds: o.hostBridgeId } : {}),
    ...(o.acsDefault ? { acsDefault: o.acsDefault } : {}),
    ...(o.label.length > 0 ? { labels: Object.fromEntries(o.label.map((l) => [l.label, l.bdf])) } : {}),
    ...(o.numaNode.length > 0 ? { hostBridgeNuma: o.numaNode } : {}),
  };
  const r = importTopology(loaded.inputs, opts);
  return {
    spec: r.spec,
    topology: r.topology,
    assumed: r.assumed,
    warnings: r.warnings,
    labels: r.labels,
    nvidiaSmi: r.nvidiaSmi,
    source,
  };
}

/** Writes the warnings to stderr (unless quiet). */
export function printWarnings(m: Machine, o: MachineOpts): void {
  if (o.quiet) return;
  for (const w of m.warnings) process.stderr.write(`dmasim: warning: ${w}\n`);
}

/** The "assumed" block of a text report. */
export function assumedText(assumed: readonly AssumedDefault[]): string {
  if (assumed.length === 0) return 'Assumed: nothing (every fact the kernel needs was in the data)\n';
  let s = 'Assumed (facts not in the data, and the flag that sets each):\n';
  for (const a of assumed) s += `  ${a.field} = ${a.value}${a.flag ? `  [${a.flag}]` : ''}\n      ${a.why}\n`;
  return s;
}
