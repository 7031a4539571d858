#!/usr/bin/env node
// The dmasim command. Runs the built CLI (dist/) when it exists and is not older than its sources'
// build marker; otherwise, or with DMASIM_FROM_SOURCE=1, runs the TypeScript sources directly (Node 24
// strips types), resolving workspace packages to their sources through the "@dmasim/source" condition.
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';

const dist = new URL('../dist/main.js', import.meta.url);
const fromSource = process.env.DMASIM_FROM_SOURCE === '1' || !existsSync(dist);
if (fromSource) {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const conditions = [...(context.conditions ?? []), '@dmasim/source'];
      return nextResolve(specifier, { ...context, conditions });
    },
  });
  await import(new URL('../src/main.ts', import.meta.url).href);
} else {
  await import(dist.href);
}
