/** Public API of the topology area of @dmasim/core (see docs/ARCHITECTURE.md). */
export type * from './topology-spec.ts';
