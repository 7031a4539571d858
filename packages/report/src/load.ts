/**
 * Reading result sets: a sweep output folder (`sweep.json` + `results.ndjson`, aggregated here in one
 * streaming pass) or a `report.json`.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { aggregateSweep, DmasimError, ErrorCode, type ShardResultLike, Sweep, type SweepReport } from '@dmasim/core';

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `${file}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new DmasimError(ErrorCode.REPORT_INVALID, `${file}: not JSON (${(e as Error).message})`);
  }
}

/** Checks the fields the page reads; a full check is the JSON Schema (`REPORT_SCHEMA`). */
export function asReport(v: unknown, file: string): SweepReport {
  const r = v as Partial<SweepReport> | null;
  if (!r || typeof r !== 'object' || r.kind !== 'dmasim-report' || r.version !== 1) {
    throw new DmasimError(
      ErrorCode.REPORT_INVALID,
      `${file}: expected a dmasim report (kind "dmasim-report", version 1), found ${r && typeof r === 'object' ? `kind ${JSON.stringify(r.kind)}` : typeof v}`,
    );
  }
  if (!r.overall || !Array.isArray(r.groups)) {
    throw new DmasimError(ErrorCode.REPORT_INVALID, `${file}: report without "overall" or "groups"`);
  }
  return { ...(r as SweepReport), machines: r.machines ?? [] };
}

async function* shardLines(file: string): AsyncGenerator<ShardResultLike> {
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (!text.trim()) continue;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new DmasimError(
        ErrorCode.REPORT_INVALID,
        `${file}:${line}:1: not a JSON shard result (${(e as Error).message})`,
      );
    }
    if (!v || typeof v !== 'object' || !Array.isArray((v as ShardResultLike).scenarios)) {
      throw new DmasimError(
        ErrorCode.REPORT_INVALID,
        `${file}:${line}:1: expected a shard result with "scenarios", found ${text.slice(0, 40)}`,
      );
    }
    yield v as ShardResultLike;
  }
}

/** Where a result set came from, for the page and messages. */
export interface LoadedResults {
  report: SweepReport;
  /** The folder or file given. */
  source: string;
  /** The sweep output folder (where `events.dmlog` is), or null for a bare report.json elsewhere. */
  folder: string | null;
}

/**
 * Loads RESULTS: a folder with `sweep.json` and `results.ndjson` (aggregated now, so the report reflects the
 * current aggregation), a folder with only `report.json`, or a `report.json` file.
 * @throws DmasimError INVALID_ARGUMENT (nothing readable there), REPORT_INVALID (bad content)
 */
export async function loadResults(path: string): Promise<LoadedResults> {
  if (!existsSync(path)) throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `${path}: no such file or folder`);
  if (statSync(path).isDirectory()) {
    const sweepFile = join(path, 'sweep.json');
    const results = join(path, 'results.ndjson');
    if (existsSync(sweepFile) && existsSync(results)) {
      const sweep = new Sweep(readJson(sweepFile) as never, sweepFile);
      const report = await aggregateSweep(sweep, shardLines(results));
      return { report, source: path, folder: path };
    }
    const rj = join(path, 'report.json');
    if (existsSync(rj)) return { report: asReport(readJson(rj), rj), source: rj, folder: path };
    throw new DmasimError(
      ErrorCode.INVALID_ARGUMENT,
      `${path}: expected a sweep output folder (sweep.json and results.ndjson) or a report.json in it`,
    );
  }
  return { report: asReport(readJson(path), path), source: path, folder: null };
}
