/**
 * Sweeps name topologies (and their base scenario) by file. Before a sweep is recorded, every file
 * reference is read and replaced by its content, so workers on other machines need no access to the
 * coordinator's files and a sweep's results never depend on files changing later.
 *
 * References resolved: `base: { file }` (a scenario file), `base.topology: { file }`, the values of an
 * axis whose path is `topology` that are `{ file }`, and `topology: { file }` inside the objects of a `set`
 * axis. Paths are relative to the sweep file's folder.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { getPath, parsePath, type SweepSpec } from '@dmasim/core';

/** Reads what the references point at. Each returns plain JSON. */
export interface FileReaders {
  /** Reads a scenario file. */
  scenario(path: string): Record<string, unknown>;
  /** Reads a topology: a dmasim topology file, an lspci/hwloc/sysfs input or a real-machine folder. */
  topology(path: string): unknown;
}

const isFileRef = (v: unknown): v is { file: string } =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  typeof (v as { file?: unknown }).file === 'string' &&
  Object.keys(v).length === 1;

/** Returns a copy of the sweep with every file reference replaced by `{ inline: ... }`. */
export function resolveSweepFiles(spec: SweepSpec, sweepFile: string, read: FileReaders): SweepSpec {
  const dir = dirname(sweepFile);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(dir, p));
  const cache = new Map<string, unknown>();
  const topo = (ref: { file: string }): unknown => {
    const p = abs(ref.file);
    if (!cache.has(p)) cache.set(p, read.topology(p));
    return { inline: cache.get(p) };
  };
  let base = spec.base;
  if (isFileRef(base)) base = read.scenario(abs(base.file));
  const baseTopology = getPath(base, ['topology']);
  if (isFileRef(baseTopology)) base = { ...base, topology: topo(baseTopology) };
  const axes = spec.axes?.map((a) => {
    if ('set' in a) {
      return { ...a, set: a.set.map((v) => (isFileRef(v.topology) ? { ...v, topology: topo(v.topology) } : v)) };
    }
    const steps = parsePath(a.path);
    if (steps.length === 1 && steps[0] === 'topology')
      return { ...a, values: a.values.map((v) => (isFileRef(v) ? topo(v) : v)) };
    return a;
  });
  return { ...spec, base, ...(axes ? { axes } : {}) };
}
