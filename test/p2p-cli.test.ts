/** `dmasim p2p check` and `dmasim p2p pair`, run as a user runs them (a child process, sources via DMASIM_FROM_SOURCE). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatTopology, referenceT1Spec } from '@dmasim/core';

const bin = new URL('../packages/cli/bin/dmasim.js', import.meta.url).pathname;
const vectorDir = new URL('../../shared/vectors/p2p/', import.meta.url).pathname;
const vectorFiles = readdirSync(vectorDir)
  .filter((f) => f.endsWith('.ndjson'))
  .sort()
  .map((f) => join(vectorDir, f));
const tmp = mkdtempSync(join(tmpdir(), 'dmasim-p2p-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function dmasim(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DMASIM_FROM_SOURCE: '1' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('dmasim p2p check', () => {
  it('passes every public vector and prints the counts', () => {
    const r = dmasim('p2p', 'check', ...vectorFiles);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, vectorFiles.length + 1);
    const total = vectorFiles.reduce(
      (n, f) =>
        n +
        readFileSync(f, 'utf8')
          .trim()
          .split('\n')
          .slice(1)
          .reduce((m, l) => m + (JSON.parse(l) as { pairs: unknown[] }).pairs.length, 0),
      0,
    );
    assert.equal(lines.at(-1), `${total} passed, 0 failed`);
  });

  it('prints the first mismatch per file (topology, pair, field, expected vs got) and exits 1', () => {
    const src = readFileSync(vectorFiles[0] as string, 'utf8')
      .trim()
      .split('\n');
    const o = JSON.parse(src[1] as string) as {
      id: string;
      pairs: { provider: string; client: string; mapType: string; distance: number }[];
    };
    const p0 = o.pairs[0] as { provider: string; client: string; mapType: string; distance: number };
    p0.mapType = 'NOT_SUPPORTED';
    p0.distance = 99;
    (o.pairs[1] as { distance: number }).distance = 98;
    src[1] = JSON.stringify(o);
    const bad = join(tmp, 'bad.ndjson');
    writeFileSync(bad, `${src.join('\n')}\n`);
    const r = dmasim('p2p', 'check', bad, vectorFiles[2] as string);
    assert.equal(r.code, 1);
    const lines = r.out.trim().split('\n');
    assert.match(
      lines[0] as string,
      new RegExp(
        `^first mismatch: ${bad}:2 ${o.id} ${p0.provider} -> ${p0.client}: mapType expected "NOT_SUPPORTED", got "BUS_ADDR"$`,
      ),
    );
    assert.match(lines[1] as string, /bad\.ndjson: \d+ passed, 2 failed$/);
    assert.equal(lines.filter((l) => l.startsWith('first mismatch')).length, 1, 'only the first mismatch of the file');
    assert.match(lines.at(-1) as string, /^\d+ passed, 2 failed$/);
    const all = dmasim('p2p', 'check', '--all', bad);
    assert.equal(
      all.out.split('\n').filter((l) => l.startsWith('mismatch:')).length,
      3,
      'mapType and distance of pair 0, distance of pair 1',
    );
  });

  it('exits 3 on a malformed file and names its line', () => {
    const bad = join(tmp, 'malformed.ndjson');
    writeFileSync(
      bad,
      '{"kind":"p2p-vectors","version":1}\n{"id":"x","topology":{"cpu":{"vendor":"intel","family":6},"hostBridges":[],"functions":[]},"pairs":[{"provider":"0000:00:00.0"}]}\n',
    );
    const r = dmasim('p2p', 'check', bad);
    assert.equal(r.code, 3);
    assert.match(
      r.err,
      /VECTOR_PARSE: .*malformed\.ndjson:2 \(x\.pairs\[0\]\): provider 0000:00:00\.0 is not in topology x/,
    );
  });

  it('exits 2 without files', () => {
    assert.equal(dmasim('p2p', 'check').code, 2);
  });
});

describe('dmasim p2p pair', () => {
  const file = join(tmp, 't1-8b.yaml');
  writeFileSync(
    file,
    formatTopology(referenceT1Spec({ acsCtrl: { '0000:02:01.0': 0x04 }, hb0Id: '1af4:1234' }), 'yaml'),
  );

  it('explains row 8b of kernel-model.md 2.9 with its four log lines', () => {
    const r = dmasim('p2p', 'pair', file, 'GPU A', '04:00.0');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /map type +NOT_SUPPORTED \(2\)/);
    assert.match(r.out, /ACS redirect +0000:02:01\.0/);
    assert.match(r.out, /pci 0000:00:00\.0: Host bridge not in P2PDMA whitelist: 1af4:1234/);
    assert.equal(r.out.split('\n').filter((l) => l.startsWith('  pci ')).length, 4);
  });

  it('applies --cpu and --acs overrides, and prints JSON', () => {
    const r = dmasim('p2p', 'pair', file, '0000:03:00.0', '0000:04:00.0', '--cpu', 'amd:0x19', '--json');
    assert.equal(r.code, 0, r.err);
    const d = JSON.parse(r.out) as { result: string; decidedBy: string; pathClass: string };
    assert.deepEqual([d.result, d.decidedBy, d.pathClass], ['THRU_HOST_BRIDGE', 'cpu_rule', 'PIX']);
    const off = JSON.parse(
      dmasim('p2p', 'pair', file, '0000:03:00.0', '0000:04:00.0', '--acs', 'off', '--json').out,
    ) as { result: string };
    assert.equal(off.result, 'BUS_ADDR');
  });

  it('rejects unknown devices (exit 3) and bad flag values (exit 2)', () => {
    const r = dmasim('p2p', 'pair', file, '0000:03:00.0', '0000:99:00.0');
    assert.equal(r.code, 3);
    assert.match(r.err, /DEVICE_NOT_FOUND: .*no device 0000:99:00\.0/);
    assert.equal(dmasim('p2p', 'pair', file, 'GPU A', 'NIC B', '--acs', 'sometimes').code, 2);
    const cpu = dmasim('p2p', 'pair', file, 'GPU A', 'NIC B', '--cpu', 'arm');
    assert.equal(cpu.code, 2);
    assert.match(cpu.err, /expected vendor:family such as amd:0x19/);
    assert.equal(dmasim('p2p', 'pair', file, 'GPU A', 'NIC B', '--host-bridge-id', '8086').code, 2);
  });
});
