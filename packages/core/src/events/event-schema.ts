/**
 * The versioned, typed event schema of dmasim (kernel-model.md section 5, plus the simulator's own
 * lifecycle, policy, hazard and error events). One event per kernel-visible step, in kernel order.
 *
 * {@link EVENT_SCHEMA} is data: for every event type its stable numeric id (used by the binary codec),
 * the ftrace event it corresponds to (if any), a description, and its fields as {@link FieldKind}s in
 * encoding order. The TypeScript types ({@link SimEvent}, {@link EventData}), the binary codec, the NDJSON
 * form, validation and docs/EVENTS.md are all derived from this one table.
 *
 * Compatibility rules: ids are never reused; a new event type gets a new id; any change to the fields of
 * an existing type (added, removed, reordered, re-kinded) raises {@link EVENT_SCHEMA_VERSION}, and golden
 * logs under test/golden/ must then be re-recorded with a note saying why.
 */
import { type FieldsType, list, oneOf, opt, struct } from './field-kinds.ts';

/** Version of the event schema (field lists). Raised on every change to an existing event type. */
export const EVENT_SCHEMA_VERSION = 1;

/** DMA direction as the `dma` tracepoints print it (kernel-model.md 6.3). */
export const DMA_DIRECTION = oneOf('BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE');
/** P2PDMA map types that `pci_p2pdma_map_type` can return (kernel-model.md 2.0). */
export const MAP_TYPE = oneOf('NOT_SUPPORTED', 'BUS_ADDR', 'THRU_HOST_BRIDGE');
/** How a DMA-buf mapping was made: the helper's three modes, or system memory after a migration. */
export const MAPPING_MODE = oneOf('bus_addr', 'iova', 'per_range', 'system', 'none');
/** The IOMMU situation of a device: the DMA API path its default domain selects (kernel-model.md 1.6). */
export const IOMMU_MODE = oneOf('off', 'identity', 'dma', 'dma-fq');
/** What the IOMMU does when a link maps over an already mapped IOVA (kernel-model.md 3.8-1, 7.5-1). */
export const LINK_COLLISION = oneOf('fail', 'overwrite', 'keep');

/** Hazard kinds: the faithful-but-harmful behaviours of kernel-model.md 2.6, 2.7 and 3.8, flagged. */
export const HAZARD_KIND = oneOf(
  /** 3.8-1: a second range linked at offset 0 over the first (IOVA mode, nr_ranges >= 2). */
  'link_overlap',
  /** 3.8-1: part of the IOVA block is not mapped at all (after overwrite/keep), device access faults. */
  'unmapped_tail',
  /** 3.8-2: a range longer than MAX_SG_ENT_SZ mapped once but released entry by entry. */
  'split_unmap',
  /** 3.8-3: an IOVA release smaller than the node that holds it. */
  'release_size_mismatch',
  /** 3.8-4: the IOVA block leaked by a failure of the first link (IOVA mode, i = 0). */
  'iova_leak',
  /** 3.8-5: pfn 0 put into rcache bin 0 by unmapping an unfilled {0, 0} entry. */
  'phantom_pfn0',
  /** 3.8-2: a pfn cached in an rcache that the tree does not hold (or holds for someone else). */
  'phantom_rcache',
  /** 3.8-2: two live mappings handed the same IOVA. */
  'iova_double_use',
  /** 2.6: two clients share one map-type cache key (32-bit wrap of the segment). */
  'cache_key_collision',
  /** 2.6: a cached map type differs from what the topology gives now (the cache is never invalidated). */
  'stale_cache',
  /** 2.7: more than nine names: the ACS list was cut at 127 characters. */
  'acs_list_truncated',
  /** 2.7: the PCI tree then writes its terminator one byte past the 128-byte buffer. */
  'acs_list_oob_write',
  /** 8.6: a BUS_ADDR entry lies above the importer's DMA mask (nothing checks it). */
  'bus_addr_unreachable',
  /** 3.2-6: `mapped_len != size` (32-bit `mapped_len` of the first helper version). */
  'mapped_len_mismatch',
  /** 3.2-7: fewer SG entries filled than allocated. */
  'unfilled_entries',
  /** The SG fill would run past the allocated table (a kernel crash; only with the unchecked nents sum). */
  'sg_overrun',
  /** 3.4.7: `iommu_unmap` unmapped less than requested (stops at the first hole). */
  'short_unmap',
);

/** Simulation operations, for `error` events and trace re-drive. */
export const SIM_OP = oneOf('export', 'attach', 'map', 'unmap', 'detach', 'revoke', 'restore', 'close', 'migrate');

const RANGE = struct({ paddr: 'u64', len: 'u64' });
const SG_ENTRY = struct({ dmaAddress: 'u64', dmaLength: 'u32' });

/** One event type: stable id, matching ftrace event (or null: simulation only), doc, fields. */
export interface EventDef {
  readonly id: number;
  readonly ftrace: string | null;
  readonly doc: string;
  readonly fields: import('./field-kinds.ts').Fields;
}

/** The event schema. See the file comment for the compatibility rules. */
export const EVENT_SCHEMA = {
  'sim.begin': {
    id: 1,
    ftrace: null,
    doc: 'First event of a run: what was simulated.',
    fields: {
      schemaVersion: 'u32',
      seed: 'num',
      topologyId: 'str',
      /** canonical hash of the scenario spec the run was made from */
      configHash: 'str',
      pageSize: 'u32',
      onlineCpus: 'u32',
    },
  },
  'sim.state_hash': {
    id: 3,
    ftrace: null,
    doc: 'Checkpoint: the live state hash at this point of the run (replay must reproduce it).',
    fields: { stateHash: 'str', events: 'num' },
  },
  'sim.end': {
    id: 4,
    ftrace: null,
    doc: 'Last event of a run, with the final live state hash.',
    fields: { stateHash: 'str', events: 'num' },
  },
  'p2p.provider_init': {
    id: 10,
    ftrace: null,
    doc: '`pcim_p2pdma_init` for an exporting function: one provider per memory BAR (kernel-model.md 1.5).',
    fields: {
      device: 'str',
      result: 'int',
      providers: list(struct({ bar: 'u32', cpuStart: 'u64', len: 'u64', busOffset: 'u64' })),
    },
  },
  'p2p.map_type': {
    id: 11,
    ftrace: null,
    doc: '`pci_p2pdma_map_type(provider, client)` (kernel-model.md 2.1-2.6), with the cache hit or miss and why.',
    fields: {
      provider: opt('str'),
      client: opt('str'),
      /** `(segment << 16) | (bus << 8) | devfn` wrapped to 32 bits, as an unsigned value; null when not computed */
      cacheKey: opt('u32'),
      cacheHit: 'bool',
      result: MAP_TYPE,
      resultValue: 'u32',
      /** null when nothing was computed (cache hit, no provider state, non-PCI client) */
      distance: opt('int'),
      commonAncestor: opt('str'),
      acsNodes: list('str'),
      /** the list as the kernel's 128-byte buffer holds it (text after `pci=disable_acs_redir=`) */
      acsList: 'str',
      acsRedirect: 'bool',
      decidedBy: oneOf(
        'no_provider_state',
        'non_pci_client',
        'cache',
        'common_bridge',
        'cpu_rule',
        'whitelist',
        'whitelist_same_bridge_flag',
        'not_whitelisted',
      ),
      /** the host bridges the whitelist test looked at, in order */
      hostBridges: list(
        struct({
          hostBridge: 'str',
          device: opt('str'),
          id: opt('str'),
          sameHostBridge: 'bool',
          listed: 'bool',
          reason: oneOf('no_device', 'listed', 'same_bridge_flag', 'not_listed'),
        }),
      ),
    },
  },
  'dmabuf.export': {
    id: 20,
    ftrace: 'dma_buf:dma_buf_export',
    doc: 'An exporter creates a dma-buf (vfio-pci: VFIO_DEVICE_FEATURE_DMA_BUF, kernel-model.md 3.1), or fails to.',
    fields: {
      dmabufId: 'num',
      exporter: 'str',
      exporterKind: oneOf('vfio-pci', 'movable'),
      bar: 'int',
      /** the ranges as asked for: offsets relative to the BAR start */
      request: list(struct({ offset: 'u64', length: 'u64' })),
      /** the physical ranges (`phys_vec`), empty on failure */
      ranges: list(RANGE),
      size: 'u64',
      expName: 'str',
      ino: 'num',
      revoked: 'bool',
      result: 'int',
      /** which check of kernel-model.md 3.1 refused the request, or null */
      check: opt('str'),
    },
  },
  'dmabuf.attach': {
    id: 21,
    ftrace: 'dma_buf:dma_buf_dynamic_attach',
    doc: 'An importer attaches (kernel-model.md 3.1 Attach).',
    fields: {
      dmabufId: 'num',
      attachmentId: 'num',
      importer: 'str',
      isDynamic: 'bool',
      peer2peer: 'bool',
      result: 'int',
    },
  },
  'dmabuf.pin': {
    id: 22,
    ftrace: null,
    doc: 'The dma-buf core pins for an importer that needs it (non-dynamic or pinning importer); vfio-pci refuses in 6.19-era kernels.',
    fields: {
      dmabufId: 'num',
      attachmentId: 'num',
      /** `attach`: a pinning importer pins after attaching; `map`: the core pins at map time */
      at: oneOf('attach', 'map'),
      result: 'int',
    },
  },
  'dmabuf.map.begin': {
    id: 23,
    ftrace: null,
    doc: 'The exporter map callback is entered.',
    fields: {
      dmabufId: 'num',
      attachmentId: 'num',
      mappingId: 'num',
      dir: DMA_DIRECTION,
      nrRanges: 'u32',
      size: 'u64',
      revoked: 'bool',
      backing: oneOf('bar', 'system'),
    },
  },
  'dmabuf.map.end': {
    id: 24,
    ftrace: null,
    doc: 'The mapping helper returns (kernel-model.md 3.2 step 7, or 3.5).',
    fields: {
      dmabufId: 'num',
      attachmentId: 'num',
      mappingId: 'num',
      mode: MAPPING_MODE,
      nents: 'u32',
      entries: list(SG_ENTRY),
      result: 'int',
      warnings: list(oneOf('mapped_len_mismatch', 'unfilled_entries', 'link_overlap', 'sg_overrun')),
      /** the IOVA state (`addr`, `__size`) in IOVA mode, else null */
      iovaAddr: opt('u64'),
      iovaSize: opt('u64'),
      size: 'u64',
      mappedLen: 'u64',
    },
  },
  'dmabuf.map.cleanup': {
    id: 25,
    ftrace: null,
    doc: 'The error path of the helper (kernel-model.md 3.5).',
    fields: {
      mappingId: 'num',
      kind: oneOf('none', 'iova_destroy', 'unmap_entries'),
      failedIndex: 'u32',
      mappedLen: 'u64',
      leaked: opt(struct({ pfnLo: 'u64', pfnHi: 'u64' })),
      phantomPfns: list(struct({ cpu: 'u32', bin: 'u32', pfn: 'u64' })),
    },
  },
  'dmabuf.unmap': {
    id: 26,
    ftrace: null,
    doc: 'The exporter unmap callback (kernel-model.md 3.6).',
    fields: {
      dmabufId: 'num',
      attachmentId: 'num',
      mappingId: 'num',
      mode: MAPPING_MODE,
      reason: oneOf('importer', 'move_notify', 'detach'),
    },
  },
  'dmabuf.revoke': {
    id: 27,
    ftrace: null,
    doc: 'The exporter revokes or restores a dma-buf (memory decode off/on, device close) and notifies importers.',
    fields: {
      dmabufId: 'num',
      revoked: 'bool',
      reason: oneOf('decode_off', 'decode_on', 'close'),
      attachmentsNotified: list('num'),
    },
  },
  'dmabuf.detach': {
    id: 28,
    ftrace: 'dma_buf:dma_buf_detach',
    doc: 'An importer detaches.',
    fields: {
      dmabufId: 'num',
      attachmentId: 'num',
      importer: 'str',
      isDynamic: 'bool',
      /** `importer`: the importer detached; `pin_failed`: the attach was undone because pinning was refused */
      reason: oneOf('importer', 'pin_failed'),
    },
  },
  'exporter.policy': {
    id: 30,
    ftrace: null,
    doc: 'The movable-memory exporter decides, per attachment, from the map type (kernel-model.md 8.1).',
    fields: {
      dmabufId: 'num',
      attachmentId: 'num',
      importer: 'str',
      mapType: MAP_TYPE,
      decision: oneOf('keep_p2p', 'migrate', 'refuse'),
    },
  },
  'exporter.migrate': {
    id: 31,
    ftrace: null,
    doc: 'The movable-memory exporter moves a buffer between device memory (BAR) and system memory.',
    fields: {
      dmabufId: 'num',
      to: oneOf('system', 'device'),
      bytes: 'u64',
      /** the new backing store's physical ranges */
      ranges: list(RANGE),
      attachmentsNotified: list('num'),
    },
  },
  'kernel.log': {
    id: 40,
    ftrace: null,
    doc: 'A line the kernel would print to dmesg (kernel-model.md 2.7, 4.2, 3.4.6, WARN_ONs).',
    fields: {
      device: opt('str'),
      level: oneOf('err', 'warn', 'notice', 'info'),
      text: 'str',
      /** stable identifier of the message (`dma_iommu.dac_notice`, `p2pdma.acs_redirect`, ...) */
      msg: 'str',
      /** the `*_ONCE` call-site key when printed once per boot, else null */
      once: opt('str'),
    },
  },
  'device.fault': {
    id: 41,
    ftrace: 'iommu:io_page_fault',
    doc: 'The importer accessed an IOVA that is not mapped (kernel-model.md 3.8-1).',
    fields: { device: 'str', iova: 'u64', flags: 'u32', mappingId: opt('num') },
  },
  hazard: {
    id: 42,
    ftrace: null,
    doc: 'A faithful but harmful kernel behaviour happened (kernel-model.md 2.6, 2.7, 3.8).',
    fields: {
      kind: HAZARD_KIND,
      device: opt('str'),
      domainId: opt('u32'),
      dmabufId: opt('num'),
      mappingId: opt('num'),
      iova: opt('u64'),
      size: opt('u64'),
      text: 'str',
    },
  },
  error: {
    id: 43,
    ftrace: null,
    doc: 'A simulated operation failed: the errno the caller gets and why.',
    fields: {
      op: SIM_OP,
      errno: 'int',
      code: 'str',
      message: 'str',
      device: opt('str'),
      dmabufId: opt('num'),
      attachmentId: opt('num'),
      mappingId: opt('num'),
    },
  },
  // ---- DMA API, IOMMU-DMA and IOVA allocator: the step records of iommu/iommu-steps.ts and
  // ---- iova/iova-steps.ts, field for field (events/step-events.ts checks the correspondence at compile time).
  'dma.iova_try_alloc': {
    id: 50,
    ftrace: null,
    doc: '`dma_iova_try_alloc` (kernel-model.md 3.4.1); its `iova.alloc` events follow.',
    fields: {
      device: 'str',
      domainId: opt('u32'),
      phys: 'u64',
      size: 'u64',
      alignedSize: 'u64',
      dmaMask: 'u64',
      result: oneOf('ok', 'no_dma_iommu', 'deferred_attach_failed', 'size_zero', 'size_too_big', 'no_iova'),
      addr: 'u64',
    },
  },
  'iova.alloc': {
    id: 51,
    ftrace: null,
    doc: 'One `alloc_iova` / `alloc_iova_fast` call (kernel-model.md 4.3, 4.4): the path taken and the facts a reducer needs. pfns are numbers (exact below 2^53); -1 means none.',
    fields: {
      api: oneOf('alloc_iova', 'alloc_iova_fast'),
      cpu: 'u32',
      pagesRequested: 'num',
      pagesEffective: 'num',
      limitPfn: 'num',
      sizeAligned: 'bool',
      flush: 'bool',
      source: oneOf('rcache', 'tree', 'tree_after_flush', 'fail'),
      bin: 'int',
      pfnLo: 'int',
      pfnHi: 'int',
      magSwap: 'bool',
      depotPop: 'bool',
      popIndex: 'int',
      phantom: 'bool',
      flushed: 'bool',
      inserted: 'bool',
      fastFail: 'bool',
      secondPass: 'bool',
      nodesVisited: 'num',
      passes: 'num',
      max32Before: 'num',
      cachedMoved: 'bool',
      cached32Moved: 'bool',
      cachedLo: 'int',
      cached32Lo: 'int',
      max32After: 'num',
      domainId: 'u32',
      device: opt('str'),
      caller: opt(oneOf('try_alloc', 'map_phys')),
      phase: opt(oneOf('32bit', 'full')),
    },
  },
  'iova.dac_switch': {
    id: 52,
    ftrace: null,
    doc: 'The 32-bit-first rule gives up for a device for good: "Using N-bit DMA addresses" (kernel-model.md 4.2).',
    fields: { device: 'str', domainId: 'u32', bits: 'u32' },
  },
  'iova.rcache_flush': {
    id: 53,
    ftrace: null,
    doc: 'A failing `alloc_iova_fast(..., flush = true)` empties every range cache into the tree (kernel-model.md 4.3).',
    fields: {
      cpu: 'u32',
      pfnsPerBin: list('num'),
      magazinesFreed: 'num',
      pfns: list('num'),
      nodesRemoved: 'num',
      notFound: 'num',
      cachedLo: 'int',
      cached32Lo: 'int',
      max32After: 'num',
      domainId: 'u32',
    },
  },
  'dma.iova_link': {
    id: 54,
    ftrace: null,
    doc: '`dma_iova_link` (kernel-model.md 3.4.2), with `overlap` when the target IOVA was already mapped (hazard 3.8-1); its `iommu.map` follows.',
    fields: {
      device: 'str',
      domainId: 'u32',
      stateAddr: 'u64',
      offset: 'u64',
      phys: 'u64',
      size: 'u64',
      dir: DMA_DIRECTION,
      attrs: 'u32',
      iova: 'u64',
      mapSize: 'u64',
      result: 'int',
      reason: opt(oneOf('pad_offset', 'swiotlb', 'iommu_map')),
      overlap: 'bool',
    },
  },
  'iommu.map': {
    id: 55,
    ftrace: 'iommu:map',
    doc: 'A successful IOMMU map (kernel-model.md 3.4.2, 3.4.6).',
    fields: {
      domainId: 'u32',
      iova: 'u64',
      paddr: 'u64',
      size: 'u64',
      prot: 'u32',
      collision: oneOf('none', 'overwrite', 'keep'),
    },
  },
  'dma.iova_sync': {
    id: 56,
    ftrace: null,
    doc: '`dma_iova_sync` (kernel-model.md 3.4.4).',
    fields: { device: 'str', domainId: 'u32', addr: 'u64', size: 'u64', result: 'int' },
  },
  'dma.map_phys': {
    id: 57,
    ftrace: 'dma:dma_map_phys',
    doc: '`dma_map_phys` (kernel-model.md 3.4.6), after its `iova.alloc` and `iommu.map`; `dmaAddr` is all ones on failure.',
    fields: {
      device: 'str',
      domainId: opt('u32'),
      physAddr: 'u64',
      size: 'u64',
      dir: DMA_DIRECTION,
      attrs: 'u32',
      path: oneOf('direct', 'iommu'),
      dmaAddr: 'u64',
      reason: opt(
        oneOf(
          'mask',
          'swiotlb_force',
          'swiotlb_untrusted',
          'min_align',
          'no_iova',
          'iommu_map',
          'deferred_attach_failed',
        ),
      ),
    },
  },
  'dma.unmap_phys': {
    id: 58,
    ftrace: 'dma:dma_unmap_phys',
    doc: '`dma_unmap_phys` (kernel-model.md 3.4.7), after its `iommu.unmap` and `iova.free`.',
    fields: {
      device: 'str',
      domainId: opt('u32'),
      dmaAddr: 'u64',
      size: 'u64',
      dir: DMA_DIRECTION,
      attrs: 'u32',
      path: oneOf('direct', 'iommu'),
    },
  },
  'iommu.unmap': {
    id: 59,
    ftrace: 'iommu:unmap',
    doc: 'An IOMMU unmap (kernel-model.md 3.4.7, 3.4.8, and the unroll of a failed map).',
    fields: { domainId: 'u32', iova: 'u64', size: 'u64', unmappedSize: 'u64', unroll: 'bool' },
  },
  'dma.iova_destroy': {
    id: 60,
    ftrace: null,
    doc: '`dma_iova_destroy` / `dma_iova_free` / `dma_iova_unlink` (kernel-model.md 3.4.8); `released` is what the caller computes, not what was allocated.',
    fields: {
      device: 'str',
      domainId: 'u32',
      op: oneOf('destroy', 'free', 'unlink'),
      stateAddr: 'u64',
      mappedLen: 'u64',
      released: opt(struct({ pfn: 'u64', pages: 'u64' })),
      queued: 'bool',
    },
  },
  'iova.free': {
    id: 61,
    ftrace: null,
    doc: 'A release by `free_iova_fast`, `free_iova` or `__free_iova` (kernel-model.md 4.5): rcache, tree or not found; `fqQueue` names the flush queue it left, if any.',
    fields: {
      api: oneOf('free_iova', '__free_iova', 'free_iova_fast'),
      cpu: 'u32',
      pfn: 'num',
      pages: 'int',
      destination: oneOf('rcache', 'tree', 'not_found'),
      bin: 'int',
      magSwap: 'bool',
      pfnLo: 'int',
      pfnHi: 'int',
      cachedMoved: 'bool',
      cached32Moved: 'bool',
      max32Reset: 'bool',
      cachedLo: 'int',
      cached32Lo: 'int',
      max32After: 'num',
      domainId: 'u32',
      fqQueue: opt('u32'),
    },
  },
  'iova.queue': {
    id: 62,
    ftrace: null,
    doc: '`queue_iova` (kernel-model.md 4.6.3): a release parked in a flush queue (section 5 row 20, destination `flush_queue`).',
    fields: {
      domainId: 'u32',
      cpu: 'u32',
      queue: 'u32',
      pfn: 'num',
      pages: 'num',
      counter: 'num',
      timerArmedFor: opt('num'),
    },
  },
  'iova.fq_flush': {
    id: 63,
    ftrace: null,
    doc: 'A flush-queue flush, queue full or timer (kernel-model.md 4.6.3); the releases follow as `iova.free`.',
    fields: {
      domainId: 'u32',
      reason: oneOf('full', 'timer'),
      cpu: 'u32',
      flushStart: 'num',
      flushFinish: 'num',
      released: 'num',
    },
  },
  'iova.depot': {
    id: 64,
    ftrace: null,
    doc: "A full magazine pushed to a bin's depot, or the 100 ms trim job (kernel-model.md 4.6.2, 4.6.4).",
    fields: {
      action: oneOf('push', 'trim'),
      bin: 'u32',
      cpu: 'int',
      depotSize: 'num',
      trimAt: 'int',
      popped: 'bool',
      pfnsReturned: 'num',
      nodesRemoved: 'num',
      notFound: 'num',
      cachedLo: 'int',
      cached32Lo: 'int',
      max32After: 'num',
      domainId: 'u32',
    },
  },
  'iommu.domain_init': {
    id: 66,
    ftrace: null,
    doc: '`iommu_dma_init_domain` for the first device of a group (kernel-model.md 4.1): the IOVA domain and flush queue; its `iova.reserve` events follow.',
    fields: {
      domainId: 'u32',
      device: 'str',
      type: oneOf('dma', 'dma_fq'),
      granule: 'u64',
      startPfn: 'u64',
      cpus: 'u32',
      linkCollision: LINK_COLLISION,
      flushQueue: opt(struct({ kind: oneOf('per_cpu', 'single'), size: 'u32', timeoutMs: 'u32' })),
    },
  },
  'dma.device_setup': {
    id: 67,
    ftrace: null,
    doc: '`iommu_setup_dma_ops` at probe: the DMA API path of a device and its initial 32-bit-first flag (kernel-model.md 1.6, 4.2).',
    fields: {
      device: 'str',
      domainId: opt('u32'),
      domainType: opt(oneOf('identity', 'dma', 'dma_fq', 'blocked', 'unmanaged')),
      dmaIommu: 'bool',
      pci32bitWorkaround: 'bool',
      init: opt(oneOf('first', 'already', 'dma_range_outside', 'incompatible_range', 'reserve_failed')),
    },
  },
  'exporter.memory': {
    id: 32,
    ftrace: null,
    doc: "The exporting device's memory decoding turned off or on, or the device closed (vfio-pci revoke trigger, kernel-model.md 3.1).",
    fields: { device: 'str', memoryEnabled: 'bool', registered: 'bool' },
  },
  'iova.reserve': {
    id: 65,
    ftrace: null,
    doc: '`reserve_iova` at domain init (kernel-model.md 4.1).',
    fields: {
      pfnLo: 'num',
      pfnHi: 'num',
      outcome: oneOf('inserted', 'covered', 'rejected'),
      stretched: list('num'),
      nodeLo: 'int',
      nodeHi: 'int',
      domainId: 'u32',
    },
  },
} as const satisfies Record<string, EventDef>;

/** Every event type name. */
export type EventType = keyof typeof EVENT_SCHEMA;

/** The payload (`data`) of an event of type `T`. */
export type EventData<T extends EventType> = FieldsType<(typeof EVENT_SCHEMA)[T]['fields']>;

/** Where an event came from: the simulator, or a kernel ftrace capture (issue 7). */
export type EventOrigin = 'sim' | 'ftrace';

/** Fields every event carries (kernel-model.md 5, "Common fields"). */
export interface EventEnvelope {
  /** Scenario the event belongs to. */
  scenarioId: string;
  /** Gapless sequence number within the scenario, from 0. */
  seq: number;
  /** Virtual time in nanoseconds (non-decreasing along `seq`). */
  tNs: number;
  /** CPU the step ran on (selects per-CPU IOVA caches and flush queues). */
  cpu: number;
  origin: EventOrigin;
}

/** One event: the envelope plus a typed payload. A discriminated union on `type`. */
export type SimEvent<T extends EventType = EventType> = T extends EventType
  ? EventEnvelope & { type: T; data: EventData<T> }
  : never;

/** Event types by numeric id. */
export const EVENT_TYPE_BY_ID: ReadonlyMap<number, EventType> = new Map(
  (Object.keys(EVENT_SCHEMA) as EventType[]).map((t) => [EVENT_SCHEMA[t].id, t]),
);

/** True if `t` names an event type of this schema. */
export function isEventType(t: string): t is EventType {
  return Object.hasOwn(EVENT_SCHEMA, t);
}
