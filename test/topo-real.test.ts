/**
 * Every real machine in ../shared/topologies/real/ read the way `dmasim topo` reads a folder: it parses, the
 * model accepts it, and where the folder ships an nvidia-smi answer key (expected.json), dmasim's labels and
 * path classes agree with it. Plus the structural facts of each machine and the real-machine check of
 * kernel-model.md 2.9 (wrx90) through the importer and the P2PDMA decision.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildTopology, type ImportResult, importTopology, pairMatrix, pathClass, type Topology } from '@dmasim/core';
import { compareWith } from '../packages/cli/src/commands/topo/compare.ts';
import { loadInputs } from '../packages/cli/src/commands/topo/inputs.ts';

const realDir = new URL('../../shared/topologies/real/', import.meta.url).pathname;
const machines = readdirSync(realDir)
  .filter((d) => statSync(join(realDir, d)).isDirectory())
  .sort();

interface AnswerKey {
  devices: Record<string, string>;
  pairs: { a: string; b: string; class: string }[];
}

function load(dir: string, opts = {}): { r: ImportResult; t: Topology } {
  const loaded = loadInputs([dir]);
  assert.equal(loaded.kind, 'import');
  const r = importTopology(loaded.kind === 'import' ? loaded.inputs : [], opts);
  return { r, t: buildTopology(r.spec, dir) };
}

describe('every real machine parses and agrees with its answer key', () => {
  assert.ok(machines.length >= 4, `found ${machines.length} machines`);
  for (const m of machines) {
    const dir = join(realDir, m);
    it(`${m}: parses into a topology the model accepts`, () => {
      const { r, t } = load(dir);
      assert.ok(t.functions.length > 0);
      assert.equal(r.spec.functions.length, t.functions.length);
      for (const hb of t.hostBridges) assert.ok(hb.firstFunction, `host bridge ${hb.name} has a first function`);
      for (const a of r.assumed) assert.ok(a.field && a.value && a.why, `assumption ${JSON.stringify(a)} is complete`);
    });
    const keyFile = join(dir, 'expected.json');
    if (!existsSync(keyFile)) continue;
    it(`${m}: labels and path classes agree with expected.json and with its nvidia-smi matrices`, () => {
      const key = JSON.parse(readFileSync(keyFile, 'utf8')) as AnswerKey;
      const { r, t } = load(dir);
      for (const [label, bdf] of Object.entries(key.devices)) {
        assert.equal(r.labels.find((l) => l.label === label)?.bdf, bdf, `${label} is ${bdf}`);
      }
      for (const p of key.pairs) {
        assert.equal(pathClass(t, key.devices[p.a]!, key.devices[p.b]!), p.class, `${p.a}-${p.b}`);
      }
      assert.ok(r.nvidiaSmi.length > 0);
      for (const topo of r.nvidiaSmi) {
        const c = compareWith(
          {
            spec: r.spec,
            topology: t,
            assumed: r.assumed,
            warnings: r.warnings,
            labels: r.labels,
            nvidiaSmi: r.nvidiaSmi,
            source: dir,
          },
          topo,
        );
        assert.equal(c.differ, 0, JSON.stringify(c.pairs.filter((x) => x.status !== 'agree')));
        assert.equal(c.agree, key.pairs.length);
      }
    });
  }
});

describe('stelline-puget-wrx90 (kernel-model.md 2.9 real machine check)', () => {
  const dir = join(realDir, 'stelline-puget-wrx90');
  const { r, t } = load(dir);
  const GPU0 = '0000:c1:00.0';
  const GPU1 = '0000:c2:00.0';
  const NIC0 = '0000:21:00.0';
  const NIC1 = '0000:21:00.1';
  const rows = (topo: Topology) => new Map(pairMatrix(topo, [GPU0, GPU1, NIC0, NIC1]).map((x) => [`${x.a} ${x.b}`, x]));

  it('four host bridges whose first function is the AMD root complex 1022:14a4 at 00.0; a Zen 4 CPU deduced and recorded', () => {
    assert.deepEqual(
      t.hostBridges.map((h) => [h.name, h.firstFunction?.bdf, h.firstFunction?.vendor, h.firstFunction?.device]),
      [
        ['[0000:00]', '0000:00:00.0', 0x1022, 0x14a4],
        ['[0000:20]', '0000:20:00.0', 0x1022, 0x14a4],
        ['[0000:c0]', '0000:c0:00.0', 0x1022, 0x14a4],
        ['[0000:e0]', '0000:e0:00.0', 0x1022, 0x14a4],
      ],
    );
    assert.deepEqual(t.platform.cpu, { vendor: 'amd', family: 0x19, model: null });
    assert.ok(r.assumed.some((a) => a.field === 'platform.cpu' && a.value === 'amd:0x19'));
    assert.deepEqual(
      t.get(GPU0).chain.map((f) => f.bdf),
      [GPU0, '0000:c0:01.1'],
    );
    assert.deepEqual(
      t.get(GPU1).chain.map((f) => f.bdf),
      [GPU1, '0000:c0:03.1'],
    );
  });

  it('GPU0->GPU1 THRU_HOST_BRIDGE distance 4, GPU0->NIC0 THRU_HOST_BRIDGE, NIC0->NIC1 BUS_ADDR distance 2', () => {
    const m = rows(t);
    assert.deepEqual(
      [m.get(`${GPU0} ${GPU1}`)!.mapType, m.get(`${GPU0} ${GPU1}`)!.distance, m.get(`${GPU0} ${GPU1}`)!.decidedBy],
      ['THRU_HOST_BRIDGE', 4, 'cpu_rule'],
    );
    assert.deepEqual([m.get(`${GPU0} ${NIC0}`)!.mapType, m.get(`${GPU0} ${NIC0}`)!.distance], ['THRU_HOST_BRIDGE', 4]);
    assert.deepEqual([m.get(`${NIC0} ${NIC1}`)!.mapType, m.get(`${NIC0} ${NIC1}`)!.distance], ['BUS_ADDR', 2]);
    assert.equal(t.get(NIC0).acsCap, true, 'the ConnectX-7 has an ACS capability (lspci -vvv)');
    assert.equal(t.get(NIC0).acsCtrl, 0, 'with every control off');
  });

  it('on a (hypothetical) Intel CPU the first two pairs are NOT_SUPPORTED: 1022:14a4 is not in the whitelist', () => {
    const intel = load(dir, { cpu: { vendor: 'intel', family: 6 } }).t;
    const m = rows(intel);
    assert.equal(m.get(`${GPU0} ${GPU1}`)!.mapType, 'NOT_SUPPORTED');
    assert.equal(m.get(`${GPU0} ${NIC0}`)!.mapType, 'NOT_SUPPORTED');
    assert.equal(m.get(`${NIC0} ${NIC1}`)!.mapType, 'BUS_ADDR');
  });
});

describe('hwloc machines: structure', () => {
  it('HP SL390s G7: two IOH host bridges on two NUMA nodes, three Tesla GPUs each alone below a root port', () => {
    const { r, t } = load(join(realDir, 'hwloc-hp-sl390s-g7'));
    assert.deepEqual(
      t.hostBridges.map((h) => [h.name, h.numaNode]),
      [
        ['[0000:00]', 0],
        ['[0000:10]', 1],
      ],
    );
    const gpus = t.functions.filter((f) => f.vendor === 0x10de);
    assert.deepEqual(
      gpus.map((g) => [g.bdf, g.device, g.parent?.bdf, g.parent?.type]),
      [
        ['0000:06:00.0', 0x06d2, '0000:00:07.0', 'root_port'],
        ['0000:11:00.0', 0x06d2, '0000:10:07.0', 'root_port'],
        ['0000:14:00.0', 0x06d2, '0000:10:03.0', 'root_port'],
      ],
    );
    assert.equal(pathClass(t, '0000:11:00.0', '0000:14:00.0'), 'PHB');
    assert.equal(pathClass(t, '0000:06:00.0', '0000:14:00.0'), 'SYS');
    assert.equal(t.platform.numaNodes, 2);
    assert.ok(
      r.assumed.some((a) => a.field === 'hostBridges[0].id'),
      'hwloc drops 00.0: said so',
    );
  });

  it('IBM POWER8 Minsky: four PCI domains, one root port and one P100 each; not x86, so no CPU rule', () => {
    const { t } = load(join(realDir, 'hwloc-ibm-power8-minsky'));
    assert.deepEqual(
      t.hostBridges.map((h) => [
        h.segment,
        h.firstFunction?.vendor,
        h.firstFunction?.device,
        h.firstFunction?.isRootPort,
      ]),
      [
        [2, 0x1014, 0x03dc, true],
        [3, 0x1014, 0x03dc, true],
        [0xa, 0x1014, 0x03dc, true],
        [0xb, 0x1014, 0x03dc, true],
      ],
    );
    assert.equal(t.platform.cpu.vendor, 'other');
    const gpus = t.functions.filter((f) => f.device === 0x15f9).map((f) => f.bdf);
    assert.deepEqual(gpus, ['0002:01:00.0', '0003:01:00.0', '000a:01:00.0', '000b:01:00.0']);
    assert.equal(pathClass(t, gpus[0]!, gpus[1]!), 'NODE');
    assert.equal(pathClass(t, gpus[0]!, gpus[2]!), 'SYS');
    assert.ok(pairMatrix(t, gpus).every((x) => x.mapType === 'NOT_SUPPORTED' && x.distance === 4));
    assert.deepEqual(
      gpus.map((g) => t.get(g).label),
      ['GPU0', 'GPU1', 'GPU2', 'GPU3'],
    );
  });

  it('Supermicro X9DRG: two Sandy Bridge-EP host bridges, three Tesla GPUs, the duplicated ConnectX-4 dropped with a warning', () => {
    const { r, t } = load(join(realDir, 'hwloc-supermicro-x9drg-conan'));
    assert.deepEqual(
      t.hostBridges.map((h) => h.name),
      ['[0000:00]', '[0000:80]'],
    );
    assert.deepEqual(
      t.functions.filter((f) => f.device === 0x1094).map((f) => [f.bdf, f.hostBridge.index]),
      [
        ['0000:03:00.0', 0],
        ['0000:83:00.0', 1],
        ['0000:84:00.0', 1],
      ],
    );
    assert.equal(t.get('0000:04:00.0').vendor, 0x8086);
    assert.ok(r.warnings.some((w) => /0000:04:00\.0 is listed again/.test(w)));
    assert.equal(pathClass(t, '0000:84:00.0', '0000:84:00.1'), 'PIX');
    assert.equal(pathClass(t, '0000:83:00.0', '0000:84:00.0'), 'PHB');
  });
});
