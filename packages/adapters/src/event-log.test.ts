import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileEventLog, type ScenarioEventsRecord } from './event-log.ts';

const rec = (scenarioId: string, attempt: number): ScenarioEventsRecord => ({
  scenarioId,
  attempt,
  frames: 1,
  events: 3,
  lastSeq: 2,
  stateHash: '0123456789abcdef',
});

test('FileEventLog.recordScenarios appends every record in one write; the latest record of a scenario wins', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dmasim-evlog-'));
  try {
    const log = new FileEventLog({ dir, fsync: false });
    await log.recordScenarios('sw', [rec('a', 1), rec('b', 1)]);
    await log.recordScenarios('sw', []);
    await log.recordScenario('sw', rec('a', 2));
    await log.recordScenarios('other', [rec('c', 1)]);
    assert.equal(log.stats.records, 4);
    const lines = readFileSync(log.scenariosFile, 'utf8').trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).scenarioId),
      ['a', 'b', 'a', 'c'],
    );
    assert.deepEqual(
      (await log.scenarios('sw')).map((r) => [r.scenarioId, r.attempt]),
      [
        ['a', 2],
        ['b', 1],
      ],
    );
    // A bad record is refused before anything of the batch is written.
    await assert.rejects(log.recordScenarios('sw', [rec('d', 1), { ...rec('e', 1), attempt: -1 }]), {
      code: 'INVALID_ARGUMENT',
    });
    assert.equal(readFileSync(log.scenariosFile, 'utf8').trimEnd().split('\n').length, 4);
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
