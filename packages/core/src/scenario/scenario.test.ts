import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SimEvent } from '../events/event-schema.ts';
import { decodeFrame, type FrameMeta } from '../events/frame-codec.ts';
import { replayEvents } from '../events/reducer.ts';
import { referenceT1Spec, T1 } from '../topology/reference-t1.ts';
import { parseByteCount } from './byte-count.ts';
import { parseScenarioFile, resolveScenarioTopology, validateScenario } from './parse-scenario.ts';
import { DEFAULT_FRAME_EVENTS, runScenario } from './run-scenario.ts';
import type { ScenarioSpec } from './scenario-spec.ts';
import { traceOpsFromEvents } from './trace-ops.ts';

const YAML = `kind: dmasim-scenario
version: 1
name: t1 churn
seed: 42
topology:
  file: t1.json
iommu:
  mode: dma-fq
importers:
  - device: "0000:04:00.0"
  - device: "0000:08:00.0"
    dmaMask: 32
exporters:
  - device: "0000:03:00.0"
    bar: 1
workload:
  buffers:
    count: 4
    size: { uniform: { min: 64KiB, max: 64MiB } }
    ranges: { min: 1, max: 3 }
  operations: 50
`;

function t1Scenario(over: Partial<ScenarioSpec> = {}): ScenarioSpec {
  return {
    kind: 'dmasim-scenario',
    version: 1,
    seed: 7,
    topology: { inline: referenceT1Spec() },
    importers: [
      { device: T1.B },
      { device: T1.C },
      { device: T1.E, dmaMask: 32 },
      { device: T1.D, iommu: { mode: 'identity' } },
    ],
    exporters: [{ device: T1.A }],
    workload: {
      buffers: {
        count: 6,
        size: { log2uniform: { min: '64KiB', max: '1GiB' } },
        ranges: { min: 1, max: 3 },
        fragmentation: 0.3,
      },
      operations: 200,
      churn: { revoke: 0.2 },
    },
    ...over,
  };
}

test('a YAML scenario parses; file references resolve through the caller', () => {
  const spec = parseScenarioFile(YAML, 's.yaml');
  assert.equal(spec.seed, 42);
  assert.deepEqual(spec.topology, { file: 't1.json' });
  const resolved = resolveScenarioTopology(spec, (f) => {
    assert.equal(f, 't1.json');
    return referenceT1Spec();
  });
  assert.ok('inline' in resolved.topology);
  assert.ok('file' in spec.topology, 'the input is not modified');
  assert.throws(() => runScenario(spec), /names the file "t1\.json": resolve it first/);
  const s = runScenario(resolved);
  assert.equal(s.seed, 42);
  assert.ok(s.eventCount > 50);
});

test('scenario errors name file:line:col, the field and what was expected', () => {
  assert.throws(
    () => parseScenarioFile(YAML.replace('mode: dma-fq', 'mode: dma-lazy'), 's.yaml'),
    /s\.yaml:8:9: \/iommu\/mode: expected one of "off", "identity", "dma", "dma-fq"/,
  );
  assert.throws(
    () => parseScenarioFile(YAML.replace('    bar: 1', '    bar: 1\n    colour: red'), 's.yaml'),
    /s\.yaml:16:13: \/exporters\/0: unknown field "colour"/,
  );
  assert.throws(
    () => parseScenarioFile(YAML.replace('max: 64MiB', 'max: 64MB'), 's.yaml'),
    /s\.yaml:19:41 \(\/workload\/buffers\/size\/uniform\/max\): expected a byte count such as 4096, "0x200000" or "2MiB", found "64MB"/,
  );
  assert.throws(
    () => parseScenarioFile(YAML.replace('max: 64MiB', 'max: 32KiB'), 's.yaml'),
    /s\.yaml:19:41 \(\/workload\/buffers\/size\/uniform\/max\): expected max >= min \(65536\)/,
  );
  assert.throws(
    () => parseScenarioFile(YAML.replace('seed: 42', 'seed: -1'), 's.yaml'),
    /s\.yaml:4:7: \/seed: expected >= 0/,
  );
  assert.throws(() => parseScenarioFile('kind: [', 's.yaml'), /s\.yaml:1:\d+: not valid YAML\/JSON/);
  assert.throws(
    () => validateScenario({ ...t1Scenario(), importers: [] }, 'sweep#3'),
    /sweep#3.*\/importers: expected/,
  );
  assert.throws(
    () => validateScenario({ ...t1Scenario(), importers: [{ device: T1.B, dynamic: false, peer2peer: true }] }, 'x'),
    /x \(\/importers\/0\/peer2peer\): a static importer/,
  );
  assert.throws(
    () => runScenario(t1Scenario({ importers: [{ device: '0000:99:00.0' }] })),
    /importers\[0\]\.device.*not in topology reference-t1/,
  );
});

test('byte counts', () => {
  assert.equal(parseByteCount(4096), 4096n);
  assert.equal(parseByteCount('0x200000'), 0x200000n);
  assert.equal(parseByteCount('1.5GiB'), 3n << 29n);
  assert.equal(parseByteCount('64 KiB'), 65536n);
  assert.throws(() => parseByteCount('1.0000001KiB'), /not a whole number of bytes/);
  assert.throws(() => parseByteCount(-1), /whole number/);
});

test('frames are cut at the event count or the byte bound, whichever comes first, and hold every event once', () => {
  const cut = (o: { frameEvents?: number; maxFrameBytes?: number }) => {
    const metas: FrameMeta[] = [];
    const frames: Uint8Array[] = [];
    const s = runScenario(t1Scenario(), {
      scenarioId: 'r',
      ...o,
      onFrame: (f, m) => {
        frames.push(f);
        metas.push(m);
      },
    });
    return { s, frames, metas };
  };
  const byCount = cut({ frameEvents: 100 });
  assert.ok(byCount.metas.slice(0, -1).every((m) => m.count === 100));
  const byBytes = cut({ frameEvents: 1_000_000, maxFrameBytes: 2048 });
  assert.ok(byBytes.frames.length > 1);
  // Each frame but the last passed the bound with its last event, and not before it.
  for (const m of byBytes.metas.slice(0, -1)) assert.ok(m.byteLength - 64 < 2048 + 1024, `${m.byteLength}`);
  for (const r of [byCount, byBytes]) {
    let seq = 0;
    r.metas.forEach((m, i) => {
      assert.equal(m.frameIndex, i);
      assert.equal(m.firstSeq, seq);
      seq += m.count;
    });
    assert.equal(seq, r.s.eventCount);
  }
  // The default (DEFAULT_FRAME_EVENTS events or 256 KiB) on this short run: one frame.
  assert.equal(DEFAULT_FRAME_EVENTS, 4000);
  assert.equal(cut({}).frames.length, Math.ceil(byCount.s.eventCount / 4000));
});

test('runs are exactly reproducible: same spec, same summary and byte-identical frames; another seed differs', () => {
  const frames = (spec: ScenarioSpec) => {
    const out: Uint8Array[] = [];
    const s = runScenario(spec, { scenarioId: 'r', onFrame: (f) => out.push(f), frameEvents: 100 });
    return { s, out };
  };
  const a = frames(t1Scenario());
  const b = frames(t1Scenario());
  assert.deepEqual(a.s, b.s);
  assert.equal(a.out.length, b.out.length);
  for (let i = 0; i < a.out.length; i++) assert.deepEqual(a.out[i], b.out[i]);
  // With an onEvent consumer every event is built as an object first; the frames are the same bytes.
  const objects: Uint8Array[] = [];
  runScenario(t1Scenario(), { scenarioId: 'r', frameEvents: 100, onFrame: (f) => objects.push(f), onEvent: () => {} });
  assert.deepEqual(objects, a.out);
  const c = runScenario(t1Scenario({ seed: 8 }), { scenarioId: 'r' });
  assert.notEqual(c.stateHash, a.s.stateHash);
  assert.equal(JSON.parse(JSON.stringify(a.s)).stateHash, a.s.stateHash, 'the summary is JSON-safe');
});

test('frames carry every event, in order, and a replay of them reproduces the final state hash', () => {
  const seen: SimEvent[] = [];
  const decoded: SimEvent[] = [];
  let next = 0;
  const s = runScenario(t1Scenario(), {
    scenarioId: 'frames',
    attempt: 2,
    frameEvents: 64,
    onEvent: (e) => seen.push(e),
    onFrame: (f, meta) => {
      const d = decodeFrame(f);
      assert.deepEqual(d.meta, meta);
      assert.equal(meta.firstSeq, next);
      assert.equal(meta.attempt, 2);
      assert.ok(meta.count <= 64);
      next += meta.count;
      decoded.push(...d.events);
    },
  });
  assert.equal(decoded.length, s.eventCount);
  assert.equal(seen.length, s.eventCount);
  assert.deepStrictEqual(decoded, seen);
  const r = replayEvents(decoded);
  assert.equal(r.stateHash, s.stateHash);
  assert.equal(r.checkpoints, 1);
});

test('the summary counts what happened', () => {
  const s = runScenario(t1Scenario(), { scenarioId: 'sum' });
  assert.equal(s.kind, 'dmasim-summary');
  assert.equal(s.mapTypes.NOT_SUPPORTED, 0);
  assert.ok(s.mapTypes.BUS_ADDR > 0, 'A -> B is below a common switch');
  assert.ok(s.mapTypes.THRU_HOST_BRIDGE > 0, 'A -> C crosses the root complex');
  const mapped = s.modes.bus_addr + s.modes.iova + s.modes.per_range;
  assert.equal(
    s.sgEntries.counts.reduce((x, y) => x + y, 0),
    mapped,
  );
  assert.equal(s.ops.map!.attempts - s.ops.map!.failures, mapped);
  assert.equal(s.domains.length, 4);
  assert.ok(
    s.domains.every((d) => d.leakedBytes === 0),
    'teardown leaves nothing unaccounted for here',
  );
  assert.ok(
    s.domains.some((d) => d.usedBytes > 0),
    'small ranges stay in the rcaches, still in the tree',
  );
  assert.ok(s.domains.every((d) => d.peakBytes >= d.usedBytes));
  assert.ok(s.pairs.some((p) => p.importer === T1.B && p.mapType === 'BUS_ADDR' && p.distance === 4));
  assert.ok((s.ops.revoke?.attempts ?? 0) > 0);
});

test('trace re-drive: the same operations on the same machine reproduce the state; under iommu=pt they map per range', () => {
  const events: SimEvent[] = [];
  const original = runScenario(t1Scenario({ workload: { ...t1Scenario().workload, teardown: false } }), {
    scenarioId: 'orig',
    onEvent: (e) => events.push(e),
  });
  const ops = traceOpsFromEvents(events);
  assert.ok(ops.length > 100);
  const same = runScenario(t1Scenario({ workload: { trace: { ops } } }), { scenarioId: 'again' });
  assert.equal(same.stateHash, original.stateHash, 'same ops, same machine: same state');
  assert.equal(same.traceSkipped, 0);
  assert.deepEqual(same.modes, original.modes);
  const pt = runScenario(
    t1Scenario({
      iommu: { mode: 'identity' },
      importers: t1Scenario().importers.map((i) => ({ device: i.device })),
      workload: { trace: { ops } },
    }),
    {
      scenarioId: 'pt',
    },
  );
  assert.equal(pt.modes.iova, 0, 'no IOVA under passthrough');
  assert.ok(pt.modes.per_range > 0);
  assert.equal(pt.modes.bus_addr, original.modes.bus_addr, 'BUS_ADDR does not depend on the IOMMU');
});

test('movable exporter: migrate-on-THRU moves bytes to system memory and spends no BAR IOVA; keep-P2P maps through the host bridge', () => {
  const base = t1Scenario({
    importers: [{ device: T1.B }, { device: T1.C }, { device: T1.E }],
    workload: { buffers: { count: 4, size: { fixed: '16MiB' } }, operations: 100, churn: { map: 4, unmap: 4 } },
  });
  const keep = runScenario({
    ...base,
    exporters: [{ device: T1.A, kind: 'movable', policy: { thruHostBridge: 'keep_p2p' } }],
  });
  const migrate = runScenario({
    ...base,
    exporters: [{ device: T1.A, kind: 'movable', policy: { thruHostBridge: 'migrate' } }],
  });
  const refuse = runScenario({
    ...base,
    exporters: [{ device: T1.A, kind: 'movable', policy: { thruHostBridge: 'refuse' } }],
  });
  assert.equal(keep.whatIf.bytesMigrated, 0);
  assert.equal(keep.modes.system, 0);
  assert.ok(keep.modes.iova > 0);
  assert.ok(migrate.whatIf.bytesMigrated >= 16 * 2 ** 20);
  assert.ok(migrate.modes.system > 0);
  assert.equal(migrate.modes.iova, 0, 'THRU pairs map the system copy instead');
  assert.ok(migrate.whatIf.mappingsMigrated > 0);
  assert.equal(refuse.whatIf.decisions.refuse, refuse.whatIf.attachmentsRefused);
  assert.ok(refuse.whatIf.attachmentsRefused > 0);
  assert.equal(refuse.modes.iova + refuse.modes.per_range + refuse.modes.system, 0, 'only the BUS_ADDR pair maps');
  assert.ok(refuse.modes.bus_addr > 0);
});

test('kernel switches reach the run: 6.19-era vfio-pci refuses pinning importers', () => {
  const pinning = t1Scenario({ importers: [{ device: T1.B, pins: true }], kernel: { vfioPinAllowed: false } });
  const s = runScenario(pinning);
  assert.equal(s.modes.bus_addr, 0);
  assert.ok((s.failures['map.EOPNOTSUPP'] ?? 0) > 0);
  const ok = runScenario({ ...pinning, kernel: { vfioPinAllowed: true } });
  assert.ok(ok.modes.bus_addr > 0);
});

test('scenarios with the same topology spec share one built topology; other overrides or files get their own', async () => {
  const { scenarioToSimConfig } = await import('./scenario-config.ts');
  const gen = (seed: number, cpus?: number): ScenarioSpec =>
    validateScenario({
      kind: 'dmasim-scenario',
      version: 1,
      seed,
      topology: { generate: { sockets: 2, devices: 8, seed: 7 } },
      iommu: { mode: 'dma-fq' },
      importers: [{ device: 'NIC0' }],
      exporters: [{ device: 'GPU0', bar: 1 }],
      ...(cpus !== undefined ? { kernel: { cpus } } : {}),
      workload: { buffers: { count: 1, size: { fixed: '64KiB' }, ranges: 1 }, operations: 4 },
    } as unknown as ScenarioSpec);
  const a = scenarioToSimConfig(gen(1));
  const b = scenarioToSimConfig(gen(2));
  assert.equal(a.topology, b.topology, 'a second seed of the same machine reuses its topology');
  assert.notEqual(scenarioToSimConfig(gen(1, 2)).topology, a.topology, 'a kernel cpus override is another platform');
  assert.equal(scenarioToSimConfig(gen(1, 2)).topology.platform.onlineCpus, 2);
  assert.notEqual(scenarioToSimConfig(gen(1), 'other.yaml').topology, a.topology, 'messages name the file');
  const inline = t1Scenario();
  const c = scenarioToSimConfig(inline);
  assert.equal(
    scenarioToSimConfig({ ...inline, seed: 99 }).topology,
    c.topology,
    'one inline spec object, one topology',
  );
  // The cache is bounded: after sixteen other machines the first is built again.
  const oldest = t1Scenario();
  const m1 = scenarioToSimConfig(oldest).topology;
  assert.equal(scenarioToSimConfig(oldest).topology, m1);
  for (let k = 0; k < 16; k++) scenarioToSimConfig(t1Scenario());
  assert.notEqual(scenarioToSimConfig(oldest).topology, m1);
  // Nothing of a run stays in the shared topology: a run after others on it is the same as before them.
  const first = runScenario(gen(3), { validate: false });
  for (const seed of [4, 5, 6]) runScenario(gen(seed), { validate: false });
  assert.deepEqual(runScenario(gen(3), { validate: false }), first);
});
