/** Public API of the sweep area of @dmasim/core: sweep files, lazy expansion, stable ids, shards. */
export { getPath, type PathStep, parsePath, setPath } from './json-path.ts';
export {
  DEFAULT_SHARD_SIZE,
  parseSweepFile,
  SWEEP_SCHEMA,
  Sweep,
  type SweepAxisSpec,
  type SweepPoint,
  type SweepSpec,
} from './sweep.ts';
