/** Public API of the sweep area of @dmasim/core: sweep files, lazy expansion, stable ids, shards, reports. */
export {
  aggregateSweep,
  type Examples,
  type GroupReport,
  MACHINE_DEVICES,
  type MachineReport,
  type ScenarioRecordLike,
  type ShardResultLike,
  type StatOut,
  type SweepReport,
  TIMELINE_BINS,
  type TimelineOut,
} from './aggregate.ts';
export { getPath, type PathStep, parsePath, setPath } from './json-path.ts';
/** The JSON Schema of report.json. */
export { default as REPORT_SCHEMA } from './report.schema.json' with { type: 'json' };
export { humanBytes, humanNs, renderReportMarkdown } from './report-md.ts';
export {
  DEFAULT_SHARD_SIZE,
  parseSweepFile,
  parseSweepSource,
  SWEEP_SCHEMA,
  Sweep,
  type SweepAxisSpec,
  type SweepPoint,
  type SweepSpec,
} from './sweep.ts';
