/** Internals of @dmasim/cli; not a stable API. */
export * from './index.ts';
