/**
 * `calc_map_type_and_dist()` of drivers/pci/p2pdma.c (kernel-model.md 2.2-2.5, 2.7): the upstream walk, the
 * ACS redirect test on the right nodes, the AMD Zen CPU rule, the host-bridge whitelist and the log lines,
 * exactly as the PCI maintainer tree does them (with the linux-rdma variant of 7.4 as options).
 */

import type { PciFunction, Platform, Topology } from '../topology/topology.ts';
import type { Bdf } from '../topology/topology-spec.ts';
import { acsListText, pciBridgeHasAcsRedir } from './acs.ts';
import { type HostBridgeLookup, lookupHostBridge } from './host-bridge-whitelist.ts';
import { type MapTypeName, PciP2pdmaMapType } from './map-type.ts';
import { type P2pOptions, type ResolvedP2pOptions, resolveP2pOptions } from './p2p-options.ts';

/** Why a decision came out the way it did (`decided_by` of event `p2p.map_type`, kernel-model.md 5 row 5). */
export type DecidedBy =
  /** The provider function has no p2pdma state (never initialised, released, or no CONFIG_PCI_P2PDMA). */
  | 'no_provider_state'
  /** The client is not a PCI function. */
  | 'non_pci_client'
  /** A non-zero value was found in the provider's map-type cache. */
  | 'cache'
  /** A common upstream bridge and no ACS redirect on any tested node: BUS_ADDR. */
  | 'common_bridge'
  /** AMD family >= 0x17 boot CPU: THRU_HOST_BRIDGE without looking at the host bridges. */
  | 'cpu_rule'
  /** The host bridge(s) are whitelisted: THRU_HOST_BRIDGE. */
  | 'whitelist'
  /** NOT_SUPPORTED because the matching entry has REQ_SAME_HOST_BRIDGE and the host bridges differ. */
  | 'whitelist_same_bridge_flag'
  /** NOT_SUPPORTED because no entry matched, or a root bus has no usable first function. */
  | 'not_whitelisted';

/** One kernel log line (a `pci_warn`), printed on `device`. */
export interface KernelLogLine {
  readonly device: Bdf;
  readonly level: 'warn';
  readonly text: string;
}

/** Kinds of hazards the decision can raise. */
export type P2pHazardKind =
  /** More than nine 12-character names: the ACS list was cut at 127 characters (2.7). */
  | 'acs_list_truncated'
  /** The PCI tree then writes its terminator one byte past the 128-byte buffer (a real out-of-bounds write). */
  | 'acs_list_oob_write'
  /** The map-type cache key of this client equals that of another client (32-bit wrap, 2.6). */
  | 'cache_key_collision'
  /** A cached value differs from what a fresh computation gives now (2.6: the cache is never invalidated). */
  | 'stale_cache';

/** A hazard: kernel behaviour that is faithful but harmful, flagged for the user. */
export interface P2pHazard {
  readonly kind: P2pHazardKind;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The full result of one computation. */
export interface MapTypeComputation {
  readonly provider: Bdf;
  readonly client: Bdf;
  readonly result: MapTypeName;
  readonly resultValue: number;
  /** `*dist`: steps up to the common ancestor from both sides, or the sum of both chain lengths. */
  readonly distance: number;
  readonly commonAncestor: Bdf | null;
  /** Functions whose ACS test was positive, in test order (provider side upward, then client side upward). */
  readonly acsNodes: readonly Bdf[];
  /** {@link acsNodes} as the kernel's 128-byte buffer holds them (the text after `pci=disable_acs_redir=`). */
  readonly acsList: string;
  /** The kernel's `acs_redirects`: a redirect was counted below a common ancestor (decides the whitelist warn). */
  readonly acsRedirect: boolean;
  readonly decidedBy: Exclude<DecidedBy, 'no_provider_state' | 'non_pci_client' | 'cache'>;
  /** The `__host_bridge_whitelist()` calls made, in order (empty when the CPU rule or a common bridge decided). */
  readonly hostBridges: readonly HostBridgeLookup[];
  /** The lines printed, in order. */
  readonly log: readonly KernelLogLine[];
  readonly hazards: readonly P2pHazard[];
  readonly verbose: boolean;
}

/** `cpu_supports_p2pdma()`: x86 boot CPU of vendor AMD and family >= 0x17 (Zen and later; Hygon does not count). */
export function cpuSupportsP2pdma(platform: Platform): boolean {
  return platform.cpu.vendor === 'amd' && platform.cpu.family >= 0x17;
}

const EMPTY: readonly never[] = Object.freeze([]);

/**
 * The computation on already resolved functions (the fast path used by {@link pairMatrix} and the state).
 * @internal
 */
export function calcMapTypeAndDistFn(
  platform: Platform,
  provider: PciFunction,
  client: PciFunction,
  verbose: boolean,
  o: ResolvedP2pOptions,
): MapTypeComputation {
  const ca = provider.chain;
  const cb = client.chain;
  // The first node of A's chain that is also in B's chain is their lowest common ancestor: chains are paths
  // to a root-bus function, so they share exactly their common suffix.
  let k = 0;
  const la = ca.length;
  const lb = cb.length;
  while (k < la && k < lb && ca[la - 1 - k] === cb[lb - 1 - k]) k++;
  const common = k > 0 ? (ca[la - k] as PciFunction) : null;
  const iA = la - k;
  const iB = lb - k;

  const acsNodes: Bdf[] = [];
  const log: KernelLogLine[] = [];
  const hazards: P2pHazard[] = [];
  let result: MapTypeName = 'THRU_HOST_BRIDGE';
  let decidedBy: MapTypeComputation['decidedBy'];
  let acsRedirect = false;
  let distance: number;
  let lookups: HostBridgeLookup[] = EMPTY as unknown as HostBridgeLookup[];

  // Phase 1 tests every visited node of A's chain, the common node included; with no common node, all of it.
  const aEnd = common ? iA : la - 1;
  for (let i = 0; i <= aEnd; i++) {
    const a = ca[i] as PciFunction;
    if (pciBridgeHasAcsRedir(a)) acsNodes.push(a.bdf);
  }
  if (common) {
    for (let i = 0; i < iB; i++) {
      const b = cb[i] as PciFunction;
      if (pciBridgeHasAcsRedir(b)) acsNodes.push(b.bdf);
    }
    distance = iA + iB;
  } else {
    distance = la + lb;
  }
  const acs = acsNodes.length > 0 ? acsListText(acsNodes) : { text: '', overflowed: false };
  if (acs.overflowed) {
    hazards.push({
      kind: 'acs_list_truncated',
      message: `${acsNodes.length} ACS-redirecting functions do not fit the kernel's 128-byte list; the hint is cut at 127 characters`,
      details: { count: acsNodes.length, printed: acs.text },
    });
  }

  if (common && acsNodes.length === 0) {
    result = 'BUS_ADDR';
    decidedBy = 'common_bridge';
  } else {
    if (common) {
      if (verbose) {
        if (acs.overflowed && !o.acsListBoundsCheck) {
          hazards.push({
            kind: 'acs_list_oob_write',
            message: `calc_map_type_and_dist() writes the list terminator at buf[128], one byte past its 128-byte stack buffer`,
            details: { index: 128, bufferSize: 128 },
          });
        }
        log.push({
          device: client.bdf,
          level: 'warn',
          text: `ACS redirect is set between the client and provider (${provider.bdf})`,
        });
        log.push({
          device: client.bdf,
          level: 'warn',
          text: `to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=${acs.text}`,
        });
      }
      acsRedirect = true;
    }
    if (cpuSupportsP2pdma(platform)) {
      decidedBy = 'cpu_rule';
    } else {
      const warn = o.whitelistWarnOn === 'acs' ? acsRedirect : verbose;
      const hA = provider.hostBridge;
      const hB = client.hostBridge;
      let ok: boolean;
      let failed: HostBridgeLookup | null = null;
      lookups = [];
      if (hA === hB) {
        const l = lookupHostBridge(hA, true, o.whitelist);
        lookups.push(l);
        ok = l.listed;
        if (!ok) failed = l;
      } else {
        const l1 = lookupHostBridge(hA, false, o.whitelist);
        lookups.push(l1);
        if (!l1.listed) {
          ok = false;
          failed = l1;
        } else {
          const l2 = lookupHostBridge(hB, false, o.whitelist);
          lookups.push(l2);
          ok = l2.listed;
          if (!ok) failed = l2;
        }
      }
      if (failed && failed.reason === 'not_listed' && warn) {
        log.push({
          device: failed.device as Bdf,
          level: 'warn',
          text: `Host bridge not in P2PDMA whitelist: ${failed.id}`,
        });
      }
      if (ok) {
        decidedBy = 'whitelist';
      } else {
        if (verbose) {
          log.push({
            device: client.bdf,
            level: 'warn',
            text: `cannot be used for peer-to-peer DMA as the client and provider (${provider.bdf}) do not share an upstream bridge or whitelisted host bridge`,
          });
        }
        result = 'NOT_SUPPORTED';
        decidedBy = failed?.reason === 'same_bridge_flag' ? 'whitelist_same_bridge_flag' : 'not_whitelisted';
      }
    }
  }
  return {
    provider: provider.bdf,
    client: client.bdf,
    result,
    resultValue: PciP2pdmaMapType[result],
    distance,
    commonAncestor: common ? common.bdf : null,
    acsNodes,
    acsList: acs.text,
    acsRedirect,
    decidedBy,
    hostBridges: lookups,
    log,
    hazards,
    verbose,
  };
}

/**
 * `calc_map_type_and_dist(provider, client, &dist, verbose)` without the cache (kernel-model.md 2.2-2.5): the map
 * type, the distance, the common ancestor, the ACS-tested nodes and list, the host-bridge lookups made, the log
 * lines printed and the hazards met.
 *
 * @param topology the machine.
 * @param providerBdf the function that owns the memory (the provider's `owner`).
 * @param clientBdf the function that would do the DMA.
 * @param verbose as the kernel's flag: true on the DMA-buf path (`pci_p2pdma_map_type` on a cache miss).
 * @param opts tree variants (kernel-model.md 7.4).
 * @throws DmasimError `DEVICE_NOT_FOUND` when either name is not in the topology.
 */
export function calcMapTypeAndDist(
  topology: Topology,
  providerBdf: Bdf,
  clientBdf: Bdf,
  verbose: boolean,
  opts?: P2pOptions,
): MapTypeComputation {
  return calcMapTypeAndDistFn(
    topology.platform,
    topology.get(providerBdf),
    topology.get(clientBdf),
    verbose,
    resolveP2pOptions(opts),
  );
}
