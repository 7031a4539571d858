/**
 * Records the golden event log `test/golden/events-v1/` (events.dmlog + scenarios.ndjson) and its manifest
 * `test/golden/events-golden.json`. Run it only when the codec or schema version was raised on purpose:
 *
 *   node --conditions=@dmasim/source test/golden/events-record.ts
 *
 * and add a line to test/golden/events-CHANGES.md saying why the old log no longer replays. It refuses to
 * replace a log of an older codec that this build still reads (that log is the proof it does) unless
 * given --replace.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { eventFrameOf, FileEventLog } from '@dmasim/adapters';
import {
  CODEC_VERSION,
  decodeFrame,
  EVENT_LOG_VERSION,
  EVENT_SCHEMA_VERSION,
  eventsToNdjson,
  fnv1a64Hex,
  READABLE_CODEC_VERSIONS,
  referenceT1Spec,
  runScenario,
  type ScenarioSpec,
  type SimEvent,
  T1,
} from '@dmasim/core';

const dir = new URL('./events-v1/', import.meta.url).pathname;

/** The two golden scenarios: T1 with IOVA, per-range and dma-direct importers, churn and revokes. */
export function goldenScenarios(): { id: string; spec: ScenarioSpec }[] {
  const base = (seed: number): ScenarioSpec => ({
    kind: 'dmasim-scenario',
    version: 1,
    seed,
    topology: { inline: referenceT1Spec() },
    importers: [
      { device: T1.B },
      { device: T1.C },
      { device: T1.E, dmaMask: 32 },
      { device: T1.D, iommu: { mode: 'identity' } },
    ],
    exporters: [{ device: T1.A, bar: 1 }],
    workload: {
      buffers: {
        count: 4,
        size: { log2uniform: { min: '64KiB', max: '1GiB' } },
        ranges: { min: 1, max: 3 },
        fragmentation: 0.3,
      },
      operations: 120,
      churn: { revoke: 0.1 },
    },
    checkpointEvery: 25,
  });
  return [
    { id: 'golden-a', spec: base(11) },
    { id: 'golden-b', spec: { ...base(12), iommu: { mode: 'dma' } } },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // A golden log of an older codec that this build still reads is the proof that such logs replay.
  const manifestUrl = new URL('./events-golden.json', import.meta.url);
  const old = existsSync(manifestUrl)
    ? (JSON.parse(readFileSync(manifestUrl, 'utf8')) as { codecVersion?: number }).codecVersion
    : undefined;
  if (
    old !== undefined &&
    old !== CODEC_VERSION &&
    READABLE_CODEC_VERSIONS.includes(old) &&
    !process.argv.includes('--replace')
  ) {
    process.stderr.write(
      `events-record: the golden log is codec ${old}, which this build still reads (versions ${READABLE_CODEC_VERSIONS.join(', ')}): it proves that old logs replay. Re-record only when codec ${old} is no longer read, or pass --replace.\n`,
    );
    process.exit(2);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const log = new FileEventLog({ dir });
  const manifest: Record<string, unknown>[] = [];
  let all: SimEvent[] = [];
  for (const { id, spec } of goldenScenarios()) {
    const frames: Uint8Array[] = [];
    const s = runScenario(spec, { scenarioId: id, attempt: 1, frameEvents: 50, onFrame: (f) => frames.push(f) });
    await log.publish('golden', frames.map(eventFrameOf));
    await log.recordScenario('golden', {
      scenarioId: id,
      attempt: 1,
      frames: frames.length,
      events: s.eventCount,
      lastSeq: s.eventCount - 1,
      stateHash: s.stateHash,
    });
    const events = frames.flatMap((f) => decodeFrame(f).events);
    all = all.concat(events);
    manifest.push({ scenarioId: id, frames: frames.length, events: s.eventCount, stateHash: s.stateHash });
  }
  await log.close();
  const golden = {
    note: 'Recorded by test/golden/events-record.ts; see events-CHANGES.md before re-recording.',
    codecVersion: CODEC_VERSION,
    schemaVersion: EVENT_SCHEMA_VERSION,
    logVersion: EVENT_LOG_VERSION,
    scenarios: manifest,
    ndjsonHash: fnv1a64Hex(eventsToNdjson(all)),
  };
  writeFileSync(manifestUrl, `${JSON.stringify(golden, null, 2)}\n`);
  process.stdout.write(`recorded ${all.length} events in ${dir}\n`);
}
