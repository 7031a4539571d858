import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type DeviceClass, formatTopology } from '@dmasim/core';
import { type Command, Option } from 'commander';
import { ExitCode } from '../exit.ts';
import type { CliCommand } from './registry.ts';
import { type Comparison, compareWith, comparisonText, withoutNvidiaSmi } from './topo/compare.ts';
import { assumedText, loadMachine, type MachineOpts, printWarnings, withMachineOptions } from './topo/machine.ts';
import {
  computePairs,
  matrixJson,
  matrixText,
  parseClasses,
  SELECTABLE_CLASSES,
  selectDevices,
} from './topo/matrix.ts';
import { renderHeader, renderTree } from './topo/show.ts';

const FILES_HELP =
  'lspci -t/-tv/-tvnn, lspci -vvv, hwloc XML, nvidia-smi (topo -m, -q, plain) outputs, a sysfs snapshot, a dmasim ' +
  'topology file, or a folder holding lspci*.txt, nvidia-smi*.txt, acs*.txt, *.xml and sysfs trees; several FILEs describe one machine';

function showAction(files: string[], o: MachineOpts & { plain?: boolean }): void {
  const m = loadMachine(files, o);
  printWarnings(m, o);
  if (o.plain) {
    process.stdout.write(`${renderTree(m.spec, { annotate: false }).join('\n')}\n`);
    return;
  }
  let s = `${renderHeader(m.spec).join('\n')}\n\n${renderTree(m.spec).join('\n')}\n\n`;
  if (m.labels.length > 0) {
    s += 'Labels:\n';
    for (const l of m.labels) s += `  ${l.label.padEnd(6)} ${l.bdf}  (${l.how})\n`;
    s += '\n';
  }
  process.stdout.write(s + assumedText(m.assumed));
}

function matrixAction(files: string[], o: MachineOpts & { class: DeviceClass[]; json?: boolean }): void {
  const m = loadMachine(files, o);
  printWarnings(m, o);
  const devices = selectDevices(m, o.class);
  const rows = computePairs(m, devices);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(matrixJson(devices, rows), null, 2)}\n`);
    return;
  }
  process.stdout.write(`${matrixText(m, devices, rows, o.class)}\n${assumedText(m.assumed)}`);
}

function compareAction(files: string[], o: MachineOpts & { nvidiaSmi?: string; json?: boolean }): void {
  const paths = [...files];
  if (o.nvidiaSmi && !paths.some((p) => resolve(p) === resolve(o.nvidiaSmi!))) paths.push(o.nvidiaSmi);
  const m = loadMachine(paths, o);
  printWarnings(m, o);
  const topos = o.nvidiaSmi ? m.nvidiaSmi.filter((t) => resolve(t.file) === resolve(o.nvidiaSmi!)) : m.nvidiaSmi;
  if (o.nvidiaSmi && topos.length === 0) {
    process.stderr.write(`dmasim: ${o.nvidiaSmi} is not an nvidia-smi topo -m matrix\n`);
    process.exitCode = ExitCode.INPUT;
    return;
  }
  if (topos.length === 0) {
    // Nothing to compare with: show dmasim's own classes of the labelled devices (GPUs and NICs if none is
    // labelled), say so, and do not call it a failure.
    const labelled = selectDevices(m, SELECTABLE_CLASSES).filter((d) => d.label);
    const devices = labelled.length > 0 ? labelled : selectDevices(m, ['gpu', 'nic']);
    if (!o.quiet)
      process.stderr.write('dmasim: warning: no nvidia-smi topo -m matrix among the inputs; nothing compared\n');
    const c = withoutNvidiaSmi(m, devices);
    if (o.json) process.stdout.write(`${JSON.stringify(c, null, 2)}\n`);
    else process.stdout.write(`${comparisonText(m, c)}\n${assumedText(m.assumed)}`);
    process.exitCode = ExitCode.OK;
    return;
  }
  const results: Comparison[] = topos.map((t) => compareWith(m, t));
  if (o.json) process.stdout.write(`${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n`);
  else process.stdout.write(`${results.map((c) => comparisonText(m, c)).join('\n')}\n${assumedText(m.assumed)}`);
  process.exitCode = results.some((c) => c.differ > 0) ? ExitCode.FAILED : ExitCode.OK;
}

function exportAction(files: string[], o: MachineOpts & { format: 'dmasim' | 'json'; out?: string }): void {
  const m = loadMachine(files, o);
  printWarnings(m, o);
  const text = formatTopology(m.spec, o.format === 'json' ? 'json' : 'yaml');
  if (o.out) {
    writeFileSync(o.out, text);
    process.stderr.write(`wrote ${o.out} (${m.spec.functions.length} functions, ${m.assumed.length} assumed facts)\n`);
  } else process.stdout.write(text);
}

/** `dmasim topo`: read PCI topologies (lspci, sysfs, hwloc, nvidia-smi): show, matrix, compare, export. */
export const topoCommand: CliCommand = {
  name: 'topo',
  summary: 'read PCI topologies (lspci, sysfs, hwloc, nvidia-smi): show, matrix, compare, export',
  register(program: Command) {
    const topo = program
      .command('topo')
      .summary(this.summary)
      .description(
        'Read a real machine from lspci, sysfs, hwloc or nvidia-smi data (or a dmasim topology file) and show it, the ' +
          'P2PDMA decision for every device pair, or its agreement with nvidia-smi. Facts the data lack (CPU, host-bridge ' +
          'ids, ACS, NUMA nodes, labels) are assumed, listed under "Assumed", and set with --cpu, --host-bridge-id, ' +
          '--acs-default, --numa-node and --label.',
      );
    withMachineOptions(
      topo
        .command('show')
        .description(
          'the PCI tree as lspci -tv draws it, annotated with labels, ACS redirect bits, IOMMU groups and NUMA nodes',
        )
        .argument('<FILE...>', FILES_HELP)
        .option('--plain', 'print only the tree, exactly as lspci -tv would (no annotations, header or assumptions)'),
    ).action(showAction);
    withMachineOptions(
      topo
        .command('matrix')
        .description(
          'map type, distance and nvidia-smi path class (X, PIX, PXB, PHB, NODE, SYS) of every pair of selected devices',
        )
        .argument('<FILE...>', FILES_HELP)
        .option(
          '--class <list>',
          `device classes to select, comma-separated (${['gpu', 'nic', 'nvme', 'accel', 'bridge', 'host_bridge', 'other'].join(', ')}, or all)`,
          parseClasses,
          ['gpu', 'nic'] as DeviceClass[],
        )
        .option(
          '--json',
          'print { devices: [{ bdf, label, class, vendor, device }], pairs: [{ a, b, mapType, distance, pathClass }] }',
        ),
    ).action(matrixAction);
    withMachineOptions(
      topo
        .command('compare')
        .description(
          "dmasim's path class against nvidia-smi topo -m for every labelled pair; exit 1 when any differs. Without a " +
            "matrix among the inputs, dmasim's classes of the labelled devices (or GPUs and NICs) are shown, not compared",
        )
        .argument('<FILE...>', FILES_HELP)
        .option(
          '--nvidia-smi <TOPO.txt>',
          'the nvidia-smi topo -m output to compare with (default: the one among FILE...)',
        )
        .option('--json', 'print the comparison as JSON'),
    ).action(compareAction);
    withMachineOptions(
      topo
        .command('export')
        .description('write the machine as a dmasim topology file (YAML) or JSON, with its assumed facts')
        .argument('<FILE...>', FILES_HELP)
        .addOption(new Option('--format <format>', 'output format').choices(['dmasim', 'json']).default('dmasim'))
        .option('-o, --out <file>', 'write to this file instead of stdout'),
    ).action(exportAction);
  },
};
