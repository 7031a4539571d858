import { InvalidArgumentError } from 'commander';

/** A commander argument parser for an integer option with a lower bound. */
export function intOption(flag: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${flag} expects a whole number, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${flag} expects a number from ${min} to ${max}, got ${n}`);
    return n;
  };
}
