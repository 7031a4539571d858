/**
 * `importTopology`: several files describing one machine (an lspci tree, lspci -vvv details, nvidia-smi
 * labels, hwloc XML, a sysfs snapshot) -> one {@link TopologySpec}, with the defaults that were assumed and
 * the warnings raised. Also the parsers of the override flags the CLI offers (`--cpu amd:0x19`,
 * `--host-bridge-id 0000:00=8086:2020`, `--acs-default on`, `--label NIC0=0000:21:00.0`), so every front
 * end reads them alike.
 */
import { DmasimError, ErrorCode, isDmasimError } from '../../errors.ts';
import { buildTopology, type Topology } from '../topology.ts';
import type { PlatformSpec } from '../topology-spec.ts';
import { normalizeBdf } from './bdf.ts';
import { combineFragments } from './combine.ts';
import { parseInput } from './detect.ts';
import type { HostBridgeIdOverride, ImportInput, ImportOptions, ImportResult } from './import-types.ts';

/**
 * Imports one machine from its inputs. Each input's kind is detected from its content unless given.
 *
 * @throws DmasimError TOPOLOGY_PARSE (file:line:col) when an input is malformed; TOPOLOGY_INVALID when the
 *   inputs hold no PCI function, or contradict each other so that no valid machine follows (the message names
 *   the file and line of the function concerned); the returned spec always passes `buildTopology`; DEVICE_NOT_FOUND for a `labels` entry
 *   naming an absent function; INVALID_ARGUMENT for an empty input list.
 */
export function importTopology(inputs: readonly ImportInput[], opts: ImportOptions = {}): ImportResult {
  if (inputs.length === 0) throw new DmasimError(ErrorCode.INVALID_ARGUMENT, 'importTopology: no inputs');
  const fragments = inputs.map(parseInput);
  const combined = combineFragments(fragments, opts, machineIdFrom(inputs[0]!.file));
  let topology: Topology;
  try {
    topology = buildTopology(combined.spec, inputs.map((i) => i.file).join(', '));
  } catch (e) {
    // Inputs whose facts contradict each other (a bridge range outside its parent's, a bus reached twice):
    // say which file and line the function came from.
    if (!isDmasimError(e) || e.code !== ErrorCode.TOPOLOGY_INVALID) throw e;
    const bdf = /\b([0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\b/.exec(e.message)?.[1];
    const where = bdf ? combined.origins.get(bdf) : undefined;
    const at = where ? `${where.file}${where.line !== undefined ? `:${where.line}` : ''}: ` : '';
    throw new DmasimError(
      ErrorCode.TOPOLOGY_INVALID,
      `${at}the inputs describe an inconsistent machine: ${e.message}`,
      { cause: e.message },
    );
  }
  return {
    spec: combined.spec,
    topology,
    assumed: combined.assumed,
    warnings: combined.warnings,
    nvidiaSmi: combined.nvidiaSmi,
    labels: combined.labels,
    kinds: fragments.map((f) => ({ file: f.file, kind: f.kind })),
  };
}

/** A machine name from a path: the folder of a file, or the file name without its extension. */
function machineIdFrom(file: string): string {
  const parts = file.replace(/\\/g, '/').replace(/\/+$/, '').split('/').filter(Boolean);
  const last = parts[parts.length - 1] ?? 'machine';
  if (parts.length >= 2 && /\.(txt|xml|log|out)$/i.test(last)) return parts[parts.length - 2]!;
  return last.replace(/\.[^.]+$/, '') || 'machine';
}

function badOption(flag: string, value: string, expected: string): DmasimError {
  return new DmasimError(ErrorCode.TOPOLOGY_PARAMS_INVALID, `${flag} ${JSON.stringify(value)}: expected ${expected}`, {
    flag,
    value,
  });
}

function num(s: string): number {
  return /^0x[0-9a-f]+$/i.test(s) ? Number.parseInt(s, 16) : /^\d+$/.test(s) ? Number(s) : Number.NaN;
}

/**
 * `--cpu`: `amd:0x19`, `amd:25`, `intel`, `intel:6`, `hygon:0x18`, `other`. The family defaults to 0x17
 * for amd, 6 for intel, 0x18 for hygon.
 *
 * @throws DmasimError TOPOLOGY_PARAMS_INVALID for anything else.
 */
export function parseCpuOption(value: string): PlatformSpec['cpu'] {
  const m = /^(amd|intel|hygon|other)(?::(0x[0-9a-f]+|\d+))?$/i.exec(value.trim());
  if (!m) throw badOption('--cpu', value, 'vendor[:family] with vendor amd, intel, hygon or other (e.g. amd:0x19)');
  const vendor = m[1]!.toLowerCase() as PlatformSpec['cpu']['vendor'];
  const defaults: Record<string, number> = { amd: 0x17, intel: 6, hygon: 0x18, other: 0 };
  const family = m[2] === undefined ? defaults[vendor]! : num(m[2]);
  if (!(family >= 0 && family <= 0xff)) throw badOption('--cpu', value, 'a family 0-255');
  return { vendor, family };
}

/**
 * `--host-bridge-id`: `vvvv:dddd` (every root bus) or `ssss:bb=vvvv:dddd` / `bb=vvvv:dddd` (one root bus).
 *
 * @throws DmasimError TOPOLOGY_PARAMS_INVALID for anything else.
 */
export function parseHostBridgeIdOption(value: string): HostBridgeIdOverride {
  const m = /^(?:(?:([0-9a-f]{1,8}):)?([0-9a-f]{1,2})=)?([0-9a-f]{4}):([0-9a-f]{4})$/i.exec(value.trim());
  if (!m)
    throw badOption('--host-bridge-id', value, 'vvvv:dddd or ssss:bb=vvvv:dddd (e.g. 8086:2020 or 0000:00=8086:2020)');
  const o: { segment?: number; rootBus?: number; vendor: number; device: number } = {
    vendor: Number.parseInt(m[3]!, 16),
    device: Number.parseInt(m[4]!, 16),
  };
  if (m[2] !== undefined) {
    o.rootBus = Number.parseInt(m[2], 16);
    o.segment = m[1] === undefined ? 0 : Number.parseInt(m[1], 16);
  }
  return o;
}

/** `--acs-default`: `off` or `on`. @throws DmasimError TOPOLOGY_PARAMS_INVALID otherwise. */
export function parseAcsDefaultOption(value: string): 'off' | 'on' {
  const v = value.trim().toLowerCase();
  if (v !== 'off' && v !== 'on') throw badOption('--acs-default', value, 'off or on');
  return v;
}

/** `--label NIC0=0000:21:00.0` (the domain may be left out). @throws DmasimError TOPOLOGY_PARAMS_INVALID otherwise. */
export function parseLabelOption(value: string): { label: string; bdf: string } {
  const m = /^([A-Za-z][\w.-]*)=(.+)$/.exec(value.trim());
  const bdf = m ? normalizeBdf(m[2]!) : undefined;
  if (!m || !bdf) throw badOption('--label', value, 'LABEL=ssss:bb:dd.f (e.g. NIC0=0000:21:00.0)');
  return { label: m[1]!, bdf };
}

/** `--numa-node ssss:bb=N` (or `bb=N`). @throws DmasimError TOPOLOGY_PARAMS_INVALID otherwise. */
export function parseNumaNodeOption(value: string): { segment: number; rootBus: number; node: number } {
  const m = /^(?:([0-9a-f]{1,8}):)?([0-9a-f]{1,2})=(\d{1,4})$/i.exec(value.trim());
  if (!m) throw badOption('--numa-node', value, 'ssss:bb=N, a root bus and its NUMA node (e.g. 0000:80=1)');
  return {
    segment: m[1] === undefined ? 0 : Number.parseInt(m[1], 16),
    rootBus: Number.parseInt(m[2]!, 16),
    node: Number(m[3]),
  };
}
