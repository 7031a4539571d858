/**
 * Real headless Chromium for browser tests: Debian's `chromium` package, installed with apt-get when the
 * process runs as root and it is missing (as CI does), driven with playwright-core (which never downloads
 * a browser of its own). Without root and without the package, it fails with the command to run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type Chromium, chromiumPath, launchChromium } from '@dmasim/report';

const INSTALL_HINT = 'install it with: sudo apt-get install -y chromium';

let installAttempted = false;
/** Returns the Chromium binary's path, installing Debian's package when missing and running as root. */
export function ensureChromium(): string {
  const exe = chromiumPath();
  if (existsSync(exe)) return exe;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && existsSync('/usr/bin/apt-get') && !installAttempted) {
    installAttempted = true;
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    try {
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'ignore', env });
    } catch {
      execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'ignore', env });
    }
    if (existsSync(exe)) return exe;
  }
  throw new Error(`Chromium is not at ${exe} and could not be installed automatically; ${INSTALL_HINT}`);
}

/** Starts headless Chromium (installing it first if needed) with an empty profile and the offline flags. */
export async function startChromium(): Promise<Chromium> {
  ensureChromium();
  return await launchChromium();
}
