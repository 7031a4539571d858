import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IommuStep } from './iommu-steps.ts';
import { KernelContext, type TimerOwner } from './kernel-context.ts';

const log = (text: string): IommuStep => ({
  kind: 'kernel.log',
  device: null,
  level: 'info',
  text,
  msg: 'dma_iommu.dac_notice',
  once: null,
});

test('defaults and validation', () => {
  const k = new KernelContext();
  assert.deepEqual([k.cpus, k.hz, k.forcedac, k.kdump, k.timerCpu, k.now], [1, 1000, false, false, 0, 0]);
  assert.throws(() => new KernelContext({ cpus: 0 }), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => new KernelContext({ cpus: 2, timerCpu: 2 }), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => k.checkCpu(1), /0\.\.0/);
});

test('msecs_to_jiffies rounds up; timer expiries fall on ticks', () => {
  const k = new KernelContext({ hz: 250 });
  assert.equal(k.msecsToJiffies(10), 3);
  assert.equal(k.msecsToJiffies(100), 25);
  assert.equal(k.timerExpiry(0, 10), 12_000_000);
  assert.equal(k.timerExpiry(3_999_999, 10), 12_000_000);
  assert.equal(k.timerExpiry(4_000_000, 10), 16_000_000);
  assert.equal(new KernelContext().timerExpiry(1_234_567, 10), 11_000_000);
});

test('advanceTo fires timers of every owner in time order, ties to the first registered, never backwards', () => {
  const k = new KernelContext();
  const fired: string[] = [];
  const owner = (name: string, times: number[]): TimerOwner => ({
    nextTimerAt: () => times[0],
    advanceTo: (t) => {
      while (times[0] !== undefined && times[0] <= t) {
        fired.push(`${name}@${times.shift()}`);
        if (name === 'a' && fired.length === 1) times.unshift(25); // a timer armed while firing
      }
    },
  });
  k.addTimerOwner(owner('a', [10, 30]));
  k.addTimerOwner(owner('b', [10, 20]));
  k.advanceTo(40);
  assert.deepEqual(fired, ['a@10', 'b@10', 'b@20', 'a@25', 'a@30']);
  assert.equal(k.now, 40);
  assert.throws(() => k.advanceTo(39), { code: 'INVALID_ARGUMENT' });
});

test('once, sinks and capture', () => {
  const seen: string[] = [];
  const k = new KernelContext({ onStep: (s) => seen.push(`default:${s.kind === 'kernel.log' ? s.text : ''}`) });
  assert.equal(k.once('x'), true);
  assert.equal(k.once('x'), false);
  k.markOnce('y');
  assert.deepEqual(k.onceFired(), ['x', 'y']);
  k.emit(log('1'));
  k.withSink(
    (s) => seen.push(`call:${s.kind === 'kernel.log' ? s.text : ''}`),
    () => {
      const { value, steps } = k.capture(() => {
        k.emit(log('child'));
        return 42;
      });
      assert.equal(value, 42);
      k.emit(log('parent'));
      k.emitAll(steps);
    },
  );
  k.emit(log('2'));
  assert.deepEqual(seen, ['default:1', 'call:parent', 'call:child', 'default:2']);
});
