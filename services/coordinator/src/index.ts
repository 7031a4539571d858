/** @dmasim/coordinator: drives sweeps through a job queue and a result store, shows progress, aggregates. */
export {
  cancelSweep,
  describeFailure,
  type RunSweepOptions,
  runSweep,
  type SweepOutcome,
  type SweepProgress,
} from './coordinator.ts';
export { formatDuration, type ProgressDisplay, progressDisplay, progressLine } from './progress.ts';
export { type FileReaders, resolveSweepFiles } from './resolve-files.ts';
