import { readFileSync } from 'node:fs';
import {
  applyOverrides,
  buildTopology,
  calcMapTypeAndDist,
  checkP2pVectorFile,
  DmasimError,
  ErrorCode,
  formatP2pVectorMismatch,
  isDmasimError,
  loadTopologyFile,
  P2P_TREE_PRESETS,
  type P2pOptions,
  type P2pVectorReport,
  parseCpuOverride,
  parsePciIdOverride,
  pathClassOf,
  type Topology,
  type TopologyOverrides,
} from '@dmasim/core';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ExitCode } from '../exit.ts';
import type { CliCommand } from './registry.ts';

function treeOptions(tree: 'pci' | 'rdma'): P2pOptions {
  return P2P_TREE_PRESETS[tree];
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `${file}: cannot read (${code ?? (e as Error).message})`, {
      file,
    });
  }
}

/** `dmasim p2p check FILE...`: replays vector files, prints the first mismatch per file and a final count. */
function checkAction(files: string[], o: { tree: 'pci' | 'rdma'; all?: boolean }): void {
  let passed = 0;
  let failed = 0;
  let inputError = false;
  for (const file of files) {
    let r: P2pVectorReport;
    try {
      r = checkP2pVectorFile(readText(file), file, treeOptions(o.tree));
    } catch (e) {
      if (!isDmasimError(e)) throw e;
      process.stderr.write(`dmasim: ${e.code}: ${e.message}\n`);
      inputError = true;
      continue;
    }
    passed += r.passed;
    failed += r.failed;
    const shown = o.all ? r.mismatches : r.mismatches.slice(0, 1);
    for (const m of shown)
      process.stdout.write(`${o.all ? 'mismatch' : 'first mismatch'}: ${formatP2pVectorMismatch(m)}\n`);
    process.stdout.write(`${file}: ${r.passed} passed, ${r.failed} failed\n`);
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = inputError ? ExitCode.INPUT : failed > 0 ? ExitCode.FAILED : ExitCode.OK;
}

interface PairOpts {
  tree: 'pci' | 'rdma';
  quiet?: boolean;
  json?: boolean;
  cpu?: string;
  hostBridgeId?: string;
  acs?: TopologyOverrides['acs'];
  iommu?: TopologyOverrides['iommu'];
}

function resolveDevice(t: Topology, name: string): string {
  if (t.has(name)) return name;
  const byLabel = t.functions.filter((f) => f.label === name);
  if (byLabel.length === 1) return (byLabel[0] as { bdf: string }).bdf;
  // Short lspci names (c1:00.0) in segment 0.
  if (/^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(name) && t.has(`0000:${name}`)) return `0000:${name}`;
  throw new DmasimError(
    ErrorCode.DEVICE_NOT_FOUND,
    `${t.file}: no device ${name} (a bdf such as 0000:c1:00.0, or a label) in ${t.id}`,
  );
}

function loadWithOverrides(file: string, o: PairOpts): Topology {
  const { spec, topology } = loadTopologyFile(readText(file), file);
  const ov: TopologyOverrides = {};
  if (o.cpu !== undefined) ov.cpu = o.cpu;
  if (o.hostBridgeId !== undefined) ov.hostBridgeId = o.hostBridgeId;
  if (o.acs !== undefined) ov.acs = o.acs;
  if (o.iommu !== undefined) ov.iommu = o.iommu;
  if (Object.keys(ov).length === 0) return topology;
  return buildTopology(applyOverrides(spec, ov, 'command-line flag'), file);
}

/** `dmasim p2p pair TOPOLOGY PROVIDER CLIENT`: one decision with everything the kernel computed and printed. */
function pairAction(file: string, provider: string, client: string, o: PairOpts): void {
  const t = loadWithOverrides(file, o);
  const p = resolveDevice(t, provider);
  const c = resolveDevice(t, client);
  const d = calcMapTypeAndDist(t, p, c, !o.quiet, treeOptions(o.tree));
  const path = pathClassOf(t, p, c);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ ...d, pathClass: path.pathClass, pathReason: path.reason }, null, 2)}\n`);
    return;
  }
  const lines = [
    `provider ${d.provider}  client ${d.client}  (${t.id}, ${t.platform.cpu.vendor} family 0x${t.platform.cpu.family.toString(16)})`,
    `map type        ${d.result} (${d.resultValue})`,
    `distance        ${d.distance}`,
    `decided by      ${d.decidedBy}`,
    `common upstream ${d.commonAncestor ?? 'none'}`,
    `ACS redirect    ${d.acsNodes.length === 0 ? 'none' : `${d.acsList}${d.acsRedirect ? '' : ' (ignored: no common upstream bridge)'}`}`,
    `host bridges    ${d.hostBridges.length === 0 ? 'not consulted' : d.hostBridges.map((h) => `${h.hostBridge} ${h.id ?? '(no 00.0/root port)'} ${h.reason}`).join('; ')}`,
    `path class      ${path.pathClass} (${path.reason})`,
  ];
  lines.push(
    d.log.length === 0 ? `kernel log      none${o.quiet ? ' (quiet)' : ''}` : `kernel log${o.quiet ? ' (quiet)' : ''}:`,
  );
  for (const l of d.log) lines.push(`  pci ${l.device}: ${l.text}`);
  for (const h of d.hazards) lines.push(`hazard          ${h.kind}: ${h.message}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Checks a flag value with a core parser, so a bad value is a usage error (exit 2). */
function checked(parse: (v: string) => unknown): (v: string) => string {
  return (v: string) => {
    try {
      parse(v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message.replace(/^--[a-z-]+: /, ''));
    }
    return v;
  };
}

function parseAcs(v: string): TopologyOverrides['acs'] {
  if (v === 'off' || v === 'kernel-default') return v;
  const out: Record<string, number> = {};
  for (const part of v.split(',')) {
    const m = /^([0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])=(0x[0-9a-fA-F]{1,4}|[0-9]{1,5})$/.exec(part.trim());
    if (!m)
      throw new InvalidArgumentError(
        `expected off, kernel-default or BDF=VALUE[,BDF=VALUE...] (e.g. 0000:02:01.0=0x4), found "${part}"`,
      );
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/** `dmasim p2p`: the P2PDMA map-type decision: check recorded kernel vectors, explain one pair. */
export const p2pCommand: CliCommand = {
  name: 'p2p',
  summary: 'the P2PDMA map-type decision: check recorded kernel vectors, explain one provider/client pair',
  register(program: Command) {
    const p2p = program
      .command('p2p')
      .summary(this.summary)
      .description(
        "The kernel's pci_p2pdma_map_type() decision (drivers/pci/p2pdma.c) as dmasim models it: replay vector files " +
          'recorded from the real kernel code, or explain the decision for one pair of a dmasim topology file.',
      );
    const tree = () =>
      new Option(
        '--tree <tree>',
        'kernel tree variant (kernel-model.md 7.4): pci (whitelist warn after ACS redirect) or rdma',
      )
        .choices(['pci', 'rdma'])
        .default('pci');
    p2p
      .command('check')
      .summary('replay p2p vector files; print the first mismatch per file and "N passed, M failed"')
      .description(
        'Replay p2p vector files (shared/vectors/p2p/*.ndjson): for every pair, on an empty cache, compare mapType, ' +
          'distance, acsList and log (verbose = true) and logQuiet (verbose = false); print the first mismatch per file ' +
          '(topology, pair, field, expected vs got) and "N passed, M failed" (pairs). Exit 1 on any mismatch, 3 on a ' +
          'malformed file.',
      )
      .argument('<FILE...>', 'p2p vector files (NDJSON)')
      .addOption(tree())
      .option('--all', 'print every mismatch, not only the first of each file')
      .action(checkAction);
    p2p
      .command('pair')
      .summary('explain the decision for one provider -> client pair of a topology file')
      .description(
        'The decision for one provider -> client pair of a dmasim topology file (JSON or YAML), computed as on an ' +
          'empty cache: map type, distance, common upstream bridge, ACS nodes, host bridges compared, the kernel log ' +
          'lines, hazards and the nvidia-smi path class.',
      )
      .argument('<TOPOLOGY>', 'a dmasim topology file (dmasim topo export writes one)')
      .argument('<PROVIDER>', 'the function that owns the memory: bdf (0000:c1:00.0 or c1:00.0) or label (GPU0)')
      .argument('<CLIENT>', 'the function that would do the DMA')
      .addOption(tree())
      .option('--quiet', 'compute with verbose = false (as pci_p2pmem_find_many does)')
      .option('--json', 'print the decision as JSON')
      .option('--cpu <vendor:family>', 'set the boot CPU, e.g. amd:0x19 or intel:6', checked(parseCpuOverride))
      .option(
        '--host-bridge-id <vendor:device>',
        'set the id of every host bridge, e.g. 8086:2020',
        checked((v) => parsePciIdOverride(v)),
      )
      .option('--acs <policy>', 'off, kernel-default, or BDF=VALUE[,...] ACS control registers', parseAcs)
      .addOption(new Option('--iommu <mode>', 'IOMMU mode').choices(['off', 'pt', 'strict', 'lazy']))
      .action(pairAction);
  },
};
