/**
 * Reference topology T1 of kernel-model.md section 2.9, as a {@link TopologySpec}, with the knobs its worked
 * examples vary (host-bridge ids, CPU, ACS control bits). Used by tests, docs and the CLI tour.
 *
 * ```
 * HB0 0000:00  00:00.0 host bridge (HB0_ID)
 *   00:01.0 RP1 -> 01:00.0 U1 -> 02:00.0 -> 03:00.0 GPU A (BAR1 provider)
 *                               02:01.0 -> 04:00.0 NIC B, 04:00.1 NIC B1
 *                               02:02.0 -> 05:00.0 U2 -> 06:00.0 -> 07:00.0 NVMe D
 *   00:02.0 RP2 -> 08:00.0 NIC C
 *   00:14.0 RC-integrated endpoint F
 * HB1 0000:80  80:00.0 host bridge (HB1_ID)
 *   80:01.0 RP3 -> 81:00.0 NIC E
 * ```
 */
import type { FunctionSpec, PlatformSpec, TopologySpec } from './topology-spec.ts';

/** Knobs of the T1 variants. */
export interface ReferenceT1Options {
  /** `vendor:device` of HB0's first function 00:00.0. @defaultValue `'8086:2020'` */
  hb0Id?: string;
  /** `vendor:device` of HB1's first function 80:00.0. @defaultValue `'8086:2030'` */
  hb1Id?: string;
  /** The boot CPU. @defaultValue Intel family 6 */
  cpu?: PlatformSpec['cpu'];
  /** ACS control register by device name; every function has an ACS capability. @defaultValue all 0 */
  acsCtrl?: Record<string, number>;
}

/** Names of the T1 devices used by the worked examples. */
export const T1 = {
  A: '0000:03:00.0',
  B: '0000:04:00.0',
  B1: '0000:04:00.1',
  C: '0000:08:00.0',
  D: '0000:07:00.0',
  E: '0000:81:00.0',
  F: '0000:00:14.0',
  RP1: '0000:00:01.0',
  RP2: '0000:00:02.0',
  U1: '0000:01:00.0',
  DSP_A: '0000:02:00.0',
  DSP_B: '0000:02:01.0',
  DSP_D: '0000:02:02.0',
  HB0: '0000:00:00.0',
  HB1: '0000:80:00.0',
} as const;

function id(s: string): { vendor: string; device: string } {
  const [v, d] = s.split(':');
  return { vendor: `0x${v}`, device: `0x${d}` };
}

/** The spec of T1 (kernel-model.md 2.9) with the given variant knobs. */
export function referenceT1Spec(opts: ReferenceT1Options = {}): TopologySpec {
  const acs = opts.acsCtrl ?? {};
  const fn = (
    bdf: string,
    ids: string,
    type: FunctionSpec['type'],
    parent: string | null,
    hostBridge: number,
    bus: [number, number] | null,
    extra: Partial<FunctionSpec> = {},
  ): FunctionSpec => ({
    bdf,
    ...id(ids),
    type,
    parent,
    hostBridge,
    acsCap: true,
    acsCtrl: acs[bdf] ?? 0,
    physfn: null,
    secondaryBus: bus ? bus[0] : null,
    subordinateBus: bus ? bus[1] : null,
    ...extra,
  });
  const gpuBars = {
    bars: [
      { index: 0, memory: true, is64: false, prefetchable: false, cpuStart: '0xa0000000', length: '0x1000000' },
      { index: 1, memory: true, is64: true, prefetchable: true, cpuStart: '0x380000000000', length: '0x800000000' },
    ],
    deviceClass: 'gpu' as const,
    label: 'GPU A',
    dmaMask: '0xffffffffffffffff',
  };
  const nic = (label: string) => ({ deviceClass: 'nic' as const, label, dmaMask: '0xffffffffffffffff' });
  return {
    kind: 'dmasim-topology',
    version: 1,
    id: 'reference-t1',
    platform: { cpu: opts.cpu ?? { vendor: 'intel', family: 6 }, pageSize: 4096, onlineCpus: 8 },
    hostBridges: [
      {
        segment: 0,
        rootBus: 0,
        windows: [
          { type: 'mem', cpuStart: '0x80000000', cpuEnd: '0xbfffffff', offset: '0x0' },
          { type: 'mem', cpuStart: '0x380000000000', cpuEnd: '0x383fffffffff', offset: '0x0' },
        ],
      },
      {
        segment: 0,
        rootBus: 0x80,
        windows: [{ type: 'mem', cpuStart: '0x384000000000', cpuEnd: '0x387fffffffff', offset: '0x0' }],
      },
    ],
    functions: [
      fn(T1.HB0, opts.hb0Id ?? '8086:2020', 'legacy', null, 0, null, { deviceClass: 'host_bridge' }),
      fn(T1.RP1, '8086:2031', 'root_port', null, 0, [1, 7]),
      fn(T1.RP2, '8086:2032', 'root_port', null, 0, [8, 8]),
      fn(T1.F, '8086:a1af', 'rc_endpoint', null, 0, null, { label: 'F' }),
      fn(T1.U1, '10b5:8796', 'upstream', T1.RP1, 0, [2, 7]),
      fn(T1.DSP_A, '10b5:8796', 'downstream', T1.U1, 0, [3, 3]),
      fn(T1.DSP_B, '10b5:8796', 'downstream', T1.U1, 0, [4, 4]),
      fn(T1.DSP_D, '10b5:8796', 'downstream', T1.U1, 0, [5, 7]),
      fn(T1.A, '10de:2330', 'endpoint', T1.DSP_A, 0, null, gpuBars),
      fn(T1.B, '15b3:1021', 'endpoint', T1.DSP_B, 0, null, nic('NIC B')),
      fn(T1.B1, '15b3:1021', 'endpoint', T1.DSP_B, 0, null, nic('NIC B1')),
      fn('0000:05:00.0', '10b5:8796', 'upstream', T1.DSP_D, 0, [6, 7]),
      fn('0000:06:00.0', '10b5:8796', 'downstream', '0000:05:00.0', 0, [7, 7]),
      fn(T1.D, '144d:a80a', 'endpoint', '0000:06:00.0', 0, null, { deviceClass: 'nvme', label: 'NVMe D' }),
      fn(T1.C, '15b3:1021', 'endpoint', T1.RP2, 0, null, nic('NIC C')),
      fn(T1.HB1, opts.hb1Id ?? '8086:2030', 'legacy', null, 1, null, { deviceClass: 'host_bridge' }),
      fn('0000:80:01.0', '8086:2031', 'root_port', null, 1, [0x81, 0x81]),
      fn(T1.E, '15b3:1021', 'endpoint', '0000:80:01.0', 1, null, nic('NIC E')),
    ],
    sources: ['kernel-model.md 2.9'],
  };
}
