/** `dmasim topo show|matrix|compare|export`, run as a user runs them (a child process, sources via DMASIM_FROM_SOURCE). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseTopologyFile } from '@dmasim/core';
import { writeSysfsTree } from './fixtures/topology/sysfs-tree.ts';

const bin = new URL('../packages/cli/bin/dmasim.js', import.meta.url).pathname;
const realDir = new URL('../../shared/topologies/real/', import.meta.url).pathname;
const fixtures = new URL('./fixtures/topology/', import.meta.url).pathname;
const wrx90 = join(realDir, 'stelline-puget-wrx90');
const machines = readdirSync(realDir)
  .filter((d) => statSync(join(realDir, d)).isDirectory())
  .sort();
const tmp = mkdtempSync(join(tmpdir(), 'dmasim-topo-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function dmasim(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DMASIM_FROM_SOURCE: '1' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface MatrixJson {
  devices: { bdf: string; label: string | null; class: string; vendor: string; device: string }[];
  pairs: { a: string; b: string; mapType: string; distance: number; pathClass: string }[];
}

describe('dmasim topo show', () => {
  it('draws an lspci -tv tree exactly as lspci does (the wrx90 tree round-trips)', () => {
    const r = dmasim('topo', 'show', join(wrx90, 'lspci.txt'), '--quiet');
    assert.equal(r.code, 0, r.err);
    const tree = r.out.split('\n\n')[1]!;
    assert.equal(`${tree}\n`, readFileSync(join(wrx90, 'lspci.txt'), 'utf8'));
    assert.match(
      r.out,
      /^stelline-puget-wrx90: 4 host bridges, 113 functions; CPU amd family 0x19 \(assumed\); 1 NUMA node\n/,
    );
    assert.match(
      r.out,
      /\[0000:00\] 00:00\.0 1022:14a4 rc_endpoint {2}Advanced Micro Devices, Inc\. \[AMD\] Device 14a4/,
    );
    assert.match(
      r.out,
      /Assumed \(facts not in the data, and the flag that sets each\):\n[\s\S]*platform\.cpu = amd:0x19 {2}\[--cpu vendor:family\]/,
    );
  });

  it('annotates labels, ACS bits, IOMMU groups and NUMA nodes', () => {
    const r = dmasim('topo', 'show', join(fixtures, 'skylake-2s'), '-q');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /08\.0 ACS ReqRedir\+ CmpltRedir\+, iommu group 22; 00\.0 GPU0, iommu group 24\]/);
    assert.match(r.out, /\[0000:85 numa 1;/);
    assert.match(r.out, /00\.3 VF of 1a:00\.0\]/);
  });

  it('reads a sysfs snapshot folder (files, binary config, links, proc/cpuinfo)', () => {
    const root = writeSysfsTree(mkdtempSync(join(tmp, 'sysfs-')));
    const r = dmasim('topo', 'show', root, '-q');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /: 1 host bridge, 6 functions; CPU amd family 0x19 AMD EPYC 9124; 1 NUMA node/);
    assert.match(r.out, /01\.1 ACS ReqRedir\+ CmpltRedir\+, iommu group 3; 00\.0 iommu group 4\]/);
    assert.match(r.out, /00\.1 VF of 02:00\.0\]/);
    const j = JSON.parse(dmasim('topo', 'matrix', root, '--json', '-q').out) as MatrixJson;
    assert.deepEqual(
      j.devices.map((d) => [d.bdf, d.class, d.vendor, d.device]),
      [
        ['0000:01:00.0', 'gpu', '0x10de', '0x2330'],
        ['0000:02:00.0', 'nic', '0x15b3', '0x1021'],
        ['0000:02:00.1', 'nic', '0x15b3', '0x101e'],
      ],
    );
    const gpuNic = j.pairs.find((p) => p.a === '0000:01:00.0' && p.b === '0000:02:00.0')!;
    assert.deepEqual([gpuNic.mapType, gpuNic.distance, gpuNic.pathClass], ['THRU_HOST_BRIDGE', 4, 'PHB']);
  });
});

describe('dmasim topo matrix', () => {
  for (const m of machines) {
    it(`${m}: the text matrices`, () => {
      const r = dmasim('topo', 'matrix', join(realDir, m), '-q');
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Path class \(nvidia-smi topo -m legend\):/);
      assert.match(r.out, /P2PDMA map type and distance, provider \(row\) -> client \(column\):/);
    });
  }

  it('--json prints { devices, pairs } with exactly the documented fields', () => {
    const r = dmasim('topo', 'matrix', wrx90, '--json', '--class', 'gpu,nic', '-q');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as MatrixJson;
    assert.deepEqual(Object.keys(j), ['devices', 'pairs']);
    for (const d of j.devices) assert.deepEqual(Object.keys(d), ['bdf', 'label', 'class', 'vendor', 'device']);
    for (const p of j.pairs) assert.deepEqual(Object.keys(p), ['a', 'b', 'mapType', 'distance', 'pathClass']);
    assert.deepEqual(
      j.devices.map((d) => d.label),
      ['GPU0', 'GPU1', 'NIC0', 'NIC1', null, null],
    );
    assert.equal(j.pairs.length, 6 * 5);
    const pair = (a: string, b: string) => j.pairs.find((p) => p.a === a && p.b === b)!;
    assert.deepEqual(pair('0000:c1:00.0', '0000:c2:00.0'), {
      a: '0000:c1:00.0',
      b: '0000:c2:00.0',
      mapType: 'THRU_HOST_BRIDGE',
      distance: 4,
      pathClass: 'PHB',
    });
    assert.deepEqual(pair('0000:c1:00.0', '0000:21:00.0'), {
      a: '0000:c1:00.0',
      b: '0000:21:00.0',
      mapType: 'THRU_HOST_BRIDGE',
      distance: 4,
      pathClass: 'NODE',
    });
    assert.deepEqual(pair('0000:21:00.0', '0000:21:00.1'), {
      a: '0000:21:00.0',
      b: '0000:21:00.1',
      mapType: 'BUS_ADDR',
      distance: 2,
      pathClass: 'PIX',
    });
    const nvme = JSON.parse(dmasim('topo', 'matrix', wrx90, '--json', '--class', 'nvme', '-q').out) as MatrixJson;
    assert.equal(nvme.devices.length, 9);
    assert.ok(nvme.devices.every((d) => d.class === 'nvme'));
  });

  it('the override flags change the decision: an Intel CPU refuses the AMD host bridge unless its id is set', () => {
    const intel = JSON.parse(dmasim('topo', 'matrix', wrx90, '--json', '--cpu', 'intel:6', '-q').out) as MatrixJson;
    assert.equal(intel.pairs.find((p) => p.a === '0000:c1:00.0' && p.b === '0000:c2:00.0')!.mapType, 'NOT_SUPPORTED');
    const listed = JSON.parse(
      dmasim('topo', 'matrix', wrx90, '--json', '--cpu', 'intel:6', '--host-bridge-id', '8086:2020', '-q').out,
    ) as MatrixJson;
    assert.equal(
      listed.pairs.find((p) => p.a === '0000:c1:00.0' && p.b === '0000:c2:00.0')!.mapType,
      'THRU_HOST_BRIDGE',
    );
    const r = dmasim('topo', 'matrix', wrx90, '--cpu', 'intel:6', '-q');
    assert.match(r.out, /platform\.cpu = intel:0x6 {2}\[--cpu intel:0x6\]\n {6}set by --cpu/);
  });
});

describe('dmasim topo compare', () => {
  it('wrx90: every labelled pair agrees with nvidia-smi; exit 0', () => {
    const r = dmasim('topo', 'compare', wrx90, '--nvidia-smi', join(wrx90, 'nvidia-smi-topo.txt'), '-q');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /GPU0-GPU1 {2}PHB {9}PHB {5}THRU_HOST_BRIDGE 4 {2}agree/);
    assert.match(r.out, /NIC0-NIC1 {2}PIX {9}PIX {5}BUS_ADDR 2 {10}agree/);
    assert.match(r.out, /\n6 pairs: 6 agree, 0 differ, 0 not compared\n/);
  });

  it('lists and explains disagreements, and exits 1', () => {
    const folder = join(tmp, 'wrong');
    mkdirSync(folder);
    for (const f of ['lspci.txt', 'lspci-vvv.txt', 'nvidia-smi.txt'])
      writeFileSync(join(folder, f), readFileSync(join(wrx90, f)));
    const topo = readFileSync(join(wrx90, 'nvidia-smi-topo.txt'), 'utf8')
      .replace(/^GPU0 {5}X {6}PHB {5}NODE/m, 'GPU0     X      PHB     SYS ')
      .replace(/^NIC0 {4}NODE/m, 'NIC0    SYS ');
    writeFileSync(join(folder, 'nvidia-smi-topo.txt'), topo);
    const r = dmasim('topo', 'compare', folder, '-q');
    assert.equal(r.code, 1, r.err);
    assert.match(
      r.out,
      /GPU0-NIC0 {2}SYS {9}NODE {4}THRU_HOST_BRIDGE 4 {2}DIFFERS\n {6}dmasim: host bridges \[0000:c0\] and \[0000:20\] in NUMA node 0\n/,
    );
    assert.match(
      r.out,
      /NODE vs SYS is a NUMA question: dmasim places GPU0 in node 0 and NIC0 in node 0 \(the node count was assumed/,
    );
    assert.match(
      r.out,
      /NIC0 -> 0000:21:00\.0 was inferred: mlx5_0 is NIC function #0 of vendor 0x15b3 in PCI order; if that is wrong, set --label NIC0=ssss:bb:dd\.f/,
    );
    assert.match(r.out, /\n6 pairs: 5 agree, 1 differ, 0 not compared\n/);
    const j = JSON.parse(dmasim('topo', 'compare', folder, '--json', '-q').out) as {
      differ: number;
      pairs: { status: string }[];
    };
    assert.equal(j.differ, 1);
  });

  it("without an nvidia-smi matrix it shows dmasim's classes, says nothing was compared, and exits 0", () => {
    const r = dmasim('topo', 'compare', join(realDir, 'hwloc-ibm-power8-minsky'));
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /no nvidia-smi topo -m matrix among the inputs; nothing compared/);
    assert.match(r.out, /GPU0-GPU1 {2}- {11}NODE {4}NOT_SUPPORTED 4 {5}not compared/);
    assert.match(r.out, /\n6 pairs: 0 agree, 0 differ, 6 not compared\nnothing to compare with/);
    const notTopo = dmasim('topo', 'compare', wrx90, '--nvidia-smi', join(wrx90, 'nvidia-smi.txt'), '-q');
    assert.equal(notTopo.code, 3);
    assert.match(notTopo.err, /nvidia-smi\.txt is not an nvidia-smi topo -m matrix/);
  });

  for (const m of machines) {
    it(`${m}: compare runs`, () => {
      const r = dmasim('topo', 'compare', join(realDir, m), '-q');
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, / 0 differ, /);
    });
  }
});

describe('dmasim topo export', () => {
  it('writes a dmasim topology file the format reads back, and matrix reads that file the same', () => {
    const out = join(tmp, 'wrx90.yaml');
    const r = dmasim('topo', 'export', wrx90, '--format', 'dmasim', '-o', out, '-q');
    assert.equal(r.code, 0, r.err);
    const spec = parseTopologyFile(readFileSync(out, 'utf8'), out);
    assert.equal(spec.functions.length, 113);
    assert.ok(spec.assumed?.some((a) => a.field === 'platform.cpu'));
    const json = JSON.parse(dmasim('topo', 'export', wrx90, '--format', 'json', '-q').out) as { id: string };
    assert.equal(json.id, 'stelline-puget-wrx90');
    const fromRaw = JSON.parse(dmasim('topo', 'matrix', wrx90, '--json', '-q').out) as MatrixJson;
    const fromFile = JSON.parse(dmasim('topo', 'matrix', out, '--json', '-q').out) as MatrixJson;
    assert.deepEqual(fromFile, fromRaw);
  });
});

describe('errors and exit codes', () => {
  it('a malformed input exits 3 with file:line:col', () => {
    const bad = join(tmp, 'lspci-bad.txt');
    writeFileSync(bad, '-[0000:00]-+-00.0\n   +-01.0\n');
    const r = dmasim('topo', 'show', bad);
    assert.equal(r.code, 3);
    assert.match(
      r.err,
      new RegExp(`TOPOLOGY_PARSE: ${bad.replace(/[.]/g, '\\.')}:2:4: a '\\+-' at column 4 continues no open list`),
    );
  });

  it('bad flag values are usage errors (exit 2) that say what was expected', () => {
    const cpu = dmasim('topo', 'matrix', wrx90, '--cpu', 'arm:1');
    assert.equal(cpu.code, 2);
    assert.match(cpu.err, /--cpu "arm:1": expected vendor\[:family\]/);
    assert.equal(dmasim('topo', 'matrix', wrx90, '--class', 'gpus').code, 2);
    assert.equal(dmasim('topo', 'show', wrx90, '--kind', 'pdf').code, 2);
    assert.equal(dmasim('topo', 'export', wrx90, '--format', 'xml').code, 2);
  });

  it('a folder with nothing to read, and a missing file, exit 3', () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    const r = dmasim('topo', 'show', empty);
    assert.equal(r.code, 3);
    assert.match(r.err, /no lspci\*\.txt, nvidia-smi\*\.txt, acs\*\.txt, \*\.xml or sysfs tree/);
    assert.equal(dmasim('topo', 'show', join(tmp, 'missing.txt')).code, 3);
  });
});
