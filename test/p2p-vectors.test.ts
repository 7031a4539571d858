/**
 * Conformance: every pair of every file in ../shared/vectors/p2p/ (recorded by running the kernel's own p2pdma.c
 * decision code) must match in every field: mapType, distance, acsList, log (verbose) and logQuiet, as the vector
 * README's "How to use" says. The same pairs also go through the DMA-buf entry point pciP2pdmaMapType with a
 * fresh provider state (what the mapping code calls), which must agree too.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { checkP2pVectors, parseP2pVectorFile, pcimP2pdmaInit, pciP2pdmaMapType } from '@dmasim/core';

const dir = new URL('../../shared/vectors/p2p/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.ndjson'))
  .sort();

describe('p2p conformance vectors', () => {
  it('finds the vector files', () => {
    assert.ok(files.length >= 3, `expected the public vector files in ${dir.pathname}, found ${files.join(', ')}`);
  });

  for (const name of files) {
    const text = readFileSync(new URL(name, dir), 'utf8');
    const rawPairs = text
      .trim()
      .split('\n')
      .slice(1)
      .reduce((n, l) => n + (JSON.parse(l) as { pairs: unknown[] }).pairs.length, 0);

    it(`${name}: every field of every pair matches`, () => {
      const vectors = parseP2pVectorFile(text, name);
      const r = checkP2pVectors(vectors);
      assert.deepEqual(r.mismatches, []);
      assert.equal(r.failed, 0);
      assert.equal(r.passed, rawPairs, 'every pair of the file was checked');
      assert.ok(rawPairs > 0);
    });

    it(`${name}: pciP2pdmaMapType on a fresh provider state agrees`, () => {
      const vectors = parseP2pVectorFile(text, name);
      let n = 0;
      for (const c of vectors.cases) {
        for (const p of c.pairs) {
          const init = pcimP2pdmaInit(c.topology, p.provider);
          assert.equal(init.ret, 0);
          const d = pciP2pdmaMapType(init.state, p.client, c.topology);
          const where = `${c.id} ${p.provider} -> ${p.client}`;
          assert.equal(d.cacheHit, false, where);
          assert.equal(d.result, p.mapType, where);
          assert.equal(d.distance, p.distance, where);
          assert.equal(d.acsList, p.acsList, where);
          assert.deepEqual(
            d.log.map((l) => `${l.device}: ${l.text}`),
            p.log,
            where,
          );
          const again = pciP2pdmaMapType(init.state, p.client, c.topology);
          assert.deepEqual([again.cacheHit, again.result, again.log.length], [true, p.mapType, 0], `${where} (cached)`);
          n++;
        }
      }
      assert.equal(n, rawPairs);
    });

    it(`${name}: a changed expectation is reported (the check is not vacuous)`, () => {
      const lines = text.trim().split('\n');
      const o = JSON.parse(lines[1] as string) as { pairs: { distance: number; logQuiet: string[] }[] };
      (o.pairs[0] as { distance: number }).distance += 1;
      (o.pairs[0] as { logQuiet: string[] }).logQuiet = ['0000:00:00.0: invented'];
      lines[1] = JSON.stringify(o);
      const r = checkP2pVectors(parseP2pVectorFile(lines.join('\n'), name));
      assert.equal(r.failed, 1);
      assert.deepEqual(
        r.mismatches.map((m) => m.field),
        ['distance', 'logQuiet'],
      );
    });
  }
});
