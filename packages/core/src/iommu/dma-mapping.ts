/**
 * DMA API vocabulary: directions (include/linux/dma-direction.h), attributes and DMA_MAPPING_ERROR
 * (include/linux/dma-mapping.h), IOMMU protection bits (include/linux/iommu.h) and the translation from
 * the first to the last (`dma_info_to_prot`, drivers/iommu/dma-iommu.c). kernel-model.md 3.4.5, Appendix A.
 */
import { U64_MAX } from './u64.ts';

/** `enum dma_data_direction`. Only 0..2 are valid for mapping calls; NONE (3) is a kernel BUG there. */
export const DmaDirection = {
  BIDIRECTIONAL: 0,
  TO_DEVICE: 1,
  FROM_DEVICE: 2,
  NONE: 3,
} as const;

export type DmaDirection = (typeof DmaDirection)[keyof typeof DmaDirection];

/** `valid_dma_direction(dir)`: BIDIRECTIONAL, TO_DEVICE or FROM_DEVICE. */
export function isValidDmaDirection(dir: number): dir is 0 | 1 | 2 {
  return dir === 0 || dir === 1 || dir === 2;
}

/**
 * `DMA_ATTR_*` bits. The four newest (CACHELINES_OVERLAP and later) sit above MMIO; their exact values are
 * inferred (kernel-model.md 6.3) and only matter for printing.
 */
export const DmaAttr = {
  WEAK_ORDERING: 0x2,
  WRITE_COMBINE: 0x4,
  NO_KERNEL_MAPPING: 0x10,
  SKIP_CPU_SYNC: 0x20,
  FORCE_CONTIGUOUS: 0x40,
  ALLOC_SINGLE_PAGES: 0x80,
  NO_WARN: 0x100,
  PRIVILEGED: 0x200,
  MMIO: 0x400,
  CACHELINES_OVERLAP: 0x800,
  REQUIRE_COHERENT: 0x1000,
  CC_SHARED: 0x2000,
  ALLOC_CC_SHARED: 0x4000,
} as const;

/** What `dma_map_phys` returns on failure: all 64 bits set. */
export const DMA_MAPPING_ERROR: bigint = U64_MAX;

/** `DMA_IOVA_USE_SWIOTLB`: bit 63 of `dma_iova_state.__size` (never set on the MMIO path). */
export const DMA_IOVA_USE_SWIOTLB: bigint = 1n << 63n;

/** `DMA_BIT_MASK(n)` = 2^n - 1 (all 64 bits for n = 64). */
export function dmaBitMask(n: number): bigint {
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new RangeError(`DMA_BIT_MASK(${n}): n must be 0..64`);
  return n === 64 ? U64_MAX : (1n << BigInt(n)) - 1n;
}

/** IOMMU protection bits of a mapping (`IOMMU_READ` ...). */
export const IommuProt = {
  READ: 0x1,
  WRITE: 0x2,
  CACHE: 0x4,
  NOEXEC: 0x8,
  MMIO: 0x10,
  PRIV: 0x20,
} as const;

/**
 * `dma_info_to_prot` for the MMIO mappings dmasim models: `IOMMU_MMIO` instead of the cache-coherent bit,
 * PRIV for DMA_ATTR_PRIVILEGED, then READ and/or WRITE by direction (0x13 for BIDIRECTIONAL).
 * An invalid direction gives no access bits, as in the kernel's `default:` case.
 */
export function dmaInfoToProt(dir: number, attrs: number): number {
  let prot = IommuProt.MMIO;
  if (attrs & DmaAttr.PRIVILEGED) prot |= IommuProt.PRIV;
  switch (dir) {
    case DmaDirection.BIDIRECTIONAL:
      return prot | IommuProt.READ | IommuProt.WRITE;
    case DmaDirection.TO_DEVICE:
      return prot | IommuProt.READ;
    case DmaDirection.FROM_DEVICE:
      return prot | IommuProt.WRITE;
    default:
      return 0;
  }
}
