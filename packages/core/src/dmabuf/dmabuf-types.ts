/** Plain data of the DMA-buf objects (kernel-model.md 1.8). 64-bit quantities are bigint. */

/** One physical range of a dma-buf (`struct phys_vec`): CPU physical address and length in bytes. */
export interface PhysRange {
  paddr: bigint;
  len: bigint;
}

/** A range as user space asks for it: offset from the BAR start and length, in bytes. */
export interface BarRange {
  offset: bigint;
  length: bigint;
}

/** One SG table entry as the importer sees it: DMA address and 32-bit length (bytes). */
export interface SgEntry {
  dmaAddress: bigint;
  dmaLength: number;
}

/** How a mapping was made (kernel-model.md 3.2): the helper's three modes, or system memory. */
export type MappingMode = 'bus_addr' | 'iova' | 'per_range' | 'system' | 'none';
