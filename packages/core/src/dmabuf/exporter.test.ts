/** SG entry counting/filling in every helper version (kernel-model.md 3.3, 7.2) and the vfio-pci exporter checks (3.1). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { P2pdmaProvider } from '../p2p/p2pdma-state.ts';
import { calcSgNents, maxSgEntrySize, splitExtent } from './sg-table.ts';
import { type VfioDeviceView, vfioAttachResult, vfioCheckDmabufExport, vfioPinResult } from './vfio-exporter.ts';

const G = 1n << 30n;

test('MAX_SG_ENT_SZ for each variant and page size', () => {
  assert.equal(maxSgEntrySize('page_aligned', 4096), 0xfffff000n);
  assert.equal(maxSgEntrySize('page_aligned', 16384), 0xffffc000n);
  assert.equal(maxSgEntrySize('page_aligned', 65536), 0xffff0000n);
  assert.equal(maxSgEntrySize('uint_max', 4096), 0xffffffffn);
  assert.equal(maxSgEntrySize('sz_2g', 4096), 0x80000000n);
});

test('splitting: the lengths of Appendix C item 3 in each variant', () => {
  const a = 0x1000000000n;
  const lens = (len: bigint, v: 'page_aligned' | 'uint_max' | 'sz_2g') =>
    splitExtent(len, a, v, 4096).map((e) => [e.dmaAddress - a, e.dmaLength]);
  assert.deepEqual(lens(0xfffff000n, 'page_aligned'), [[0n, 0xfffff000]]);
  assert.deepEqual(lens(0x100000000n, 'page_aligned'), [
    [0n, 0xfffff000],
    [0xfffff000n, 0x1000],
  ]);
  assert.deepEqual(lens(0x180000000n, 'page_aligned'), [
    [0n, 0xfffff000],
    [0xfffff000n, 0x80001000],
  ]);
  assert.deepEqual(lens(0xfffff000n + 0x1000n, 'uint_max'), [
    [0n, 0xffffffff],
    [0xffffffffn, 0x1],
  ]);
  assert.deepEqual(lens(0x180000000n, 'sz_2g'), [
    [0n, 0x80000000],
    [0x80000000n, 0x80000000],
    [0x100000000n, 0x80000000],
  ]);
});

test('calc_sg_nents: per range vs IOVA mode, and the 32-bit overflow (checked -> 0, first version wraps)', () => {
  assert.equal(calcSgNents([0x200000n, 0x180000000n], 0x180200000n, false, 'page_aligned', 4096), 3);
  assert.equal(calcSgNents([0x200000n, 0x180000000n], 0x180200000n, true, 'page_aligned', 4096), 2);
  const huge = [0xfffff000n * 0x80000000n, 0xfffff000n * 0x80000000n];
  assert.equal(calcSgNents(huge, 0n, false, 'page_aligned', 4096), 0, 'sum 2^32 overflows: 0 entries (-EINVAL)');
  assert.equal(
    calcSgNents([0xffffffffn * 0x80000000n, 0xffffffffn * 0x80000000n], 0n, false, 'uint_max', 4096),
    0,
    'wraps to 0 in 32 bits',
  );
  assert.equal(
    calcSgNents([0xffffffffn * 0x80000001n, 0xffffffffn * 0x80000000n], 0n, false, 'uint_max', 4096),
    1,
    'wraps',
  );
});

const BAR_START = 0x380000000000n;
const BAR_LEN = 32n * G;
const provider: P2pdmaProvider = { bar: 1, owner: '0000:c1:00.0', busOffset: 0n, cpuStart: BAR_START, length: BAR_LEN };

function dev(over: Partial<VfioDeviceView> = {}): VfioDeviceView {
  return {
    p2pdmaEnabled: true,
    getDmabufPhys: true,
    provider: (b) => (b === 1 ? provider : null),
    bar: (b) => (b === 1 ? { start: BAR_START, len: BAR_LEN } : { start: 0n, len: 0n }),
    registered: true,
    memoryEnabled: true,
    ...over,
  };
}

const ok = { regionIndex: 1, ranges: [{ offset: 0n, length: 0x200000n }] };

test('vfio-pci export: one failing input per row of kernel-model.md 3.1, in the kernel order', () => {
  const cases: [string, Partial<VfioDeviceView>, Partial<typeof ok> & Record<string, unknown>, number, string][] = [
    ['no CONFIG_PCI_P2PDMA', { p2pdmaEnabled: false }, {}, -95, 'p2pdma_disabled'],
    ['1 no get_dmabuf_phys', { getDmabufPhys: false }, {}, -95, 'no_get_dmabuf_phys'],
    ['2 feature SET', {}, { feature: 'set' }, -22, 'feature_not_get'],
    ['2 argsz too small', {}, { argsz: 8 }, -22, 'argsz_too_small'],
    ['3 nr_ranges 0', {}, { ranges: [] }, -22, 'nr_ranges_zero'],
    ['3 flags', {}, { flags: 1 }, -22, 'flags_nonzero'],
    ['4 ROM region', {}, { regionIndex: 6 }, -19, 'region_index'],
    ['5 length 0', {}, { ranges: [{ offset: 0n, length: 0n }] }, -22, 'range_length_zero'],
    ['5 unaligned offset', {}, { ranges: [{ offset: 0x800n, length: 0x1000n }] }, -22, 'range_unaligned'],
    ['5 unaligned length', {}, { ranges: [{ offset: 0n, length: 0x1800n }] }, -22, 'range_unaligned'],
    [
      '6 sum overflows 64 bits',
      {},
      {
        ranges: [
          { offset: 0n, length: 0xfffffffffffff000n },
          { offset: 0n, length: 0x2000n },
        ],
      },
      -22,
      'length_overflow',
    ],
    ['7 bit 63', {}, { ranges: [{ offset: 0n, length: 1n << 63n }] }, -22, 'length_bit63'],
    ['8 no provider (not a memory BAR)', {}, { regionIndex: 2 }, -22, 'no_provider'],
    ['9 paddr overflow', {}, { ranges: [{ offset: 0xffffc80000000000n, length: 0x1000n }] }, -75, 'paddr_overflow'],
    ['10 beyond the BAR', {}, { ranges: [{ offset: BAR_LEN - 0x1000n, length: 0x2000n }] }, -22, 'range_beyond_bar'],
    ['11 registration gone', { registered: false }, {}, -19, 'not_registered'],
  ];
  for (const [name, d, req, errno, check] of cases) {
    const out = vfioCheckDmabufExport(dev(d), { ...ok, ...req } as never, 4096);
    assert.deepEqual(out.ok ? 'ok' : [out.errno, out.check], [errno, check], name);
  }
});

test('vfio-pci export: the per-range checks run range by range (an early -EINVAL beats a later -EOVERFLOW)', () => {
  const out = vfioCheckDmabufExport(
    dev(),
    {
      regionIndex: 1,
      ranges: [
        { offset: BAR_LEN, length: 0x1000n },
        { offset: 0xffffc80000000000n, length: 0x1000n },
      ],
    },
    4096,
  );
  assert.ok(!out.ok && out.check === 'range_beyond_bar');
});

test('vfio-pci export: overlap, order and duplicates are not checked; revoked when decoding is off; PROBE creates nothing', () => {
  const out = vfioCheckDmabufExport(
    dev({ memoryEnabled: false }),
    {
      regionIndex: 1,
      ranges: [
        { offset: 0x10000n, length: 0x2000n },
        { offset: 0x10000n, length: 0x2000n },
        { offset: 0n, length: 0x1000n },
      ],
    },
    4096,
  );
  assert.ok(out.ok);
  assert.deepEqual(out.physVec, [
    { paddr: BAR_START + 0x10000n, len: 0x2000n },
    { paddr: BAR_START + 0x10000n, len: 0x2000n },
    { paddr: BAR_START, len: 0x1000n },
  ]);
  assert.equal(out.size, 0x5000n);
  assert.equal(out.revoked, true);
  assert.equal(out.provider, provider);
  const probe = vfioCheckDmabufExport(dev(), { ...ok, feature: 'probe' }, 4096);
  assert.ok(probe.ok && probe.probe && probe.physVec.length === 0);
});

test('attach needs peer2peer and an unrevoked buffer; pinning depends on the kernel version', () => {
  assert.equal(vfioAttachResult(false, false), -95);
  assert.equal(vfioAttachResult(true, true), -19);
  assert.equal(vfioAttachResult(false, true), -95, 'peer2peer is checked first');
  assert.equal(vfioAttachResult(true, false), 0);
  assert.equal(vfioPinResult(false), -95, '6.19: pin refused');
  assert.equal(vfioPinResult(true), 0, '7.0: no pin op, a no-op success');
});
