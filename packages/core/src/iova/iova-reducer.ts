/**
 * Rebuilds IOVA domain state from step records alone: {@link applyIovaStep} applies the facts a step
 * carries (nodes inserted and removed, magazine moves, cached nodes, `max32_alloc_size`, trim-job times) to
 * a domain, without searching. Applying every step a live domain emitted, in order, to a fresh domain made
 * with the same options yields a deep-equal `snapshot()` after every step (tested in
 * test/iova-reducer.test.ts).
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import type { IovaDomain } from './iova-domain.ts';
import type { IovaStep } from './iova-steps.ts';

function mismatch(problem: string): DmasimError {
  return new DmasimError(ErrorCode.STATE_HASH_MISMATCH, `IOVA step does not fit the domain state: ${problem}`);
}

/**
 * Applies one step's facts to `d`. Throws STATE_HASH_MISMATCH when the step cannot apply to the state
 * (a node it names does not exist): the log and the state have diverged.
 */
export function applyIovaStep(d: IovaDomain, step: IovaStep): void {
  const rc = d.rcaches;
  switch (step.kind) {
    case 'iova.alloc': {
      if (!step.flushed && step.bin >= 0) {
        if (step.magSwap) rc.swap(step.bin, step.cpu);
        if (step.depotPop) rc.depotPopToLoaded(step.bin, step.cpu);
        if (step.popIndex >= 0) rc.takeAt(step.bin, step.cpu, step.popIndex);
      }
      if (step.inserted) d.applyInsert(step.pfnLo, step.pfnHi);
      d.applyCached(step.cachedLo, step.cached32Lo, step.max32After);
      return;
    }
    case 'iova.free': {
      if (step.destination === 'rcache') {
        if (step.magSwap) rc.swap(step.bin, step.cpu);
        rc.push(step.bin, step.cpu, step.pfn);
      } else if (step.destination === 'tree') {
        if (!d.applyRemove(step.pfnLo)) throw mismatch(`no node holds pfn ${step.pfnLo}`);
        d.applyCached(step.cachedLo, step.cached32Lo, step.max32After);
      }
      return;
    }
    case 'iova.rcache_flush': {
      rc.clearAll();
      let removed = 0;
      for (const pfn of step.pfns) if (d.applyRemove(pfn)) removed++;
      if (removed !== step.nodesRemoved)
        throw mismatch(`flush removed ${removed} nodes, the step says ${step.nodesRemoved}`);
      d.applyCached(step.cachedLo, step.cached32Lo, step.max32After);
      return;
    }
    case 'iova.depot': {
      if (step.action === 'push') {
        rc.depotPush(step.bin, step.cpu);
        if (step.trimAt >= 0) d.applyTrimAt(step.bin, step.trimAt);
        return;
      }
      if (step.popped) {
        const m = rc.depotPop(step.bin);
        let removed = 0;
        for (let i = 0; i < m.size; i++) if (d.applyRemove(m.pfns[i]!)) removed++;
        rc.release(m);
        if (removed !== step.nodesRemoved)
          throw mismatch(`trim removed ${removed} nodes, the step says ${step.nodesRemoved}`);
      }
      d.applyTrimAt(step.bin, step.trimAt);
      d.applyCached(step.cachedLo, step.cached32Lo, step.max32After);
      return;
    }
    case 'iova.reserve': {
      if (step.outcome === 'rejected') return;
      const s = step.stretched;
      for (let i = 0; i + 1 < s.length; i += 2) d.applyStretch(s[i]!, s[i + 1]!);
      if (step.outcome === 'inserted') d.applyInsert(step.nodeLo, step.nodeHi);
      return;
    }
  }
}
