/** Runs the dmasim CLI from source in a child process, as a user would. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Repository root (tests run with cwd = root, but do not rely on it). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The read-only shared folder beside the checkout. */
export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const BIN = fileURLToPath(new URL('../../packages/cli/bin/dmasim.js', import.meta.url));

/** Result of a finished CLI run. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `dmasim ARGS` (from the TypeScript sources) and returns the child process. */
export function spawnCli(
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, DMASIM_FROM_SOURCE: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs `dmasim ARGS` to completion (killed after `timeoutMs`). */
export function runCliProcess(
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const p = spawnCli(args, opts);
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (d) => {
      stdout += d;
    });
    p.stderr?.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `dmasim ARGS` to completion, synchronously (for short runs that need no other process alive). */
export function runCliSync(args: readonly string[], opts: { cwd?: string; env?: Record<string, string> } = {}): CliRun {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, DMASIM_FROM_SOURCE: '1', ...opts.env },
    encoding: 'utf8',
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
