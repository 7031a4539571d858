import { readFileSync, writeFileSync } from 'node:fs';
import {
  DmasimError,
  describeMismatch,
  domainForVectors,
  ErrorCode,
  formatIovaVectors,
  generateIovaTrace,
  IOVA_TRACE_SEED,
  IOVA_TRACE_VARIANTS,
  IovaDomain,
  type IovaTraceVariant,
  isDmasimError,
  parseIovaVectors,
  replayIovaVectors,
} from '@dmasim/core';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ExitCode } from '../exit.ts';
import { intOption } from '../options.ts';
import { benchIovaTrace, type IovaBenchFigures, type Search } from './iova/measure.ts';
import type { CliCommand } from './registry.ts';

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

/** `dmasim iova check FILE...`: one line per file (ok, the first difference, or why it is malformed). */
function checkAction(files: string[], o: { search: Search }): void {
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    try {
      const vf = parseIovaVectors(readText(file), file);
      const d = new IovaDomain({
        granule: BigInt(vf.header.granule),
        startPfn: BigInt(vf.header.startPfn),
        cpus: vf.header.cpus,
        depotTrim: false,
        search: o.search,
      });
      const r = replayIovaVectors(vf, d);
      if (r.ok) {
        passed++;
        process.stdout.write(`${file}: ok (${vf.ops.length} ops, ${r.compared} results compared)\n`);
      } else {
        failed++;
        process.stdout.write(`${file}: ${describeMismatch(r.mismatch!)}\n`);
      }
    } catch (e) {
      if (!isDmasimError(e)) throw e;
      failed++;
      process.stdout.write(`${file}: error: ${e.code}: ${e.message}\n`);
    }
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 ? ExitCode.FAILED : ExitCode.OK;
}

const n0 = (x: number) => Math.round(x).toLocaleString('en-US');

function printFigures(f: IovaBenchFigures): void {
  const lines = [
    `${f.name}: ${n0(f.ops)} ops, best of ${f.repeat} (${f.search} search): ${(f.bestMs / 1000).toFixed(3)} s, ${n0(f.opsPerSec)} ops/s (by CPU time ${n0(f.cpuOpsPerSec)} ops/s; load average ${f.loadAverage.toFixed(1)} on ${f.cpus} CPUs)`,
  ];
  if (f.baseline !== null && f.ratio !== null) {
    lines.push(
      `  kernel iova.c -O2 baseline ${n0(f.baseline)} ops/s: ratio ${f.ratio.toFixed(2)} (target ${f.target}, ${f.ratio >= (f.target ?? 0) ? 'met' : 'NOT met'})`,
    );
  }
  lines.push(
    `  ${n0(f.allocations)} allocations, ${n0(f.failures)} failed; the kernel's walk visits ${f.nodesVisitedPerAlloc.toFixed(1)} nodes per allocation`,
    `  ${n0(f.liveAtEnd)} live nodes at the end (${n0(f.cachedPfns)} of them in range caches), ${n0(f.peakLive)} at peak;`,
    `  heap per live allocation: ${f.heapBytesPerLive.toFixed(0)} B (node arrays ${f.treeBytesPerLive.toFixed(0)} B, the rest magazines)`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

interface BenchOpts {
  generate?: string[];
  ops?: number;
  seed?: number;
  repeat: number;
  search: Search;
  out?: string;
  json?: boolean;
}

function variantsOf(names: string[]): IovaTraceVariant[] {
  const out: IovaTraceVariant[] = [];
  for (const v of names) {
    if (v === 'all') out.push(...IOVA_TRACE_VARIANTS);
    else if ((IOVA_TRACE_VARIANTS as readonly string[]).includes(v)) out.push(v as IovaTraceVariant);
    else {
      throw new InvalidArgumentError(`unknown trace variant "${v}"; expected ${IOVA_TRACE_VARIANTS.join(', ')} or all`);
    }
  }
  return out;
}

/** `dmasim iova bench [FILE...] [--generate VARIANT...]`. */
function benchAction(files: string[], o: BenchOpts, cmd: Command): void {
  let variants: IovaTraceVariant[];
  try {
    variants = variantsOf(o.generate ?? []);
  } catch (e) {
    cmd.error((e as Error).message, { exitCode: ExitCode.USAGE });
    return;
  }
  if (files.length === 0 && variants.length === 0) {
    cmd.error('name vector files to replay, or --generate VARIANT (see --help)', { exitCode: ExitCode.USAGE });
    return;
  }
  const standard = o.ops === undefined && (o.seed === undefined || o.seed === IOVA_TRACE_SEED);
  const generate = (v: IovaTraceVariant) =>
    generateIovaTrace(v, { ...(o.ops !== undefined ? { ops: o.ops } : {}), seed: o.seed ?? IOVA_TRACE_SEED });
  if (o.out !== undefined) {
    if (variants.length !== 1 || files.length !== 0) {
      cmd.error('--out writes one generated trace: give exactly one --generate VARIANT', {
        exitCode: ExitCode.USAGE,
      });
      return;
    }
    const vf = generate(variants[0]!);
    writeFileSync(o.out, formatIovaVectors(vf.header, vf.ops));
    process.stdout.write(`${o.out}: ${vf.ops.length} ops of ${vf.header.name}\n`);
    return;
  }
  const all: IovaBenchFigures[] = [];
  for (const file of files) {
    const vf = parseIovaVectors(readText(file), file);
    domainForVectors(vf.header); // validates the header's domain parameters before timing
    all.push(benchIovaTrace(vf, { repeat: o.repeat, search: o.search }));
    if (!o.json) printFigures(all.at(-1)!);
  }
  // One trace at a time: four 2M-operation traces held at once would slow the allocator down.
  for (const v of variants) {
    all.push(benchIovaTrace(generate(v), { repeat: o.repeat, search: o.search, ...(standard ? { standard: v } : {}) }));
    if (!o.json) printFigures(all.at(-1)!);
  }
  if (o.json) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
}

/** `dmasim iova`: the kernel IOVA allocator: check vector files, benchmark traces. */
export const iovaCommand: CliCommand = {
  name: 'iova',
  summary: 'the kernel IOVA allocator: check vector files, benchmark traces',
  register(program: Command) {
    const iova = program
      .command('iova')
      .summary(this.summary)
      .description(
        'The IOVA allocator of drivers/iommu/iova.c, as dmasim reproduces it: replay conformance vector\n' +
          'files recorded from a kernel, and time the allocator on traces in the same format.',
      );
    const search = new Option(
      '--search <how>',
      'first-fit search: the augmented index, or the kernel walk node by node',
    )
      .choices(['indexed', 'linear'])
      .default('indexed');
    iova
      .command('check')
      .description(
        'Replay IOVA vector files (../shared/vectors/iova/README.md format) on fresh domains and compare\n' +
          'every result with its "expect". Prints per file "ok" or the first differing operation, then\n' +
          '"N passed, M failed" (files). Exit 1 if any file failed or is malformed.',
      )
      .argument('<files...>', 'vector files (.ndjson)')
      .addOption(search)
      .action((files: string[], o: { search: Search }) => checkAction(files, o));
    iova
      .command('bench')
      .description(
        'Time replays of vector-format traces through the allocator alone (parsing excluded; "expect" is\n' +
          'optional), and print operations per second, the cost model and memory per live allocation.\n' +
          `Standard traces (--generate, seed ${IOVA_TRACE_SEED}): ${IOVA_TRACE_VARIANTS.join(', ')}; they are\n` +
          'compared with the kernel iova.c measured on the same traces.',
      )
      .argument('[files...]', 'trace files in the vector format')
      .option('-g, --generate <variant...>', `generate standard traces: ${IOVA_TRACE_VARIANTS.join(', ')} or all`)
      .option(
        '--ops <n>',
        'operations per generated trace (default 2000000; then no kernel baseline)',
        intOption('--ops', 1),
      )
      .option(
        '--seed <n>',
        `seed of generated traces (default ${IOVA_TRACE_SEED})`,
        intOption('--seed', 0, 2 ** 31 - 1),
      )
      .option('--repeat <n>', 'replays per trace; the best is reported', intOption('--repeat', 1, 1000), 3)
      .addOption(
        new Option('--search <how>', 'first-fit search: the augmented index, or the kernel walk node by node')
          .choices(['indexed', 'linear'])
          .default('indexed'),
      )
      .option('--out <file>', 'write the one generated trace to FILE instead of timing it')
      .option('--json', 'print the figures as JSON')
      .action((files: string[], o: BenchOpts, cmd: Command) => benchAction(files, o, cmd));
  },
};
