/** @dmasim/coordinator. */
export {};
