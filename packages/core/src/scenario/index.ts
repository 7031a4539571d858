/**
 * Public API of the scenario area of @dmasim/core: scenario files, seeded workloads, trace re-drive, the
 * runner and its summary. The simulator it drives is re-exported here too (`../sim`).
 */
export * from '../sim/index.ts';
export { parseByteCount } from './byte-count.ts';
export {
  parseScenarioFile,
  resolveScenarioTopology,
  resolveScenarioTrace,
  validateScenario,
} from './parse-scenario.ts';
export { IndexedSet, Rng } from './rng.ts';
export { DEFAULT_FRAME_EVENTS, type RunOptions, runScenario } from './run-scenario.ts';
export { defaultScenarioId, scenarioTopologySpec, scenarioToSimConfig } from './scenario-config.ts';
export {
  type ByteCount,
  type CountDistribution,
  type ExporterPolicy,
  SCENARIO_SCHEMA,
  type ScenarioAttach,
  type ScenarioBuffers,
  type ScenarioChurn,
  type ScenarioExporter,
  type ScenarioImporter,
  type ScenarioIommu,
  type ScenarioIommuMode,
  type ScenarioKernel,
  type ScenarioSpec,
  type ScenarioTopologyRef,
  type ScenarioWorkload,
  type SizeDistribution,
  type TraceOp,
} from './scenario-spec.ts';
export {
  type DomainSummary,
  type Histogram,
  mergeCounts,
  mergeHistograms,
  RunStats,
  type ScenarioSummary,
} from './summary.ts';
export { runTraceOps, traceOpsFromEvents } from './trace-ops.ts';
export { WorkloadDriver, type WorkloadPlan, workloadPlan } from './workload.ts';
