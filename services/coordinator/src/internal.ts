/** Internals of @dmasim/coordinator; not a stable API. */
export * from './index.ts';
