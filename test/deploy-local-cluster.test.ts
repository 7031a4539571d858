/**
 * deploy/local-cluster.sh end to end (Redis, NATS and three worker processes on loopback, a distributed
 * sweep, the trace summary), and the summary's own logic on hand-made spans.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { render, type SummarySpan, summarize } from '../deploy/local-cluster/trace-summary.ts';
import { ROOT } from './helpers/cli.ts';
import { ensureBinary } from './helpers/servers.ts';

const span = (id: string, parent: string | undefined, name: string, host: string, trace = 't1'): SummarySpan => ({
  signal: 'span',
  traceId: trace,
  spanId: id,
  ...(parent ? { parentSpanId: parent } : {}),
  name,
  durationMs: 500,
  attributes: name === 'dmasim.sweep' ? { 'dmasim.sweep.id': 's' } : {},
  resource: { 'service.name': host === 'coordinator' ? 'dmasim-coordinator' : 'dmasim-worker', 'host.name': host },
});

test('trace-summary: shards and scenarios per node, connected or not', () => {
  const spans = [
    span('r', undefined, 'dmasim.sweep', 'coordinator'),
    span('s', 'r', 'send dmasim-shards', 'coordinator'),
    span('p1', 's', 'process dmasim-shards', 'node-a'),
    span('p2', 's', 'process dmasim-shards', 'node-b'),
    span('c1', 'p1', 'dmasim.scenario', 'node-a'),
    span('c2', 'p2', 'dmasim.scenario', 'node-b'),
    span('c3', 'p2', 'dmasim.scenario', 'node-b'),
    span('x', 'r', 'other trace', 'node-a', 't2'),
  ];
  const [t] = summarize(spans);
  assert.ok(t);
  assert.equal(t.spans, 7);
  assert.equal(t.orphans, 0);
  assert.equal(t.roots, 1);
  assert.deepEqual(t.nodes, [
    { node: 'node-a', shards: 1, scenarios: 1, shardSeconds: 0.5 },
    { node: 'node-b', shards: 1, scenarios: 2, shardSeconds: 0.5 },
  ]);
  assert.match(render(t), /connected \(one root, every parent present\)/);
  const broken = summarize(spans.filter((s) => s.spanId !== 'p2'))[0]!;
  assert.equal(broken.orphans, 2);
  assert.match(render(broken), /NOT connected \(1 roots, 2 spans without their parent\)/);
});

test('deploy/local-cluster.sh: three workers on loopback share a sweep, and its trace shows it', async () => {
  ensureBinary('redis-server');
  ensureBinary('nats-server');
  const dir = mkdtempSync(join(tmpdir(), 'dmasim-local-cluster-'));
  try {
    const run = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const p = spawn(
        'bash',
        [join(ROOT, 'deploy/local-cluster.sh'), join(ROOT, 'test/fixtures/sweeps/small.yaml'), '--workers', '3'],
        {
          cwd: ROOT,
          env: { ...process.env, DMASIM_CLUSTER_DIR: dir, PATH: `${process.env.PATH}:/usr/sbin` },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      p.stdout.on('data', (d) => {
        out += d;
      });
      p.stderr.on('data', (d) => {
        out += d;
      });
      const timer = setTimeout(() => p.kill('SIGTERM'), 300_000);
      p.on('error', reject);
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /3 workers ready/);
    assert.match(
      run.out,
      /sweep small: trace [0-9a-f]{32}, \d+ spans from dmasim-coordinator, dmasim-worker; connected/,
    );
    const rows = [...run.out.matchAll(/^ {2}(node-[a-c]) +(\d+) +(\d+) /gm)].map((m) => ({
      node: m[1]!,
      shards: Number(m[2]),
      scenarios: Number(m[3]),
    }));
    assert.ok(rows.filter((r) => r.shards > 0).length >= 2, `at least two nodes ran shards:\n${run.out}`);
    assert.equal(
      rows.reduce((a, r) => a + r.shards, 0),
      6,
      'every shard once',
    );
    assert.equal(
      rows.reduce((a, r) => a + r.scenarios, 0),
      18,
      'every scenario once',
    );
    assert.deepEqual(readdirSync(join(dir, 'traces')).sort(), [
      'coordinator.jsonl',
      'node-a.jsonl',
      'node-b.jsonl',
      'node-c.jsonl',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
