/**
 * `enum pci_p2pdma_map_type` (include/linux/pci-p2pdma.h, kernel-model.md 2.0). The numeric values matter:
 * the map-type cache stores them and 0 means "not cached".
 */

/** The result values and their numbers. */
export const PciP2pdmaMapType = {
  /** Internal: "not in the cache yet"; never returned. */
  UNKNOWN: 0,
  /** "Not a P2P page" (page-based callers); never returned by the map-type decision. */
  NONE: 1,
  /** No usable route; a DMA-buf mapping fails with -EINVAL. */
  NOT_SUPPORTED: 2,
  /** Direct route below a common bridge: program the device with PCI bus addresses. */
  BUS_ADDR: 3,
  /** The route crosses the root complex: use a normal DMA mapping (IOVA or CPU physical). */
  THRU_HOST_BRIDGE: 4,
} as const;

/** Name of a map type (`BUS_ADDR`, ...). */
export type MapTypeName = keyof typeof PciP2pdmaMapType;

/** Value of a map type (0..4). */
export type MapTypeValue = (typeof PciP2pdmaMapType)[MapTypeName];

const NAMES: readonly MapTypeName[] = ['UNKNOWN', 'NONE', 'NOT_SUPPORTED', 'BUS_ADDR', 'THRU_HOST_BRIDGE'];

/** The name of a map-type value; throws RangeError for a value outside 0..4. */
export function mapTypeName(value: number): MapTypeName {
  const n = NAMES[value];
  if (n === undefined) throw new RangeError(`not a pci_p2pdma_map_type value: ${value}`);
  return n;
}

/** `-EOPNOTSUPP` as the kernel returns it. */
export const EOPNOTSUPP = -95;
