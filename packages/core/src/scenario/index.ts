/** Public API of the scenario area of @dmasim/core (see docs/ARCHITECTURE.md). */
export {};
