/**
 * IOMMU groups per ACS isolation, following Linux's `pci_device_group()` (drivers/iommu/iommu.c): a function
 * joins the group of the highest bridge on its path at which ACS isolation (SV|RR|CR|UF on every port up to the
 * root) is not in force; non-isolated functions of one multi-function slot share a group; otherwise it gets a
 * group of its own. DMA-alias quirks are not modelled, and the ACS capability register is taken to offer every
 * flag (the format records only the control register).
 */
import type { PciFunction, Topology } from './topology.ts';
import type { TopologySpec } from './topology-spec.ts';

/** `REQ_ACS_FLAGS`: Source Validation, Request Redirect, Completion Redirect, Upstream Forwarding. */
export const REQ_ACS_FLAGS = 0x001d;

/** `pci_acs_enabled(pdev, REQ_ACS_FLAGS)`. */
export function pciAcsEnabled(f: PciFunction, multifunction: boolean): boolean {
  switch (f.type) {
    case 'legacy':
    case 'pci_bridge':
      return false;
    case 'root_port':
    case 'downstream':
      return f.acsCap && (f.acsCtrl & REQ_ACS_FLAGS) === REQ_ACS_FLAGS;
    case 'endpoint':
    case 'rc_endpoint':
      // Multi-function endpoints must prove isolation between their functions (RR and CR are the relevant bits).
      if (multifunction && !f.isVirtfn) return f.acsCap && (f.acsCtrl & 0x000c) === 0x000c;
      return true;
    default:
      // Upstream switch ports.
      return true;
  }
}

/**
 * Group numbers for every function, in enumeration order (groups numbered 0, 1, ... as they are created).
 * Functions enumerated before their bridges cannot occur in a valid topology (bridges sort first).
 */
export function computeIommuGroups(topology: Topology): Map<string, number> {
  const groups = new Map<string, number>();
  const isMf = (f: PciFunction) => f.multifunction;
  const pathEnabled = (start: PciFunction): boolean => {
    for (const x of start.chain) if (!pciAcsEnabled(x, isMf(x))) return false;
    return true;
  };
  let next = 0;
  for (const f of topology.functions) {
    let group: number | undefined;
    // Walk up from the function's bus (for a VF, its own bus: the bridge above is its PF's).
    let bridge: PciFunction | null = f.isVirtfn ? f.upstream : f.bus.self;
    while (bridge) {
      if (pathEnabled(bridge)) break;
      const g = groups.get(bridge.bdf);
      if (g !== undefined) {
        group = g;
        break;
      }
      bridge = bridge.bus.self;
    }
    if (group === undefined && isMf(f) && !pciAcsEnabled(f, true)) {
      for (const sib of f.bus.devices) {
        if (sib === f || sib.isVirtfn || sib.slot !== f.slot) continue;
        const g = groups.get(sib.bdf);
        if (g !== undefined && !pciAcsEnabled(sib, true)) {
          group = g;
          break;
        }
      }
    }
    if (group === undefined) group = next++;
    groups.set(f.bdf, group);
  }
  return groups;
}

/** A copy of the topology's spec with `iommuGroup` of every function set by {@link computeIommuGroups}. */
export function withIommuGroups(topology: Topology): TopologySpec {
  const groups = computeIommuGroups(topology);
  const spec = JSON.parse(JSON.stringify(topology.spec)) as TopologySpec;
  for (const f of spec.functions) f.iommuGroup = groups.get(f.bdf) ?? null;
  return spec;
}
