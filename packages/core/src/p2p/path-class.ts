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

/** {@link pathClass} with its reason, on resolved functions. @internal */
export function pathClassOfFn(topology: Topology, a: PciFunction, b: PciFunction): PathClassInfo {
  if (a === b) return { pathClass: 'X', commonAncestor: a.bdf, bridges: 0, reason: 'same function' };
  const ca = a.chain;
  const cb = b.chain;
  const la = ca.length;
  const lb = cb.length;
  let k = 0;
  while (k < la && k < lb && ca[la - 1 - k] === cb[lb - 1 - k]) k++;
  if (k > 0) {
    const iA = la - k;
    const iB = lb - k;
    const common = ca[iA] as PciFunction;
    const interior = new Set<PciFunction>();
    for (let i = 1; i <= iA; i++) interior.add(ca[i] as PciFunction);
    for (let j = 1; j < iB; j++) interior.add(cb[j] as PciFunction);
    interior.delete(a);
    interior.delete(b);
    let bridges = 0;
    for (const n of interior) {
      if (n.type === 'downstream' && n.parent !== null && interior.has(n.parent)) continue;
      bridges++;
    }
    if (bridges <= 1) {
      return {
        pathClass: 'PIX',
        commonAncestor: common.bdf,
        bridges,
        reason:
          bridges === 0
            ? `one is upstream of the other (${common.bdf})`
            : `at most one bridge: common upstream ${common.bdf}`,
      };
    }
    return {
      pathClass: 'PXB',
      commonAncestor: common.bdf,
      bridges,
      reason: `${bridges} bridges below common upstream ${common.bdf}`,
    };
  }
  const ha = a.hostBridge;
  const hb = b.hostBridge;
  if (ha === hb) {
    return {
      pathClass: 'PHB',
      commonAncestor: null,
      bridges: 0,
      reason: `through host bridge ${ha.name} (no common upstream bridge)`,
    };
  }
  const nodes = topology.platform.numaNodes;
  const na = numaOf(a, nodes);
  const nb = numaOf(b, nodes);
  if (na !== null && nb !== null) {
    if (na === nb)
      return {
        pathClass: 'NODE',
        commonAncestor: null,
        bridges: 0,
        reason: `host bridges ${ha.name} and ${hb.name} in NUMA node ${na}`,
      };
    return {
      pathClass: 'SYS',
      commonAncestor: null,
      bridges: 0,
      reason: `NUMA nodes ${na} (${ha.name}) and ${nb} (${hb.name})`,
    };
  }
  if (ha.socket !== null && hb.socket !== null) {
    if (ha.socket === hb.socket)
      return {
        pathClass: 'NODE',
        commonAncestor: null,
        bridges: 0,
        reason: `host bridges ${ha.name} and ${hb.name} on socket ${ha.socket}`,
      };
    return {
      pathClass: 'SYS',
      commonAncestor: null,
      bridges: 0,
      reason: `sockets ${ha.socket} (${ha.name}) and ${hb.socket} (${hb.name})`,
    };
  }
  return {
    pathClass: 'SYS',
    commonAncestor: null,
    bridges: 0,
    reason: `host bridges ${ha.name} and ${hb.name}; NUMA node unknown on a ${nodes}-node platform, assumed different nodes`,
  };
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
