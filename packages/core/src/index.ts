/**
 * @dmasim/core: the public face of the mapper core. Pure and deterministic: no I/O, no clocks, no
 * randomness except a seeded PRNG passed in.
 */
export * from './errors.ts';
