/** docs/EVENTS.md carries the event reference rendered from the schema; this keeps the two equal. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderEventSchemaMarkdown } from '@dmasim/core';

const DOC = new URL('../docs/EVENTS.md', import.meta.url);
const BEGIN = '<!-- schema:begin -->';
const END = '<!-- schema:end -->';

function rendered(text: string): string {
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  assert.ok(a >= 0 && b > a, 'docs/EVENTS.md lacks the schema markers');
  return text.slice(a + BEGIN.length, b).trim();
}

test('docs/EVENTS.md lists exactly the events of the schema (DMASIM_WRITE_DOCS=1 rewrites it)', () => {
  const text = readFileSync(DOC, 'utf8');
  const want = renderEventSchemaMarkdown().trim();
  if (process.env.DMASIM_WRITE_DOCS === '1') {
    const a = text.indexOf(BEGIN);
    const b = text.indexOf(END);
    writeFileSync(DOC, `${text.slice(0, a + BEGIN.length)}\n${want}\n${text.slice(b)}`);
    return;
  }
  assert.equal(
    rendered(text),
    want,
    'the event reference is stale: run DMASIM_WRITE_DOCS=1 node --conditions=@dmasim/source --test test/mapping-docs.test.ts',
  );
});
