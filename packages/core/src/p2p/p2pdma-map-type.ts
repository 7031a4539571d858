/**
 * `pci_p2pdma_map_type(provider, dev)` (kernel-model.md 2.1): the entry point of the DMA-buf path, with the
 * provider's map-type cache and its staleness (2.6). Returns a {@link MapTypeDecision} carrying the fields of
 * event `p2p.map_type` (kernel-model.md 5 row 5) plus the log lines and hazards.
 */

import type { Topology } from '../topology/topology.ts';
import type { Bdf } from '../topology/topology-spec.ts';
import {
  calcMapTypeAndDistFn,
  type DecidedBy,
  type KernelLogLine,
  type MapTypeComputation,
  type P2pHazard,
} from './calc-map-type.ts';
import type { HostBridgeLookup } from './host-bridge-whitelist.ts';
import { type MapTypeName, mapTypeName, PciP2pdmaMapType } from './map-type.ts';
import { type P2pOptions, resolveP2pOptions } from './p2p-options.ts';
import { mapTypesIdx, type P2pdmaState } from './p2pdma-state.ts';

/** Options of {@link pciP2pdmaMapType}. */
export interface MapTypeOptions extends P2pOptions {
  /** The provider's function to record when `state` is `null` (the kernel knows `provider->owner`). */
  provider?: Bdf;
  /**
   * On a cache hit, also compute the answer afresh (quietly, without touching the cache) and raise a
   * `stale_cache` hazard when it differs from the cached one.
   * @defaultValue `true`
   */
  detectStaleCache?: boolean;
}

/** One `pci_p2pdma_map_type()` decision: the fields of event `p2p.map_type`, the log lines and hazards. */
export interface MapTypeDecision {
  /** The provider's owner function (`null` only when no state and no `opts.provider`). */
  readonly provider: Bdf | null;
  /** The client function, `null` for a non-PCI client. */
  readonly client: Bdf | null;
  /** `map_types_idx(client)` as an unsigned 32-bit value (`null` when no key was computed). */
  readonly cacheKey: number | null;
  readonly cacheHit: boolean;
  readonly result: MapTypeName;
  readonly resultValue: number;
  /** The computed distance; `null` when nothing was computed (cache hit, no state, non-PCI client). */
  readonly distance: number | null;
  readonly commonAncestor: Bdf | null;
  readonly acsNodes: readonly Bdf[];
  /** The ACS list text (what `pci=disable_acs_redir=` would be given). */
  readonly acsList: string;
  readonly acsRedirect: boolean;
  readonly decidedBy: DecidedBy;
  /** The host bridges compared, with the `vendor:device` of each (empty when none was looked at). */
  readonly hostBridges: readonly HostBridgeLookup[];
  readonly log: readonly KernelLogLine[];
  readonly hazards: readonly P2pHazard[];
}

/** The empty list of a decision that has no entries of a kind (shared, so frozen). */
const NONE: readonly never[] = Object.freeze([]);

const keyCollisions = new WeakMap<Topology, Map<number, Bdf[]>>();

function sharedKeyClients(topology: Topology, key: number): readonly Bdf[] {
  let m = keyCollisions.get(topology);
  if (!m) {
    m = new Map();
    for (const f of topology.functions) {
      const k = mapTypesIdx(f);
      const l = m.get(k);
      if (l) l.push(f.bdf);
      else m.set(k, [f.bdf]);
    }
    keyCollisions.set(topology, m);
  }
  return m.get(key) ?? [];
}

function notSupported(provider: Bdf | null, client: Bdf | null, decidedBy: DecidedBy): MapTypeDecision {
  return {
    provider,
    client,
    cacheKey: null,
    cacheHit: false,
    result: 'NOT_SUPPORTED',
    resultValue: PciP2pdmaMapType.NOT_SUPPORTED,
    distance: null,
    commonAncestor: null,
    acsNodes: [],
    acsList: '',
    acsRedirect: false,
    decidedBy,
    hostBridges: [],
    log: [],
    hazards: [],
  };
}

function fromComputation(c: MapTypeComputation, key: number, hazards: P2pHazard[]): MapTypeDecision {
  return {
    provider: c.provider,
    client: c.client,
    cacheKey: key,
    cacheHit: false,
    result: c.result,
    resultValue: c.resultValue,
    distance: c.distance,
    commonAncestor: c.commonAncestor,
    acsNodes: c.acsNodes,
    acsList: c.acsList,
    acsRedirect: c.acsRedirect,
    decidedBy: c.decidedBy,
    hostBridges: c.hostBridges,
    log: c.log,
    hazards: [...c.hazards, ...hazards],
  };
}

/**
 * `pci_p2pdma_map_type(provider, dev)`:
 * 1. no p2pdma state (`state` null or released, or no CONFIG_PCI_P2PDMA) -> NOT_SUPPORTED, nothing logged or cached;
 * 2. non-PCI client (`clientBdf` null) -> NOT_SUPPORTED, nothing logged or cached;
 * 3. a non-zero value cached under the client's key -> returned as is (no log, no recomputation);
 * 4. otherwise `calc_map_type_and_dist(..., verbose = true)`, stored in the cache (NOT_SUPPORTED too).
 *
 * Hazards: `cache_key_collision` when the client's key is shared with other functions of the topology, when a
 * hit returns a value stored for another client;
 * `stale_cache` when a hit differs from a fresh computation (see {@link MapTypeOptions.detectStaleCache});
 * and those of the computation (`acs_list_truncated`, `acs_list_oob_write`).
 *
 * @throws DmasimError `DEVICE_NOT_FOUND` when the state's owner or the client is not in `topology`.
 */
export function pciP2pdmaMapType(
  state: P2pdmaState | null,
  clientBdf: Bdf | null,
  topology: Topology,
  opts?: MapTypeOptions,
): MapTypeDecision {
  const providerName = state ? state.owner : (opts?.provider ?? null);
  if (!state?.live || !topology.platform.p2pdmaEnabled) {
    return notSupported(providerName, clientBdf, 'no_provider_state');
  }
  if (clientBdf === null) return notSupported(providerName, null, 'non_pci_client');
  const o = resolveP2pOptions(opts);
  const provider = topology.get(state.owner);
  const client = topology.get(clientBdf);
  const key = mapTypesIdx(client);
  const hazards: P2pHazard[] = [];
  const shared = sharedKeyClients(topology, key);
  if (shared.length > 1) {
    hazards.push({
      kind: 'cache_key_collision',
      message: `map-type cache key 0x${key.toString(16)} of ${clientBdf} is also the key of ${shared.filter((b) => b !== clientBdf).join(', ')}: they share cached decisions`,
      details: { kind: 'shared_key', key, clients: [...shared] },
    });
  }
  const hit = state.lookup(key);
  if (hit && hit.value !== PciP2pdmaMapType.UNKNOWN) {
    if (hit.client !== clientBdf) {
      hazards.push({
        kind: 'cache_key_collision',
        message: `cache hit for ${clientBdf} returned the decision stored for ${hit.client} (same key 0x${key.toString(16)})`,
        details: { kind: 'hit_other_client', key, storedFor: hit.client },
      });
    }
    if (opts?.detectStaleCache !== false) {
      const fresh = calcMapTypeAndDistFn(topology.platform, provider, client, false, o);
      if (fresh.resultValue !== hit.value) {
        hazards.push({
          kind: 'stale_cache',
          message: `cached ${mapTypeName(hit.value)} for ${state.owner} -> ${clientBdf}, but the topology now gives ${fresh.result}; the kernel keeps the cached value until the provider driver unbinds`,
          details: { cached: mapTypeName(hit.value), fresh: fresh.result },
        });
      }
    }
    // A hit computes nothing: no distance, route, host bridges or log lines (one literal, no spread).
    return {
      provider: state.owner,
      client: clientBdf,
      cacheKey: key,
      cacheHit: true,
      result: mapTypeName(hit.value),
      resultValue: hit.value,
      distance: null,
      commonAncestor: null,
      acsNodes: NONE,
      acsList: '',
      acsRedirect: false,
      decidedBy: 'cache',
      hostBridges: NONE,
      log: NONE,
      hazards,
    };
  }
  const c = calcMapTypeAndDistFn(topology.platform, provider, client, true, o);
  // A miss means nothing (or only UNKNOWN) is stored under the key, so this store replaces no decision.
  state.store(key, c.resultValue as 2 | 3 | 4, clientBdf);
  return fromComputation(c, key, hazards);
}
