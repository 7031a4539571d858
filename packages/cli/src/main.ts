import { isDmasimError } from '@dmasim/core';
import { ExitCode } from './exit.ts';
import { runCli } from './program.ts';

try {
  process.exitCode = await runCli(process.argv.slice(2));
} catch (e) {
  if (isDmasimError(e)) {
    process.stderr.write(`dmasim: ${e.code}: ${e.message}\n`);
    process.exitCode = ExitCode.INPUT;
  } else {
    throw e;
  }
}
