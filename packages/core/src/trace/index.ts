/** Public API of the trace area of @dmasim/core: kernel ftrace import, reconstruction, check, re-drive (docs/FTRACE.md). */
export {
  DMA_ATTR_NAMES,
  type FtraceCapture,
  type FtraceDir,
  type FtraceLineBase,
  type FtraceProblem,
  type FtraceRecord,
  type ParseFtraceOptions,
  parseFtrace,
} from './ftrace-parser.ts';
export {
  type ReconstructOptions,
  reconstructMappings,
  type TracedAttachment,
  type TracedDmabuf,
  type TracedMapping,
  type TracedRange,
  type TraceReconstruction,
} from './reconstruct.ts';
export {
  barOwner,
  checkTrace,
  compareRedrive,
  type RedriveComparison,
  type TraceCheck,
  type TraceFinding,
  type TraceScenario,
  traceToScenario,
} from './trace-check.ts';
