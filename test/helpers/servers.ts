/**
 * Real servers for integration tests: starts `redis-server` and `nats-server` (JetStream on) on free
 * loopback ports in a temporary directory, waits until each is ready, and stops them by pid afterwards,
 * even when a test fails or the test process is interrupted.
 *
 * When a binary is missing and the process runs as root on a Debian/Ubuntu machine, the helper installs
 * it with `apt-get install -y redis-server nats-server`; otherwise it fails with a message naming the
 * command to run. Debian's nats-server is 2.9: nothing here relies on 2.10+ features.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const APT_PACKAGES = 'redis-server nats-server';
const INSTALL_HINT = `install them with: sudo apt-get install -y ${APT_PACKAGES}`;

/** A running server started by this helper. */
export interface RunningServer {
  /** Connection URL (`redis://127.0.0.1:PORT` or `nats://127.0.0.1:PORT`). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The server's process id (changes after {@link RunningServer.restart}). */
  readonly pid: number;
  /** The temporary directory holding the server's data; removed by {@link RunningServer.stop}. */
  readonly dir: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its directory. Idempotent. */
  stop(): Promise<void>;
  /** Stops the process (keeping its data directory) and starts it again on the same port. */
  restart(): Promise<void>;
  /** Kills the process with SIGKILL, keeping its data, without starting it again. */
  kill(): Promise<void>;
  /** Starts the server again after {@link RunningServer.kill}, on the same port and data directory. */
  start(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

function which(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin'])) {
    if (dir && existsSync(join(dir, bin))) return join(dir, bin);
  }
  return undefined;
}

let installAttempted = false;
/** Returns the path of `bin`, installing the Debian packages when missing and running as root. */
export function ensureBinary(bin: 'redis-server' | 'nats-server'): string {
  const found = which(bin);
  if (found) return found;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && which('apt-get') && !installAttempted) {
    installAttempted = true;
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    try {
      execFileSync('apt-get', ['install', '-y', ...APT_PACKAGES.split(' ')], { stdio: 'ignore', env });
    } catch {
      execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
      execFileSync('apt-get', ['install', '-y', ...APT_PACKAGES.split(' ')], { stdio: 'ignore', env });
    }
    const after = which(bin);
    if (after) return after;
  }
  throw new Error(`${bin} is not installed and could not be installed automatically; ${INSTALL_HINT}`);
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, proc: () => ChildProcess | undefined, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const p = proc();
    if (p && p.exitCode !== null) throw new Error(`${what} exited with code ${p.exitCode} before it was ready`);
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`${what} was not ready after ${ms} ms`);
}

async function redisPing(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = '';
    sock.setTimeout(1000, () => {
      sock.destroy();
      resolve(false);
    });
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        sock.destroy();
        resolve(buf.startsWith('+PONG'));
      }
    });
    sock.on('error', () => resolve(false));
  });
}

async function natsHealthy(monitorPort: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`, {
    signal: AbortSignal.timeout(1000),
  });
  return res.status === 200;
}

async function stopProcess(p: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) {
    if (p) live.delete(p);
    return;
  }
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  p.kill(signal);
  const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  live.delete(p);
}

function makeServer(
  kind: string,
  scheme: string,
  port: number,
  dir: string,
  launch: () => ChildProcess,
  ready: (p: () => ChildProcess | undefined) => Promise<void>,
): RunningServer & { _boot(): Promise<void> } {
  let proc: ChildProcess | undefined;
  let stopped = false;
  let stderr = '';
  const boot = async (): Promise<void> => {
    installExitHook();
    stderr = '';
    proc = launch();
    live.add(proc);
    proc.stderr?.on('data', (d) => {
      stderr += d.toString();
    });
    try {
      await ready(() => proc);
    } catch (e) {
      await stopProcess(proc, 'SIGKILL');
      throw new Error(`${kind}: ${(e as Error).message}${stderr ? `\n${stderr}` : ''}`);
    }
  };
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    dir,
    get pid() {
      return proc?.pid ?? -1;
    },
    _boot: boot,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopProcess(proc);
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await stopProcess(proc);
      await boot();
    },
    async kill() {
      await stopProcess(proc, 'SIGKILL');
    },
    async start() {
      await boot();
    },
  };
}

/** Options of {@link startRedis}. */
export interface RedisOptions {
  /** Append-only file on (needed to survive a restart with data). Default true. */
  appendonly?: boolean;
}

/** Starts a real redis-server on a free loopback port; resolves when it answers PING. */
export async function startRedis(opts: RedisOptions = {}): Promise<RunningServer> {
  const bin = ensureBinary('redis-server');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'dmasim-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    opts.appendonly === false ? 'no' : 'yes',
    '--appendfsync',
    'everysec',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
    '--protected-mode',
    'yes',
  ];
  const srv = makeServer(
    'redis-server',
    'redis',
    port,
    dir,
    () => spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] }),
    (p) => waitFor(`redis-server on port ${port}`, () => redisPing(port), p),
  );
  await srv._boot();
  return srv;
}

/** Options of {@link startNats}. */
export interface NatsOptions {
  /** JetStream maximum file storage in bytes (to test a full stream). Default: the server's. */
  maxFileStore?: number;
}

/** Starts a real nats-server with JetStream on a free loopback port; resolves when its health check passes. */
export async function startNats(opts: NatsOptions = {}): Promise<RunningServer & { monitorPort: number }> {
  const bin = ensureBinary('nats-server');
  const port = await freePort();
  const monitorPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'dmasim-nats-'));
  const args = ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), '-js'];
  if (opts.maxFileStore !== undefined) {
    // nats-server 2.9 takes JetStream limits from a config file only (and refuses -sd beside its store_dir).
    const conf = join(dir, 'nats.conf');
    writeFileSync(conf, `jetstream { store_dir: "${join(dir, 'js')}", max_file_store: ${opts.maxFileStore} }\n`);
    args.push('-c', conf);
  } else {
    args.push('-sd', join(dir, 'js'));
  }
  const srv = makeServer(
    'nats-server',
    'nats',
    port,
    dir,
    () => spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] }),
    (p) => waitFor(`nats-server on port ${port}`, () => natsHealthy(monitorPort), p),
  );
  await srv._boot();
  return Object.assign(srv, { monitorPort });
}
