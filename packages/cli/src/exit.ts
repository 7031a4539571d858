/** Exit codes of the dmasim command, one meaning each. */
export const ExitCode = {
  /** Success; for checks: everything matched. */
  OK: 0,
  /** The command ran and found a mismatch or failure (a vector differed, a replay diverged). */
  FAILED: 1,
  /** The command line itself was wrong: unknown command, bad flag, bad value. */
  USAGE: 2,
  /** An input file was malformed or an operation failed with a dmasim error. */
  INPUT: 3,
} as const;
