/**
 * From a validated {@link ScenarioSpec} to the simulator's {@link SimConfig}: the topology is built
 * (inline or generated; files must have been resolved by the caller), devices are resolved (kernel names
 * or topology labels), every default is applied, and what only makes sense together is checked.
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import { canonicalJson, fnv1a64Hex } from '../hash.ts';
import { dmaBitMask } from '../iommu/dma-mapping.ts';
import {
  defaultIommuMode,
  defaultKernelConfig,
  defaultLinkCollision,
  type SimConfig,
  type SimExporterConfig,
  type SimImporterConfig,
} from '../sim/sim-config.ts';
import { generateTopology } from '../topology/generate.ts';
import { buildTopology, type PciFunction, type Topology } from '../topology/topology.ts';
import type { TopologySpec } from '../topology/topology-spec.ts';
import { unresolved } from './parse-scenario.ts';
import type { ScenarioSpec } from './scenario-spec.ts';

function invalid(field: string, problem: string, file: string): DmasimError {
  return new DmasimError(ErrorCode.SCENARIO_INVALID, `${file} (${field}): ${problem}`, { file, field });
}

/** `scn-<16 hex digits>` of the scenario's canonical JSON: the default scenario id. */
export function defaultScenarioId(spec: ScenarioSpec): string {
  return `scn-${fnv1a64Hex(canonicalJson(spec))}`;
}

/** The scenario's topology spec with the kernel overrides that live in the platform applied. */
export function scenarioTopologySpec(spec: ScenarioSpec, file: string): TopologySpec {
  const ref = spec.topology;
  let t: TopologySpec;
  if ('file' in ref) return unresolved('topology', ref.file);
  if ('inline' in ref) t = ref.inline;
  else t = generateTopology(ref.generate);
  const platform = { ...t.platform };
  if (spec.kernel?.p2pdmaEnabled !== undefined) platform.p2pdmaEnabled = spec.kernel.p2pdmaEnabled;
  if (spec.kernel?.cpus !== undefined) platform.onlineCpus = spec.kernel.cpus;
  void file;
  return { ...t, platform };
}

/** How many built topologies {@link scenarioTopology} keeps (the most recently used). */
const TOPOLOGY_CACHE = 16;
/**
 * And how many PCI functions they may hold together: a sweep over sixteen 10,000-device machines must not
 * keep them all alive. A topology larger than this alone is built per scenario, as before.
 */
const TOPOLOGY_CACHE_FUNCTIONS = 40_000;
/** Built topologies by spec (generate parameters, or an inline spec object's number), overrides and file. */
const builtTopologies = new Map<string, Topology>();
let builtFunctions = 0;
/** A number for each inline topology spec object seen (the cache key of its topologies). */
const inlineIds = new WeakMap<object, number>();
let nextInlineId = 0;

/**
 * The scenario's built topology. The scenarios of a sweep mostly share one (a generated machine, or one
 * inline spec object), and generating and building it (IOMMU groups, ACS, chains) took about a tenth of a
 * sweep scenario's time; a {@link Topology} is immutable, so every scenario with the same spec, kernel
 * overrides and file name gets the same one. A topology that fails to build is not kept.
 */
function scenarioTopology(spec: ScenarioSpec, file: string): Topology {
  const ref = spec.topology;
  const build = () => buildTopology(scenarioTopologySpec(spec, file), file);
  let what: string;
  if ('generate' in ref) what = `g${canonicalJson(ref.generate)}`;
  else if ('inline' in ref && typeof ref.inline === 'object' && ref.inline !== null) {
    let id = inlineIds.get(ref.inline);
    if (id === undefined) {
      id = nextInlineId++;
      inlineIds.set(ref.inline, id);
    }
    what = `i${id}`;
  } else return build();
  const key = `${what}|${String(spec.kernel?.p2pdmaEnabled)}|${String(spec.kernel?.cpus)}|${file}`;
  const hit = builtTopologies.get(key);
  if (hit !== undefined) {
    builtTopologies.delete(key);
    builtTopologies.set(key, hit);
    return hit;
  }
  const t = build();
  if (t.functions.length > TOPOLOGY_CACHE_FUNCTIONS) return t;
  builtTopologies.set(key, t);
  builtFunctions += t.functions.length;
  while (builtTopologies.size > TOPOLOGY_CACHE || builtFunctions > TOPOLOGY_CACHE_FUNCTIONS) {
    const [oldest, old] = builtTopologies.entries().next().value as [string, Topology];
    builtTopologies.delete(oldest);
    builtFunctions -= old.functions.length;
  }
  return t;
}

function resolve(topology: Topology, name: string, field: string, file: string): PciFunction {
  const fn = topology.find(name) ?? topology.functions.find((f) => f.label === name);
  if (!fn)
    throw invalid(
      field,
      `device ${JSON.stringify(name)} is not in topology ${topology.id} (expected a kernel name such as 0000:21:00.0 or a label)`,
      file,
    );
  return fn;
}

function largestMemoryBar(fn: PciFunction): number | undefined {
  let best: number | undefined;
  let size = -1n;
  for (const b of fn.bars) {
    if (b.memory && b.length > size) {
      size = b.length;
      best = b.index;
    }
  }
  return best;
}

/**
 * Builds the simulator configuration of a scenario.
 * @param file name for messages
 * @throws DmasimError SCENARIO_INVALID (unknown device, inconsistent group settings, CPU out of range),
 *   TOPOLOGY_INVALID (the inline or generated topology)
 */
export function scenarioToSimConfig(spec: ScenarioSpec, file = '<scenario>'): SimConfig {
  const topology = scenarioTopology(spec, file);
  const kdef = defaultKernelConfig(topology);
  const k = spec.kernel ?? {};
  const cpus = k.cpus ?? kdef.cpus;
  const timerCpu = k.timerCpu ?? 0;
  if (timerCpu >= cpus) throw invalid('kernel.timerCpu', `expected a CPU below ${cpus}`, file);
  const kernel = {
    ...kdef,
    sgChunk: k.sgChunk ?? kdef.sgChunk,
    vfioPinAllowed: k.vfioPinAllowed ?? kdef.vfioPinAllowed,
    moveNotify: k.moveNotify ?? kdef.moveNotify,
    hz: k.hz ?? kdef.hz,
    timerCpu,
    cpus,
    swiotlbForce: k.swiotlbForce ?? kdef.swiotlbForce,
    forcedac: spec.iommu?.forcedac ?? kdef.forcedac,
    depotTrim: k.depotTrim ?? kdef.depotTrim,
    providerDmaAttrs: k.providerDmaAttrs ?? kdef.providerDmaAttrs,
    p2p: {
      ...(k.whitelistVersion !== undefined ? { whitelistVersion: k.whitelistVersion as never } : {}),
      ...(k.whitelistWarnOn !== undefined ? { whitelistWarnOn: k.whitelistWarnOn } : {}),
    },
  };
  const allCpus = Array.from({ length: cpus }, (_, i) => i);
  const groups = new Map<number, { mode: string; field: string }>();
  // Importers without a known IOMMU group get their own, numbered after every group that is named.
  let freshGroup = 0;
  for (const imp of spec.importers) {
    const fn = topology.find(imp.device) ?? topology.functions.find((f) => f.label === imp.device);
    const g = imp.group ?? fn?.iommuGroup;
    if (g !== undefined && g !== null && g >= freshGroup) freshGroup = g + 1;
  }
  const importers: SimImporterConfig[] = spec.importers.map((imp, i) => {
    const field = `importers[${i}]`;
    const fn = resolve(topology, imp.device, `${field}.device`, file);
    if (imp.iommu?.forcedac !== undefined && imp.iommu.forcedac !== kernel.forcedac) {
      throw invalid(
        `${field}.iommu.forcedac`,
        'iommu.forcedac is a kernel boot parameter: set it once, in the scenario-level iommu',
        file,
      );
    }
    const io = { ...spec.iommu, ...imp.iommu };
    const mode = io.mode ?? defaultIommuMode(topology, fn.bdf);
    const group = imp.group ?? fn.iommuGroup ?? freshGroup++;
    const g = groups.get(group);
    if (g && g.mode !== mode) {
      throw invalid(
        `${field}.iommu.mode`,
        `IOMMU group ${group} has one default domain, but ${g.field} uses ${g.mode} and this importer ${mode}`,
        file,
      );
    }
    if (!g) groups.set(group, { mode, field });
    const cpusOf = imp.cpus ?? allCpus;
    for (const c of cpusOf)
      if (c >= cpus) throw invalid(`${field}.cpus`, `CPU ${c} does not exist (the kernel has ${cpus})`, file);
    const apertureBits = io.apertureBits;
    const apertureEnd =
      apertureBits !== undefined ? dmaBitMask(apertureBits) : (topology.platform.iommu?.apertureEnd ?? dmaBitMask(48));
    const topoMask = fn.dmaMask;
    return {
      device: fn.bdf,
      dmaMask: imp.dmaMask !== undefined ? dmaBitMask(imp.dmaMask) : topoMask !== 0n ? topoMask : dmaBitMask(64),
      mode,
      group,
      apertureEnd,
      reservations: io.reservations ?? 'x86',
      flushQueue: io.flushQueue ?? 'percpu',
      linkCollision: io.linkCollision ?? defaultLinkCollision(topology),
      dynamic: imp.dynamic ?? true,
      peer2peer: imp.peer2peer ?? true,
      pins: imp.pins ?? false,
      cpus: cpusOf,
    };
  });
  const exporters: SimExporterConfig[] = spec.exporters.map((exp, i) => {
    const field = `exporters[${i}]`;
    const fn = resolve(topology, exp.device, `${field}.device`, file);
    const bar = exp.bar ?? largestMemoryBar(fn);
    if (bar === undefined) throw invalid(`${field}.bar`, `${fn.bdf} has no memory BAR to export`, file);
    return {
      device: fn.bdf,
      kind: exp.kind ?? 'vfio-pci',
      bar,
      driver: exp.driver ?? 'vfio-pci',
      policy: {
        busAddr: exp.policy?.busAddr ?? 'keep_p2p',
        thruHostBridge: exp.policy?.thruHostBridge ?? 'keep_p2p',
        notSupported: exp.policy?.notSupported ?? 'migrate',
      },
    };
  });
  return {
    topology,
    kernel,
    importers,
    exporters,
    access: spec.workload?.access ?? true,
    seed: spec.seed,
    configHash: fnv1a64Hex(canonicalJson(spec)),
  };
}
