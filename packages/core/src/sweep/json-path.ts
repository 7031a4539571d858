/**
 * Dotted paths into plain JSON trees, as sweep axes use them: `iommu.mode`, `importers[0].dmaMask`,
 * `topology.generate.sockets`.
 */
import { DmasimError, ErrorCode } from '../errors.ts';

/** One step of a path: an object key or an array index. */
export type PathStep = string | number;

/** Splits `a.b[2].c` into `['a', 'b', 2, 'c']`. */
export function parsePath(path: string): PathStep[] {
  const steps: PathStep[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\./gy;
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(path); m !== null; m = re.exec(path)) {
    last = re.lastIndex;
    if (m[1] !== undefined) steps.push(m[1]);
    else if (m[2] !== undefined) steps.push(Number(m[2]));
  }
  if (last !== path.length || steps.length === 0) {
    throw new DmasimError(
      ErrorCode.INVALID_ARGUMENT,
      `not a field path: "${path}" (expected e.g. iommu.mode or importers[0].dmaMask)`,
    );
  }
  return steps;
}

/**
 * Returns a copy of `root` with the value at `steps` replaced by `value`. Containers along the path are
 * copied (the input is never changed); missing object keys are created; an array index must exist or be
 * the next free index.
 */
export function setPath(root: unknown, steps: readonly PathStep[], value: unknown, pathText: string): unknown {
  const [head, ...rest] = steps;
  if (head === undefined) return value;
  if (typeof head === 'number') {
    if (!Array.isArray(root))
      throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `${pathText}: [${head}] applied to a non-list`);
    if (head > root.length)
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `${pathText}: index ${head} past the end of a list of ${root.length}`,
      );
    const copy = root.slice();
    copy[head] = setPath(root[head], rest, value, pathText);
    return copy;
  }
  if (root !== undefined && (root === null || typeof root !== 'object' || Array.isArray(root))) {
    throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `${pathText}: field "${head}" applied to a non-object`);
  }
  const obj = (root ?? {}) as Record<string, unknown>;
  return { ...obj, [head]: setPath(obj[head], rest, value, pathText) };
}

/** The value at `steps`, or undefined. */
export function getPath(root: unknown, steps: readonly PathStep[]): unknown {
  let v: unknown = root;
  for (const s of steps) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[s];
  }
  return v;
}
