/** Internals of @dmasim/core for other dmasim packages and tests; not a stable API. */
export * from './index.ts';
