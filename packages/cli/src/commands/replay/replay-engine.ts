/**
 * The replay engine behind `dmasim replay`: reads frames from an event log (file or JetStream), puts
 * each (scenario, attempt) back in order ({@link FrameAssembler}), rebuilds the simulator state from
 * the events with the core's {@link SimReducer}, checks that sequences are gapless, and, when verifying,
 * compares the rebuilt state hash with every checkpoint the run recorded (`sim.state_hash`, `sim.end`)
 * and with the scenario's record (KV / scenarios.ndjson). Only the recorded attempt of a scenario is
 * replayed when records exist (docs/EVENT-STREAM.md).
 */
import { FrameAssembler, type ScenarioEventsRecord, type StoredFrame } from '@dmasim/adapters';
import {
  DmasimError,
  decodeFrame,
  decodeFrameHeader,
  ErrorCode,
  encodeFrame,
  isDmasimError,
  type SimEvent,
  SimReducer,
} from '@dmasim/core';

/** Options of {@link replayFrames}. */
export interface ReplayOptions {
  /** Scenario records by id: when given, only each scenario's recorded attempt is replayed. */
  readonly records?: ReadonlyMap<string, ScenarioEventsRecord>;
  /** Only this scenario. */
  readonly scenarioId?: string;
  /** Compare rebuilt state hashes with the recorded ones. */
  readonly verify?: boolean;
  /** Stop each scenario after the event with this seq (inclusive). */
  readonly until?: number;
  /** Receives every replayed event (after it was applied). */
  readonly onEvent?: (e: SimEvent, attempt: number) => void;
}

/** Why a scenario's replay failed. */
export interface ReplayProblem {
  readonly code: string;
  readonly message: string;
  /** First event known to diverge (or to be missing). */
  readonly seq?: number;
  readonly type?: string;
  /** Last seq whose state was verified equal (a checkpoint), -1 for the start. */
  readonly lastGoodSeq?: number;
}

/** The replay of one scenario. */
export interface ScenarioReplay {
  readonly scenarioId: string;
  readonly attempt: number;
  readonly frames: number;
  /** Events applied. */
  readonly events: number;
  /** Hash of the rebuilt state after the last applied event. */
  readonly stateHash: string;
  /** The hash `sim.end` recorded, or null when the log has no `sim.end` (or replay stopped before it). */
  readonly endHash: string | null;
  /** Checkpoints compared (with verify). */
  readonly checkpoints: number;
  readonly record: ScenarioEventsRecord | null;
  /** Stopped by `until` before the end. */
  readonly stoppedAt: number | null;
  readonly problem: ReplayProblem | null;
}

/** What a replay found. */
export interface ReplayReport {
  readonly scenarios: ScenarioReplay[];
  readonly frames: number;
  readonly events: number;
  /** Frames of attempts that no record names (superseded or half-published attempts). */
  readonly skippedFrames: number;
  /** Exact duplicate frames dropped. */
  readonly duplicateFrames: number;
  /** Bytes of frames read. */
  readonly bytes: number;
  readonly ok: boolean;
}

class AttemptReplay {
  readonly reducer = new SimReducer();
  frames = 0;
  events = 0;
  checkpoints = 0;
  lastGoodSeq = -1;
  endHash: string | null = null;
  stoppedAt: number | null = null;
  done = false;
  problem: ReplayProblem | null = null;
  finalHash: string | null = null;
  readonly scenarioId: string;
  readonly attempt: number;
  constructor(scenarioId: string, attempt: number) {
    this.scenarioId = scenarioId;
    this.attempt = attempt;
  }

  apply(e: SimEvent, o: ReplayOptions): void {
    if (this.done || this.problem) return;
    if (o.until !== undefined && e.seq > o.until) {
      this.stoppedAt = o.until;
      this.done = true;
      return;
    }
    if (e.type === 'sim.state_hash' || e.type === 'sim.end') {
      if (e.type === 'sim.end') this.endHash = e.data.stateHash;
      if (o.verify) {
        const h = this.reducer.stateHash();
        if (h !== e.data.stateHash) {
          this.problem = {
            code: ErrorCode.STATE_HASH_MISMATCH,
            message: `state hash ${h} rebuilt before seq ${e.seq} (${e.type}), the run recorded ${e.data.stateHash}; the first divergent event lies in seq ${this.lastGoodSeq + 1}..${e.seq - 1}`,
            seq: this.lastGoodSeq + 1,
            type: e.type,
            lastGoodSeq: this.lastGoodSeq,
          };
          return;
        }
        this.checkpoints++;
        this.lastGoodSeq = e.seq - 1;
      }
    }
    try {
      this.reducer.apply(e);
    } catch (err) {
      if (!isDmasimError(err)) throw err;
      this.problem = {
        code: err.code,
        message: `event seq ${e.seq} (${e.type}) cannot be applied: ${err.message}`,
        seq: e.seq,
        type: e.type,
        lastGoodSeq: this.lastGoodSeq,
      };
      return;
    }
    this.events++;
    o.onEvent?.(e, this.attempt);
    if (e.type === 'sim.end') this.done = true;
  }

  finish(): string {
    this.finalHash ??= this.reducer.stateHash();
    return this.finalHash;
  }
}

const key = (s: string, a: number): string => `${s}\u0000${a}`;

/**
 * Replays frames (in any order; duplicates allowed) and reports per scenario.
 * @throws DmasimError EVENT_DECODE / EVENT_VERSION for undecodable frames; gaps and hash mismatches are
 * reported in the result, not thrown.
 */
export async function replayFrames(frames: AsyncIterable<StoredFrame>, o: ReplayOptions = {}): Promise<ReplayReport> {
  const asm = new FrameAssembler();
  const live = new Map<string, AttemptReplay>();
  let nFrames = 0;
  let nEvents = 0;
  let skipped = 0;
  let bytes = 0;
  const gaps: ReplayProblem[] = [];
  const gapByKey = new Map<string, ReplayProblem>();
  for await (const f of frames) {
    const m = f.meta;
    if (o.scenarioId !== undefined && m.scenarioId !== o.scenarioId) continue;
    if (o.records) {
      const rec = o.records.get(m.scenarioId);
      if (!rec || rec.attempt !== m.attempt) {
        skipped++;
        continue;
      }
    }
    const k = key(m.scenarioId, m.attempt);
    if (gapByKey.has(k)) continue;
    bytes += f.bytes.length;
    let ready: StoredFrame[];
    try {
      ready = asm.add(f);
    } catch (e) {
      if (!isDmasimError(e) || (e.code !== ErrorCode.EVENT_SEQ_GAP && e.code !== ErrorCode.EVENT_DECODE)) throw e;
      const p = { code: e.code, message: e.message };
      gapByKey.set(k, p);
      gaps.push(p);
      continue;
    }
    for (const r of ready) {
      nFrames++;
      let st = live.get(k);
      if (!st) {
        st = new AttemptReplay(m.scenarioId, m.attempt);
        live.set(k, st);
      }
      st.frames++;
      if (st.done || st.problem) continue;
      const { events } = decodeFrame(r.bytes, r.source);
      for (let i = 0; i < events.length; i++) st.apply(events[i]!, o);
      nEvents += events.length;
    }
  }

  // Which attempt stands for each scenario.
  const chosen = new Map<string, AttemptReplay>();
  for (const st of live.values()) {
    const rec = o.records?.get(st.scenarioId);
    if (rec) {
      if (rec.attempt === st.attempt) chosen.set(st.scenarioId, st);
      continue;
    }
    const prev = chosen.get(st.scenarioId);
    const complete = (x: AttemptReplay) => x.endHash !== null || x.stoppedAt !== null;
    if (!prev || (complete(st) && (!complete(prev) || st.attempt > prev.attempt))) chosen.set(st.scenarioId, st);
  }
  const out: ScenarioReplay[] = [];
  const wanted = new Set<string>(chosen.keys());
  if (o.records) {
    for (const id of o.records.keys()) if (o.scenarioId === undefined || id === o.scenarioId) wanted.add(id);
  }
  for (const id of [...wanted].sort()) {
    const st = chosen.get(id);
    const rec = o.records?.get(id) ?? null;
    const attempt = st?.attempt ?? rec?.attempt ?? 0;
    const assembled = asm.attempt(id, attempt);
    let problem: ReplayProblem | null = st?.problem ?? gapByKey.get(key(id, attempt)) ?? null;
    if (!problem && !st) {
      problem = {
        code: ErrorCode.EVENT_SEQ_GAP,
        message: `no frame of attempt ${attempt} found (the record names ${rec?.frames ?? '?'} frames)`,
        seq: 0,
      };
    }
    if (!problem && assembled && assembled.pending.length > 0) {
      problem = {
        code: ErrorCode.EVENT_SEQ_GAP,
        message: `frame ${assembled.frames} is missing (frames ${assembled.pending.join(', ')} arrived after the gap)`,
        seq: assembled.events,
      };
    }
    if (!problem && st && st.stoppedAt === null) {
      if (st.endHash === null) {
        problem = {
          code: ErrorCode.EVENT_SEQ_GAP,
          message: `the log ends at seq ${st.events - 1} without sim.end (truncated, or the run did not finish)`,
          seq: st.events,
        };
      } else if (rec && (rec.frames !== st.frames || rec.events !== st.events || rec.lastSeq !== st.events - 1)) {
        problem = {
          code: ErrorCode.EVENT_SEQ_GAP,
          message: `the record says ${rec.frames} frames / ${rec.events} events (last seq ${rec.lastSeq}), the log has ${st.frames} / ${st.events}`,
          seq: Math.min(rec.events, st.events),
        };
      } else if (o.verify && rec && rec.stateHash !== st.endHash) {
        problem = {
          code: ErrorCode.STATE_HASH_MISMATCH,
          message: `the record's state hash ${rec.stateHash} differs from the log's sim.end ${st.endHash}`,
          seq: st.events - 1,
          type: 'sim.end',
        };
      }
    }
    out.push({
      scenarioId: id,
      attempt,
      frames: st?.frames ?? 0,
      events: st?.events ?? 0,
      stateHash: st ? st.finish() : '',
      endHash: st?.endHash ?? null,
      checkpoints: st?.checkpoints ?? 0,
      record: rec,
      stoppedAt: st?.stoppedAt ?? null,
      problem,
    });
  }
  for (const g of gaps) {
    if (!out.some((s) => s.problem === g)) {
      // A gap in an attempt that no scenario stands for (e.g. superseded): still worth reporting.
      out.push({
        scenarioId: (g.message.match(/scenario (\S+)/) ?? [])[1] ?? '?',
        attempt: -1,
        frames: 0,
        events: 0,
        stateHash: '',
        endHash: null,
        checkpoints: 0,
        record: null,
        stoppedAt: null,
        problem: g,
      });
    }
  }
  return {
    scenarios: out,
    frames: nFrames,
    events: nEvents,
    skippedFrames: skipped,
    duplicateFrames: asm.duplicates,
    bytes,
    ok: out.every((s) => s.problem === null),
  };
}

/** Frames from an in-memory list of events (an NDJSON file): one frame per scenario, attempt 0. */
export async function* eventsAsFrames(events: readonly SimEvent[], source: string): AsyncGenerator<StoredFrame> {
  const byScenario = new Map<string, SimEvent[]>();
  for (const e of events) {
    const list = byScenario.get(e.scenarioId) ?? [];
    list.push(e);
    byScenario.set(e.scenarioId, list);
  }
  for (const [scenarioId, list] of byScenario) {
    if (list[0]?.seq !== 0) {
      throw new DmasimError(ErrorCode.EVENT_SEQ_GAP, `${source}: scenario ${scenarioId} does not start at seq 0`);
    }
    const bytes = encodeFrame(list, { scenarioId, attempt: 0, frameIndex: 0 });
    yield { meta: decodeFrameHeader(bytes), bytes, source };
  }
}
