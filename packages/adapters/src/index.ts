/** @dmasim/adapters: the job queue, event log and result store interfaces and their implementations. */
export {};
