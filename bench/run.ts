/**
 * `npm run bench`: runs every benchmark under bench/ (files named `*.bench.ts`, each exporting
 * `benchmarks: Benchmark[]`) and writes one machine-readable JSON file per benchmark group to
 * `bench-results/<group>.json`, plus `bench-results/all.json`.
 *
 * Usage: npm run bench [-- NAME_FILTER...]
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Benchmark, type BenchResult, machineInfo, writeResults } from './harness.ts';

const here = new URL('.', import.meta.url).pathname;
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
const all: BenchResult[] = [];
for (const f of files) {
  const mod = (await import(join(here, f))) as { benchmarks: Benchmark[] };
  for (const b of mod.benchmarks) {
    if (filters.length && !filters.some((x) => b.name.includes(x))) continue;
    process.stderr.write(`bench ${b.name} ...\n`);
    const results = await b.run();
    for (const r of results) {
      process.stderr.write(
        `  ${r.name}: ${r.value.toFixed(3)} ${r.unit}${r.ratio !== null ? ` (ratio ${r.ratio.toFixed(3)})` : ''}\n`,
      );
    }
    writeResults(b.name, results);
    all.push(...results);
  }
}
writeResults('all', all);
process.stderr.write(`${all.length} results written to bench-results/ (${JSON.stringify(machineInfo().cpus)})\n`);
