import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlushQueue, flushQueueOptions, IOVA_DEFAULT_FQ_SIZE } from './flush-queue.ts';
import type { IommuStep } from './iommu-steps.ts';
import { KernelContext } from './kernel-context.ts';

function setup(opts: { cpus?: number; hz?: number; timerCpu?: number; single?: boolean } = {}) {
  const steps: IommuStep[] = [];
  const released: { pfn: bigint; pages: bigint; cpu: number; queue: number }[] = [];
  const kernel = new KernelContext({
    cpus: opts.cpus ?? 1,
    hz: opts.hz ?? 1000,
    timerCpu: opts.timerCpu ?? 0,
    onStep: (s) => steps.push(s),
  });
  const fq = new FlushQueue(kernel, 5, flushQueueOptions(opts.single ?? false), (pfn, pages, cpu, queue) =>
    released.push({ pfn, pages, cpu, queue }),
  );
  return { kernel, fq, steps, released };
}

test('options: per-CPU 256 slots / 10 ms, or one 32768-slot queue / 1000 ms when the IOMMU shadows flushes', () => {
  assert.deepEqual(flushQueueOptions(false), { kind: 'per_cpu', size: 256, timeoutMs: 10 });
  assert.deepEqual(flushQueueOptions(true), { kind: 'single', size: 32768, timeoutMs: 1000 });
  assert.equal(setup({ cpus: 4 }).fq.snapshot().queues.length, 4);
  assert.equal(setup({ cpus: 4, single: true }).fq.snapshot().queues.length, 1);
});

test('a ring of 256 slots holds 255 entries; the 256th release flushes and releases them first', () => {
  const { fq, steps, released } = setup();
  for (let i = 0; i < 255; i++) fq.queueIova(BigInt(0x1000 + i), 1n, 0, 0);
  assert.equal(fq.pending, 255);
  assert.equal(released.length, 0);
  assert.equal(steps.filter((s) => s.kind === 'iova.fq_flush').length, 0);
  const mark = steps.length;
  fq.queueIova(0x2000n, 4n, 0, 0);
  const flush = steps[mark];
  assert.deepEqual(flush, {
    kind: 'iova.fq_flush',
    domainId: 5,
    reason: 'full',
    cpu: 0,
    flushStart: 1,
    flushFinish: 1,
    released: 255,
  });
  assert.equal(released.length, 255);
  assert.deepEqual(released[0], { pfn: 0x1000n, pages: 1n, cpu: 0, queue: 0 }, 'oldest first');
  assert.deepEqual(fq.snapshot().queues[0], [{ pfn: 0x2000n, pages: 4n, counter: 1 }]);
  const q = steps.at(-1);
  assert.ok(q?.kind === 'iova.free' && q.destination === 'flush_queue');
  assert.equal(q.counter, 1);
  assert.equal(q.timerArmedFor, null, 'the timer armed by the first entry is still pending');
  assert.equal(IOVA_DEFAULT_FQ_SIZE, 256);
});

test('a full flush on one CPU lets another CPU release its entries at its next queue_iova, on its own CPU', () => {
  const { fq, released } = setup({ cpus: 2 });
  fq.queueIova(0x500n, 1n, 1, 0);
  for (let i = 0; i < 256; i++) fq.queueIova(BigInt(0x1000 + i), 1n, 0, 0);
  assert.equal(released.length, 255);
  assert.ok(released.every((r) => r.cpu === 0 && r.queue === 0));
  assert.deepEqual(fq.snapshot().queues[1], [{ pfn: 0x500n, pages: 1n, counter: 0 }], 'CPU 1 has not looked yet');
  fq.queueIova(0x600n, 2n, 1, 0);
  assert.deepEqual(released.at(-1), { pfn: 0x500n, pages: 1n, cpu: 1, queue: 1 });
  assert.deepEqual(fq.snapshot().queues[1], [{ pfn: 0x600n, pages: 2n, counter: 1 }]);
});

test('the timer is armed once, at the jiffy the kernel computes, and releases every queue on the timer CPU', () => {
  const { kernel, fq, steps, released } = setup({ cpus: 3, timerCpu: 2 });
  fq.queueIova(0x10n, 1n, 0, 1_500_000);
  fq.queueIova(0x20n, 1n, 1, 2_000_000);
  assert.equal(fq.nextTimerAt(), 11_000_000, 'jiffy 1 + 10 at HZ=1000');
  fq.advanceTo(10_999_999);
  assert.equal(fq.pending, 2, 'not due yet');
  assert.equal(kernel.now, 0);
  const mark = steps.length;
  fq.advanceTo(11_000_000);
  assert.equal(steps[mark]?.kind, 'iova.fq_flush');
  assert.deepEqual(
    released.map((r) => [r.pfn, r.cpu, r.queue]),
    [
      [0x10n, 2, 0],
      [0x20n, 2, 1],
    ],
  );
  assert.equal(fq.nextTimerAt(), undefined);
  assert.equal(fq.pending, 0);
  fq.queueIova(0x30n, 1n, 0, 20_000_000);
  assert.equal(fq.nextTimerAt(), 30_000_000, 'a new release arms it again');
});

test('HZ=250: 10 ms is 3 jiffies of 4 ms; the expiry falls on a tick', () => {
  const { fq } = setup({ hz: 250 });
  fq.queueIova(1n, 1n, 0, 5_000_000); // jiffy 1 (4..8 ms)
  assert.equal(fq.nextTimerAt(), 16_000_000);
});

test('the single queue is shared by every CPU and releases into the queueing CPU', () => {
  const { fq, released } = setup({ cpus: 2, single: true });
  fq.queueIova(1n, 1n, 0, 0);
  fq.queueIova(2n, 1n, 1, 0);
  assert.deepEqual(fq.snapshot().queues, [
    [
      { pfn: 1n, pages: 1n, counter: 0 },
      { pfn: 2n, pages: 1n, counter: 0 },
    ],
  ]);
  assert.equal(fq.nextTimerAt(), 1_000_000_000);
  fq.fireTimer();
  assert.equal(released.length, 2);
});
