/** Shared shape and output of dmasim benchmarks. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, totalmem } from 'node:os';

/** One measured figure. `ratio` is value / baseline when the benchmark defines a baseline in the same run. */
export interface BenchResult {
  name: string;
  unit: string;
  value: number;
  baseline: number | null;
  ratio: number | null;
  /** Free-form context: parameters, target, whether the target was met. */
  extra?: Record<string, unknown>;
  machine: ReturnType<typeof machineInfo>;
  commit: string;
  date: string;
}

/** A group of figures measured together. */
export interface Benchmark {
  name: string;
  run(): Promise<BenchResult[]>;
}

let cachedCommit: string | undefined;
function gitCommit(): string {
  if (cachedCommit === undefined) {
    try {
      cachedCommit = execFileSync('git', ['rev-parse', 'HEAD'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      cachedCommit = 'unknown';
    }
  }
  return cachedCommit;
}

/** Facts about the machine that a reader needs to compare figures. */
export function machineInfo() {
  const c = cpus();
  return {
    node: process.version,
    platform: platform(),
    arch: arch(),
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memBytes: totalmem(),
  };
}

/** Builds a result with machine info, commit and ratio filled in. */
export function result(
  name: string,
  unit: string,
  value: number,
  baseline: number | null = null,
  extra?: Record<string, unknown>,
): BenchResult {
  return {
    name,
    unit,
    value,
    baseline,
    ratio: baseline !== null && baseline !== 0 ? value / baseline : null,
    ...(extra ? { extra } : {}),
    machine: machineInfo(),
    commit: gitCommit(),
    date: new Date().toISOString(),
  };
}

/** The median of `xs` (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * `pairs` rounds of `a` and `b` run back to back, the order alternating (a then b, then b then a, ...) so
 * that drift in the machine's speed falls on both; each one's results in round order.
 */
export async function alternatingPairs<A, B>(
  pairs: number,
  a: (round: number) => A | Promise<A>,
  b: (round: number) => B | Promise<B>,
): Promise<{ a: A[]; b: B[] }> {
  const ra: A[] = [];
  const rb: B[] = [];
  for (let p = 0; p < pairs; p++) {
    if (p % 2 === 0) {
      ra.push(await a(p));
      rb.push(await b(p));
    } else {
      rb.push(await b(p));
      ra.push(await a(p));
    }
  }
  return { a: ra, b: rb };
}

/** Writes `bench-results/<group>.json`. */
export function writeResults(group: string, results: BenchResult[]): void {
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(`bench-results/${group}.json`, `${JSON.stringify(results, null, 2)}\n`);
}
