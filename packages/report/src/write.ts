/** Writing a report in each requested format into a folder; PDF by printing the page with headless Chromium. */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DmasimError, ErrorCode, renderReportMarkdown, type SweepReport } from '@dmasim/core';
import { type HtmlOptions, renderReportHtml } from './html.ts';

/** The formats `writeReports` writes. */
export const REPORT_FORMATS = ['json', 'md', 'html', 'pdf'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** Parses `html,md,json,pdf`. @throws DmasimError INVALID_ARGUMENT */
export function parseFormats(text: string): ReportFormat[] {
  const parts = text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const p of parts)
    if (!(REPORT_FORMATS as readonly string[]).includes(p))
      throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `--format: "${p}" is not one of ${REPORT_FORMATS.join(', ')}`);
  if (!parts.length) throw new DmasimError(ErrorCode.INVALID_ARGUMENT, '--format: expected at least one format');
  return [...new Set(parts)] as ReportFormat[];
}

/** Chromium flags for headless use on a machine with no network and no GPU. */
export const CHROMIUM_ARGS = [
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-gpu',
] as const;

/** The Chromium binary: `$DMASIM_CHROMIUM`, else Debian's `/usr/bin/chromium`. */
export function chromiumPath(): string {
  return process.env.DMASIM_CHROMIUM ?? '/usr/bin/chromium';
}

/** A headless Chromium with its own empty profile (removed by `close`). */
export interface Chromium {
  readonly context: import('playwright-core').BrowserContext;
  close(): Promise<void>;
}

/** Starts headless Chromium through playwright-core with a new empty profile; the caller closes it. */
export async function launchChromium(): Promise<Chromium> {
  const exe = chromiumPath();
  if (!existsSync(exe))
    throw new DmasimError(
      ErrorCode.INVALID_ARGUMENT,
      `PDF output needs Chromium at ${exe} (install it with: sudo apt-get install -y chromium, or set DMASIM_CHROMIUM)`,
    );
  let pw: typeof import('playwright-core');
  try {
    pw = await import('playwright-core');
  } catch {
    throw new DmasimError(ErrorCode.INVALID_ARGUMENT, 'PDF output needs playwright-core (npm install playwright-core)');
  }
  const profile = mkdtempSync(join(tmpdir(), 'dmasim-chromium-'));
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const context = await pw.chromium.launchPersistentContext(profile, {
    executablePath: exe,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(isRoot ? ['--no-sandbox'] : [])],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Prints an HTML file to PDF (A4 landscape, backgrounds on) with headless Chromium. */
export async function printPdf(htmlFile: string, pdfFile: string): Promise<void> {
  const c = await launchChromium();
  try {
    const p = await c.context.newPage();
    await p.goto(pathToFileURL(resolve(htmlFile)).href, { waitUntil: 'load' });
    await p.pdf({ path: pdfFile, format: 'A4', landscape: true, printBackground: true });
  } finally {
    await c.close();
  }
}

/**
 * Writes `report.json`, `report.md`, `report.html` and (with `pdf`) `report.pdf` into `outDir`; returns the
 * files written. `pdf` implies writing report.html (the page printed).
 */
export async function writeReports(
  report: SweepReport,
  outDir: string,
  formats: readonly ReportFormat[] = ['json', 'md', 'html'],
  opts: HtmlOptions = {},
): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  if (formats.includes('json')) {
    const f = join(outDir, 'report.json');
    writeFileSync(f, `${JSON.stringify(report, null, 2)}\n`);
    written.push(f);
  }
  if (formats.includes('md')) {
    const f = join(outDir, 'report.md');
    writeFileSync(f, renderReportMarkdown(report));
    written.push(f);
  }
  if (formats.includes('html') || formats.includes('pdf')) {
    const f = join(outDir, 'report.html');
    writeFileSync(f, renderReportHtml(report, { outDir, ...opts }));
    written.push(f);
    if (formats.includes('pdf')) {
      const pdf = join(outDir, 'report.pdf');
      await printPdf(f, pdf);
      written.push(pdf);
    }
  }
  return written;
}
