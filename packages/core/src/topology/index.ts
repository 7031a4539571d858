/** Public API of the topology area of @dmasim/core (see docs/ARCHITECTURE.md). */
export * from './import/index.ts';
export type * from './topology-spec.ts';
