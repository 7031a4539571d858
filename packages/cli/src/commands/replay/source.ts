/**
 * Where `dmasim replay` reads events from: a local event log (`events.dmlog`, or the output folder that
 * holds it with `scenarios.ndjson`), an NDJSON event file, or a sweep on NATS JetStream.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  EVENT_LOG_FILES,
  FileEventLog,
  type FrameFilter,
  JetStreamEventLog,
  parseScenarioRecords,
  readLogFileFrames,
  type ScenarioEventsRecord,
  type StoredFrame,
} from '@dmasim/adapters';
import { DmasimError, ErrorCode, parseEventsNdjson } from '@dmasim/core';
import { eventsAsFrames } from './replay-engine.ts';

/** An opened replay input. */
export interface ReplaySource {
  /** For messages: the file, or `nats://... sweep ID`. */
  readonly label: string;
  readonly kind: 'dmlog' | 'ndjson' | 'nats';
  /** Scenario records (which attempt counts, final hash), when the source has them. */
  readonly records: ReadonlyMap<string, ScenarioEventsRecord> | undefined;
  frames(filter?: FrameFilter): AsyncIterable<StoredFrame>;
  close(): Promise<void>;
}

function recordMap(list: readonly ScenarioEventsRecord[]): Map<string, ScenarioEventsRecord> {
  return new Map(list.map((r) => [r.scenarioId, r]));
}

function startsWithLogMagic(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(8);
    return readSync(fd, b, 0, 8, 0) === 8 && b.toString('latin1') === 'DMASIMEV';
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens a file or folder: a folder must hold `events.dmlog` (and may hold `scenarios.ndjson`); a file
 * is an event log (by its magic bytes; `scenarios.ndjson` beside it is used when present) or NDJSON.
 * @throws DmasimError INVALID_ARGUMENT (missing), EVENT_DECODE (neither format).
 */
export function openFileSource(path: string): ReplaySource {
  if (!existsSync(path)) throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `${path}: no such file or folder`);
  if (statSync(path).isDirectory()) {
    const log = new FileEventLog({ dir: path });
    if (!existsSync(log.eventsFile)) {
      throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `${path}: folder without ${EVENT_LOG_FILES.events}`);
    }
    const records = existsSync(log.scenariosFile)
      ? recordMap(parseScenarioRecords(readFileSync(log.scenariosFile, 'utf8'), log.scenariosFile))
      : undefined;
    return {
      label: log.eventsFile,
      kind: 'dmlog',
      records,
      frames: (f) => log.frames(undefined, f),
      close: () => log.close(),
    };
  }
  if (startsWithLogMagic(path)) {
    const beside = join(dirname(path), EVENT_LOG_FILES.scenarios);
    const records = existsSync(beside)
      ? recordMap(parseScenarioRecords(readFileSync(beside, 'utf8'), beside))
      : undefined;
    return {
      label: path,
      kind: 'dmlog',
      records,
      async *frames(filter: FrameFilter = {}) {
        for await (const f of readLogFileFrames(path, { allowTruncatedTail: false })) {
          if (filter.scenarioId !== undefined && f.meta.scenarioId !== filter.scenarioId) continue;
          yield f;
        }
      },
      close: async () => undefined,
    };
  }
  const text = readFileSync(path, 'utf8');
  const first = text.slice(0, 200).trimStart();
  if (!first.startsWith('{')) {
    throw new DmasimError(
      ErrorCode.EVENT_DECODE,
      `${path}: not an event log (expected the "DMASIMEV" magic of an events.dmlog or an NDJSON header line {"kind":"dmasim-events",...})`,
    );
  }
  const events = parseEventsNdjson(text, path);
  return {
    label: path,
    kind: 'ndjson',
    records: undefined,
    frames: () => eventsAsFrames(events, path),
    close: async () => undefined,
  };
}

/** Opens a sweep on JetStream (binding to the existing stream and bucket; nothing is created). */
export async function openNatsSource(
  url: string,
  sweepId: string,
  o: { stream?: string; bucket?: string; subjectPrefix?: string } = {},
): Promise<ReplaySource> {
  const log = await JetStreamEventLog.connect({
    url,
    create: false,
    name: 'dmasim-replay',
    ...(o.stream ? { stream: o.stream } : {}),
    ...(o.bucket ? { bucket: o.bucket } : {}),
    ...(o.subjectPrefix ? { subjectPrefix: o.subjectPrefix } : {}),
  });
  try {
    const records = recordMap(await log.scenarios(sweepId));
    return {
      label: `${url} sweep ${sweepId}`,
      kind: 'nats',
      records,
      frames: (f) => log.frames(sweepId, f),
      close: () => log.close(),
    };
  } catch (e) {
    await log.close();
    throw e;
  }
}
