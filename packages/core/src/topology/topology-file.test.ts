import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { ErrorCode, isDmasimError } from '../errors.ts';
import { generateTopology } from './generate.ts';
import { referenceT1Spec } from './reference-t1.ts';
import {
  detectTopologyFormat,
  formatTopology,
  loadTopologyFile,
  locateJsonOffset,
  parseTopologyFile,
  TOPOLOGY_SCHEMA,
} from './topology-file.ts';

const t1 = referenceT1Spec();
const gen = generateTopology({
  sockets: 2,
  rootPortsPerHostBridge: 2,
  switchDepth: 2,
  switchFanout: 2,
  sriovVfs: 2,
  seed: 7,
});

function rejects(text: string, file: string, code: string, re: RegExp): void {
  assert.throws(
    () => parseTopologyFile(text, file),
    (e: unknown) => {
      assert.ok(isDmasimError(e), String(e));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, re);
      return true;
    },
  );
}

describe('dmasim topology file', () => {
  it('ships the schema as a JSON file equal to the one the parser uses', () => {
    const onDisk = JSON.parse(readFileSync(new URL('./dmasim-topology.schema.json', import.meta.url), 'utf8'));
    assert.deepEqual(onDisk, TOPOLOGY_SCHEMA);
    assert.ok(new Ajv({ strict: true, allowUnionTypes: true }).validateSchema(onDisk));
  });

  for (const format of ['json', 'yaml'] as const) {
    it(`round-trips exactly through ${format}`, () => {
      for (const spec of [t1, gen]) {
        const text = formatTopology(spec, format);
        const back = parseTopologyFile(text, `x.${format}`);
        assert.deepEqual(back, spec);
        assert.equal(formatTopology(back, format), text, 'formatting the parsed spec gives the same text');
      }
    });
  }

  it('reads JSON from a YAML-named file and the other way round by content', () => {
    assert.equal(detectTopologyFormat('{"kind":1}', 'x'), 'json');
    assert.equal(detectTopologyFormat('kind: x', 'x'), 'yaml');
    assert.equal(detectTopologyFormat('{}', 'x.yaml'), 'yaml');
    assert.deepEqual(parseTopologyFile(formatTopology(t1, 'json'), 'no-extension'), t1);
    assert.deepEqual(parseTopologyFile(formatTopology(t1, 'json'), 'also.yaml'), t1, 'JSON is YAML');
  });

  it('quotes what YAML 1.1 readers would misread', () => {
    const y = formatTopology(t1, 'yaml');
    assert.match(y, /bdf: "0000:00:00\.0"/);
    assert.match(y, /vendor: "0x8086"/);
  });

  it('returns a mutable spec from parseTopologyFile and a frozen one from loadTopologyFile', () => {
    const text = formatTopology(t1, 'json');
    const p = parseTopologyFile(text, 't.json');
    p.functions[0]!.acsCtrl = 4;
    const { spec, topology } = loadTopologyFile(text, 't.json');
    assert.ok(Object.isFrozen(spec.functions[0]));
    assert.equal(topology.functions.length, t1.functions.length);
  });

  it('names file:line:col for syntax errors', () => {
    const json = formatTopology(t1, 'json');
    const broken = json.replace('"acsCap":true,', '"acsCap":true');
    const line = broken.split('\n').findIndex((l) => l.includes('"acsCap":true"acsCtrl"')) + 1;
    rejects(broken, 't.json', ErrorCode.TOPOLOGY_PARSE, new RegExp(`^t\\.json:${line}:\\d+: not valid JSON`));
    rejects('kind: [unclosed\n', 't.yaml', ErrorCode.TOPOLOGY_PARSE, /^t\.yaml:\d+:\d+: not valid YAML/);
    rejects('', 't.json', ErrorCode.TOPOLOGY_PARSE, /^t\.json:1:1: not valid JSON/);
  });

  it('names the line and field of schema errors, with a hint for unquoted hex in YAML', () => {
    const y = formatTopology(t1, 'yaml');
    const lines = y.split('\n');
    const at = lines.findIndex((l) => l.includes('vendor: "0x10de"')) + 1;
    rejects(
      y.replace('vendor: "0x10de"', 'vendor: 0x10de'),
      't.yaml',
      ErrorCode.TOPOLOGY_PARSE,
      new RegExp(`^t\\.yaml:${at}:\\d+ \\(functions\\[8\\]\\.vendor\\): expected string, found 4318 \\(quote hex`),
    );
    rejects(
      y.replace('type: legacy', 'type: host'),
      't.yaml',
      ErrorCode.TOPOLOGY_PARSE,
      /\(functions\[0\]\.type\): expected one of "root_port"/,
    );
    rejects(
      y.replace('kind: dmasim-topology', 'kind: other'),
      't.yaml',
      ErrorCode.TOPOLOGY_PARSE,
      /^t\.yaml:1:7 \(kind\): expected "dmasim-topology"/,
    );
    rejects(
      y.replace('  - bdf: "0000:00:14.0"', '  - bfd: "0000:00:14.0"'),
      't.yaml',
      ErrorCode.TOPOLOGY_PARSE,
      /functions\[3\]\): (missing field "bdf"|unknown field "bfd")/,
    );
  });

  it('names the line and field of consistency errors', () => {
    const y = formatTopology(t1, 'yaml');
    const lines = y.split('\n');
    const at = lines.findIndex((l) => l.includes('parent: "0000:02:00.0"')) + 1;
    rejects(
      y.replace('parent: "0000:02:00.0"', 'parent: "0000:09:00.0"'),
      't.yaml',
      ErrorCode.TOPOLOGY_INVALID,
      new RegExp(`^t\\.yaml:${at}:13 \\(functions\\[8\\]\\.parent\\): 0000:03:00\\.0: unknown parent 0000:09:00\\.0`),
    );
    const j = formatTopology(t1, 'json');
    const jl = j.split('\n').findIndex((l) => l.includes('"bdf":"0000:08:00.0"')) + 1;
    rejects(
      j.replace('"bdf":"0000:08:00.0"', '"bdf":"0000:04:00.0"'),
      't.json',
      ErrorCode.TOPOLOGY_INVALID,
      new RegExp(`^t\\.json:${jl}:\\d+ \\(functions\\[14\\]\\.bdf\\): duplicate device`),
    );
  });

  it('locates every value of a JSON file by its path', () => {
    for (const text of [formatTopology(gen, 'json'), JSON.stringify(gen, null, 3), JSON.stringify(gen)]) {
      gen.functions.forEach((f, i) => {
        for (const [k, v] of Object.entries(f)) {
          const at = locateJsonOffset(text, ['functions', i, k]);
          const want = v !== null && typeof v === 'object' ? (Array.isArray(v) ? '[' : '{') : JSON.stringify(v);
          assert.ok(text.startsWith(want, at), `functions[${i}].${k} at ${at}`);
        }
      });
      const hb = locateJsonOffset(text, ['hostBridges', 1, 'windows', 1, 'cpuEnd']);
      assert.ok(text.startsWith(JSON.stringify(gen.hostBridges[1]?.windows?.[1]?.cpuEnd), hb));
      const missing = locateJsonOffset(text, ['functions', 99999, 'bdf']);
      assert.ok(text.startsWith('[', missing), 'the closest existing ancestor');
    }
  });

  it('names the line of a consistency error near the end of a big JSON file', () => {
    const big = generateTopology({
      sockets: 4,
      rootPortsPerHostBridge: 8,
      switchDepth: 1,
      switchFanout: 8,
      bar32: false,
    });
    const last = big.functions.length - 1;
    (big.functions[last] as { parent: string | null }).parent = '0000:00:1f.7';
    const text = formatTopology(big, 'json');
    const line = text.split('\n').findIndex((l) => l.includes('"parent":"0000:00:1f.7"')) + 1;
    rejects(
      text,
      'big.json',
      ErrorCode.TOPOLOGY_INVALID,
      new RegExp(`^big\\.json:${line}:\\d+ \\(functions\\[${last}\\]\\.parent\\): .*unknown parent 0000:00:1f\\.7`),
    );
  });

  it('refuses YAML alias bombs', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`,
      ),
    ].join('\n');
    rejects(bomb, 'bomb.yaml', ErrorCode.TOPOLOGY_PARSE, /bomb\.yaml/);
  });
});

describe('dmasim topology file fuzzing', () => {
  const samples = [formatTopology(t1, 'json'), formatTopology(t1, 'yaml')];
  const okCodes = new Set<string>([ErrorCode.TOPOLOGY_PARSE, ErrorCode.TOPOLOGY_INVALID]);

  function check(text: string, file: string): void {
    try {
      parseTopologyFile(text, file);
    } catch (e) {
      assert.ok(isDmasimError(e), `not a DmasimError: ${String(e)}`);
      assert.ok(okCodes.has(e.code), `unexpected code ${e.code}`);
      assert.ok(e.message.startsWith(file), `message does not name the file: ${e.message}`);
    }
  }

  it('survives byte-level mutations (flip, delete, insert, truncate) with a clear DmasimError', () => {
    const mutation = fc.record({
      sample: fc.integer({ min: 0, max: samples.length - 1 }),
      edits: fc.array(
        fc.record({
          kind: fc.constantFrom('flip', 'delete', 'insert', 'truncate', 'duplicate'),
          at: fc.double({ min: 0, max: 1, noNaN: true }),
          len: fc.integer({ min: 1, max: 40 }),
          ch: fc.constantFrom(
            '{',
            '}',
            '[',
            ']',
            ':',
            ',',
            '"',
            '-',
            ' ',
            '\n',
            '&',
            '*',
            '!',
            '0',
            'x',
            '#',
            '\t',
            '\u0000',
            '\\',
          ),
        }),
        { minLength: 1, maxLength: 6 },
      ),
    });
    fc.assert(
      fc.property(mutation, ({ sample, edits }) => {
        let s = samples[sample] as string;
        for (const e of edits) {
          const i = Math.floor(e.at * s.length);
          if (e.kind === 'flip') s = s.slice(0, i) + e.ch + s.slice(i + 1);
          else if (e.kind === 'delete') s = s.slice(0, i) + s.slice(i + e.len);
          else if (e.kind === 'insert') s = s.slice(0, i) + e.ch.repeat(e.len) + s.slice(i);
          else if (e.kind === 'truncate') s = s.slice(0, i);
          else s = s.slice(0, i) + s.slice(i, i + e.len) + s.slice(i);
        }
        check(s, sample === 0 ? 'fuzz.json' : 'fuzz.yaml');
      }),
      { numRuns: 400, seed: 4242 },
    );
  });

  it('survives structural mutations of the spec (wrong types, missing and extra fields)', () => {
    const values = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.string({ maxLength: 8 }),
      fc.constant([]),
      fc.constant({}),
      fc.constant('0xffffffffffffffffff'),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: t1.functions.length - 1 }),
        fc.constantFrom(...Object.keys(t1.functions[8]!)),
        values,
        fc.boolean(),
        (i, key, v, remove) => {
          const s = structuredClone(t1) as unknown as { functions: Record<string, unknown>[] };
          const f = s.functions[i] as Record<string, unknown>;
          if (remove) delete f[key];
          else f[key] = v;
          check(JSON.stringify(s), 'fuzz.json');
        },
      ),
      { numRuns: 400, seed: 99 },
    );
  });

  it('survives arbitrary JSON values and deep nesting', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => check(JSON.stringify(v), 'fuzz.json')),
      { numRuns: 200, seed: 5 },
    );
    check(`${'['.repeat(100_000)}${']'.repeat(100_000)}`, 'deep.json');
    check(`${'- '.repeat(5_000)}x`, 'deep.yaml');
  });
});
