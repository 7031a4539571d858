/** Public API of the dmabuf area of @dmasim/core (see docs/ARCHITECTURE.md). */
export {};
