/** Internals of @dmasim/worker; not a stable API. */
export * from './index.ts';
