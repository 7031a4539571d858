/** Small text helpers shared by the importers: lines, ANSI escapes, and TOPOLOGY_PARSE errors. */
import { type DmasimError, ErrorCode, parseError } from '../../errors.ts';

/** Splits text into lines (without `\n` or a trailing `\r`); a final newline does not add an empty line. */
export function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.endsWith('\r')) lines[i] = l.slice(0, -1);
  }
  return lines;
}

// CSI sequences (`ESC [ ... letter`) and two-character escapes; nvidia-smi underlines its header with them.
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]/g;

/** Removes ANSI terminal escapes. */
export function stripAnsi(s: string): string {
  return s.includes('\x1b') ? s.replace(ANSI, '') : s;
}

/** A short, printable rendering of found text for an error message. */
export function quoteFound(s: string, max = 60): string {
  const printable = s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return JSON.stringify(printable.length > max ? `${printable.slice(0, max)}...` : printable);
}

/** A TOPOLOGY_PARSE error `file:line:col: problem`. Line and column are 1-based. */
export function topoParseError(
  file: string,
  line: number | undefined,
  column: number | undefined,
  problem: string,
): DmasimError {
  return parseError(ErrorCode.TOPOLOGY_PARSE, { file, line, column }, problem);
}

/** `"0x%0Nx"`. */
export function hex(n: number | bigint, width = 0): string {
  return `0x${n.toString(16).padStart(width, '0')}`;
}
