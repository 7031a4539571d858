/**
 * Sweeps across worker processes against a real redis-server: the distributed run equals the embedded run
 * bit for bit; a worker killed with SIGKILL mid-shard still leaves every scenario's result exactly once; a
 * restarted coordinator resumes without duplicates; an invalid sweep file enqueues nothing.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ScenarioRecord, ShardResult } from '@dmasim/adapters';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ROOT, runCliProcess, spawnCli } from './helpers/cli.ts';
import { freePort, type RunningServer, startNats, startRedis } from './helpers/servers.ts';

const SWEEP = join(ROOT, 'test/fixtures/sweeps/small.yaml');
const SLOW = join(ROOT, 'test/fixtures/sweeps/slow.yaml');
let redis: RunningServer;
let work: string;
const children: ChildProcess[] = [];

before(async () => {
  redis = await startRedis();
  work = mkdtempSync(join(tmpdir(), 'dmasim-sweep-test-'));
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Resolves when a worker's /readyz answers 200 (it is taking jobs). */
async function ready(port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (
      await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await sleep(50);
  }
  throw new Error(`worker on health port ${port} not ready`);
}

/** Starts a worker and waits until it takes jobs. */
async function startReadyWorker(name: string, extra: string[] = []): Promise<ChildProcess> {
  const port = await freePort();
  const w = startWorker(name, ['--health-port', String(port), '--health-host', '127.0.0.1', ...extra]);
  await ready(port);
  return w;
}

function startWorker(name: string, extra: string[] = []): ChildProcess {
  const w = spawnCli([
    'worker',
    '--redis',
    redis.url,
    '--threads',
    '1',
    '--name',
    name,
    '--lock-duration',
    '3000',
    '--stalled-interval',
    '1000',
    ...extra,
  ]);
  let err = '';
  w.stderr?.on('data', (d) => {
    err += d;
  });
  w.on('exit', (code, sig) => {
    if (code !== 0 && sig !== 'SIGKILL' && sig !== 'SIGTERM')
      process.stderr.write(`worker ${name} exited ${code}: ${err}\n`);
  });
  children.push(w);
  return w;
}

/** Resolves when the child has exited (at once if it already has). */
function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((r) => c.once('exit', () => r()));
}

async function stopWorker(w: ChildProcess): Promise<void> {
  const done = exited(w);
  w.kill('SIGTERM');
  await done;
}

/** Every scenario record of a sweep in Redis, by scenario index. */
async function redisRecords(sweepId: string): Promise<{ shards: ShardResult[]; records: ScenarioRecord[] }> {
  const r = new Redis({ host: redis.host, port: redis.port });
  try {
    const all = await r.hgetall(`dmasim:sweep:{${sweepId}}:results`);
    const shards = Object.values(all).map((v) => JSON.parse(v) as ShardResult);
    return { shards, records: shards.flatMap((s) => s.scenarios).sort((a, b) => a.index - b.index) };
  } finally {
    r.disconnect();
  }
}

function fileRecords(out: string): ScenarioRecord[] {
  return readFileSync(join(out, 'results.ndjson'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => (JSON.parse(l) as ShardResult).scenarios)
    .sort((a, b) => a.index - b.index);
}

function reportWithoutRun(out: string): unknown {
  const r = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Record<string, unknown>;
  delete r.run;
  return r;
}

test('a sweep over two worker processes gives the same results as the embedded run, bit for bit', async () => {
  const embeddedOut = join(work, 'embedded');
  const e = await runCliProcess(['sweep', SWEEP, '--out', embeddedOut, '--threads', '2', '--no-progress']);
  assert.equal(e.code, 0, e.stderr);
  // Both workers take jobs before the sweep starts, so that both get shards however fast the machine is.
  const [w1, w2] = await Promise.all([startReadyWorker('w1'), startReadyWorker('w2')]);
  const distOut = join(work, 'distributed');
  const d = await runCliProcess(['sweep', SWEEP, '--redis', redis.url, '--out', distOut, '--no-progress']);
  assert.equal(d.code, 0, d.stderr);
  await Promise.all([stopWorker(w1), stopWorker(w2)]);
  const embedded = fileRecords(embeddedOut);
  const { shards, records } = await redisRecords('small');
  assert.ok(embedded.length > 0);
  assert.deepEqual(records, embedded, 'per-scenario results are identical');
  assert.deepEqual(reportWithoutRun(distOut), reportWithoutRun(embeddedOut), 'reports are identical');
  const workers = new Set(shards.map((s) => s.worker));
  assert.deepEqual([...workers].sort(), ['w1', 'w2'], 'both workers took shards');
});

test('kill -9 of a worker mid-shard: another worker retakes it and every scenario is stored exactly once', async () => {
  const victim = startWorker('victim');
  const coordinator = spawnCli([
    'sweep',
    SLOW,
    '--redis',
    redis.url,
    '--out',
    join(work, 'slow'),
    '--no-progress',
    '--max-in-flight',
    '4',
  ]);
  children.push(coordinator);
  let coordErr = '';
  coordinator.stderr?.on('data', (d) => {
    coordErr += d;
  });
  const q = new Queue('dmasim-shards', { connection: { host: redis.host, port: redis.port } });
  try {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && coordinator.exitCode === null && (await q.getActiveCount()) === 0) await sleep(50);
    assert.ok((await q.getActiveCount()) > 0, 'a shard is running on the victim');
    victim.kill('SIGKILL');
    const rescuer = startWorker('rescuer');
    await exited(coordinator);
    assert.equal(coordinator.exitCode, 0, coordErr);
    await stopWorker(rescuer);
  } finally {
    await q.close();
  }
  const { shards, records } = await redisRecords('slow');
  const sweepSize = records.length;
  assert.equal(new Set(records.map((r) => r.id)).size, sweepSize, 'no scenario is stored twice');
  assert.equal(new Set(shards.map((s) => s.shardIndex)).size, shards.length);
  assert.ok(
    shards.some((s) => s.worker === 'rescuer'),
    'the rescuer ran the killed shard',
  );
  const report = JSON.parse(readFileSync(join(work, 'slow', 'report.json'), 'utf8')) as {
    scenarios: { total: number };
  };
  assert.equal(report.scenarios.total, sweepSize);
});

test('a restarted coordinator resumes the sweep without duplicates', async () => {
  const w = startWorker('steady');
  const out = join(work, 'resume');
  const args = ['sweep', SLOW, '--redis', redis.url, '--out', out, '--no-progress', '--max-in-flight', '1'];
  // the sweep id is shared with the previous test's file: use a copy under a new id
  const first = spawnCli(args.map((a) => (a === SLOW ? SLOW.replace('slow.yaml', 'slow-resume.yaml') : a)));
  children.push(first);
  const r = new Redis({ host: redis.host, port: redis.port });
  try {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && first.exitCode === null && (await r.llen('dmasim:sweep:{slow-resume}:done')) < 1)
      await sleep(50);
    assert.equal(first.exitCode, null, 'the first coordinator is still running when it is killed');
    first.kill('SIGKILL');
    await exited(first);
  } finally {
    r.disconnect();
  }
  const second = await runCliProcess(args.map((a) => (a === SLOW ? SLOW.replace('slow.yaml', 'slow-resume.yaml') : a)));
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /shards resumed/);
  await stopWorker(w);
  const { shards, records } = await redisRecords('slow-resume');
  assert.equal(new Set(records.map((x) => x.id)).size, records.length);
  assert.equal(new Set(shards.map((s) => s.shardIndex)).size, shards.length);
});

test('an invalid sweep file fails fast with its line number and enqueues nothing', async () => {
  const bad = join(ROOT, 'test/fixtures/sweeps/invalid.yaml');
  const res = await runCliProcess(['sweep', bad, '--redis', redis.url, '--no-progress']);
  assert.equal(res.code, 3, res.stderr);
  assert.match(res.stderr, /invalid\.yaml:\d+:\d+/);
  const r = new Redis({ host: redis.host, port: redis.port });
  try {
    assert.deepEqual(await r.keys('dmasim:sweep:{bad-*'), []);
    assert.deepEqual(await r.keys('*bad-sweep*'), []);
  } finally {
    r.disconnect();
  }
});

test('a distributed sweep publishes every event to JetStream and replay --verify passes for every scenario', async () => {
  const nats = await startNats();
  try {
    const file = join(ROOT, 'test/fixtures/sweeps/small-nats.yaml');
    const w1 = startWorker('n1', ['--nats', nats.url]);
    const w2 = startWorker('n2', ['--nats', nats.url]);
    const d = await runCliProcess([
      'sweep',
      file,
      '--redis',
      redis.url,
      '--nats',
      nats.url,
      '--out',
      join(work, 'nats'),
      '--no-progress',
    ]);
    assert.equal(d.code, 0, d.stderr);
    await Promise.all([stopWorker(w1), stopWorker(w2)]);
    const r = await runCliProcess(['replay', '--nats', nats.url, '--sweep', 'small-nats', '--verify']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout + r.stderr, /all 18 state hashes match/);
  } finally {
    await nats.stop();
  }
});
