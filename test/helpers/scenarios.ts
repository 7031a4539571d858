/** Scenario specs shared by tests and benchmarks. */
import { referenceT1Spec, type ScenarioSpec, T1 } from '@dmasim/core';

/**
 * Reference topology T1 (kernel-model.md 2.9) with GPU A exporting BAR 1 to NIC B (below its switch:
 * BUS_ADDR), NIC C (IOVA mode) and NIC E with a 32-bit DMA mask, under `workload` and any further
 * top-level fields in `extra` (for instance `checkpointEvery`).
 */
export function t1ThreeImporters(
  seed: number,
  workload: NonNullable<ScenarioSpec['workload']>,
  extra: Partial<ScenarioSpec> = {},
): ScenarioSpec {
  return {
    kind: 'dmasim-scenario',
    version: 1,
    seed,
    topology: { inline: referenceT1Spec() },
    importers: [{ device: T1.B }, { device: T1.C }, { device: T1.E, dmaMask: 32 }],
    exporters: [{ device: T1.A, bar: 1 }],
    workload,
    ...extra,
  };
}
