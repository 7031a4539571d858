/**
 * The `nvidia-smi topo -m` path class of two functions (kernel-model.md Appendix B), computed from the topology
 * with nvidia-smi's (NVML's) own semantics; see docs/P2P.md for the definition and the real machine it is checked
 * against:
 *
 * | class | NVML level | meaning |
 * |---|---|---|
 * | X | `INTERNAL` | the same function |
 * | PIX | `SINGLE` | a common upstream bridge, and at most one PCIe bridge (switch) on the path |
 * | PXB | `MULTIPLE` | a common upstream bridge, several bridges (switches) on the path, no host bridge |
 * | PHB | `HOSTBRIDGE` | no common bridge, one host bridge (root complex): e.g. two root ports of one root bus |
 * | NODE | `NODE` | different host bridges (root buses) within one NUMA node |
 * | SYS | `SYSTEM` | different NUMA nodes (the SMP interconnect) |
 *
 * A "bridge" counts a whole switch once: its upstream port and the downstream ports on the path are one
 * bridge, a root port or a PCI(-X) bridge is one bridge.
 */

import type { PciFunction, Topology } from '../topology/topology.ts';
import type { Bdf } from '../topology/topology-spec.ts';

/** An `nvidia-smi topo -m` class (NV# links are not a PCI concept and are not produced). */
export type PathClass = 'X' | 'PIX' | 'PXB' | 'PHB' | 'NODE' | 'SYS';

/** The class with what it was derived from. */
export interface PathClassInfo {
  readonly pathClass: PathClass;
  /** The lowest common upstream function, or `null` when the path crosses a host bridge. */
  readonly commonAncestor: Bdf | null;
  /** Bridges on the path between the two (a switch counts once); 0 when there is no common ancestor. */
  readonly bridges: number;
  /** One line saying why. */
  readonly reason: string;
}

/** NUMA node of a function: its own, else its host bridge's, else 0 on a one-node platform, else `null`. */
function numaOf(f: PciFunction, nodes: number): number | null {
  if (f.numaNode !== null) return f.numaNode;
  if (f.hostBridge.numaNode !== null) return f.hostBridge.numaNode;
  return nodes === 1 ? 0 : null;
}

/** What the class is derived from, without strings (the pair-matrix hot path). */
interface PathFacts {
  cls: PathClass;
  common: PciFunction | null;
  bridges: number;
  /** NUMA nodes when they decided (NODE/SYS), else null. */
  na: number | null;
  nb: number | null;
  /** `numa`, `socket` or `unknown` for NODE/SYS. */
  by: 'numa' | 'socket' | 'unknown' | null;
}

function facts(topology: Topology, a: PciFunction, b: PciFunction): PathFacts {
  if (a === b) return { cls: 'X', common: a, bridges: 0, na: null, nb: null, by: null };
  const ca = a.chain;
  const cb = b.chain;
  const la = ca.length;
  const lb = cb.length;
  let k = 0;
  while (k < la && k < lb && ca[la - 1 - k] === cb[lb - 1 - k]) k++;
  if (k > 0) {
    const iA = la - k;
    const iB = lb - k;
    // Bridges strictly between a and b: A's chain above a up to the common node, B's chain above b below it
    // (the common node is an end point when it is a or b). A downstream port whose upstream port is also on the
    // path belongs to the same switch and does not count again; a bridge's parent is the next chain element.
    const commonInside = iA > 0 && iB > 0;
    const aEnd = iB === 0 ? iA - 1 : iA;
    let bridges = 0;
    for (let i = 1; i <= aEnd; i++) {
      if ((ca[i] as PciFunction).type === 'downstream' && i + 1 <= aEnd) continue;
      bridges++;
    }
    for (let j = 1; j < iB; j++) {
      if ((cb[j] as PciFunction).type === 'downstream' && (j + 1 < iB || commonInside)) continue;
      bridges++;
    }
    return { cls: bridges <= 1 ? 'PIX' : 'PXB', common: ca[iA] as PciFunction, bridges, na: null, nb: null, by: null };
  }
  const ha = a.hostBridge;
  const hb = b.hostBridge;
  if (ha === hb) return { cls: 'PHB', common: null, bridges: 0, na: null, nb: null, by: null };
  const nodes = topology.platform.numaNodes;
  const na = numaOf(a, nodes);
  const nb = numaOf(b, nodes);
  if (na !== null && nb !== null)
    return { cls: na === nb ? 'NODE' : 'SYS', common: null, bridges: 0, na, nb, by: 'numa' };
  if (ha.socket !== null && hb.socket !== null) {
    return {
      cls: ha.socket === hb.socket ? 'NODE' : 'SYS',
      common: null,
      bridges: 0,
      na: ha.socket,
      nb: hb.socket,
      by: 'socket',
    };
  }
  return { cls: 'SYS', common: null, bridges: 0, na: null, nb: null, by: 'unknown' };
}

/** The class only, on resolved functions (no strings built). @internal */
export function pathClassFn(topology: Topology, a: PciFunction, b: PciFunction): PathClass {
  return facts(topology, a, b).cls;
}

/** {@link pathClass} with its reason, on resolved functions. @internal */
export function pathClassOfFn(topology: Topology, a: PciFunction, b: PciFunction): PathClassInfo {
  const f = facts(topology, a, b);
  const common = f.common ? f.common.bdf : null;
  const ha = a.hostBridge.name;
  const hb = b.hostBridge.name;
  let reason: string;
  switch (f.cls) {
    case 'X':
      reason = 'same function';
      break;
    case 'PIX':
      reason =
        f.bridges === 0 ? `one is upstream of the other (${common})` : `at most one bridge: common upstream ${common}`;
      break;
    case 'PXB':
      reason = `${f.bridges} bridges below common upstream ${common}`;
      break;
    case 'PHB':
      reason = `through host bridge ${ha} (no common upstream bridge)`;
      break;
    default:
      if (f.by === 'numa')
        reason =
          f.cls === 'NODE'
            ? `host bridges ${ha} and ${hb} in NUMA node ${f.na}`
            : `NUMA nodes ${f.na} (${ha}) and ${f.nb} (${hb})`;
      else if (f.by === 'socket')
        reason =
          f.cls === 'NODE'
            ? `host bridges ${ha} and ${hb} on socket ${f.na}`
            : `sockets ${f.na} (${ha}) and ${f.nb} (${hb})`;
      else
        reason = `host bridges ${ha} and ${hb}; NUMA node unknown on a ${topology.platform.numaNodes}-node platform, assumed different nodes`;
  }
  return { pathClass: f.cls, commonAncestor: common, bridges: f.bridges, reason };
}

/**
 * The `nvidia-smi topo -m` class of the path between two functions, with its reason.
 * @throws DmasimError `DEVICE_NOT_FOUND` for a name not in the topology.
 */
export function pathClassOf(topology: Topology, a: Bdf, b: Bdf): PathClassInfo {
  return pathClassOfFn(topology, topology.get(a), topology.get(b));
}

/**
 * The `nvidia-smi topo -m` class of the path between two functions (symmetric).
 * @throws DmasimError `DEVICE_NOT_FOUND` for a name not in the topology.
 */
export function pathClass(topology: Topology, a: Bdf, b: Bdf): PathClass {
  return pathClassOfFn(topology, topology.get(a), topology.get(b)).pathClass;
}
