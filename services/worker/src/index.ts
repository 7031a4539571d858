/** @dmasim/worker. */
export {};
