/** @dmasim/cli: the dmasim command line, usable as a library for embedding and tests. */

export { ExitCode } from './exit.ts';
export { buildProgram, runCli, VERSION } from './program.ts';
