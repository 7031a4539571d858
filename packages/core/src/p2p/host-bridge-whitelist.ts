/**
 * The P2PDMA host-bridge whitelist (`pci_p2pdma_whitelist[]` in drivers/pci/p2pdma.c, kernel-model.md 2.4,
 * 7.4) as versioned data, and the lookup that `__host_bridge_whitelist()` does on it. The table grows from
 * release to release; each version names the tree and commit it was read from. To model another release, pass
 * its entries as `P2pOptions.whitelist`.
 */
import type { HostBridge, PciFunction } from '../topology/topology.ts';

/** One table entry. `device: 'any'` is `PCI_ANY_ID`. */
export interface WhitelistEntry {
  readonly vendor: number;
  readonly device: number | 'any';
  /** `REQ_SAME_HOST_BRIDGE`: only good when both devices are below this same host bridge. */
  readonly reqSameHostBridge: boolean;
  readonly comment?: string;
}

/** One version of the table. */
export interface WhitelistVersion {
  readonly id: string;
  readonly description: string;
  readonly repo: string;
  readonly commit: string;
  readonly entries: readonly WhitelistEntry[];
}

/** Vendor ids used by the table. */
export const PCI_VENDOR_ID = { INTEL: 0x8086, GOOGLE: 0x1ae0, NVIDIA: 0x10de, ZHAOXIN: 0x1d17, AMD: 0x1022 } as const;

const I = PCI_VENDOR_ID.INTEL;
const e = (vendor: number, device: number | 'any', reqSameHostBridge: boolean, comment?: string): WhitelistEntry =>
  Object.freeze(
    comment === undefined ? { vendor, device, reqSameHostBridge } : { vendor, device, reqSameHostBridge, comment },
  );

const COMMON: readonly WhitelistEntry[] = [
  e(I, 0x3c00, true, 'Xeon E5 / Core i7 (Sandy Bridge-EP)'),
  e(I, 0x3c01, true),
  e(I, 0x2f00, true, 'Xeon E5 v3 / E7 v3 (Haswell-EP)'),
  e(I, 0x2f01, true),
  e(I, 0x2030, false, 'Skylake-E root ports'),
  e(I, 0x2031, false),
  e(I, 0x2032, false),
  e(I, 0x2033, false),
  e(I, 0x2020, false, 'Skylake-E host bridge'),
  e(I, 0x09a2, false),
  e(I, 0x0b25, false, 'DSA_SPR0 (Sapphire Rapids DSA)'),
  e(I, 0x0cfe, false, 'IAX_SPR0'),
  e(I, 0x11fb, false, 'DSA_GNRD (Granite Rapids-D DSA)'),
  e(I, 0x1212, false, 'DSA_DMR (Diamond Rapids DSA)'),
  e(I, 0x1216, false, 'IAA_DMR'),
  e(I, 0x4940, false, 'QAT_4XXX'),
  e(I, 0x4942, false, 'QAT_401XX'),
  e(I, 0x4944, false, 'QAT_402XX'),
  e(I, 0x4946, false, 'QAT_420XX'),
  e(I, 0x4948, false, 'QAT_6XXX'),
  e(PCI_VENDOR_ID.GOOGLE, 'any', false, 'Google SoCs'),
  e(PCI_VENDOR_ID.NVIDIA, 0x2f95, false, 'NVIDIA CPUs'),
  e(PCI_VENDOR_ID.NVIDIA, 0x2f96, false),
  e(PCI_VENDOR_ID.NVIDIA, 0x2f97, false),
  e(PCI_VENDOR_ID.NVIDIA, 0x2f98, false),
];

const ZHAOXIN: readonly WhitelistEntry[] = [
  e(PCI_VENDOR_ID.ZHAOXIN, 0x1003, true, 'Zhaoxin KX-6000 family'),
  e(PCI_VENDOR_ID.ZHAOXIN, 0x1005, true),
  e(PCI_VENDOR_ID.ZHAOXIN, 0x1006, true),
  e(PCI_VENDOR_ID.ZHAOXIN, 0x1007, true),
  e(PCI_VENDOR_ID.ZHAOXIN, 0x1008, false),
];

/** Every known version of the table, by id. */
export const HOST_BRIDGE_WHITELISTS = Object.freeze({
  'pci-cd2698d7': Object.freeze({
    id: 'pci-cd2698d7',
    description: 'PCI maintainer tree (primary; the tree the p2p vectors were recorded from), with the Zhaoxin entries',
    repo: 'kernelorg-mirror/linux_kernel_git_pci_pci',
    commit: 'cd2698d76c314209662455f419754a5bb7900ad2',
    entries: Object.freeze([...COMMON, ...ZHAOXIN]),
  }),
  'rdma-04673b71': Object.freeze({
    id: 'rdma-04673b71',
    description: 'linux-rdma tree variant: no Zhaoxin entries',
    repo: 'kernelorg-mirror/linux_kernel_git_leon_linux-rdma',
    commit: '04673b7105e6651d112a02a0bb7dc58b62ca5882',
    entries: Object.freeze([...COMMON]),
  }),
} satisfies Record<string, WhitelistVersion>);

/** Id of a known whitelist version. */
export type WhitelistVersionId = keyof typeof HOST_BRIDGE_WHITELISTS;

/** The default version: the PCI maintainer tree of kernel-model.md 7.1. */
export const DEFAULT_WHITELIST_VERSION: WhitelistVersionId = 'pci-cd2698d7';

/**
 * `pci_host_bridge_dev()`: the first function of the host bridge's root bus if it is at devfn 00.0 or is a PCIe
 * Root Port; otherwise (or when the bus is empty) `null`.
 */
export function pciHostBridgeDev(hb: HostBridge): PciFunction | null {
  const root = hb.firstFunction;
  if (!root) return null;
  if (root.devfn === 0) return root;
  if (root.isRootPort) return root;
  return null;
}

/** What one `__host_bridge_whitelist()` call found. */
export interface HostBridgeLookup {
  /** `[ssss:bb]` of the host bridge. */
  readonly hostBridge: string;
  /** The function standing for it (`pci_host_bridge_dev()`), or `null`: then the answer is "no", silently. */
  readonly device: string | null;
  /** `vvvv:dddd` of that function, or `null`. */
  readonly id: string | null;
  /** Whether the call was made for the same host bridge on both sides. */
  readonly sameHostBridge: boolean;
  /** The entry that decided, or `null` when none matched. */
  readonly entry: WhitelistEntry | null;
  /** The answer. */
  readonly listed: boolean;
  /** Why: `no_device` (no usable first function), `listed`, `same_bridge_flag` (entry needs the same bridge), `not_listed`. */
  readonly reason: 'no_device' | 'listed' | 'same_bridge_flag' | 'not_listed';
}

function hex4(v: number): string {
  return v.toString(16).padStart(4, '0');
}

/** `__host_bridge_whitelist(host, same_host_bridge, warn)` without the log: the lookup and its reason. */
export function lookupHostBridge(
  hb: HostBridge,
  sameHostBridge: boolean,
  entries: readonly WhitelistEntry[],
): HostBridgeLookup {
  const root = pciHostBridgeDev(hb);
  if (!root) {
    return Object.freeze({
      hostBridge: hb.name,
      device: null,
      id: null,
      sameHostBridge,
      entry: null,
      listed: false,
      reason: 'no_device',
    });
  }
  const id = `${hex4(root.vendor)}:${hex4(root.device)}`;
  for (const entry of entries) {
    if (root.vendor !== entry.vendor) continue;
    if (entry.device !== 'any' && root.device !== entry.device) continue;
    if (entry.reqSameHostBridge && !sameHostBridge) {
      return Object.freeze({
        hostBridge: hb.name,
        device: root.bdf,
        id,
        sameHostBridge,
        entry,
        listed: false,
        reason: 'same_bridge_flag',
      });
    }
    return Object.freeze({
      hostBridge: hb.name,
      device: root.bdf,
      id,
      sameHostBridge,
      entry,
      listed: true,
      reason: 'listed',
    });
  }
  return Object.freeze({
    hostBridge: hb.name,
    device: root.bdf,
    id,
    sameHostBridge,
    entry: null,
    listed: false,
    reason: 'not_listed',
  });
}
