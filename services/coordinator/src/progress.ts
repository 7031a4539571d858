/**
 * Shows a sweep's progress: a progress bar (cli-progress) when the stream is a terminal, plain log lines
 * otherwise (at most one every `intervalMs`, plus the last one), so CI logs and pipes stay readable.
 */
import { SingleBar } from 'cli-progress';
import type { SweepProgress } from './coordinator.ts';

/** Formats seconds as `1h02m`, `3m05s` or `42s`. */
export function formatDuration(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '?';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** One log line for a progress report. */
export function progressLine(p: SweepProgress): string {
  const pct = p.totalScenarios ? (100 * p.doneScenarios) / p.totalScenarios : 100;
  return (
    `sweep ${p.sweepId}: ${p.doneScenarios}/${p.totalScenarios} scenarios (${pct.toFixed(1)}%), ` +
    `${p.doneShards}/${p.totalShards} shards, ${p.scenariosPerSecond.toFixed(1)} scenarios/s, ETA ${formatDuration(p.etaSeconds)}` +
    (p.resumedShards ? `, ${p.resumedShards} shards resumed` : '')
  );
}

/** A progress display; call `update` with each report and `stop` at the end. */
export interface ProgressDisplay {
  update(p: SweepProgress): void;
  stop(): void;
}

/** A bar on a TTY, log lines elsewhere. `stream` defaults to stderr. */
export function progressDisplay(
  opts: { stream?: NodeJS.WriteStream; intervalMs?: number; quiet?: boolean } = {},
): ProgressDisplay {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { update() {}, stop() {} };
  if (stream.isTTY) {
    const bar = new SingleBar({
      stream,
      format: 'sweep {sweep} [{bar}] {percentage}% | {value}/{total} scenarios | {rate}/s | ETA {eta_h}',
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    });
    let started = false;
    return {
      update(p) {
        const payload = {
          sweep: p.sweepId,
          rate: p.scenariosPerSecond.toFixed(0),
          eta_h: formatDuration(p.etaSeconds),
        };
        if (!started) {
          bar.start(p.totalScenarios, p.doneScenarios, payload);
          started = true;
        } else {
          bar.update(p.doneScenarios, payload);
        }
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  const interval = opts.intervalMs ?? 2000;
  let lastAt = -Infinity;
  let last: SweepProgress | undefined;
  let lastPrinted: SweepProgress | undefined;
  return {
    update(p) {
      last = p;
      const t = performance.now();
      if (t - lastAt >= interval || p.doneScenarios === p.totalScenarios) {
        if (lastPrinted && lastPrinted.doneScenarios === p.doneScenarios && p.doneScenarios === p.totalScenarios)
          return;
        lastAt = t;
        lastPrinted = p;
        stream.write(`${progressLine(p)}\n`);
      }
    },
    stop() {
      if (last && last.doneScenarios !== lastPrinted?.doneScenarios) stream.write(`${progressLine(last)}\n`);
    },
  };
}
