/**
 * Domain errors of dmasim. Every error carries a stable string `code` from {@link ErrorCode}, a message a
 * user can act on, optional structured `details`, and whether a retry can help. Errors cross worker-thread
 * and process boundaries as plain data ({@link toPlainError}) and are rebuilt on the other side
 * ({@link fromPlainError}); test `code`, not `instanceof`.
 */

/** Stable error codes. Never rename one: users and stored results match on them. */
export const ErrorCode = {
  /** Input that is not of the expected form (generic; prefer a more specific code). */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** The IOVA allocator found no range under the limit. */
  IOVA_EXHAUSTED: 'IOVA_EXHAUSTED',
  /** An IOVA operation named a range or node that does not exist. */
  IOVA_NOT_FOUND: 'IOVA_NOT_FOUND',
  /** A pfn, limit or size is outside what the IOVA domain represents (see docs/IOVA.md). */
  IOVA_OUT_OF_RANGE: 'IOVA_OUT_OF_RANGE',
  /** A conformance vector file is malformed. */
  VECTOR_PARSE: 'VECTOR_PARSE',
  /** The P2PDMA map type is NOT_SUPPORTED for the pair. */
  P2P_NOT_SUPPORTED: 'P2P_NOT_SUPPORTED',
  /** A topology file could not be parsed. */
  TOPOLOGY_PARSE: 'TOPOLOGY_PARSE',
  /** A topology is inconsistent (unknown parent, duplicate device, bus outside its bridge's range...). */
  TOPOLOGY_INVALID: 'TOPOLOGY_INVALID',
  /** A named device is not in the topology. */
  DEVICE_NOT_FOUND: 'DEVICE_NOT_FOUND',
  /** Topology generator parameters or topology overrides (--cpu, --host-bridge-id, --acs, --iommu) are invalid. */
  TOPOLOGY_PARAMS_INVALID: 'TOPOLOGY_PARAMS_INVALID',
  /** A scenario file is invalid. */
  SCENARIO_INVALID: 'SCENARIO_INVALID',
  /** A sweep file is invalid. */
  SWEEP_SPEC_INVALID: 'SWEEP_SPEC_INVALID',
  /** An event log or frame could not be decoded. */
  EVENT_DECODE: 'EVENT_DECODE',
  /** An event log has a gap in its sequence numbers. */
  EVENT_SEQ_GAP: 'EVENT_SEQ_GAP',
  /** An event log was written by an unknown codec or schema version. */
  EVENT_VERSION: 'EVENT_VERSION',
  /** A replayed state hash differs from the recorded one. */
  STATE_HASH_MISMATCH: 'STATE_HASH_MISMATCH',
  /** A kernel ftrace capture could not be parsed. */
  TRACE_PARSE: 'TRACE_PARSE',
  /** A required server (Redis, NATS) is unreachable; retryable. */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  /** The event stream refused a write because it is full. */
  STREAM_FULL: 'STREAM_FULL',
  /** A sweep or job was cancelled. */
  CANCELLED: 'CANCELLED',
  /** An invariant of dmasim itself was broken: a bug. */
  INTERNAL: 'INTERNAL',
  /** A DMA API call the kernel would BUG or oops on (invalid direction, IOVA calls without IOMMU-DMA). */
  DMA_API_MISUSE: 'DMA_API_MISUSE',
  /** dma-direct: the address range lies above min_not_zero(DMA mask, bus limit). */
  DMA_MASK_UNREACHABLE: 'DMA_MASK_UNREACHABLE',
  /** An MMIO mapping would need swiotlb bouncing (swiotlb=force, or an untrusted device and unaligned range). */
  DMA_SWIOTLB_MMIO: 'DMA_SWIOTLB_MMIO',
  /** The device's min_align_mask exceeds the IOVA granule ("Unsupported alignment constraint"). */
  DMA_ALIGN_UNSUPPORTED: 'DMA_ALIGN_UNSUPPORTED',
  /** The device has no dma_mask pointer. */
  DMA_NO_MASK: 'DMA_NO_MASK',
  /** The deferred IOMMU attach of a kdump kernel failed. */
  DMA_DEFERRED_ATTACH: 'DMA_DEFERRED_ATTACH',
  /** The device does not use IOMMU-DMA (no IOMMU, identity/passthrough or blocked domain, failed setup). */
  DMA_NO_IOMMU: 'DMA_NO_IOMMU',
  /** dma_iova_link of a granule-unaligned address at a non-zero offset (-EIO). */
  DMA_IOVA_PAD_OFFSET: 'DMA_IOVA_PAD_OFFSET',
  /** The IOMMU map failed: unaligned, outside the aperture, over live entries (-EADDRINUSE) or a driver error. */
  IOMMU_MAP_FAILED: 'IOMMU_MAP_FAILED',
  /** The IOMMU driver's sync-after-map hook failed. */
  IOMMU_SYNC_FAILED: 'IOMMU_SYNC_FAILED',
  /** iommu_dma_init_domain failed for a device, which then keeps dma-direct. */
  IOMMU_SETUP_FAILED: 'IOMMU_SETUP_FAILED',
  /** A report input (report.json, results.ndjson of a sweep) is malformed. */
  REPORT_INVALID: 'REPORT_INVALID',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes for which a retry of the same work can succeed. Everything else is final. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([ErrorCode.SERVICE_UNAVAILABLE]);

/** An error as plain, structured-cloneable data. */
export interface PlainError {
  readonly name: 'DmasimError';
  readonly code: ErrorCode;
  readonly message: string;
  readonly retryable: boolean;
  readonly details?: Record<string, unknown>;
}

/** The one error class of dmasim. */
export class DmasimError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DmasimError';
    this.code = code;
    this.retryable = RETRYABLE.has(code);
    this.details = details;
  }
}

/** True for a {@link DmasimError} or its plain form, whichever side of a boundary it was made on. */
export function isDmasimError(e: unknown): e is DmasimError | PlainError {
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as { name?: unknown }).name === 'DmasimError' &&
    typeof (e as { code?: unknown }).code === 'string'
  );
}

/** Turns any thrown value into plain data that survives `postMessage` and JSON. */
export function toPlainError(e: unknown): PlainError {
  if (isDmasimError(e)) {
    return {
      name: 'DmasimError',
      code: e.code,
      message: e.message,
      retryable: e.retryable,
      ...(e.details ? { details: e.details } : {}),
    };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { name: 'DmasimError', code: ErrorCode.INTERNAL, message, retryable: false };
}

/** Rebuilds a {@link DmasimError} from its plain form. */
export function fromPlainError(p: PlainError): DmasimError {
  return new DmasimError(p.code, p.message, p.details);
}

/**
 * A parse error that names the file, the line (1-based) and column where known, what was found and what
 * was expected. The message reads `file:line:col: expected X, found Y`.
 */
export function parseError(
  code: ErrorCode,
  where: { file: string; line?: number; column?: number; field?: string },
  problem: string,
): DmasimError {
  let loc = where.file;
  if (where.line !== undefined) loc += `:${where.line}`;
  if (where.line !== undefined && where.column !== undefined) loc += `:${where.column}`;
  if (where.field !== undefined) loc += ` (${where.field})`;
  return new DmasimError(code, `${loc}: ${problem}`, { ...where });
}
