/** @dmasim/worker: worker nodes that run sweep shards on a piscina thread pool. */
export { ScenarioPool, type ScenarioPoolOptions } from './pool.ts';
export type { PoolTask, PoolTaskResult } from './pool-task.ts';
export { ShardExecutor, type ShardExecutorOptions } from './shard-executor.ts';
export { startWorkerNode, type WorkerNode, type WorkerNodeOptions } from './worker-node.ts';
