import { performance } from 'node:perf_hooks';
import { buildProgram } from '@dmasim/cli';
import { type Benchmark, result } from './harness.ts';

/** Start-up cost of the CLI program (building the command tree), the floor under every dmasim command. */
export const benchmarks: Benchmark[] = [
  {
    name: 'cli-startup',
    async run() {
      const n = 200;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) buildProgram();
      const ms = (performance.now() - t0) / n;
      return [result('cli.buildProgram', 'ms', ms)];
    },
  },
];
