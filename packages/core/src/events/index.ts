/** Public API of the events area of @dmasim/core (see docs/ARCHITECTURE.md). */
export {};
