/**
 * The report page in a real browser: the example sweep of the README runs (embedded), `dmasim report` writes
 * report.html, and Debian's Chromium (installed by the helper when missing) opens it from disk. Every chart
 * must have rendered (an SVG with marks), nothing may be requested from anywhere, no console error, and every
 * key number in the page must equal the one in report.json. The screenshot goes to test-artifacts/ (and, with
 * DMASIM_UPDATE_SCREENSHOT=1, to docs/report-screenshot.png).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Chromium } from '@dmasim/report';
import { startChromium } from './helpers/browser.ts';
import { ROOT, runCliProcess } from './helpers/cli.ts';

const ARTIFACTS = join(ROOT, 'test-artifacts');
let dir = '';
let out = '';
let chromium: Chromium | undefined;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dmasim-report-browser-'));
  out = join(dir, 'racks');
  const [sweep, browser] = await Promise.all([
    runCliProcess(['sweep', 'examples/sweeps/racks.yaml', '--out', out, '--no-progress', '--threads', '2'], {
      timeoutMs: 110_000,
    }),
    startChromium(),
  ]);
  chromium = browser;
  assert.equal(sweep.code, 0, sweep.stderr);
  const rep = await runCliProcess(['report', out, '--format', 'html,md,json']);
  assert.equal(rep.code, 0, rep.stderr);
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await chromium?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Value at a report.json path such as `groups[3].domains[0].peakBytes.max` or `overall.hazards.length`. */
function at(doc: unknown, path: string): unknown {
  let v: unknown = doc;
  for (const part of path.replace(/\[(\d+)\]/g, '.$1').split('.')) {
    if (v === null || v === undefined) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

interface PageCheck {
  charts: { id: string; svg: boolean; marks: number; text: number }[];
  keys: { k: string; v: string }[];
  errors: string[];
  requests: string[];
}

async function openAndCheck(file: string, shot: string): Promise<PageCheck> {
  const page = await chromium!.context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  const url = pathToFileURL(file).href;
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  page.on('request', (r) => {
    if (r.url() !== url) requests.push(r.url());
  });
  await page.setViewportSize({ width: 1360, height: 900 });
  await page.goto(url, { waitUntil: 'load' });
  const result = await page.evaluate(() => {
    // The page's DOM, typed as far as used here (the tests compile without the DOM library).
    interface El {
      id: string;
      getAttribute(name: string): string | null;
      querySelector(sel: string): El | null;
      querySelectorAll(sel: string): Iterable<El> & { length: number };
      getBoundingClientRect(): { width: number };
      checkVisibility(): boolean;
      open: boolean;
    }
    const document = (globalThis as unknown as { document: El }).document;
    // Group sections are collapsed <details>: open them all, so that every chart must really be shown.
    for (const d of document.querySelectorAll('details')) d.open = true;
    return {
      charts: [...document.querySelectorAll('figure.chart')].map((f) => {
        const svg = f.querySelector('svg');
        return {
          id: f.id,
          svg: svg?.checkVisibility() === true && svg.getBoundingClientRect().width > 0,
          marks: svg ? svg.querySelectorAll('path, rect').length : 0,
          text: svg ? svg.querySelectorAll('text').length : 0,
        };
      }),
      keys: [...document.querySelectorAll('[data-k]')].map((e) => ({
        k: e.getAttribute('data-k') ?? '',
        v: e.getAttribute('data-v') ?? '',
      })),
    };
  });
  // Tall enough for the map-type mix and the first machine's pair matrix.
  await page.setViewportSize({ width: 1360, height: 1500 });
  await page.screenshot({ path: shot });
  await page.close();
  return { ...result, errors, requests };
}

test('report.html renders every chart from disk, offline, and its numbers are report.json’s', async () => {
  const html = join(out, 'report.html');
  interface G {
    sgEntries: { buckets: unknown[] };
    domains: { headroomMappings: { scenarios: number }; timeline: unknown }[];
  }
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
    machines: unknown[];
    groups: G[];
    overall: G;
  };
  assert.ok(statSync(html).size < 5 * 2 ** 20, 'report.html stays under 5 MB');
  const shot = join(ARTIFACTS, 'report-screenshot.png');
  const r = await openAndCheck(html, shot);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.requests, [], 'the page requests nothing');
  // Map-type mix, one matrix per machine, and per group (overall and each group): headroom, fragmentation,
  // sg entries, what-if at least.
  assert.ok(report.machines.length >= 3, 'the example sweep has several machines');
  // Per group (and overall): what-if always; sg histogram when a mapping succeeded; headroom and
  // fragmentation when there are IOVA domains; one timeline per domain that recorded one.
  let expected = 1 + report.machines.length;
  for (const g of [report.overall, ...report.groups]) {
    expected += 1 + (g.sgEntries.buckets.length ? 1 : 0);
    if (g.domains.length) expected += 1 + (g.domains.some((d) => d.headroomMappings.scenarios > 0) ? 1 : 0);
    expected += g.domains.filter((d) => d.timeline !== null).length;
  }
  assert.equal(r.charts.length, expected, 'every chart the report calls for is on the page');
  for (const c of r.charts) {
    assert.ok(c.svg, `${c.id}: an SVG is shown`);
    assert.ok(c.marks >= 5, `${c.id}: the SVG has marks (${c.marks})`);
    assert.ok(c.text >= 2, `${c.id}: the SVG has axis or cell text`);
  }
  for (const id of ['r-mix-chart', 'r-machine-0', 'r-overall-headroom', 'r-overall-sg', 'r-overall-whatif'])
    assert.ok(
      r.charts.some((c) => c.id === id),
      `chart ${id} is on the page`,
    );
  assert.ok(r.keys.length > 50, 'the page carries its key numbers');
  for (const { k, v } of r.keys) {
    const expected = k.endsWith('.length') ? (at(report, k.slice(0, -7)) as unknown[]).length : at(report, k);
    assert.notEqual(expected, undefined, `${k} exists in report.json`);
    assert.equal(v, String(expected), `${k}: page ${v}, report.json ${String(expected)}`);
  }
  if (process.env.DMASIM_UPDATE_SCREENSHOT === '1') copyFileSync(shot, join(ROOT, 'docs', 'report-screenshot.png'));
});

test('the comparison page highlights what differs, and PDF output prints the page', async () => {
  // B: the same sweep's report.json with one group's numbers shifted, as a stand-in for a second machine.
  const a = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
    sweepId: string;
    overall: { mappings: { failureRate: number } };
  };
  const bFile = join(dir, 'b-report.json');
  const b = structuredClone(a);
  b.overall.mappings.failureRate = a.overall.mappings.failureRate / 2;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(bFile, JSON.stringify(b));
  const cmp = join(dir, 'cmp');
  const run = await runCliProcess(['report', '--compare', out, bFile, '--out', cmp, '--format', 'html,pdf']);
  assert.equal(run.code, 0, run.stderr);
  const r = await openAndCheck(join(cmp, 'compare.html'), join(ARTIFACTS, 'compare-screenshot.png'));
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.requests, []);
  assert.equal(r.keys.find((x) => x.k === 'compare.changed')?.v, '1');
  for (const c of r.charts) assert.ok(c.svg && c.marks >= 5, `${c.id}: rendered`);
  const pdf = readFileSync(join(cmp, 'compare.pdf'));
  assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
  assert.ok(pdf.length > 20_000, 'the PDF has content');
});
