/**
 * Fuzzed importers: real inputs mutated at random (characters deleted, inserted, replaced; lines
 * duplicated, swapped, dropped; the text cut short). Every outcome must be either a topology that the model
 * accepts, or a DmasimError TOPOLOGY_PARSE naming the file and line (TOPOLOGY_INVALID when the input holds no
 * PCI function at all). Anything else (a TypeError, a RangeError, a hang) is a bug.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { isDmasimError } from '../../errors.ts';
import { buildTopology } from '../topology.ts';
import { importTopology } from './import-topology.ts';
import type { InputKind, SysfsEntry } from './import-types.ts';

const REAL = new URL('../../../../../../shared/topologies/real/', import.meta.url);
const FIXTURES = new URL('../../../../../test/fixtures/topology/', import.meta.url);
const read = (base: URL, p: string): string => readFileSync(new URL(p, base), 'utf8');

/** Seeds: each real format, cut to a size that keeps a run fast (the head of a file is where its structure is). */
const SEEDS: { name: string; kind: InputKind; text: string }[] = [
  { name: 'tree', kind: 'lspci-tree', text: read(REAL, 'stelline-puget-wrx90/lspci.txt') },
  { name: 'vvv', kind: 'lspci-verbose', text: read(FIXTURES, 'skylake-2s/lspci-vvv.txt') },
  { name: 'vvv-md', kind: 'lspci-verbose', text: read(REAL, 'stelline-puget-wrx90/lspci-vvv.txt').slice(0, 9000) },
  { name: 'acs', kind: 'lspci-acsctl', text: read(REAL, 'stelline-puget-wrx90/acs.txt') },
  {
    name: 'hwloc',
    kind: 'hwloc-xml',
    text: read(REAL, 'hwloc-supermicro-x9drg-conan/32em64t-2n8c2t-pci-normalio.xml'),
  },
  { name: 'topo', kind: 'nvidia-smi-topo', text: read(REAL, 'stelline-puget-wrx90/nvidia-smi-topo.txt') },
  { name: 'topo-tabs', kind: 'nvidia-smi-topo', text: read(FIXTURES, 'skylake-2s/nvidia-smi-topo.txt') },
  { name: 'gpus', kind: 'nvidia-smi-gpus', text: read(REAL, 'stelline-puget-wrx90/nvidia-smi.txt') },
];

const ALPHABET = '-+\\|[]:. \t\n0123456789abcdefxXACSRqrd<>"=/#`$';
const charArb = fc.constantFrom(...ALPHABET.split(''));

type Mutation =
  | { op: 'delete'; at: number; len: number }
  | { op: 'insert'; at: number; s: string }
  | { op: 'replace'; at: number; c: string }
  | { op: 'dupLine'; at: number }
  | { op: 'swapLines'; a: number; b: number }
  | { op: 'dropLine'; at: number }
  | { op: 'truncate'; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    s: fc.string({ unit: charArb, minLength: 1, maxLength: 12 }),
  }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), c: charArb }),
  fc.record({ op: fc.constant('dupLine' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ op: fc.constant('dropLine' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(text: string, muts: readonly Mutation[]): string {
  let t = text;
  for (const m of muts) {
    const n = Math.max(1, t.length);
    const lines = t.split('\n');
    switch (m.op) {
      case 'delete':
        t = t.slice(0, m.at % n) + t.slice((m.at % n) + m.len);
        break;
      case 'insert':
        t = t.slice(0, m.at % n) + m.s + t.slice(m.at % n);
        break;
      case 'replace':
        t = t.slice(0, m.at % n) + m.c + t.slice((m.at % n) + 1);
        break;
      case 'dupLine':
        lines.splice(m.at % lines.length, 0, lines[m.at % lines.length]!);
        t = lines.join('\n');
        break;
      case 'swapLines': {
        const a = m.a % lines.length;
        const b = m.b % lines.length;
        [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        t = lines.join('\n');
        break;
      }
      case 'dropLine':
        lines.splice(m.at % lines.length, 1);
        t = lines.join('\n');
        break;
      case 'truncate':
        t = t.slice(0, m.at % n);
        break;
    }
  }
  return t;
}

/** The contract: a model-valid topology, or a clear TOPOLOGY_PARSE/TOPOLOGY_INVALID naming the file. */
function checkOutcome(run: () => ReturnType<typeof importTopology>, file: string, lineRequired: boolean): void {
  let r: ReturnType<typeof importTopology>;
  try {
    r = run();
  } catch (e) {
    assert.ok(isDmasimError(e), `not a DmasimError: ${(e as Error)?.stack ?? String(e)}`);
    if (e.code === 'TOPOLOGY_PARSE') {
      // A text file: file:line; a sysfs snapshot: the file inside it (with its line when it is a text file).
      const re = lineRequired
        ? new RegExp(`^${file.replace(/\./g, '\\.')}:\\d+[:\\s]`)
        : new RegExp(`^${file}/\\S+(:\\d+)*: `);
      assert.match(e.message, re, 'names the file and line');
    } else {
      assert.equal(e.code, 'TOPOLOGY_INVALID', e.message);
      assert.ok(e.message.includes(file), `names the file: ${e.message}`);
    }
    return;
  }
  // Whatever the importer accepted, the model must accept too.
  try {
    buildTopology(r.spec, file);
  } catch (e) {
    assert.fail(`importer output rejected by buildTopology: ${(e as Error).message}`);
  }
}

for (const seed of SEEDS) {
  test(`fuzzed ${seed.name} input (kind forced and detected): a topology or a clear error`, () => {
    fc.assert(
      fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 6 }), fc.boolean(), (muts, forceKind) => {
        const text = mutate(seed.text, muts);
        const file = 'fuzz.txt';
        const inputs = [forceKind ? { file, text, kind: seed.kind } : { file, text }];
        if (seed.kind === 'nvidia-smi-topo' || seed.kind === 'nvidia-smi-gpus' || seed.kind === 'lspci-acsctl') {
          // These label or annotate a machine; give them one so that the combiner runs too.
          inputs.push({ file: 'machine.txt', text: SEEDS[0]!.text });
        }
        checkOutcome(() => importTopology(inputs), file, true);
      }),
      { numRuns: 150, seed: 4242 },
    );
  });
}

test('fuzzed sysfs snapshots (random config bytes, resource lines, links): a topology or a clear error', () => {
  const base = 'sys/devices/pci0000:00';
  const fileArb = fc.constantFrom(
    'vendor',
    'device',
    'class',
    'config',
    'resource',
    'numa_node',
    'dma_mask_bits',
    'secondary_bus_number',
    'iommu_group',
    'physfn',
    'virtfn0',
    'driver',
    'sriov_numvfs',
  );
  const dirArb = fc.constantFrom(
    `${base}/0000:00:00.0`,
    `${base}/0000:00:01.0`,
    `${base}/0000:00:01.0/0000:01:00.0`,
    `${base}/0000:00:01.0/0000:01:00.1`,
    `${base}/0000:00:02.0/0000:03:00.0`,
  );
  const entryArb: fc.Arbitrary<SysfsEntry> = fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 4096 }),
    fc.string({ unit: charArb, maxLength: 40 }),
    fc.constantFrom(
      '0x10de\n',
      '0x060400\n',
      '-1\n',
      '64\n',
      '2\n',
      '0x0 0x0 0x0\n0x38000000000 0x38fffffffff 0x14220c\n',
    ),
    fc.record({
      link: fc.constantFrom('../0000:01:00.0', '../../kernel/iommu_groups/7', '../../bus/pci/drivers/nvidia', '..', ''),
    }),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(dirArb, fileArb, entryArb), { minLength: 1, maxLength: 25 }), (entries) => {
      const files = new Map<string, SysfsEntry>();
      for (const [d, f, e] of entries) files.set(`${d}/${f}`, e);
      checkOutcome(() => importTopology([{ file: 'snap', files }]), 'snap', false);
    }),
    { numRuns: 300, seed: 7 },
  );
});
