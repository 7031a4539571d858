/**
 * Kernel ftrace import: the fixtures of test/fixtures/ftrace/ (README there) are parsed in all three text
 * forms, reconstructed (IOVA mode, per-range under the IOMMU with its error path, dma-direct, BUS_ADDR
 * attach/detach), checked against the T1 topology and re-driven by the scenario runner.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  barOwner,
  buildTopology,
  checkTrace,
  compareRedrive,
  parseFtrace,
  reconstructMappings,
  runScenario,
  type SimEvent,
  type TopologySpec,
  traceToScenario,
} from '@dmasim/core';
import { parse } from 'yaml';

const fx = (f: string) => `test/fixtures/ftrace/${f}`;
const read = (f: string) => readFileSync(fx(f), 'utf8');
const topoSpec = JSON.parse(read('t1-iommu.json')) as TopologySpec;
const topology = buildTopology(topoSpec, fx('t1-iommu.json'));
const tmp = mkdtempSync(join(tmpdir(), 'dmasim-ftrace-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const isMmio = (p: bigint) => barOwner(topology, p) !== null;

test('the trace and trace-cmd report forms parse to the same events', () => {
  const a = parseFtrace(read('mixed-6x.trace'), 'mixed-6x.trace');
  const b = parseFtrace(read('mixed-6x.trace-cmd.txt'), 'mixed-6x.trace-cmd.txt');
  assert.equal(a.records.length, 37);
  assert.equal(b.traceCmd, true);
  const strip = (r: (typeof a.records)[number]) => {
    const { line: _l, tgid: _t, flags: _f, ...rest } = r;
    return rest;
  };
  assert.deepEqual(b.records.map(strip), a.records.map(strip));
  assert.deepEqual(a.otherEvents, { sched_switch: 1 });
  const first = a.records[0]!;
  assert.equal(first.comm, 'python3');
  assert.equal(first.tgid, 3977);
  assert.equal(first.flags, '.....');
  assert.equal(first.tNs, 5123_001_000_000);
  const worker = a.records.find((r) => r.pid === 4412)!;
  assert.equal(worker.comm, 'rdma-ctl worker', 'a comm with a space');
  assert.equal(worker.tgid, 4410);
  assert.ok(
    a.records.some((r) => r.comm === 'ib-write-bw'),
    'a comm with dashes splits at the last dash',
  );
  assert.ok(a.records.some((r) => r.flags === 'd..1.'));
});

test('reconstruction: IOVA mode, per-range under the IOMMU (with its error path), dma-direct, BUS_ADDR attach', () => {
  const cap = parseFtrace(read('mixed-6x.trace'), 'mixed-6x.trace');
  const r = reconstructMappings(cap.records, { isMmio });
  assert.equal(r.dmabufs.length, 3);
  assert.equal(r.attachments.length, 5);
  assert.ok(r.attachments.every((a) => a.detachLine !== null));
  assert.deepEqual(r.foreign, { map: 1, unmap: 1, dma: 0 }, "another driver's RAM mapping is not ours");
  const modes = r.mappings.map((m) => [m.mode, m.importer, m.attachmentId, m.failed]);
  assert.deepEqual(modes, [
    ['iova', '0000:08:00.0', 1, false],
    ['per_range_iommu', '0000:81:00.0', 3, true],
    ['direct', '0000:00:14.0', 4, false],
    ['iova', '0000:08:00.0', 5, false],
  ]);
  const [m1, m2, m3, m4] = r.mappings;
  assert.equal(m1!.iovaBase, 0xffe00000n);
  assert.deepEqual(
    m2!.ranges.map((x) => x.dmaAddr),
    [0x80000000n, 0x40000000n, 0xffffffffffffffffn],
  );
  assert.equal(m2!.unmapLines, 3, 'the error path unmaps every entry, the unfilled {0, 0} one too');
  assert.ok(m3!.ranges.every((x) => x.dmaAddr === x.paddr));
  assert.equal(m4!.ranges.length, 2, 'two ranges linked at one IOVA (hazard 3.8-1)');
  assert.equal(m4!.shortUnmap, true);
});

test('check against the topology: everything matches; a wrong IOMMU mode in the topology is a mismatch', () => {
  const cap = parseFtrace(read('mixed-6x.trace'), 'mixed-6x.trace');
  const r = reconstructMappings(cap.records, { isMmio });
  const c = checkTrace(r, topology);
  assert.equal(c.mismatches, 0, c.findings.map((f) => f.text).join('\n'));
  assert.equal(c.matches, 5);
  assert.ok(
    c.findings.some(
      (f) => f.level === 'match' && /0000:04:00.0: no mapping lines; dmasim predicts BUS_ADDR/.test(f.text),
    ),
  );
  const wrong = structuredClone(topoSpec);
  for (const f of wrong.functions) if (f.bdf === '0000:00:14.0') f.iommuDomain = 'DMA_FQ';
  const c2 = checkTrace(r, buildTopology(wrong, 'wrong'));
  assert.equal(c2.mismatches, 1);
  assert.match(
    c2.findings.find((f) => f.level === 'mismatch')!.text,
    /default domain is dma-fq .* the capture shows direct/,
  );
});

test('re-drive: the capture as a scenario reproduces the kernel modes and addresses; under iommu=pt it maps per range', () => {
  const cap = parseFtrace(read('mixed-6x.trace'), 'mixed-6x.trace');
  const r = reconstructMappings(cap.records, { isMmio });
  const sc = traceToScenario(r, topology, { inline: topoSpec });
  const ops = sc.spec.workload!.trace as { ops: { op: string }[] };
  assert.deepEqual(ops.ops.map((o) => o.op).filter((o) => o === 'map').length, 4);
  const events: SimEvent[] = [];
  runScenario(sc.spec, { scenarioId: 'redrive', onEvent: (e) => events.push(e) });
  const cmp = compareRedrive(r, sc.mapOps, events);
  assert.deepEqual(
    cmp.map((x) => x.ok),
    [true, true, true, true],
    cmp.map((x) => x.text).join('\n'),
  );
  // The same operations under another configuration: passthrough everywhere.
  const pt: typeof sc.spec = { ...sc.spec, iommu: { mode: 'identity' } };
  const ev2: SimEvent[] = [];
  runScenario(pt, { scenarioId: 'pt', onEvent: (e) => ev2.push(e) });
  const modes = ev2.filter((e) => e.type === 'dmabuf.map.end').map((e) => (e as SimEvent<'dmabuf.map.end'>).data.mode);
  assert.deepEqual(modes, ['per_range', 'per_range', 'per_range', 'per_range']);
});

test('an older kernel capture (dma_map_resource names, iommu lines without the end address, no dma_buf events)', () => {
  const cap = parseFtrace(read('trace-pipe-old.txt'), 'trace-pipe-old.txt');
  assert.ok(
    cap.records.every((r) => r.flags === null),
    'irq-info off: no flags column',
  );
  const r = reconstructMappings(cap.records, { isMmio });
  assert.deepEqual(
    r.mappings.map((m) => [m.mode, m.importer, m.unmapLine !== null]),
    [
      ['per_range_iommu', '0000:81:00.0', true],
      ['direct', '0000:00:14.0', true],
    ],
  );
  const sc = traceToScenario(r, topology, { inline: topoSpec });
  assert.equal(sc.assumed.filter((a) => /synthesised/.test(a)).length, 2);
  const events: SimEvent[] = [];
  runScenario(sc.spec, { scenarioId: 'old', onEvent: (e) => events.push(e) });
  assert.equal(events.filter((e) => e.type === 'dmabuf.map.end').length, 2);
});

test('malformed, truncated and lost-event lines fail with file:line, or are skipped with --lenient', () => {
  const text = read('broken.trace');
  assert.throws(() => parseFtrace(text, 'broken.trace'), /broken\.trace:21: not an ftrace event line/);
  const cap = parseFtrace(text, 'broken.trace', { lenient: true });
  assert.deepEqual(
    cap.problems.map((p) => [p.line, p.kind]),
    [
      [21, 'malformed'],
      [26, 'bad_payload'],
      [31, 'lost_events'],
      [text.split('\n').length, 'truncated'],
    ],
  );
  assert.equal(cap.lostEvents, 17);
  assert.equal(cap.records.length, 37);
});

test('dmasim replay --ftrace: --check, --to-scenario and --rerun from the command line', () => {
  const out = join(tmp, 'redrive.yaml');
  const run = (...a: string[]) =>
    spawnSync(process.execPath, ['packages/cli/bin/dmasim.js', 'replay', '--ftrace', ...a], {
      encoding: 'utf8',
      env: { ...process.env, DMASIM_FROM_SOURCE: '1' },
    });
  const r = run(fx('mixed-6x.trace'), '--topology', fx('t1-iommu.json'), '--check', '--to-scenario', out, '--rerun');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /check against .*: 5 match, 0 mismatch/);
  assert.match(r.stdout, /re-drive on .*: 4 of 4 mappings with the kernel's mode and addresses/);
  const sc = parse(readFileSync(out, 'utf8')) as { kind: string; topology: { file: string } };
  assert.equal(sc.kind, 'dmasim-scenario');
  assert.match(sc.topology.file, /t1-iommu\.json$/);
  const bad = run(fx('broken.trace'));
  assert.equal(bad.status, 3);
  assert.match(bad.stderr, /TRACE_PARSE: .*broken\.trace:21/);
  const lenient = run(fx('broken.trace'), '--lenient');
  assert.equal(lenient.status, 0);
  assert.match(lenient.stdout, /skipped .*broken\.trace:31: lost_events/);
  assert.equal(run(fx('mixed-6x.trace'), '--check').status, 2, '--check needs --topology');
});
