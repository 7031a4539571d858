/**
 * All-pairs view of a set of functions: the map type, distance, decision reason and nvidia-smi path class of
 * every (provider, client) pair, computed without any cache (each pair as on an empty cache, quietly).
 */

import type { PciFunction, Topology } from '../topology/topology.ts';
import type { Bdf } from '../topology/topology-spec.ts';
import { calcMapTypeAndDistFn, type DecidedBy } from './calc-map-type.ts';
import type { MapTypeName } from './map-type.ts';
import { type P2pOptions, resolveP2pOptions } from './p2p-options.ts';
import { type PathClass, pathClassOfFn } from './path-class.ts';

/** Options of {@link pairMatrix}. */
export interface PairMatrixOptions extends P2pOptions {
  /** Also the pairs (a, a). @defaultValue `false` */
  includeSelf?: boolean;
  /** Both (a, b) and (b, a); with `false`, only a before b in `bdfs` order. @defaultValue `true` */
  ordered?: boolean;
}

/** One row: provider `a`, client `b`. */
export interface PairRow {
  readonly a: Bdf;
  readonly b: Bdf;
  readonly mapType: MapTypeName;
  readonly distance: number;
  readonly pathClass: PathClass;
  readonly decidedBy: DecidedBy;
  /** One line: why this map type (and the ACS list when it mattered). */
  readonly reason: string;
}

function reasonOf(c: ReturnType<typeof calcMapTypeAndDistFn>, a: PciFunction, b: PciFunction): string {
  const acs = c.acsRedirect ? `ACS redirect on ${c.acsList}; ` : '';
  switch (c.decidedBy) {
    case 'common_bridge':
      return `common upstream bridge ${c.commonAncestor}, no ACS redirect`;
    case 'cpu_rule':
      return `${acs}AMD Zen CPU rule (host bridges not consulted)`;
    case 'whitelist':
      return `${acs}host bridge${a.hostBridge === b.hostBridge ? '' : 's'} ${c.hostBridges.map((h) => `${h.hostBridge} ${h.id}`).join(', ')} whitelisted`;
    case 'whitelist_same_bridge_flag': {
      const h = c.hostBridges.find((x) => !x.listed);
      return `${acs}host bridge ${h?.hostBridge} ${h?.id} is listed only for devices below the same host bridge`;
    }
    case 'not_whitelisted': {
      const h = c.hostBridges.find((x) => !x.listed);
      if (h && h.device === null)
        return `${acs}host bridge ${h.hostBridge} has no usable first function (not 00.0, not a Root Port)`;
      return `${acs}host bridge ${h?.hostBridge} ${h?.id} not in the P2PDMA whitelist`;
    }
  }
}

/**
 * Every pair among `bdfs` (provider `a`, client `b`), in `bdfs` order: map type, distance, decision, path class.
 * Costs O(n^2 * depth): the upstream chains and depths are precomputed in the topology.
 * @throws DmasimError `DEVICE_NOT_FOUND` for a name not in the topology.
 */
export function pairMatrix(topology: Topology, bdfs: readonly Bdf[], opts?: PairMatrixOptions): PairRow[] {
  const o = resolveP2pOptions(opts);
  const fns = bdfs.map((x) => topology.get(x));
  const includeSelf = opts?.includeSelf === true;
  const ordered = opts?.ordered !== false;
  const rows: PairRow[] = [];
  for (let i = 0; i < fns.length; i++) {
    const a = fns[i] as PciFunction;
    for (let j = ordered ? 0 : i; j < fns.length; j++) {
      if (i === j && !includeSelf) continue;
      const b = fns[j] as PciFunction;
      const c = calcMapTypeAndDistFn(topology.platform, a, b, false, o);
      rows.push({
        a: a.bdf,
        b: b.bdf,
        mapType: c.result,
        distance: c.distance,
        pathClass: pathClassOfFn(topology, a, b).pathClass,
        decidedBy: c.decidedBy,
        reason: reasonOf(c, a, b),
      });
    }
  }
  return rows;
}
