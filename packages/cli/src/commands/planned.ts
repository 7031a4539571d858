import type { Command } from 'commander';
import { ExitCode } from '../exit.ts';
import type { CliCommand } from './registry.ts';

/**
 * A subcommand that is part of the dmasim design but not in this build yet. It is listed in
 * `dmasim --help` so that the shape of the tool is visible, and running it says plainly that it is not
 * available (exit 2) instead of pretending to work. Each is replaced by its real implementation.
 */
export function planned(name: string, summary: string, issue: number): CliCommand {
  return {
    name,
    summary,
    register(program: Command) {
      program
        .command(name)
        .summary(summary)
        .description(`${summary}\n\nNot available in this build of dmasim yet (tracked as issue ${issue}).`)
        .allowUnknownOption()
        .allowExcessArguments()
        .action(() => {
          process.stderr.write(`dmasim: '${name}' is not available in this build yet (issue ${issue})\n`);
          process.exitCode = ExitCode.USAGE;
        });
    },
  };
}
