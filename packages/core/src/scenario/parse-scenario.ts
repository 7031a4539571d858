/**
 * Reading scenario files: YAML or JSON text -> validated {@link ScenarioSpec}, with errors that name
 * file:line:col, the field and what was expected; the same checks for plain objects (a sweep's points);
 * and resolving the parts that name files (topology, trace) through callbacks, since core does no I/O.
 */
import { DmasimError, ErrorCode, parseError } from '../errors.ts';
import { parseStructured, type StructuredFile, validateStructured } from '../structured-file.ts';
import type { TopologySpec } from '../topology/topology-spec.ts';
import { parseByteCount } from './byte-count.ts';
import { SCENARIO_SCHEMA, type ScenarioSpec, type TraceOp } from './scenario-spec.ts';

type Report = (pointer: string, problem: string) => never;

/** Checks the rules a JSON Schema cannot say (byte counts, min <= max, sums of weights). */
function checkSemantics(spec: ScenarioSpec, report: Report): void {
  const bytes = (v: unknown, pointer: string): bigint => {
    try {
      return parseByteCount(v as number | string);
    } catch (e) {
      return report(pointer, (e as Error).message);
    }
  };
  const w = spec.workload;
  const size = w?.buffers?.size;
  if (size) {
    if ('fixed' in size) {
      if (bytes(size.fixed, '/workload/buffers/size/fixed') === 0n)
        report('/workload/buffers/size/fixed', 'expected a size above 0');
    } else if ('choice' in size) {
      size.choice.forEach((c, i) => {
        if (bytes(c, `/workload/buffers/size/choice/${i}`) === 0n)
          report(`/workload/buffers/size/choice/${i}`, 'expected a size above 0');
      });
    } else {
      const key = 'uniform' in size ? 'uniform' : 'log2uniform';
      const r = 'uniform' in size ? size.uniform : size.log2uniform;
      const min = bytes(r.min, `/workload/buffers/size/${key}/min`);
      const max = bytes(r.max, `/workload/buffers/size/${key}/max`);
      if (min === 0n) report(`/workload/buffers/size/${key}/min`, 'expected a size above 0');
      if (max < min) report(`/workload/buffers/size/${key}/max`, `expected max >= min (${min})`);
    }
  }
  const t = w?.trace as { file?: string; ops?: unknown } | undefined;
  if (t && (t.file === undefined) === (t.ops === undefined))
    report('/workload/trace', 'expected exactly one of "file" or "ops"');
  const ranges = w?.buffers?.ranges;
  if (ranges !== undefined && typeof ranges === 'number' && !Number.isInteger(ranges))
    report('/workload/buffers/ranges', 'expected an integer');
  if (ranges !== undefined && typeof ranges === 'object' && ranges.max < ranges.min) {
    report('/workload/buffers/ranges/max', `expected max >= min (${ranges.min})`);
  }
  const churn = w?.churn;
  if (churn) {
    const total =
      (churn.map ?? 0) + (churn.unmap ?? 0) + (churn.detach ?? 0) + (churn.attach ?? 0) + (churn.revoke ?? 0);
    if (total === 0) report('/workload/churn', 'expected at least one operation weight above 0');
  }
  if (
    spec.kernel?.timerCpu !== undefined &&
    spec.kernel.cpus !== undefined &&
    spec.kernel.timerCpu >= spec.kernel.cpus
  ) {
    report('/kernel/timerCpu', `expected a CPU below kernel.cpus (${spec.kernel.cpus})`);
  }
  spec.importers.forEach((imp, i) => {
    if (imp.peer2peer === true && imp.dynamic === false) {
      report(
        `/importers/${i}/peer2peer`,
        'a static importer (dynamic: false) cannot allow peer2peer (dma-buf core rule)',
      );
    }
  });
  const ops = w?.trace && 'ops' in w.trace ? w.trace.ops : undefined;
  if (ops) {
    ops.forEach((op, i) => {
      if (i > 0 && op.tNs < ops[i - 1]!.tNs)
        report(`/workload/trace/ops/${i}/tNs`, 'expected times in non-decreasing order');
      for (const [j, r] of (op.ranges ?? []).entries()) {
        bytes(r.offset, `/workload/trace/ops/${i}/ranges/${j}/offset`);
        bytes(r.length, `/workload/trace/ops/${i}/ranges/${j}/length`);
      }
    });
  }
}

/**
 * Parses a scenario file (YAML or JSON).
 * @param text the file's contents
 * @param file its name, for messages
 * @throws DmasimError SCENARIO_INVALID naming file:line:col, the field and what was expected.
 */
export function parseScenarioFile(text: string, file: string): ScenarioSpec {
  const f: StructuredFile = parseStructured(text, file, ErrorCode.SCENARIO_INVALID);
  const spec = validateStructured<ScenarioSpec>(f, SCENARIO_SCHEMA, ErrorCode.SCENARIO_INVALID);
  checkSemantics(spec, (pointer, problem) => {
    const pos = f.locate(pointer);
    throw parseError(
      ErrorCode.SCENARIO_INVALID,
      { file, line: pos?.line, column: pos?.column, field: pointer },
      problem,
    );
  });
  return spec;
}

/**
 * Validates a plain JSON object as a scenario (for sweep points and programmatic use).
 * @throws DmasimError SCENARIO_INVALID naming the field (as a JSON pointer) and what was expected.
 */
export function validateScenario(spec: unknown, file = '<scenario>'): ScenarioSpec {
  const f: StructuredFile = { file, value: spec, locate: () => undefined };
  const s = validateStructured<ScenarioSpec>(f, SCENARIO_SCHEMA, ErrorCode.SCENARIO_INVALID);
  checkSemantics(s, (pointer, problem) => {
    throw parseError(ErrorCode.SCENARIO_INVALID, { file, field: pointer }, problem);
  });
  return s;
}

/**
 * Replaces a `{ file }` topology reference by `{ inline }`, reading it through `readTopology` (which the
 * caller implements: CLI, worker). Other references are returned unchanged. Does not modify `spec`.
 */
export function resolveScenarioTopology(
  spec: ScenarioSpec,
  readTopology: (file: string) => TopologySpec,
): ScenarioSpec {
  if (!('file' in spec.topology)) return spec;
  return { ...spec, topology: { inline: readTopology(spec.topology.file) } };
}

/**
 * Replaces a `workload.trace: { file }` by `{ ops }`, reading the recorded run through `readTrace`
 * (usually `traceOpsFromEvents` over a decoded event log). Does not modify `spec`.
 */
export function resolveScenarioTrace(
  spec: ScenarioSpec,
  readTrace: (file: string, scenarioId: string | undefined) => TraceOp[],
): ScenarioSpec {
  const t = spec.workload?.trace;
  if (!t || !('file' in t)) return spec;
  const ops = readTrace(t.file, t.scenarioId);
  const trace = t.deviceMap ? { ops, deviceMap: t.deviceMap } : { ops };
  return { ...spec, workload: { ...spec.workload, trace } };
}

/** Throws SCENARIO_INVALID for a reference that must have been resolved before running. */
export function unresolved(what: string, file: string): never {
  throw new DmasimError(
    ErrorCode.SCENARIO_INVALID,
    `the scenario's ${what} names the file ${JSON.stringify(file)}: resolve it first (resolveScenarioTopology / resolveScenarioTrace); core reads no files`,
  );
}
