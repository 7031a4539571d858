/**
 * `pci_p2pdma_distance_many(provider, clients[], n, verbose)` (kernel-model.md 2.8): the summed distance from a
 * provider to a set of clients, or -1. Not on the DMA-buf path; kept for completeness (the older page-based
 * `pci_p2pmem_find_many()` ranks providers with it). Unlike {@link pciP2pdmaMapType} it walks a non-PCI client up
 * to its PCI parent and always recomputes, writing every result into the provider's cache when it has state.
 */

import type { Topology } from '../topology/topology.ts';
import type { Bdf } from '../topology/topology-spec.ts';
import { calcMapTypeAndDistFn, type KernelLogLine, type MapTypeComputation, type P2pHazard } from './calc-map-type.ts';
import { type P2pOptions, resolveP2pOptions } from './p2p-options.ts';
import { mapTypesIdx, type P2pdmaState } from './p2pdma-state.ts';

/** A client: a PCI function, or a non-PCI device with the nearest PCI function among its parents (or none). */
export type P2pClient = Bdf | { readonly name: string; readonly pciParent: Bdf | null };

/** The result of {@link pciP2pdmaDistanceMany}. */
export interface DistanceManyResult {
  /** Summed distance, or -1 when n is 0, a client has no PCI parent, or any client is NOT_SUPPORTED. */
  readonly distance: number;
  /** The computations made, in client order (it stops early when not verbose). */
  readonly computations: readonly MapTypeComputation[];
  /** Every line printed, in order (the computations' lines and the "not a PCI device" warning). */
  readonly log: readonly KernelLogLine[];
  readonly hazards: readonly P2pHazard[];
}

/**
 * `pci_p2pdma_distance_many()`.
 * @param state the provider's p2pdma state, if it has one: every computation is stored in its cache.
 * @throws DmasimError `DEVICE_NOT_FOUND` for a name not in the topology.
 */
export function pciP2pdmaDistanceMany(
  topology: Topology,
  providerBdf: Bdf,
  clients: readonly P2pClient[],
  verbose: boolean,
  opts?: P2pOptions & { state?: P2pdmaState | null },
): DistanceManyResult {
  const o = resolveP2pOptions(opts);
  const provider = topology.get(providerBdf);
  const computations: MapTypeComputation[] = [];
  const log: KernelLogLine[] = [];
  const hazards: P2pHazard[] = [];
  const done = (distance: number): DistanceManyResult => ({ distance, computations, log, hazards });
  if (clients.length === 0) return done(-1);
  const state = opts?.state?.live && opts.state.owner === providerBdf ? opts.state : null;
  let notSupported = false;
  let total = 0;
  for (const c of clients) {
    const pciName = typeof c === 'string' ? c : c.pciParent;
    if (pciName === null) {
      if (verbose) {
        log.push({
          device: typeof c === 'string' ? c : c.name,
          level: 'warn',
          text: 'cannot be used for peer-to-peer DMA as it is not a PCI device',
        });
      }
      return done(-1);
    }
    const client = topology.get(pciName);
    const r = calcMapTypeAndDistFn(topology.platform, provider, client, verbose, o);
    computations.push(r);
    log.push(...r.log);
    hazards.push(...r.hazards);
    if (state) {
      const key = mapTypesIdx(client);
      const prev = state.store(key, r.resultValue as 2 | 3 | 4, client.bdf);
      if (prev && prev.client !== client.bdf) {
        hazards.push({
          kind: 'cache_key_collision',
          message: `storing the decision for ${client.bdf} overwrote the one for ${prev.client} (same key 0x${key.toString(16)})`,
          details: { kind: 'overwrote_other_client', key, overwritten: prev.client },
        });
      }
    }
    if (r.result === 'NOT_SUPPORTED') notSupported = true;
    if (notSupported && !verbose) break;
    total += r.distance;
  }
  return done(notSupported ? -1 : total);
}
