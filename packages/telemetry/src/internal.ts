/** Internals of @dmasim/telemetry; not a stable API. */
export * from './index.ts';
