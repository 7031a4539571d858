/**
 * The neutral topology form of the P2PDMA conformance vectors (`shared/vectors/p2p/README.md`) and its
 * conversion into a {@link TopologySpec}. The two forms share the function fields; the vector form has only a
 * `cpu` where the dmasim format has a `platform`, and no id.
 */
import { ErrorCode, parseError } from '../errors.ts';
import type { FunctionSpec, HostBridgeSpec, PlatformSpec, TopologySpec } from './topology-spec.ts';

/** A topology as the p2p vector files write it. Unknown keys are ignored. */
export interface VectorTopology {
  cpu: { vendor: 'intel' | 'amd' | 'hygon'; family: number };
  hostBridges: { segment: number; rootBus: number }[];
  functions: {
    bdf: string;
    vendor: string;
    device: string;
    type: FunctionSpec['type'];
    parent: string | null;
    hostBridge: number;
    acsCap: boolean;
    acsCtrl: number;
    physfn: string | null;
    secondaryBus: number | null;
    subordinateBus: number | null;
  }[];
}

const FN_KEYS = [
  'bdf',
  'vendor',
  'device',
  'type',
  'parent',
  'hostBridge',
  'acsCap',
  'acsCtrl',
  'physfn',
  'secondaryBus',
  'subordinateBus',
] as const;

/**
 * Converts a vector topology into the dmasim topology format (the fields the vectors define, in the same order;
 * keys the vector form does not define are dropped, as its README asks readers to ignore them).
 *
 * @param v the `topology` object of one vector line.
 * @param id the machine id to give it (the vector line's `id`).
 * @param file file name for error messages.
 * @throws DmasimError `VECTOR_PARSE` when `v` is not an object with `cpu`, `hostBridges` and `functions`; the
 *   contents are validated later by {@link buildTopology}.
 */
export function fromVectorTopology(v: unknown, id: string, file = '<vectors>'): TopologySpec {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw parseError(
      ErrorCode.VECTOR_PARSE,
      { file, field: 'topology' },
      `expected a topology object, found ${JSON.stringify(v)}`,
    );
  }
  const t = v as Partial<VectorTopology>;
  if (!t.cpu || typeof t.cpu !== 'object')
    throw parseError(ErrorCode.VECTOR_PARSE, { file, field: `${id}.topology.cpu` }, 'expected { vendor, family }');
  if (!Array.isArray(t.hostBridges))
    throw parseError(ErrorCode.VECTOR_PARSE, { file, field: `${id}.topology.hostBridges` }, 'expected an array');
  if (!Array.isArray(t.functions))
    throw parseError(ErrorCode.VECTOR_PARSE, { file, field: `${id}.topology.functions` }, 'expected an array');
  const platform: PlatformSpec = { cpu: { vendor: t.cpu.vendor, family: t.cpu.family } };
  const hostBridges: HostBridgeSpec[] = t.hostBridges.map((h) =>
    h !== null && typeof h === 'object' ? { segment: h.segment, rootBus: h.rootBus } : (h as unknown as HostBridgeSpec),
  );
  const functions: FunctionSpec[] = t.functions.map((f) => {
    if (f === null || typeof f !== 'object') return f as unknown as FunctionSpec;
    const out: Record<string, unknown> = {};
    for (const k of FN_KEYS) out[k] = (f as Record<string, unknown>)[k];
    return out as unknown as FunctionSpec;
  });
  return {
    kind: 'dmasim-topology',
    version: 1,
    id,
    platform,
    hostBridges,
    functions,
    sources: [`p2p vectors: ${file}`],
  };
}
