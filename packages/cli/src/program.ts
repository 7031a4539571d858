import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.ts';
import { ExitCode } from './exit.ts';

/** The version printed by `dmasim --version`. */
export const VERSION = '0.1.0';

/** Builds the `dmasim` program with every subcommand registered. */
export function buildProgram(): Command {
  const program = new Command('dmasim')
    .description(
      'Simulates how Linux maps DMA-buf memory for peer-to-peer PCI DMA, exactly as the kernel does:\n' +
        'the P2PDMA map type, the IOMMU-DMA layer and the IOVA allocator, on real and generated topologies.',
    )
    .version(VERSION)
    .showHelpAfterError('(run dmasim --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`dmasim: ${str.replace(/^error: /, '')}`) });
  for (const c of commands) c.register(program);
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  const applyOverride = (cmd: Command): void => {
    cmd.exitOverride();
    for (const sub of cmd.commands) applyOverride(sub);
  };
  applyOverride(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
        return ExitCode.OK;
      }
      return ExitCode.USAGE;
    }
    throw e;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
}
