/**
 * Replays the golden event log committed under test/golden/: an encoding change that breaks old logs
 * fails here, unless the codec/schema/log version was raised and test/golden/events-CHANGES.md says why.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FileEventLog } from '@dmasim/adapters';
import {
  CODEC_VERSION,
  decodeFrame,
  EVENT_LOG_VERSION,
  EVENT_SCHEMA_VERSION,
  eventsToNdjson,
  fnv1a64Hex,
  type SimEvent,
} from '@dmasim/core';
import { replayFrames } from '../packages/cli/src/commands/replay/replay-engine.ts';

const dir = new URL('./golden/events-v1/', import.meta.url).pathname;
const golden = JSON.parse(readFileSync(new URL('./golden/events-golden.json', import.meta.url), 'utf8')) as {
  codecVersion: number;
  schemaVersion: number;
  logVersion: number;
  scenarios: { scenarioId: string; frames: number; events: number; stateHash: string }[];
  ndjsonHash: string;
};

test('the golden log was recorded with the current versions, or the change is explained', () => {
  const same =
    golden.codecVersion === CODEC_VERSION &&
    golden.schemaVersion === EVENT_SCHEMA_VERSION &&
    golden.logVersion === EVENT_LOG_VERSION;
  if (!same) {
    const changes = readFileSync(new URL('./golden/events-CHANGES.md', import.meta.url), 'utf8');
    const row = `| ${CODEC_VERSION} | ${EVENT_SCHEMA_VERSION} | ${EVENT_LOG_VERSION} |`;
    assert.ok(
      changes.includes(row),
      `the golden log has codec ${golden.codecVersion} schema ${golden.schemaVersion} log ${golden.logVersion}, this build writes ${CODEC_VERSION}/${EVENT_SCHEMA_VERSION}/${EVENT_LOG_VERSION}: re-record with node --conditions=@dmasim/source test/golden/events-record.ts and add the row "${row} why |" to test/golden/events-CHANGES.md`,
    );
  }
});

test('the golden log decodes to exactly the recorded events and replays to the recorded state hashes', async () => {
  const log = new FileEventLog({ dir });
  const events: SimEvent[] = [];
  for await (const f of log.frames()) events.push(...decodeFrame(f.bytes, f.source).events);
  assert.equal(
    events.length,
    golden.scenarios.reduce((s, x) => s + x.events, 0),
  );
  assert.equal(fnv1a64Hex(eventsToNdjson(events)), golden.ndjsonHash, 'decoded events differ from the recording');
  const records = new Map((await log.scenarios()).map((r) => [r.scenarioId, r]));
  const report = await replayFrames(log.frames(), { records, verify: true });
  assert.equal(report.ok, true, JSON.stringify(report.scenarios.map((s) => s.problem)));
  assert.deepEqual(
    report.scenarios.map((s) => ({
      scenarioId: s.scenarioId,
      frames: s.frames,
      events: s.events,
      stateHash: s.stateHash,
    })),
    golden.scenarios,
  );
  assert.ok(
    report.scenarios.every((s) => s.checkpoints > 1),
    'checkpoints inside the run were verified too',
  );
  await log.close();
});
