/**
 * A sweep: a base scenario, axes that vary it, and seeds. The product of the axes and the seeds may reach
 * 10^6 scenarios or more, so nothing here materialises them: a scenario is computed from its index on
 * demand ({@link Sweep.scenarioAt}), shards are index ranges, and every scenario has a stable id derived
 * from the sweep id and its axis values (not from its position), so reordering axes' files or resubmitting
 * a sweep never renames a scenario.
 */
import { DmasimError, ErrorCode, parseError } from '../errors.ts';
import { canonicalJson, fnv1a64Hex } from '../hash.ts';
import { parseStructured, type StructuredFile, validateStructured } from '../structured-file.ts';
import { type PathStep, parsePath, setPath } from './json-path.ts';
import sweepSchema from './sweep.schema.json' with { type: 'json' };

/** The JSON Schema of sweep files (also published as `sweep.schema.json` beside this file). */
export const SWEEP_SCHEMA: object = sweepSchema;

/**
 * One axis of a sweep file: one field through a list of values (`path` + `values`), or several top-level
 * fields at once (`set`: objects whose fields replace the scenario's, e.g. a machine with its own
 * exporters and importers).
 */
export type SweepAxisSpec =
  | {
      /** Label for reports and `groupBy` (default: the path). */
      name?: string;
      /** Dotted path into the scenario (`iommu.mode`, `importers[0].dmaMask`). */
      path: string;
      /** The values the field takes, in order. */
      values: unknown[];
    }
  | {
      /** Label for reports and `groupBy` (required in practice; default `set<N>`). */
      name?: string;
      /** Objects whose top-level fields replace the scenario's. */
      set: Record<string, unknown>[];
    };

/** A sweep file (YAML or JSON), as validated by {@link SWEEP_SCHEMA}. */
export interface SweepSpec {
  kind: 'dmasim-sweep';
  version: 1;
  /** Sweep id: `[a-z0-9][a-z0-9_-]{0,63}`. */
  id: string;
  description?: string;
  /** The base scenario (plain JSON object). File references are resolved by the services before use. */
  base: Record<string, unknown>;
  axes?: SweepAxisSpec[];
  seeds: number[] | { start?: number; count: number };
  /** Scenarios per shard job (default: {@link DEFAULT_SHARD_SIZE}). */
  shardSize?: number;
  /** Scenarios per thread-pool task (default: derived). */
  taskSize?: number;
  /** Axis names forming a configuration group in reports (default: all axes). */
  groupBy?: string[];
}

/** One point of a sweep. */
export interface SweepPoint {
  /** Position in the sweep (0-based); shards are ranges of these. */
  readonly index: number;
  /** Stable id: `<sweepId>-<16 hex digits of the axis values and seed>`. */
  readonly id: string;
  /** The value of each axis at this point, in axis order. */
  readonly values: readonly unknown[];
  readonly seed: number;
  /** The configuration group (axis name -> value as canonical JSON) for reports. */
  readonly group: Readonly<Record<string, string>>;
  /** The scenario: the base with every axis applied and `seed` set. */
  readonly scenario: Record<string, unknown>;
}

/** Default scenarios per shard: enough that a shard takes seconds, few enough for fair spreading. */
export const DEFAULT_SHARD_SIZE = 64;

interface Axis {
  readonly name: string;
  readonly path: string;
  /** Field path, or null for a `set` axis (values merged at the top level). */
  readonly steps: readonly PathStep[] | null;
  readonly values: readonly unknown[];
  readonly keys: readonly string[];
  /** How each value is shown in report groups: its canonical JSON, or for `set` values their `name`. */
  readonly labels: readonly string[];
}

/** A validated sweep, able to compute any of its points from an index. */
export class Sweep {
  readonly spec: SweepSpec;
  readonly id: string;
  readonly size: number;
  readonly shardSize: number;
  readonly shardCount: number;
  /** Axis name, path (`''` for a `set` axis) and number of values. */
  readonly axes: readonly { name: string; path: string; count: number }[];
  readonly groupBy: readonly string[];
  private readonly ax: readonly Axis[];
  private readonly seeds: { list?: readonly number[]; start: number; count: number };

  constructor(spec: SweepSpec, file = '<sweep>') {
    this.spec = spec;
    this.id = spec.id;
    const names = new Set<string>();
    this.ax = (spec.axes ?? []).map((a, i) => {
      const isSet = 'set' in a;
      const hasPath = 'path' in a || 'values' in a;
      if (isSet === hasPath || (hasPath && !('path' in a && 'values' in a))) {
        throw parseError(
          ErrorCode.SWEEP_SPEC_INVALID,
          { file, field: `/axes/${i}` },
          'an axis has either "path" and "values", or "set"',
        );
      }
      const name = a.name ?? (isSet ? `set${i}` : a.path);
      if (names.has(name))
        throw parseError(
          ErrorCode.SWEEP_SPEC_INVALID,
          { file, field: `/axes/${i}/name` },
          `axis name "${name}" is used twice`,
        );
      names.add(name);
      let steps: PathStep[] | null = null;
      if (!isSet) {
        try {
          steps = parsePath(a.path);
        } catch (e) {
          throw parseError(ErrorCode.SWEEP_SPEC_INVALID, { file, field: `/axes/${i}/path` }, (e as Error).message);
        }
      }
      const values: unknown[] = isSet ? a.set : a.values;
      const keys = values.map((v) => canonicalJson(v));
      const dup = keys.findIndex((k, j) => keys.indexOf(k) !== j);
      if (dup >= 0) {
        throw parseError(
          ErrorCode.SWEEP_SPEC_INVALID,
          { file, field: `/axes/${i}/${isSet ? 'set' : 'values'}/${dup}` },
          `axis "${name}" lists the value ${keys[dup]!.slice(0, 60)} twice: every value must be distinct`,
        );
      }
      const labels = isSet
        ? values.map((v, j) => {
            const n = (v as { name?: unknown }).name;
            return typeof n === 'string' ? JSON.stringify(n) : keys[j]!;
          })
        : keys;
      const dupLabel = labels.findIndex((k, j) => labels.indexOf(k) !== j);
      if (dupLabel >= 0) {
        throw parseError(
          ErrorCode.SWEEP_SPEC_INVALID,
          { file, field: `/axes/${i}/set/${dupLabel}/name` },
          `axis "${name}" names two of its values ${labels[dupLabel]}: names must be distinct`,
        );
      }
      return { name, path: isSet ? '' : a.path, steps, values, keys, labels };
    });
    const s = spec.seeds;
    this.seeds = Array.isArray(s) ? { list: s, start: 0, count: s.length } : { start: s.start ?? 1, count: s.count };
    if (Array.isArray(s) && new Set(s).size !== s.length) {
      throw parseError(ErrorCode.SWEEP_SPEC_INVALID, { file, field: '/seeds' }, 'a seed is listed twice');
    }
    let size = this.seeds.count;
    for (const a of this.ax) size *= a.values.length;
    if (!Number.isSafeInteger(size) || size > 2 ** 40) {
      throw parseError(
        ErrorCode.SWEEP_SPEC_INVALID,
        { file },
        `the sweep has ${size} scenarios, more than dmasim supports (2^40)`,
      );
    }
    this.size = size;
    this.shardSize = spec.shardSize ?? DEFAULT_SHARD_SIZE;
    this.shardCount = Math.ceil(size / this.shardSize);
    this.axes = this.ax.map((a) => ({ name: a.name, path: a.path, count: a.values.length }));
    const groupBy = spec.groupBy ?? this.ax.map((a) => a.name);
    for (const [i, g] of groupBy.entries()) {
      if (!names.has(g))
        throw parseError(
          ErrorCode.SWEEP_SPEC_INVALID,
          { file, field: `/groupBy/${i}` },
          `"${g}" is not the name of an axis (axes: ${[...names].join(', ') || 'none'})`,
        );
    }
    this.groupBy = groupBy;
  }

  /** The seed at seed position `k`. */
  private seedAt(k: number): number {
    return this.seeds.list ? this.seeds.list[k]! : this.seeds.start + k;
  }

  /** The point at `index` (0 <= index < size). Seeds vary fastest, then the last axis, ..., the first axis. */
  scenarioAt(index: number): SweepPoint {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `scenario index ${index} is outside sweep ${this.id} (0..${this.size - 1})`,
      );
    }
    let rest = index;
    const seed = this.seedAt(rest % this.seeds.count);
    rest = Math.floor(rest / this.seeds.count);
    const picks: number[] = new Array(this.ax.length);
    for (let i = this.ax.length - 1; i >= 0; i--) {
      const n = this.ax[i]!.values.length;
      picks[i] = rest % n;
      rest = Math.floor(rest / n);
    }
    let scenario: unknown = this.spec.base;
    const values: unknown[] = [];
    const keys: string[] = [];
    const group: Record<string, string> = {};
    for (let i = 0; i < this.ax.length; i++) {
      const a = this.ax[i]!;
      const v = a.values[picks[i]!];
      values.push(v);
      keys.push(a.keys[picks[i]!]!);
      if (this.groupBy.includes(a.name)) group[a.name] = a.labels[picks[i]!]!;
      scenario = a.steps ? setPath(scenario, a.steps, v, a.path) : { ...(scenario as object), ...(v as object) };
    }
    scenario = setPath(scenario, ['seed'], seed, 'seed');
    const id = `${this.id}-${fnv1a64Hex(`${keys.join('\u0000')}\u0001${seed}`)}`;
    return { index, id, values, seed, group, scenario: scenario as Record<string, unknown> };
  }

  /** Index range `[start, end)` of shard `k`. */
  shardRange(k: number): { start: number; end: number } {
    if (!Number.isInteger(k) || k < 0 || k >= this.shardCount) {
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `shard ${k} is outside sweep ${this.id} (0..${this.shardCount - 1})`,
      );
    }
    const start = k * this.shardSize;
    return { start, end: Math.min(this.size, start + this.shardSize) };
  }

  /**
   * One representative point per axis value (each axis value at least once, others at their first value),
   * for validating a sweep without expanding its product.
   */
  *representatives(): Generator<SweepPoint> {
    for (const r of this.representativeOrigins()) yield r.point;
  }

  /**
   * {@link representatives} with where each comes from: `axis`/`value` name the axis value it stands for
   * (`null` for the first point, which stands for the base and every axis' first value), so that an invalid
   * point can be reported at that value's line in the sweep file.
   */
  *representativeOrigins(): Generator<{ point: SweepPoint; axis: number | null; value: number | null }> {
    yield { point: this.scenarioAt(0), axis: null, value: null };
    let stride = this.seeds.count;
    const strides: number[] = new Array(this.ax.length);
    for (let i = this.ax.length - 1; i >= 0; i--) {
      strides[i] = stride;
      stride *= this.ax[i]!.values.length;
    }
    for (let i = 0; i < this.ax.length; i++) {
      for (let v = 1; v < this.ax[i]!.values.length; v++)
        yield { point: this.scenarioAt(v * strides[i]!), axis: i, value: v };
    }
  }

  /** JSON pointer of an axis value in the sweep file (`/axes/1/values/2`, or `/axes/0/set/1`). */
  axisValuePointer(axis: number, value: number): string {
    return `/axes/${axis}/${this.ax[axis]!.steps ? 'values' : 'set'}/${value}`;
  }
}

/** Parses and validates a sweep file (YAML or JSON). Errors name the file, line and field. */
export function parseSweepFile(text: string, file: string): Sweep {
  return parseSweepSource(text, file).sweep;
}

/** {@link parseSweepFile}, also returning the parsed file for locating fields (`source.locate(pointer)`). */
export function parseSweepSource(text: string, file: string): { sweep: Sweep; source: StructuredFile } {
  const f = parseStructured(text, file, ErrorCode.SWEEP_SPEC_INVALID);
  const spec = validateStructured<SweepSpec>(f, SWEEP_SCHEMA, ErrorCode.SWEEP_SPEC_INVALID);
  try {
    return { sweep: new Sweep(spec, file), source: f };
  } catch (e) {
    // Re-locate field errors raised by the constructor.
    const field = (e as DmasimError).details?.field;
    if (typeof field === 'string') {
      const pos = f.locate(field);
      if (pos)
        throw parseError(
          ErrorCode.SWEEP_SPEC_INVALID,
          { file, line: pos.line, column: pos.column },
          (e as Error).message.replace(/^.*?: /, ''),
        );
    }
    throw e;
  }
}
