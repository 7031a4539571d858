/**
 * All-pairs view of a set of functions: the map type, distance, decision reason and nvidia-smi path class of
 * every (provider, client) pair, each as on an empty cache. The pair loop is the hot path of capacity sweeps, so
 * it works on per-function numbers precomputed once per topology (ACS redirect counts along the chain, host-bridge
 * whitelist answers) and does O(depth) work per pair; a property test checks it against
 * {@link calcMapTypeAndDist} and {@link pathClassOf}.
 */

import type { HostBridge, PciFunction, Topology } from '../topology/topology.ts';
import type { Bdf } from '../topology/topology-spec.ts';
import { acsListText, pciBridgeHasAcsRedir } from './acs.ts';
import { cpuSupportsP2pdma, type DecidedBy } from './calc-map-type.ts';
import { type HostBridgeLookup, lookupHostBridge } from './host-bridge-whitelist.ts';
import type { MapTypeName } from './map-type.ts';
import { type P2pOptions, type ResolvedP2pOptions, resolveP2pOptions } from './p2p-options.ts';
import { type PathClass, pathClassFn } from './path-class.ts';

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

/** Per-topology numbers: redirect counts from each function to its root, whitelist answers per host bridge. */
interface Pre {
  /** Number of ACS-redirecting functions in `chain(f)`, by function index. */
  readonly redirToRoot: Int32Array;
  /** `__host_bridge_whitelist(h, true)` and `(h, false)` by host-bridge index. */
  readonly same: readonly HostBridgeLookup[];
  readonly other: readonly HostBridgeLookup[];
  /** Host-bridge decisions (without ACS) by `ha * n + hb`: most pairs of a big matrix share a few of them. */
  readonly decisions: Map<number, { mapType: MapTypeName; decidedBy: DecidedBy; reason: string }>;
}

const preCache = new WeakMap<Topology, WeakMap<ResolvedP2pOptions, Pre>>();

function precompute(t: Topology, o: ResolvedP2pOptions): Pre {
  let byOpts = preCache.get(t);
  if (!byOpts) {
    byOpts = new WeakMap();
    preCache.set(t, byOpts);
  }
  const known = byOpts.get(o);
  if (known) return known;
  const redirToRoot = new Int32Array(t.functions.length);
  // Chains are top-down consistent, so a function's count is its own flag plus its upstream's count.
  const order = [...t.functions].sort((x, y) => x.depth - y.depth);
  for (const f of order) {
    redirToRoot[f.index] =
      (pciBridgeHasAcsRedir(f) ? 1 : 0) + (f.upstream ? (redirToRoot[f.upstream.index] as number) : 0);
  }
  const same = t.hostBridges.map((h) => lookupHostBridge(h, true, o.whitelist));
  const other = t.hostBridges.map((h) => lookupHostBridge(h, false, o.whitelist));
  const pre: Pre = { redirToRoot, same, other, decisions: new Map() };
  byOpts.set(o, pre);
  return pre;
}

function describeLookups(hs: readonly HostBridgeLookup[], acs: string, result: DecidedBy): string {
  const failed = hs.find((x) => !x.listed);
  if (result === 'whitelist')
    return `${acs}host bridge${hs.length > 1 ? 's' : ''} ${hs.map((h) => `${h.hostBridge} ${h.id}`).join(', ')} whitelisted`;
  if (result === 'whitelist_same_bridge_flag')
    return `${acs}host bridge ${failed?.hostBridge} ${failed?.id} is listed only for devices below the same host bridge`;
  if (failed && failed.device === null)
    return `${acs}host bridge ${failed.hostBridge} has no usable first function (not 00.0, not a Root Port)`;
  return `${acs}host bridge ${failed?.hostBridge} ${failed?.id} not in the P2PDMA whitelist`;
}

/** One pair on precomputed numbers. @internal */
function pair(t: Topology, pre: Pre, zen: boolean, a: PciFunction, b: PciFunction): PairRow {
  const ca = a.chain;
  const cb = b.chain;
  const la = ca.length;
  const lb = cb.length;
  let k = 0;
  while (k < la && k < lb && ca[la - 1 - k] === cb[lb - 1 - k]) k++;
  let distance: number;
  let acsCount: number;
  let common: PciFunction | null = null;
  const r = pre.redirToRoot;
  if (k > 0) {
    const iA = la - k;
    const iB = lb - k;
    common = ca[iA] as PciFunction;
    distance = iA + iB;
    const aboveCommon = common.upstream ? (r[common.upstream.index] as number) : 0;
    acsCount = (r[a.index] as number) - aboveCommon + ((r[b.index] as number) - (r[common.index] as number));
  } else {
    distance = la + lb;
    acsCount = 0; // names are collected on A's side but ignored
  }
  const pathClass = pathClassFn(t, a, b);
  if (common && acsCount === 0) {
    return {
      a: a.bdf,
      b: b.bdf,
      mapType: 'BUS_ADDR',
      distance,
      pathClass,
      decidedBy: 'common_bridge',
      reason: `common upstream bridge ${common.bdf}, no ACS redirect`,
    };
  }
  let acs = '';
  if (common) {
    const names: string[] = [];
    const iA = la - k;
    const iB = lb - k;
    for (let i = 0; i <= iA; i++)
      if (pciBridgeHasAcsRedir(ca[i] as PciFunction)) names.push((ca[i] as PciFunction).bdf);
    for (let j = 0; j < iB; j++) if (pciBridgeHasAcsRedir(cb[j] as PciFunction)) names.push((cb[j] as PciFunction).bdf);
    acs = `ACS redirect on ${acsListText(names).text}; `;
  }
  if (zen)
    return {
      a: a.bdf,
      b: b.bdf,
      mapType: 'THRU_HOST_BRIDGE',
      distance,
      pathClass,
      decidedBy: 'cpu_rule',
      reason: `${acs}AMD Zen CPU rule (host bridges not consulted)`,
    };
  const ha: HostBridge = a.hostBridge;
  const hb: HostBridge = b.hostBridge;
  const key = ha.index * t.hostBridges.length + hb.index;
  let d = acs === '' ? pre.decisions.get(key) : undefined;
  if (!d) {
    let looked: HostBridgeLookup[];
    if (ha === hb) looked = [pre.same[ha.index] as HostBridgeLookup];
    else {
      const l1 = pre.other[ha.index] as HostBridgeLookup;
      looked = l1.listed ? [l1, pre.other[hb.index] as HostBridgeLookup] : [l1];
    }
    const failed = looked.find((x) => !x.listed);
    const decidedBy: DecidedBy = !failed
      ? 'whitelist'
      : failed.reason === 'same_bridge_flag'
        ? 'whitelist_same_bridge_flag'
        : 'not_whitelisted';
    d = {
      mapType: failed ? 'NOT_SUPPORTED' : 'THRU_HOST_BRIDGE',
      decidedBy,
      reason: describeLookups(looked, acs, decidedBy),
    };
    if (acs === '') pre.decisions.set(key, d);
  }
  return { a: a.bdf, b: b.bdf, mapType: d.mapType, distance, pathClass, decidedBy: d.decidedBy, reason: d.reason };
}

/**
 * Every pair among `bdfs` (provider `a`, client `b`), in `bdfs` order: map type, distance, decision, path class,
 * each as `calc_map_type_and_dist()` computes it on an empty cache. O(n^2 * depth).
 * @throws DmasimError `DEVICE_NOT_FOUND` for a name not in the topology; `INVALID_ARGUMENT` for bad options.
 */
export function pairMatrix(topology: Topology, bdfs: readonly Bdf[], opts?: PairMatrixOptions): PairRow[] {
  const o = resolveP2pOptions(opts);
  const pre = precompute(topology, o);
  const zen = cpuSupportsP2pdma(topology.platform);
  const fns = bdfs.map((x) => topology.get(x));
  const includeSelf = opts?.includeSelf === true;
  const ordered = opts?.ordered !== false;
  const rows: PairRow[] = [];
  for (let i = 0; i < fns.length; i++) {
    const a = fns[i] as PciFunction;
    for (let j = ordered ? 0 : i; j < fns.length; j++) {
      if (i === j && !includeSelf) continue;
      rows.push(pair(topology, pre, zen, a, fns[j] as PciFunction));
    }
  }
  return rows;
}
