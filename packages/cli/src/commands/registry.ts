import type { Command } from 'commander';

/**
 * One top-level subcommand of `dmasim`. Each lives in its own file under `commands/` and adds itself
 * to the program through `register`.
 */
export interface CliCommand {
  /** The word after `dmasim`. */
  readonly name: string;
  /** One line for `dmasim --help`. */
  readonly summary: string;
  /** Adds the subcommand (with its own subcommands, options and action) to the program. */
  register(program: Command): void;
}
