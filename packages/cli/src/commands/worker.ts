import { planned } from './planned.ts';

/** `dmasim worker`: start a worker node that runs sweep shards from Redis. */
export const workerCommand = planned('worker', 'start a worker node that runs sweep shards from Redis', 6);
