/**
 * The code that runs inside a piscina worker thread: computes a range of a sweep's scenarios from their
 * indexes and runs each through the core scenario runner. The sweep spec is parsed once per thread and
 * cached by key. Simulation never runs on a worker node's main thread, so BullMQ's lock renewal and
 * Redis I/O are never starved.
 */

import type { EventFrame, ScenarioEventsRecord, ScenarioRecord } from '@dmasim/adapters';
import { runScenario, Sweep, type SweepSpec, toPlainError, validateScenario } from '@dmasim/core';
import { Dmasim, epochMs, SpanName, ThreadRecorder, type ThreadSpan } from '@dmasim/telemetry/thread';
import { move, transferableSymbol, valueSymbol } from 'piscina';

/** One pool task: scenarios `[start, end)` of a sweep. */
export interface PoolTask {
  /** Cache key of the sweep spec (sweep id + hash of its JSON). */
  readonly sweepKey: string;
  /** The resolved sweep spec as JSON text. */
  readonly sweepJson: string;
  readonly start: number;
  readonly end: number;
  /** Attempt of the shard job (recorded in event frames). */
  readonly attempt: number;
  /** Encode every event into frames and return them (event log on). */
  readonly events?: boolean;
  /** W3C context of the shard's span (telemetry on): the thread records its spans under it. */
  readonly trace?: Readonly<Record<string, string>>;
  /** When the task was handed to the pool, epoch ms (telemetry: thread-pool wait). */
  readonly submittedAtMs?: number;
}

/** What a task returns to the worker's main thread. */
export interface PoolTaskResult {
  readonly records: ScenarioRecord[];
  /** Encoded event frames of every scenario that ran, in order (event log on). */
  readonly frames: EventFrame[];
  /** Per scenario that ran: its attempt, frame and event counts and final state hash (event log on). */
  readonly logs: ScenarioEventsRecord[];
  /** Time spent simulating in the thread, ms. */
  readonly busyMs: number;
  /** Spans recorded in the thread (a sampled `trace` only), for the main thread to export. */
  readonly spans: ThreadSpan[];
  /** When the thread started the task, epoch ms. */
  readonly startedAtMs: number;
}

const sweeps = new Map<string, Sweep>();

function sweepFor(task: PoolTask): Sweep {
  let s = sweeps.get(task.sweepKey);
  if (!s) {
    s = new Sweep(JSON.parse(task.sweepJson) as SweepSpec);
    if (sweeps.size > 8) sweeps.clear();
    sweeps.set(task.sweepKey, s);
  }
  return s;
}

/**
 * A frame's bytes as a view of a buffer of their own, so the buffer can be moved to the main thread: the
 * encoder returns a fresh array a frame, used as it is; a view into a larger buffer is copied out first.
 */
function ownBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const b = bytes.buffer;
  return b instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === b.byteLength
    ? (bytes as Uint8Array<ArrayBuffer>)
    : bytes.slice();
}

/**
 * Runs a task; per-scenario input errors are recorded in that scenario's record, not thrown. The frames'
 * buffers are transferred to the main thread with the result (piscina's `move`), not copied by structured
 * clone: the thread never touches a frame again after handing it over.
 */
export default function runPoolTask(task: PoolTask): PoolTaskResult {
  const transfer: ArrayBuffer[] = [];
  const result = runTask(task, transfer);
  return transfer.length === 0
    ? result
    : (move({ [transferableSymbol]: transfer, [valueSymbol]: result }) as unknown as PoolTaskResult);
}

function runTask(task: PoolTask, transfer: ArrayBuffer[]): PoolTaskResult {
  const startedAtMs = epochMs();
  const t0 = performance.now();
  const rec = new ThreadRecorder(task.trace);
  const sweep = sweepFor(task);
  const records: ScenarioRecord[] = [];
  const frames: EventFrame[] = [];
  const logs: ScenarioEventsRecord[] = [];
  const taskAttributes = {
    [Dmasim.POOL_TASK_START]: task.start,
    [Dmasim.POOL_TASK_END]: task.end,
    ...(task.submittedAtMs !== undefined
      ? { [Dmasim.POOL_WAIT_MS]: Math.max(0, startedAtMs - task.submittedAtMs) }
      : {}),
  };
  rec.run(SpanName.POOL_TASK, taskAttributes, () => {
    for (let i = task.start; i < task.end; i++) {
      const p = sweep.scenarioAt(i);
      const attributes = { [Dmasim.SCENARIO_ID]: p.id, [Dmasim.SCENARIO_INDEX]: i, [Dmasim.SCENARIO_SEED]: p.seed };
      rec.run(SpanName.SCENARIO, attributes, (span) => {
        try {
          const spec = validateScenario(p.scenario, `${sweep.id}#${i}`);
          let nFrames = 0;
          const summary = runScenario(spec, {
            scenarioId: p.id,
            attempt: task.attempt,
            validate: false,
            ...(task.events
              ? {
                  onFrame: (encoded, meta) => {
                    nFrames++;
                    const bytes = ownBuffer(encoded);
                    transfer.push(bytes.buffer);
                    frames.push({
                      scenarioId: p.id,
                      attempt: meta.attempt,
                      frameIndex: meta.frameIndex,
                      firstSeq: meta.firstSeq,
                      count: meta.count,
                      bytes,
                    });
                  },
                }
              : {}),
          });
          if (task.events) {
            logs.push({
              scenarioId: p.id,
              attempt: task.attempt,
              frames: nFrames,
              events: summary.eventCount,
              lastSeq: summary.eventCount - 1,
              stateHash: summary.stateHash,
            });
          }
          span.setAttribute(Dmasim.SCENARIO_EVENTS, summary.eventCount);
          records.push({ index: i, id: p.id, seed: p.seed, group: p.group, summary });
        } catch (e) {
          const err = toPlainError(e);
          if (err.code === 'INTERNAL') throw e; // a bug: fail the shard so it is retried and reported
          span.recordError(e);
          records.push({ index: i, id: p.id, seed: p.seed, group: p.group, error: err });
        }
      });
    }
  });
  return { records, frames, logs, busyMs: performance.now() - t0, spans: rec.take(), startedAtMs };
}
