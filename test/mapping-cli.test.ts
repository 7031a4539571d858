/** `dmasim map` and `dmasim run` as a user runs them: real machine data, exit codes, JSON, event logs. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeEventLog, parseEventsNdjson, replayEvents } from '@dmasim/core';
import { runCliProcess, SHARED } from './helpers/cli.ts';

const STELLINE = join(SHARED, 'topologies/real/stelline-puget-wrx90');
const tmp = mkdtempSync(join(tmpdir(), 'dmasim-mapping-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface MapJson {
  mapType: string | null;
  distance: number | null;
  reason: string | null;
  mode: string;
  sg: { dmaAddress: string; length: string }[];
  events: { type: string; data: Record<string, unknown> }[];
  error: null | { code: string; errno: number; message: string };
}

async function mapJson(args: string[]): Promise<{ code: number | null; out: MapJson; stderr: string }> {
  const r = await runCliProcess(['map', '--topology', STELLINE, '-q', '--json', ...args]);
  return { code: r.code, out: JSON.parse(r.stdout) as MapJson, stderr: r.stderr };
}

test('map on the real machine: GPU0 BAR1 -> NIC0 goes through the host bridge (AMD Zen rule) in one IOVA block', async () => {
  const { code, out } = await mapJson(['--exporter', 'GPU0', '--bar', '1', '--range', '0+2MiB', '--importer', 'NIC0']);
  assert.equal(code, 0);
  assert.equal(out.mapType, 'THRU_HOST_BRIDGE');
  assert.equal(out.distance, 4);
  assert.match(out.reason!, /AMD Zen CPU/);
  assert.equal(out.mode, 'iova');
  assert.deepEqual(out.sg, [{ dmaAddress: '0xffe00000', length: '0x200000' }]);
  assert.equal(out.error, null);
  const map = out.events.find((e) => e.type === 'iommu.map')!;
  assert.deepEqual([map.data.iova, map.data.paddr, map.data.size], ['0xffe00000', '0x13000000000', '0x200000']);
});

test('map: NIC0 -> NIC1 (two functions below one root port) uses PCI bus addresses, no IOVA', async () => {
  const { code, out } = await mapJson(['--exporter', 'NIC0', '--bar', '0', '--range', '0+1MiB', '--importer', 'NIC1']);
  assert.equal(code, 0);
  assert.deepEqual([out.mapType, out.distance, out.mode], ['BUS_ADDR', 2, 'bus_addr']);
  assert.deepEqual(out.sg, [{ dmaAddress: '0x18802000000', length: '0x100000' }]);
  assert.ok(!out.events.some((e) => e.type.startsWith('dma.') && e.type !== 'dma.device_setup'), 'no DMA API call');
});

test('map: under iommu=pt a 32-bit importer cannot reach the BAR (dma_map_phys fails, exit 1)', async () => {
  const { code, out } = await mapJson([
    '--exporter',
    'GPU0',
    '--bar',
    '1',
    '--range',
    '0+2MiB',
    '--range',
    '0x200000+2MiB',
    '--importer',
    'NIC0',
    '--iommu',
    'identity',
    '--dma-mask',
    '32',
  ]);
  assert.equal(code, 1);
  assert.equal(out.mode, 'per_range');
  assert.deepEqual(out.error && [out.error.code, out.error.errno], ['ENOMEM', -12]);
  const m = out.events.find((e) => e.type === 'dma.map_phys')!;
  assert.deepEqual([m.data.dmaAddr, m.data.reason, m.data.path], ['0xffffffffffffffff', 'mask', 'direct']);
});

test('map: two ranges in IOVA mode under the AMD IOMMU overwrite the block start; text output names the hazard', async () => {
  const r = await runCliProcess([
    'map',
    '--topology',
    STELLINE,
    '-q',
    '--exporter',
    'GPU0',
    '--bar',
    '1',
    '--range',
    '0+2MiB',
    '--range',
    '0x40000000+1MiB',
    '--importer',
    'GPU1',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^0000:c1:00\.0 BAR1 -> 0000:c2:00\.0 on stelline-puget-wrx90$/m);
  assert.match(r.stdout, /^mode {7}iova /m);
  assert.match(
    r.stdout,
    /iommu\.map domainId=0 iova=0xffc00000 paddr=0x13040000000 size=0x100000 prot=19 collision=overwrite/,
  );
  assert.match(r.stdout, /hazard kind=link_overlap/);
  assert.match(r.stdout, /hazard kind=unmapped_tail/);
});

test('map: usage and input errors exit 2 and 3', async () => {
  const bad = await runCliProcess([
    'map',
    '--topology',
    STELLINE,
    '--exporter',
    'GPU0',
    '--bar',
    '1',
    '--range',
    '2MiB',
    '--importer',
    'NIC0',
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /expected OFFSET\+LEN/);
  const missing = await runCliProcess([
    'map',
    '--topology',
    STELLINE,
    '-q',
    '--exporter',
    'GPU9',
    '--bar',
    '1',
    '--range',
    '0+2MiB',
    '--importer',
    'NIC0',
  ]);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /DEVICE_NOT_FOUND: --exporter GPU9: no such device/);
  const beyond = await mapJson([
    '--exporter',
    'GPU0',
    '--bar',
    '1',
    '--range',
    '0x1000000000+4KiB',
    '--importer',
    'NIC0',
  ]);
  assert.equal(beyond.code, 1);
  assert.equal(beyond.out.error?.code, 'EINVAL');
  assert.match(beyond.out.error!.message, /range_beyond_bar/);
});

test('run: summary as JSON and the event log as frames; replaying the log gives the summary state hash', async () => {
  const log = join(tmp, 'hazards.dmlog');
  const r = await runCliProcess(['run', 'examples/scenarios/t1-hazards.yaml', '--json', '--events', log]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as {
    kind: string;
    stateHash: string;
    eventCount: number;
    hazards: Record<string, number>;
  };
  assert.equal(s.kind, 'dmasim-summary');
  assert.ok((s.hazards.link_overlap ?? 0) > 0);
  const { events } = decodeEventLog(readFileSync(log), log);
  assert.equal(events.length, s.eventCount);
  assert.equal(replayEvents(events).stateHash, s.stateHash);
  assert.match(r.stderr, new RegExp(`wrote ${s.eventCount} events to .*hazards\\.dmlog \\(\\d+ frames, \\d+ bytes\\)`));
});

test('run: NDJSON event log, and a trace re-drive from the golden log under iommu=pt', async () => {
  const nd = join(tmp, 'pt.ndjson');
  const r = await runCliProcess(['run', 'examples/scenarios/t1-redrive-pt.yaml', '--events', nd]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^modes {6}bus_addr \d+, iova 0, per_range \d+, system 0$/m);
  assert.match(r.stdout, /^trace {6}0 recorded operations could not be replayed$/m);
  const events = parseEventsNdjson(readFileSync(nd, 'utf8'), nd);
  const hash = /^state hash (\w+)$/m.exec(r.stdout)![1];
  assert.equal(replayEvents(events).stateHash, hash);
});

test('run: a malformed scenario exits 3 naming file:line', async () => {
  const f = join(tmp, 'bad.yaml');
  writeFileSync(f, 'kind: dmasim-scenario\nversion: 1\nseed: 1\ntopology: { file: x }\nimporters: []\nexporters: []\n');
  const r = await runCliProcess(['run', f]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /SCENARIO_INVALID: .*bad\.yaml:5:\d+: \/importers: expected/);
});
