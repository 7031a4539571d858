/** Public API of the trace area of @dmasim/core (see docs/ARCHITECTURE.md). */
export {};
