/**
 * @dmasim/core: the public face of the mapper core. Pure and deterministic: no I/O, no clocks, no
 * randomness except a seeded PRNG passed in. Each area has its own barrel, owned by that area.
 */
export * from './dmabuf/index.ts';
export * from './errors.ts';
export * from './events/index.ts';
export * from './hash.ts';
export * from './iommu/index.ts';
export * from './iova/index.ts';
export * from './p2p/index.ts';
export * from './scenario/index.ts';
export * from './structured-file.ts';
export * from './sweep/index.ts';
export * from './topology/index.ts';
export * from './trace/index.ts';
