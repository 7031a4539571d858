/** Public API of the p2p area of @dmasim/core (see docs/ARCHITECTURE.md). */
export {};
