/** What `dmasim report` does: load one or two result sets and write the report files or the comparison page. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DmasimError, ErrorCode } from '@dmasim/core';
import { loadResults, parseFormats, printPdf, renderCompareHtml, writeReports } from '@dmasim/report';

/** Options of `dmasim report`. */
export interface ReportOpts {
  out?: string;
  format: string;
  compare?: boolean;
  json?: boolean;
}

/** How a folder is written in replay commands: relative to the working directory when inside it. */
function shown(dir: string): string {
  const r = relative(process.cwd(), dir);
  return r && !r.startsWith('..') ? r : dir;
}

/** Runs the command; returns the lines to print. */
export async function reportAction(results: readonly string[], o: ReportOpts): Promise<string[]> {
  const formats = parseFormats(o.format);
  if (o.compare) {
    if (results.length !== 2)
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `--compare expects two result sets (A B), got ${results.length}`,
      );
    const [a, b] = await Promise.all(results.map((r) => loadResults(r)));
    const out = o.out ?? 'compare';
    mkdirSync(out, { recursive: true });
    const html = join(out, 'compare.html');
    writeFileSync(
      html,
      renderCompareHtml(a!.report, b!.report, {
        labelA: results[0]!,
        labelB: results[1]!,
        outDirA: shown(a!.folder ?? a!.report.sweepId),
        outDirB: shown(b!.folder ?? b!.report.sweepId),
      }),
    );
    const lines = [`wrote ${html}`];
    if (formats.includes('pdf')) {
      await printPdf(html, join(out, 'compare.pdf'));
      lines.push(`wrote ${join(out, 'compare.pdf')}`);
    }
    return lines;
  }
  if (results.length !== 1)
    throw new DmasimError(
      ErrorCode.INVALID_ARGUMENT,
      `expected one result set (or two with --compare), got ${results.length}`,
    );
  const loaded = await loadResults(results[0]!);
  const out = o.out ?? loaded.folder ?? '.';
  const files = await writeReports(loaded.report, out, formats, {
    outDir: shown(loaded.folder ?? loaded.report.sweepId),
  });
  if (o.json) return [JSON.stringify(loaded.report)];
  return files.map((f) => `wrote ${f}`);
}
