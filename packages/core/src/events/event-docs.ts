/**
 * The event-type reference of docs/EVENTS.md, rendered from the schema (a test keeps the document and
 * the schema equal, so the reference cannot go stale).
 */
import { EVENT_SCHEMA, EVENT_SCHEMA_VERSION, type EventDef } from './event-schema.ts';
import { describeKind } from './field-kinds.ts';

/** Markdown: one section per event type with its id, ftrace counterpart, description and fields. */
export function renderEventSchemaMarkdown(): string {
  const out: string[] = [`Schema version ${EVENT_SCHEMA_VERSION}. Field kinds: see "Field kinds" above.`, ''];
  const defs = Object.entries(EVENT_SCHEMA) as [string, EventDef][];
  out.push('| id | event | ftrace | what |', '|---|---|---|---|');
  for (const [type, d] of defs)
    out.push(`| ${d.id} | [\`${type}\`](#${anchor(type)}) | ${d.ftrace ? `\`${d.ftrace}\`` : 'none'} | ${d.doc} |`);
  out.push('');
  for (const [type, d] of defs) {
    out.push(`### ${type}`, '', `id ${d.id}; ftrace ${d.ftrace ? `\`${d.ftrace}\`` : 'none'}. ${d.doc}`, '');
    out.push('| field | kind |', '|---|---|');
    for (const [name, kind] of Object.entries(d.fields)) out.push(`| \`${name}\` | ${describeKind(kind)} |`);
    out.push('');
  }
  return out.join('\n');
}

function anchor(type: string): string {
  return type.replace(/\./g, '').toLowerCase();
}
