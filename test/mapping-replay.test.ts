/**
 * The reducer property: for thousands of random scenarios (topologies, IOMMU modes and masks, exporter
 * kinds and policies, kernel versions, workloads), the state rebuilt from the events alone has the same
 * canonical hash as the live simulator after every operation; every event conforms to the schema; the
 * events survive the binary codec; and re-driving a run's own operations reproduces its final state.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeFrame,
  encodeFrame,
  generateTopology,
  referenceT1Spec,
  replayEvents,
  runScenario,
  type ScenarioImporter,
  type ScenarioSpec,
  type SimEvent,
  SimReducer,
  T1,
  type TopologySpec,
  traceOpsFromEvents,
  validateEvent,
} from '@dmasim/core';
import fc from 'fast-check';

const T1_ENDPOINTS = [T1.A, T1.B, T1.B1, T1.C, T1.D, T1.E, T1.F];

/** A topology: a variant of reference T1, or a small generated machine. */
const arbTopology: fc.Arbitrary<TopologySpec> = fc.oneof(
  fc
    .record({
      hb0: fc.constantFrom('8086:2020', '8086:3c00', '1af4:1234'),
      amd: fc.boolean(),
      acs: fc.subarray(['0000:02:01.0', '0000:01:00.0', '0000:00:01.0', '0000:02:00.0']),
    })
    .map(({ hb0, amd, acs }) =>
      referenceT1Spec({
        hb0Id: hb0,
        cpu: amd ? { vendor: 'amd', family: 0x19 } : { vendor: 'intel', family: 6 },
        acsCtrl: Object.fromEntries(acs.map((b) => [b, 0x04])),
      }),
    ),
  fc
    .record({
      seed: fc.nat({ max: 1000 }),
      sockets: fc.integer({ min: 1, max: 2 }),
      rootPortsPerHostBridge: fc.integer({ min: 1, max: 3 }),
      switchDepth: fc.integer({ min: 0, max: 2 }),
      switchFanout: fc.integer({ min: 1, max: 3 }),
      cpu: fc.constantFrom('intel:6', 'amd:0x19'),
      acs: fc.constantFrom('kernel-default', 'off', 'random') as fc.Arbitrary<'kernel-default' | 'off' | 'random'>,
    })
    .map((p) => generateTopology({ ...p, barSizes: { gpu: '8G', nic: '32M', nvme: '16K', accel: '1G' } })),
);

function endpoints(t: TopologySpec): string[] {
  if (t.id === 'reference-t1') return T1_ENDPOINTS;
  return t.functions.filter((f) => f.type === 'endpoint').map((f) => f.bdf);
}

function withMemoryBars(t: TopologySpec): string[] {
  return t.functions.filter((f) => (f.bars ?? []).some((b) => b.memory)).map((f) => f.bdf);
}

const mode = fc.constantFrom('off', 'identity', 'dma', 'dma-fq') as fc.Arbitrary<'off' | 'identity' | 'dma' | 'dma-fq'>;

const arbScenario: fc.Arbitrary<ScenarioSpec> = arbTopology.chain((topology) => {
  const eps = endpoints(topology);
  const providers = withMemoryBars(topology);
  return fc
    .record({
      seed: fc.nat({ max: 2 ** 32 - 1 }),
      importers: fc.uniqueArray(fc.constantFrom(...eps), { minLength: 1, maxLength: 4 }),
      groupModes: fc.array(mode, { minLength: 3, maxLength: 3 }),
      importerOpts: fc.array(
        fc.record({
          group: fc.integer({ min: 0, max: 5 }),
          dmaMask: fc.constantFrom(undefined, 32, 36, 40, 48, 64),
          dynamic: fc.constantFrom(true, true, true, false),
          pins: fc.constantFrom(false, false, true),
        }),
        { minLength: 4, maxLength: 4 },
      ),
      exporters: fc.uniqueArray(fc.constantFrom(...providers), { minLength: 1, maxLength: 2 }),
      exporterOpts: fc.array(
        fc.record({
          kind: fc.constantFrom('vfio-pci', 'vfio-pci', 'movable') as fc.Arbitrary<'vfio-pci' | 'movable'>,
          thru: fc.constantFrom('keep_p2p', 'migrate', 'refuse') as fc.Arbitrary<'keep_p2p' | 'migrate' | 'refuse'>,
          ns: fc.constantFrom('migrate', 'refuse') as fc.Arbitrary<'migrate' | 'refuse'>,
        }),
        { minLength: 2, maxLength: 2 },
      ),
      kernel: fc.record({
        sgChunk: fc.constantFrom('page_aligned', 'uint_max', 'sz_2g') as fc.Arbitrary<
          'page_aligned' | 'uint_max' | 'sz_2g'
        >,
        vfioPinAllowed: fc.boolean(),
        moveNotify: fc.constantFrom(true, true, false),
        cpus: fc.integer({ min: 1, max: 4 }),
        depotTrim: fc.boolean(),
      }),
      iommu: fc.record({
        linkCollision: fc.constantFrom('fail', 'overwrite', 'keep') as fc.Arbitrary<'fail' | 'overwrite' | 'keep'>,
        forcedac: fc.constantFrom(false, false, true),
        flushQueue: fc.constantFrom('percpu', 'percpu', 'single') as fc.Arbitrary<'percpu' | 'single'>,
        reservations: fc.constantFrom('x86', 'windows', 'none') as fc.Arbitrary<'x86' | 'windows' | 'none'>,
        apertureBits: fc.constantFrom(undefined, 34, 39, 48),
      }),
      buffers: fc.record({
        count: fc.integer({ min: 1, max: 4 }),
        min: fc.constantFrom('4KiB', '64KiB'),
        max: fc.constantFrom('128KiB', '16MiB', '512MiB', '6GiB'),
        ranges: fc.integer({ min: 1, max: 4 }),
        fragmentation: fc.constantFrom(0, 0.3, 1),
      }),
      operations: fc.integer({ min: 0, max: 40 }),
      churn: fc.record({
        map: fc.integer({ min: 0, max: 5 }),
        unmap: fc.integer({ min: 0, max: 5 }),
        detach: fc.integer({ min: 0, max: 2 }),
        attach: fc.integer({ min: 0, max: 2 }),
        revoke: fc.integer({ min: 0, max: 1 }),
        maxMappingsPerAttachment: fc.integer({ min: 1, max: 2 }),
      }),
      meanIntervalNs: fc.constantFrom(1000, 1_000_000, 50_000_000),
      cpus: fc.constantFrom('round_robin', 'random', 'importer') as fc.Arbitrary<'round_robin' | 'random' | 'importer'>,
      teardown: fc.boolean(),
      checkpointEvery: fc.constantFrom(0, 0, 5),
    })
    .map((r): ScenarioSpec => {
      const importers: ScenarioImporter[] = r.importers.map((device, i) => {
        const o = r.importerOpts[i]!;
        return {
          device,
          group: o.group,
          iommu: { mode: r.groupModes[o.group % 3]! },
          ...(o.dmaMask !== undefined ? { dmaMask: o.dmaMask } : {}),
          dynamic: o.dynamic,
          peer2peer: o.dynamic,
          pins: o.pins,
          cpus: [i % r.kernel.cpus],
        };
      });
      // One mode per group (the group's default domain).
      for (const imp of importers) imp.iommu = { mode: r.groupModes[imp.group! % 3]! };
      const churnTotal = r.churn.map + r.churn.unmap + r.churn.detach + r.churn.attach + r.churn.revoke;
      return {
        kind: 'dmasim-scenario',
        version: 1,
        seed: r.seed,
        topology: { inline: topology },
        kernel: r.kernel,
        iommu: {
          linkCollision: r.iommu.linkCollision,
          forcedac: r.iommu.forcedac,
          flushQueue: r.iommu.flushQueue,
          reservations: r.iommu.reservations,
          ...(r.iommu.apertureBits !== undefined ? { apertureBits: r.iommu.apertureBits } : {}),
        },
        importers,
        exporters: r.exporters.map((device, i) => ({
          device,
          kind: r.exporterOpts[i]!.kind,
          policy: { thruHostBridge: r.exporterOpts[i]!.thru, notSupported: r.exporterOpts[i]!.ns },
        })),
        workload: {
          buffers: {
            count: r.buffers.count,
            size: { log2uniform: { min: r.buffers.min, max: r.buffers.max } },
            ranges: { min: 1, max: r.buffers.ranges },
            fragmentation: r.buffers.fragmentation,
          },
          attach: { pattern: 'all' },
          churn: churnTotal === 0 ? { map: 1 } : r.churn,
          operations: r.operations,
          meanIntervalNs: r.meanIntervalNs,
          cpus: r.cpus,
          teardown: r.teardown,
        },
        checkpointEvery: r.checkpointEvery,
      };
    });
});

function runChecked(spec: ScenarioSpec): { events: SimEvent[]; stateHash: string } {
  const events: SimEvent[] = [];
  const reducer = new SimReducer();
  let step = 0;
  const summary = runScenario(spec, {
    scenarioId: 'prop',
    onEvent: (e) => {
      validateEvent(e);
      events.push(e);
      reducer.apply(e);
    },
    afterOperation: (sim) => {
      step++;
      const live = sim.stateHash();
      const replayed = reducer.stateHash();
      if (live !== replayed) {
        assert.deepStrictEqual(reducer.snapshot(), sim.snapshot(), `state differs after operation ${step}`);
        assert.fail(`hash differs after operation ${step} (${live} live, ${replayed} replayed)`);
      }
    },
  });
  assert.equal(reducer.stateHash(), summary.stateHash, 'final state');
  return { events, stateHash: summary.stateHash };
}

test('live state hash == state rebuilt from events, after every operation of random scenarios', () => {
  fc.assert(
    fc.property(arbScenario, (spec) => {
      const { events, stateHash } = runChecked(spec);
      // The binary codec in the loop: encode in frames, decode, replay, verify the checkpoints.
      const frames: Uint8Array[] = [];
      for (let i = 0; i < events.length; i += 500) {
        frames.push(
          encodeFrame(events.slice(i, i + 500), { scenarioId: 'prop', attempt: 0, frameIndex: frames.length }),
        );
      }
      const decoded = frames.flatMap((f) => decodeFrame(f).events);
      const r = replayEvents(decoded);
      assert.equal(r.stateHash, stateHash);
      assert.ok(r.checkpoints >= 1);
    }),
    {
      numRuns: Number(process.env.DMASIM_PROPERTY_RUNS ?? 2000),
      seed: Number(process.env.DMASIM_PROPERTY_SEED ?? 20261201),
    },
  );
});

test('re-driving a run from its own events on the same machine reproduces its final state', () => {
  fc.assert(
    fc.property(arbScenario, (spec) => {
      const { events, stateHash } = runChecked(spec);
      const ops = traceOpsFromEvents(events);
      const again = runScenario({ ...spec, workload: { trace: { ops } } }, { scenarioId: 'redrive' });
      assert.equal(again.stateHash, stateHash);
      assert.equal(again.traceSkipped, 0);
    }),
    { numRuns: 200, seed: 4242 },
  );
});
