/** Internals of @dmasim/telemetry; not a stable API. */

export { parseResourceAttributes } from './config.ts';
export {
  GuardedMetricExporter,
  GuardedSpanExporter,
  hrTimeToNanoString,
  JsonLinesFile,
  JsonLinesMetricExporter,
  JsonLinesSpanExporter,
  ReportOnce,
  toFileMetrics,
  toFileSpan,
} from './exporters.ts';
export * from './index.ts';
export { threadSpanToReadable } from './telemetry.ts';
