/**
 * `runScenario`: one scenario, start to end, synchronously and purely: build the machine, drive the
 * workload (generated from the seed, or re-driven from a recorded trace), collect the summary, and, when
 * asked, hand the events over as encoded frames.
 */
import type { SimEvent } from '../events/event-schema.ts';
import { FrameEncoder, type FrameMeta } from '../events/frame-codec.ts';
import { Simulator } from '../sim/simulator.ts';
import { unresolved, validateScenario } from './parse-scenario.ts';
import { Rng } from './rng.ts';
import { defaultScenarioId, scenarioToSimConfig } from './scenario-config.ts';
import type { ScenarioSpec } from './scenario-spec.ts';
import { RunStats, type ScenarioSummary } from './summary.ts';
import { runTraceOps } from './trace-ops.ts';
import { WorkloadDriver, workloadPlan } from './workload.ts';

/** Options of {@link runScenario}. */
export interface RunOptions {
  /** Scenario id in events and the summary. @defaultValue `scn-<hash of the spec>` */
  scenarioId?: string;
  /** Attempt number (a retried scenario writes attempt 1, 2, ...). @defaultValue 0 */
  attempt?: number;
  /** Receives the events as encoded frames; when omitted, events are not encoded. */
  onFrame?: (frame: Uint8Array, meta: FrameMeta) => void;
  /** Events per frame. @defaultValue {@link DEFAULT_FRAME_EVENTS} */
  frameEvents?: number;
  /** A frame is also cut once its events take this many bytes. @defaultValue 256 KiB */
  maxFrameBytes?: number;
  /** Receives every event object (tests, the CLI's NDJSON output). */
  onEvent?: (e: SimEvent) => void;
  /** Validate the spec first (skip for specs validated already, e.g. by a sweep). @defaultValue true */
  validate?: boolean;
  /** Called after every operation with the simulator (progress bars, per-step checks in tests). */
  afterOperation?: (sim: Simulator) => void;
}

/**
 * Default events per frame: 4,000 events are about 120 KB (29 bytes an event in the standard scenario),
 * and each frame is one JetStream message with its acknowledgement, so larger frames cost the publisher
 * less (a quarter of the messages of 1,000-event frames). The byte bound keeps frames of large events small.
 */
export const DEFAULT_FRAME_EVENTS = 4000;

/**
 * Runs one scenario to its end and returns its summary. Deterministic: the same spec and options give
 * the same events, frames and summary on every machine.
 * @throws DmasimError SCENARIO_INVALID (also for file references left unresolved), TOPOLOGY_INVALID,
 *   DEVICE_NOT_FOUND.
 */
export function runScenario(spec: ScenarioSpec, opts: RunOptions = {}): ScenarioSummary {
  const s = opts.validate === false ? spec : validateScenario(spec);
  const trace = s.workload?.trace;
  if (trace && 'file' in trace) unresolved('workload.trace', trace.file);
  const scenarioId = opts.scenarioId ?? defaultScenarioId(s);
  const attempt = opts.attempt ?? 0;
  const config = scenarioToSimConfig(s);

  // The encoder cuts its own frames and is the simulator's sink itself: no wrapper call per event.
  const onFrame = opts.onFrame;
  const encoder = onFrame
    ? new FrameEncoder({
        scenarioId,
        attempt,
        frameEvents: opts.frameEvents ?? DEFAULT_FRAME_EVENTS,
        ...(opts.maxFrameBytes !== undefined ? { maxFrameBytes: opts.maxFrameBytes } : {}),
        onFrame,
      })
    : null;
  const sim = new Simulator(config, {
    scenarioId,
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...(encoder ? { sink: encoder } : {}),
  });
  const stats = new RunStats(sim);
  const user = opts.afterOperation;
  const after = user ? () => user(sim) : undefined;
  let traceSkipped: number | undefined;
  if (trace && 'ops' in trace) {
    traceSkipped = runTraceOps(sim, trace.ops, trace.deviceMap, after);
  } else {
    const driver = new WorkloadDriver(sim, workloadPlan(s), new Rng(s.seed));
    driver.onOperation = after;
    driver.run();
  }
  const hash = sim.end();
  encoder?.flushFrame();
  const summary = stats.summary(scenarioId, attempt, s.seed, hash);
  return traceSkipped === undefined ? summary : { ...summary, traceSkipped };
}
