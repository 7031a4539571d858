/** Public API of the iova area of @dmasim/core (see docs/ARCHITECTURE.md). */
export {};
