/** Public API of the topology area of @dmasim/core (see docs/ARCHITECTURE.md and docs/TOPOLOGY.md). */
export * from './bdf.ts';
export * from './generate.ts';
export * from './hex.ts';
export * from './import/index.ts';
export * from './iommu-groups.ts';
export * from './overrides.ts';
export * from './reference-t1.ts';
export * from './topology.ts';
export * from './topology-file.ts';
export type * from './topology-spec.ts';
export * from './vector-topology.ts';
