import { isDmasimError } from '@dmasim/core';
import type { Command } from 'commander';
import { ExitCode } from '../exit.ts';
import type { CliCommand } from './registry.ts';
import { type ReportOpts, reportAction } from './report/action.ts';

/** `dmasim report`: write the capacity-planning report (json, md, html, pdf) from sweep results. */
export const reportCommand: CliCommand = {
  name: 'report',
  summary: 'write the capacity-planning report (html, md, json, pdf) from sweep results, or compare two',
  register(program: Command) {
    program
      .command('report')
      .summary(this.summary)
      .description(
        'Aggregates a sweep output folder (sweep.json and results.ndjson) or reads a report.json, and writes ' +
          'report.html (one self-contained page: charts as inline SVG, opens from disk with no network and no ' +
          'server), report.md and report.json into --out (default: the results folder); pdf prints the page ' +
          'with headless Chromium (Debian package chromium, or DMASIM_CHROMIUM). With --compare A B it writes ' +
          'compare.html: both result sets side by side, the numbers that differ highlighted.',
      )
      .argument('<results...>', 'sweep output folder or report.json (two with --compare)')
      .option('--out <dir>', 'where the reports go (default: the results folder; with --compare: ./compare)')
      .option('--format <list>', 'comma-separated formats: html, md, json, pdf', 'html,md,json')
      .option('--compare', 'compare two result sets A B on one page')
      .option('--json', 'print report.json to stdout instead of the names of the files written')
      .action(async (results: string[], o: ReportOpts) => {
        try {
          for (const line of await reportAction(results, o)) process.stdout.write(`${line}\n`);
        } catch (e) {
          if (isDmasimError(e) && e.code === 'INVALID_ARGUMENT' && /^(--|expected one)/.test(e.message)) {
            process.stderr.write(`dmasim report: ${e.message}\n(run dmasim report --help for usage)\n`);
            process.exitCode = ExitCode.USAGE;
            return;
          }
          throw e;
        }
      });
  },
};
