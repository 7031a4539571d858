/**
 * Facts the kernel needs that a source may lack (host-bridge ids, ACS bits, CPU vendor, IOMMU mode), set by the
 * user: {@link applyOverrides} is what the CLI's `--cpu`, `--host-bridge-id`, `--acs` and `--iommu` flags call.
 * Every override is recorded in `assumed[]` (replacing an importer's default for the same field), so a report
 * can say where each fact came from.
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import { formatBdf, parseBdf } from './bdf.ts';
import type { AssumedDefault, FunctionSpec, IommuSpec, PlatformSpec, TopologySpec } from './topology-spec.ts';

/** ACS control bits the kernel enables at boot when an IOMMU is on (`pci_std_enable_acs`): SV | RR | CR | UF. */
export const ACS_KERNEL_DEFAULT_CTRL = 0x001d;

/** What to set. Each field is optional; absent fields leave the spec as it is. */
export interface TopologyOverrides {
  /** Boot CPU as `vendor:family` (`amd:0x19`, `intel:6`, `hygon:0x18`, `other:0`; family decimal or 0x-hex). */
  cpu?: string;
  /**
   * `vendor:device` (`8086:2020`) of the function standing for the host bridge (00.0 of the root bus; inserted as
   * a host-bridge function when the root bus has none). One string for every host bridge, or per host bridge by
   * root-bus name (`0000:00`) or index (`"1"`).
   */
  hostBridgeId?: string | Readonly<Record<string, string>>;
  /**
   * ACS control registers: `off` (all 0), `kernel-default` (root and downstream ports with an ACS capability get
   * SV|RR|CR|UF, as Linux does with an IOMMU on), or a map from device name to register value.
   */
  acs?: 'off' | 'kernel-default' | Readonly<Record<string, number>>;
  /**
   * IOMMU mode: `off` (no IOMMU: dma-direct), `pt` (passthrough: IDENTITY), `strict` (DMA), `lazy` (DMA_FQ, the
   * x86 default).
   */
  iommu?: 'off' | 'pt' | 'strict' | 'lazy';
}

/** The `assumed[].field` names used by overrides (importers use the same names for their defaults). */
export const ASSUMED_FIELD = {
  cpu: 'platform.cpu',
  iommu: 'platform.iommu',
  acs: 'acsCtrl',
  /** `hostBridges[i].id`. */
  hostBridgeId: (index: number) => `hostBridges[${index}].id`,
  /** `<bdf>.acsCtrl`. */
  acsOf: (bdf: string) => `${bdf}.acsCtrl`,
} as const;

function bad(what: string): DmasimError {
  return new DmasimError(ErrorCode.TOPOLOGY_PARAMS_INVALID, what);
}

/**
 * Parses `vendor:family` (`amd:0x19`, `intel:6`).
 * @throws DmasimError `TOPOLOGY_PARAMS_INVALID` naming what was found and expected.
 */
export function parseCpuOverride(s: string): PlatformSpec['cpu'] {
  const m = /^(intel|amd|hygon|other):(0x[0-9a-fA-F]{1,3}|[0-9]{1,4})$/.exec(s);
  if (!m)
    throw bad(
      `--cpu: expected vendor:family such as amd:0x19 or intel:6 (vendor intel, amd, hygon, other), found ${JSON.stringify(s)}`,
    );
  const family = m[2]?.startsWith('0x') ? Number.parseInt(m[2].slice(2), 16) : Number(m[2]);
  if (family > 0xfff) throw bad(`--cpu: family ${m[2]} is above 0xfff`);
  return { vendor: m[1] as PlatformSpec['cpu']['vendor'], family };
}

/**
 * Parses `vvvv:dddd` (hex, 1-4 digits each) into the format's `"0x%04x"` strings.
 * @throws DmasimError `TOPOLOGY_PARAMS_INVALID`.
 */
export function parsePciIdOverride(s: string, what = '--host-bridge-id'): { vendor: string; device: string } {
  const m = /^([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,4})$/.exec(s);
  if (!m) throw bad(`${what}: expected vendor:device in hex such as 8086:2020, found ${JSON.stringify(s)}`);
  const h = (x: string) => `0x${x.toLowerCase().padStart(4, '0')}`;
  return { vendor: h(m[1] as string), device: h(m[2] as string) };
}

/** IOMMU facts for a mode; the vendor follows the CPU (Intel VT-d, AMD-Vi) unless already known. */
export function iommuForMode(
  mode: NonNullable<TopologyOverrides['iommu']>,
  cpu: PlatformSpec['cpu'],
  prev?: IommuSpec,
): IommuSpec {
  if (mode === 'off') return { vendor: 'none', defaultDomain: 'IDENTITY' };
  const vendor =
    prev && prev.vendor !== 'none'
      ? prev.vendor
      : cpu.vendor === 'intel'
        ? 'intel'
        : cpu.vendor === 'amd' || cpu.vendor === 'hygon'
          ? 'amd'
          : 'other';
  const defaultDomain = mode === 'pt' ? 'IDENTITY' : mode === 'strict' ? 'DMA' : 'DMA_FQ';
  const out: IommuSpec = { ...(prev ?? {}), vendor, defaultDomain };
  return out;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function record(assumed: AssumedDefault[], entry: AssumedDefault, replaces: (field: string) => boolean): void {
  for (let i = assumed.length - 1; i >= 0; i--)
    if (replaces((assumed[i] as AssumedDefault).field)) assumed.splice(i, 1);
  assumed.push(entry);
}

function hostBridgeKeyOf(spec: TopologySpec, key: string): number {
  if (/^[0-9]+$/.test(key)) {
    const i = Number(key);
    if (i < spec.hostBridges.length) return i;
  }
  const m = /^([0-9a-f]{4,8}):([0-9a-f]{2})$/.exec(key);
  if (m) {
    const seg = Number.parseInt(m[1] as string, 16);
    const bus = Number.parseInt(m[2] as string, 16);
    const i = spec.hostBridges.findIndex((h) => h.segment === seg && h.rootBus === bus);
    if (i >= 0) return i;
  }
  const names = spec.hostBridges.map((h, i) => `${i} or ${formatBdf(h.segment, h.rootBus, 0).slice(0, -5)}`);
  throw bad(`--host-bridge-id: no host bridge ${JSON.stringify(key)}; expected one of ${names.join(', ')}`);
}

/**
 * Returns a copy of `spec` with the overrides applied and recorded in `assumed[]` (why: `set by <source>`).
 *
 * @param source what set them, for the record (default `override`).
 * @throws DmasimError `TOPOLOGY_PARAMS_INVALID` for a malformed value or an unknown host bridge or device.
 */
export function applyOverrides(spec: TopologySpec, overrides: TopologyOverrides, source = 'override'): TopologySpec {
  const out = clone(spec);
  const assumed: AssumedDefault[] = out.assumed ?? [];
  const why = `set by ${source}`;
  if (overrides.cpu !== undefined) {
    out.platform.cpu = parseCpuOverride(overrides.cpu);
    record(
      assumed,
      { field: ASSUMED_FIELD.cpu, value: overrides.cpu, why, flag: `--cpu ${overrides.cpu}` },
      (f) => f === ASSUMED_FIELD.cpu,
    );
  }
  if (overrides.hostBridgeId !== undefined) {
    const per = new Map<number, string>();
    if (typeof overrides.hostBridgeId === 'string') {
      for (let i = 0; i < out.hostBridges.length; i++) per.set(i, overrides.hostBridgeId);
    } else {
      for (const [k, v] of Object.entries(overrides.hostBridgeId)) per.set(hostBridgeKeyOf(out, k), v);
    }
    for (const [i, idText] of per) {
      const id = parsePciIdOverride(idText);
      const hb = out.hostBridges[i];
      if (!hb) continue;
      const headBdf = formatBdf(hb.segment, hb.rootBus, 0);
      const head = out.functions.find((f) => f.bdf === headBdf);
      if (head) {
        head.vendor = id.vendor;
        head.device = id.device;
      } else {
        const fn: FunctionSpec = {
          bdf: headBdf,
          vendor: id.vendor,
          device: id.device,
          type: 'legacy',
          parent: null,
          hostBridge: i,
          acsCap: false,
          acsCtrl: 0,
          physfn: null,
          secondaryBus: null,
          subordinateBus: null,
          deviceClass: 'host_bridge',
          name: 'Host bridge (set by override)',
        };
        // Keep enumeration order: before the first function of this root bus, else where its bus sorts.
        let at = out.functions.findIndex((f) => {
          const p = parseBdf(f.bdf);
          return p !== null && (p.segment > hb.segment || (p.segment === hb.segment && p.bus >= hb.rootBus));
        });
        if (at < 0) at = out.functions.length;
        out.functions.splice(at, 0, fn);
      }
      const field = ASSUMED_FIELD.hostBridgeId(i);
      record(
        assumed,
        { field, value: idText, why, flag: `--host-bridge-id ${idText}` },
        (f) => f === field || f.startsWith(`${headBdf}.`),
      );
    }
  }
  if (overrides.acs !== undefined) {
    const acs = overrides.acs;
    if (acs === 'off' || acs === 'kernel-default') {
      for (const f of out.functions) {
        if (acs === 'off') f.acsCtrl = 0;
        else if (f.acsCap && (f.type === 'root_port' || f.type === 'downstream')) f.acsCtrl |= ACS_KERNEL_DEFAULT_CTRL;
      }
      record(
        assumed,
        { field: ASSUMED_FIELD.acs, value: acs, why, flag: `--acs ${acs}` },
        (f) => f === ASSUMED_FIELD.acs || f.endsWith('.acsCtrl'),
      );
    } else if (acs !== null && typeof acs === 'object') {
      for (const [bdf, v] of Object.entries(acs)) {
        const f = out.functions.find((x) => x.bdf === bdf);
        if (!f) throw bad(`--acs: no device ${bdf} in topology ${spec.id}`);
        if (!Number.isInteger(v) || v < 0 || v > 0xffff)
          throw bad(`--acs: ${bdf}: expected a 16-bit ACS control value, found ${JSON.stringify(v)}`);
        f.acsCtrl = v;
        const field = ASSUMED_FIELD.acsOf(bdf);
        record(
          assumed,
          { field, value: `0x${v.toString(16).padStart(4, '0')}`, why, flag: `--acs ${bdf}=0x${v.toString(16)}` },
          (x) => x === field,
        );
      }
    } else {
      throw bad(`--acs: expected off, kernel-default or device=value pairs, found ${JSON.stringify(acs)}`);
    }
  }
  if (overrides.iommu !== undefined) {
    const mode = overrides.iommu;
    if (!['off', 'pt', 'strict', 'lazy'].includes(mode))
      throw bad(`--iommu: expected off, pt, strict or lazy, found ${JSON.stringify(mode)}`);
    out.platform.iommu = iommuForMode(mode, out.platform.cpu, out.platform.iommu);
    record(
      assumed,
      { field: ASSUMED_FIELD.iommu, value: mode, why, flag: `--iommu ${mode}` },
      (f) => f === ASSUMED_FIELD.iommu,
    );
  }
  if (assumed.length > 0) out.assumed = assumed;
  return out;
}
