/**
 * Real-machine importer costs (issue 4): the wrx90 folder (lspci -tv, -vvv, ACSCtl, nvidia-smi, topo -m), an
 * hwloc XML file, and a generated 10,000-device machine (about 23,600 functions) drawn as `lspci -tv` text and
 * read back. Figures are the median of several runs after a warm-up run (minimum in `extra`).
 *
 * Run: npm run bench -- topo-import
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateTopology, type ImportInput, importTopology } from '@dmasim/core';
import { renderTree } from '../packages/cli/src/commands/topo/show.ts';
import { type Benchmark, result } from './harness.ts';
import { BIG_PARAMS } from './topology.bench.ts';

const realDir = new URL('../../shared/topologies/real/', import.meta.url).pathname;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(runs: number, f: () => unknown): { median: number; min: number } {
  f();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    ms.push(performance.now() - t0);
  }
  return { median: median(ms), min: Math.min(...ms) };
}

function folder(name: string): ImportInput[] {
  const dir = join(realDir, name);
  return readdirSync(dir)
    .filter((f) => /^(lspci.*|nvidia-smi.*|acs.*)\.txt$|\.xml$/.test(f))
    .map((f) => ({ file: join(dir, f), text: readFileSync(join(dir, f), 'utf8') }));
}

export const benchmarks: Benchmark[] = [
  {
    name: 'topo-import',
    async run() {
      const wrx90 = folder('stelline-puget-wrx90');
      const conan = folder('hwloc-supermicro-x9drg-conan');
      const w = time(30, () => importTopology(wrx90).topology);
      const c = time(30, () => importTopology(conan).topology);
      const big = generateTopology(BIG_PARAMS);
      const text = `${renderTree(big, { annotate: false }).join('\n')}\n`;
      const n = big.functions.length;
      let imported = 0;
      const b = time(5, () => {
        imported = importTopology([{ file: 'big-lspci.txt', text }]).spec.functions.length;
      });
      return [
        result('topo-import.wrx90-folder', 'ms', w.median, null, {
          files: wrx90.length,
          functions: 113,
          min: w.min,
          includes: 'parse 5 files, combine, buildTopology',
        }),
        result('topo-import.hwloc-conan', 'ms', c.median, null, {
          min: c.min,
          includes: 'parse XML, combine, buildTopology',
        }),
        result('topo-import.lspci-tree-big', 'ms', b.median, null, {
          functions: n,
          imported,
          textBytes: text.length,
          functionsPerSecond: Math.round(n / (b.median / 1000)),
          min: b.min,
          includes: 'parse lspci -tv text, combine, the validating buildTopology inside importTopology',
        }),
      ];
    },
  },
];
