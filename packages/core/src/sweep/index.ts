/** Public API of the sweep area of @dmasim/core: sweep files, lazy expansion, aggregation. */
export {};
