/** Public API of the p2p area of @dmasim/core (drivers/pci/p2pdma.c; see docs/P2P.md). */
export * from './acs.ts';
export * from './calc-map-type.ts';
export * from './distance-many.ts';
export * from './host-bridge-whitelist.ts';
export * from './map-type.ts';
export * from './p2p-options.ts';
export * from './p2p-vectors.ts';
export * from './p2pdma-map-type.ts';
export * from './p2pdma-state.ts';
export * from './pair-matrix.ts';
export * from './path-class.ts';
