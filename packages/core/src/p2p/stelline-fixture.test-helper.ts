/**
 * The shared real machine `stelline-puget-wrx90` (AMD Threadripper PRO 7965WX, Zen 4, one NUMA node, four root
 * complexes), transcribed by hand from its `lspci -tv` (shared/topologies/real/stelline-puget-wrx90/lspci.txt) for
 * tests that must not depend on the importers: every host bridge with its 00.0 (AMD 1022:14a4), the root ports
 * and devices on the paths the answer key names, and a few more. Root-port device ids are not in the capture
 * (1022:14ab assumed); all ACS controls are off (acs.txt); the ConnectX-7 has an ACS capability.
 */
import type { FunctionSpec, TopologySpec } from '../topology/topology-spec.ts';

type Row = [
  bdf: string,
  ids: string,
  type: FunctionSpec['type'],
  parent: string | null,
  hb: number,
  bus: [number, number] | null,
  acsCap?: boolean,
];

const ROWS: Row[] = [
  ['0000:00:00.0', '1022:14a4', 'legacy', null, 0, null],
  ['0000:00:00.3', '1022:14a6', 'rc_endpoint', null, 0, null],
  ['0000:00:01.0', '1022:149f', 'legacy', null, 0, null],
  ['0000:00:03.1', '1022:14ab', 'root_port', null, 0, [0x01, 0x13], true],
  ['0000:00:05.1', '1022:14ab', 'root_port', null, 0, [0x14, 0x15], true],
  ['0000:01:00.0', '1103:0541', 'upstream', '0000:00:03.1', 0, [0x02, 0x13], true],
  ['0000:02:00.0', '1103:0541', 'downstream', '0000:01:00.0', 0, [0x03, 0x08], true],
  ['0000:03:00.0', '10b5:8747', 'upstream', '0000:02:00.0', 0, [0x04, 0x08], true],
  ['0000:04:10.0', '10b5:8747', 'downstream', '0000:03:00.0', 0, [0x05, 0x05], true],
  ['0000:04:14.0', '10b5:8747', 'downstream', '0000:03:00.0', 0, [0x06, 0x06], true],
  ['0000:05:00.0', '144d:a80a', 'endpoint', '0000:04:10.0', 0, null],
  ['0000:06:00.0', '144d:a80a', 'endpoint', '0000:04:14.0', 0, null],
  ['0000:14:00.0', '8086:15ff', 'endpoint', '0000:00:05.1', 0, null],
  ['0000:14:00.1', '8086:15ff', 'endpoint', '0000:00:05.1', 0, null],
  ['0000:20:00.0', '1022:14a4', 'legacy', null, 1, null],
  ['0000:20:00.3', '1022:14a6', 'rc_endpoint', null, 1, null],
  ['0000:20:01.0', '1022:149f', 'legacy', null, 1, null],
  ['0000:20:01.1', '1022:14ab', 'root_port', null, 1, [0x21, 0x21], true],
  ['0000:20:03.2', '1022:14ab', 'root_port', null, 1, [0x8a, 0x8a], true],
  ['0000:21:00.0', '15b3:1021', 'endpoint', '0000:20:01.1', 1, null, true],
  ['0000:21:00.1', '15b3:1021', 'endpoint', '0000:20:01.1', 1, null, true],
  ['0000:8a:00.0', '2646:5013', 'endpoint', '0000:20:03.2', 1, null],
  ['0000:c0:00.0', '1022:14a4', 'legacy', null, 2, null],
  ['0000:c0:00.3', '1022:14a6', 'rc_endpoint', null, 2, null],
  ['0000:c0:01.0', '1022:149f', 'legacy', null, 2, null],
  ['0000:c0:01.1', '1022:14ab', 'root_port', null, 2, [0xc1, 0xc1], true],
  ['0000:c0:02.0', '1022:149f', 'legacy', null, 2, null],
  ['0000:c0:03.0', '1022:149f', 'legacy', null, 2, null],
  ['0000:c0:03.1', '1022:14ab', 'root_port', null, 2, [0xc2, 0xc2], true],
  ['0000:c1:00.0', '10de:26b1', 'endpoint', '0000:c0:01.1', 2, null],
  ['0000:c1:00.1', '10de:22ba', 'endpoint', '0000:c0:01.1', 2, null],
  ['0000:c2:00.0', '10de:26b1', 'endpoint', '0000:c0:03.1', 2, null],
  ['0000:c2:00.1', '10de:22ba', 'endpoint', '0000:c0:03.1', 2, null],
  ['0000:e0:00.0', '1022:14a4', 'legacy', null, 3, null],
  ['0000:e0:05.2', '1022:14ab', 'root_port', null, 3, [0xe1, 0xe2], true],
  ['0000:e1:00.0', '1a03:1150', 'pci_bridge', '0000:e0:05.2', 3, [0xe2, 0xe2]],
  ['0000:e2:00.0', '1a03:2000', 'legacy', '0000:e1:00.0', 3, null],
];

/** Labels of the answer key (expected.json). */
export const STELLINE = {
  GPU0: '0000:c1:00.0',
  GPU1: '0000:c2:00.0',
  NIC0: '0000:21:00.0',
  NIC1: '0000:21:00.1',
} as const;

/** The machine as a spec; `cpu` replaces the real Zen 4 for the hypothetical Intel check of kernel-model.md 2.9. */
export function stellineSpec(cpu: TopologySpec['platform']['cpu'] = { vendor: 'amd', family: 0x19 }): TopologySpec {
  return {
    kind: 'dmasim-topology',
    version: 1,
    id: 'stelline-puget-wrx90',
    platform: { cpu, numaNodes: 1, onlineCpus: 48 },
    hostBridges: [0x00, 0x20, 0xc0, 0xe0].map((b) => ({ segment: 0, rootBus: b, numaNode: 0 })),
    functions: ROWS.map(([bdf, ids, type, parent, hb, bus, acsCap]) => ({
      bdf,
      vendor: `0x${ids.slice(0, 4)}`,
      device: `0x${ids.slice(5)}`,
      type,
      parent,
      hostBridge: hb,
      acsCap: acsCap ?? false,
      acsCtrl: 0,
      physfn: null,
      secondaryBus: bus ? bus[0] : null,
      subordinateBus: bus ? bus[1] : null,
    })),
    sources: ['shared/topologies/real/stelline-puget-wrx90/lspci.txt (transcribed)'],
  };
}
