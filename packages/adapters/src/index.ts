/** @dmasim/adapters: the job queue, event log and result store interfaces and their implementations. */
export * from './bullmq.ts';
export * from './event-log.ts';
export * from './jetstream.ts';
export * from './memory.ts';
export type * from './types.ts';
