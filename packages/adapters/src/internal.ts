/** Internals of @dmasim/adapters; not a stable API. */
export * from './index.ts';
