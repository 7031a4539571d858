/**
 * hwloc XML topology files (v1, v2 and v3: `<topology>` with nested `<object type=...>`) -> an
 * {@link ImportFragment}, read with fast-xml-parser; errors name the line and column.
 *
 * Read: host bridges (`Bridge` with `bridge_type="0-1"` and `bridge_pci="dddd:[bb-bb]"`), PCI bridges
 * (`bridge_type="1-1"`, `pci_busid`, `bridge_pci` = secondary and subordinate bus), PCI devices
 * (`PCIDev`, `pci_busid`, `pci_type="cccc [vvvv:dddd] [ssss:ssss] rr pp"`, `pci_link_speed` in GB/s), the
 * names of their OS devices (`OSDev` `mlx5_0`, `eth0`, `nvml0`, `cuda0`), the NUMA node of each I/O
 * subtree (the single node of the nearest ancestor's `nodeset`, or the enclosing `NUMANode` in v1), the
 * number of NUMA nodes and PUs, and the CPU (`CPUVendor`, `CPUFamilyNumber`, `CPUModel`, `Architecture`).
 *
 * hwloc drops devices it finds uninteresting (host-bridge functions at 00.0, most bridges without
 * interesting devices below them), so the fragment is marked `filtered`. A device placed under a bridge
 * whose bus range does not contain its bus is reported and left for the combiner to place by its bus
 * number; a device listed twice keeps its first listing.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { PlatformSpec } from '../topology-spec.ts';
import { normalizeBdf } from './bdf.ts';
import type { ImportFragment, ObservedFunction } from './import-types.ts';
import { quoteFound, topoParseError } from './text.ts';

/** True when the text is an hwloc XML topology. */
export function looksLikeHwlocXml(text: string): boolean {
  return /^\s*(?:\uFEFF)?(?:<\?xml[^>]*>\s*)?(?:<!DOCTYPE\s+topology[^>]*>\s*)?<topology[\s>]/.test(
    text.slice(0, 4096),
  );
}

type XmlNode = { [k: string]: unknown; [s: symbol]: unknown };

const META = XMLParser.getMetaDataSymbol() as unknown as symbol;

interface Ctx {
  numa: number | null | undefined;
  /** os_index of the enclosing Package (Socket in v1). */
  socket: number | undefined;
  /** Parent PCI bridge (`null` on a root bus); `undefined` outside any host bridge. */
  parent: string | null | undefined;
  /** Bus range of that parent (secondary..subordinate), to check children against. */
  range: { segment: number; lo: number; hi: number } | undefined;
  /** The function OS devices attach to. */
  pci: ObservedFunction | undefined;
}

/** Parses an hwloc XML topology. Throws TOPOLOGY_PARSE with line and column for malformed XML or attributes. */
export function parseHwlocXml(text: string, file: string): ImportFragment {
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: true });
  if (valid !== true) {
    throw topoParseError(file, valid.err.line, valid.err.col, `not well-formed XML: ${valid.err.msg}`);
  }
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const lineOf = (n: XmlNode): number | undefined => {
    const idx = (n[META] as { startIndex?: number } | undefined)?.startIndex;
    if (idx === undefined) return undefined;
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= idx) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    preserveOrder: true,
    captureMetaData: true,
    parseAttributeValue: false,
    parseTagValue: false,
    allowBooleanAttributes: true,
  });
  let doc: XmlNode[];
  try {
    doc = parser.parse(text) as XmlNode[];
  } catch (e) {
    // The validator accepted it but the parser did not (processing instructions, mostly): name the line of the
    // first one, where such errors come from.
    const pi = text.indexOf('<?');
    const line = pi < 0 ? 1 : text.slice(0, pi).split('\n').length;
    throw topoParseError(file, line, undefined, `not well-formed XML: ${(e as Error).message}`);
  }
  const top = doc.find((n) => 'topology' in n);
  if (!top) throw topoParseError(file, 1, 1, 'expected an hwloc <topology> root element, found none');

  const frag: ImportFragment = { kind: 'hwloc-xml', file, functions: [], rootBuses: [], warnings: [], filtered: true };
  const byBdf = new Map<string, ObservedFunction>();
  const seenAt = new Map<string, number | undefined>();
  let numaCount = 0;
  let puCount = 0;
  let cpuVendorId: string | undefined;
  let cpuFamily: number | undefined;
  let cpuModel: string | undefined;
  let platformName: string | undefined;

  // Attribute values are strings; a bare attribute (allowed by the validator) comes back as `true`: read it as ''.
  const attrsOf = (n: XmlNode): Record<string, string> => {
    const raw = (n[':@'] as Record<string, unknown> | undefined) ?? {};
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) out[k] = typeof v === 'string' ? v : '';
    return out;
  };
  const childrenOf = (n: XmlNode, tag: string): XmlNode[] => (n[tag] as XmlNode[] | undefined) ?? [];
  const tagOf = (n: XmlNode): string | undefined => Object.keys(n).find((k) => k !== ':@');
  const infos = (n: XmlNode, tag: string): Map<string, string> => {
    const m = new Map<string, string>();
    for (const c of childrenOf(n, tag)) {
      if (tagOf(c) !== 'info') continue;
      const a = attrsOf(c);
      if (a.name !== undefined && a.value !== undefined && !m.has(a.name)) m.set(a.name, a.value);
    }
    return m;
  };
  const attr = (n: XmlNode, a: Record<string, string>, name: string, what: string): string => {
    const v = a[name];
    if (v === undefined)
      throw topoParseError(
        file,
        lineOf(n),
        undefined,
        `expected attribute ${name}="${what}" on this <object type="${a.type}">, found none`,
      );
    return v;
  };
  const busid = (n: XmlNode, a: Record<string, string>): string => {
    const v = attr(n, a, 'pci_busid', 'dddd:bb:dd.f');
    const bdf = normalizeBdf(v);
    if (!bdf || !/^[0-9a-fA-F]{4,8}:/.test(v))
      throw topoParseError(file, lineOf(n), undefined, `expected pci_busid="dddd:bb:dd.f", found ${quoteFound(v)}`);
    return bdf;
  };
  const busRange = (n: XmlNode, a: Record<string, string>): { segment: number; lo: number; hi: number } => {
    const v = attr(n, a, 'bridge_pci', 'dddd:[bb-bb]');
    const m = /^([0-9a-fA-F]{4,8}):\[([0-9a-fA-F]{2})-([0-9a-fA-F]{2})\]$/.exec(v);
    if (!m)
      throw topoParseError(file, lineOf(n), undefined, `expected bridge_pci="dddd:[bb-bb]", found ${quoteFound(v)}`);
    const r = { segment: Number.parseInt(m[1]!, 16), lo: Number.parseInt(m[2]!, 16), hi: Number.parseInt(m[3]!, 16) };
    if (r.hi < r.lo)
      throw topoParseError(
        file,
        lineOf(n),
        undefined,
        `expected a bus range with the second bus >= the first, found ${quoteFound(v)}`,
      );
    return r;
  };
  const pciType = (n: XmlNode, a: Record<string, string>, f: ObservedFunction): void => {
    const v = a.pci_type;
    if (v === undefined) return;
    const m =
      /^([0-9a-fA-F]{4}) \[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\] \[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\] ([0-9a-fA-F]{2})(?: ([0-9a-fA-F]{2}))?/.exec(
        v,
      );
    if (!m)
      throw topoParseError(
        file,
        lineOf(n),
        undefined,
        `expected pci_type="cccc [vvvv:dddd] [ssss:ssss] rr pp", found ${quoteFound(v)}`,
      );
    f.classCode = (Number.parseInt(m[1]!, 16) << 8) | (m[7] ? Number.parseInt(m[7], 16) : 0);
    f.vendor = Number.parseInt(m[2]!, 16);
    f.device = Number.parseInt(m[3]!, 16);
  };
  const describe = (n: XmlNode, tag: string, f: ObservedFunction, a: Record<string, string>): void => {
    const i = infos(n, tag);
    const name = [i.get('PCIVendor'), i.get('PCIDevice')].filter((x) => x !== undefined && x !== '').join(' ');
    if (name) f.name = name;
    const speed = a.pci_link_speed === undefined ? Number.NaN : Number(a.pci_link_speed);
    if (speed > 0) f.link = `${Number(speed.toFixed(3))} GB/s`;
  };
  const newFunction = (n: XmlNode, a: Record<string, string>, ctx: Ctx): ObservedFunction | undefined => {
    const bdf = busid(n, a);
    const line = lineOf(n);
    if (seenAt.has(bdf)) {
      frag.warnings.push(
        `${file}:${line ?? '?'}: ${bdf} is listed again (first at line ${seenAt.get(bdf) ?? '?'}); this listing and what is below it are ignored`,
      );
      return undefined;
    }
    seenAt.set(bdf, line);
    const f: ObservedFunction = { bdf, where: { file, line } };
    const bus = Number.parseInt(bdf.split(':')[1]!, 16);
    const seg = Number.parseInt(bdf.split(':')[0]!, 16);
    if (ctx.range && (seg !== ctx.range.segment || bus < ctx.range.lo || bus > ctx.range.hi)) {
      const hex2 = (x: number): string => x.toString(16).padStart(2, '0');
      frag.warnings.push(
        `${file}:${line ?? '?'}: ${bdf} is below ${ctx.parent ?? 'a host bridge'} whose buses are [${hex2(ctx.range.lo)}-${hex2(ctx.range.hi)}]; it is placed by its bus number instead`,
      );
    } else if (ctx.parent !== undefined && (!ctx.range || bus === ctx.range.lo)) {
      // Only a function on the bridge's secondary (or the host bridge's root) bus hangs directly below it;
      // one deeper down sits below bridges hwloc dropped, and is placed by its bus number.
      f.parent = ctx.parent;
    }
    if (ctx.numa !== undefined) f.numaNode = ctx.numa;
    byBdf.set(bdf, f);
    frag.functions.push(f);
    return f;
  };

  const walk = (nodes: XmlNode[], ctx: Ctx, depth: number): void => {
    if (depth > 256) throw topoParseError(file, undefined, undefined, 'objects are nested more than 256 deep');
    for (const n of nodes) {
      const tag = tagOf(n);
      if (tag !== 'object') continue;
      const a = attrsOf(n);
      const kids = childrenOf(n, 'object');
      const type = a.type;
      if (type === undefined)
        throw topoParseError(file, lineOf(n), undefined, 'expected a type="..." attribute on <object>, found none');
      switch (type) {
        case 'Bridge': {
          const bt = a.bridge_type;
          if (bt === '0-1') {
            const r = busRange(n, a);
            frag.rootBuses.push({
              segment: r.segment,
              bus: r.lo,
              subordinate: r.hi,
              numaNode: ctx.numa ?? null,
              socket: ctx.socket ?? null,
              where: { file, line: lineOf(n) },
            });
            walk(kids, { ...ctx, parent: null, range: r, pci: undefined }, depth + 1);
          } else if (bt === '1-1') {
            const f = newFunction(n, a, ctx);
            if (!f) break;
            pciType(n, a, f);
            describe(n, 'object', f, a);
            f.isBridge = true;
            const r = a.bridge_pci === undefined ? undefined : busRange(n, a);
            if (r) {
              f.secondaryBus = r.lo;
              f.subordinateBus = r.hi;
            }
            walk(kids, { ...ctx, parent: f.bdf, range: r, pci: f }, depth + 1);
          } else {
            frag.warnings.push(
              `${file}:${lineOf(n) ?? '?'}: bridge_type ${quoteFound(bt ?? '')} is not a host (0-1) or PCI (1-1) bridge; its children are read, it is not`,
            );
            walk(kids, ctx, depth + 1);
          }
          break;
        }
        case 'PCIDev': {
          const f = newFunction(n, a, ctx);
          if (!f) break;
          pciType(n, a, f);
          describe(n, 'object', f, a);
          walk(kids, { ...ctx, pci: f }, depth + 1);
          break;
        }
        case 'OSDev': {
          if (ctx.pci && a.name) ctx.pci.osNames = [...(ctx.pci.osNames ?? []), a.name];
          // A GPU whose PCIDev carries no vendor/device names (hwloc without pci.ids) is named by its OS device.
          if (ctx.pci && ctx.pci.name === undefined) {
            const i = infos(n, 'object');
            const model = i.get('GPUModel');
            if (model) ctx.pci.name = [i.get('GPUVendor'), model].filter(Boolean).join(' ');
          }
          walk(kids, ctx, depth + 1);
          break;
        }
        default: {
          let numa = ctx.numa;
          if (type === 'NUMANode') {
            numaCount++;
            if (a.os_index !== undefined && /^\d+$/.test(a.os_index)) numa = Number(a.os_index);
          } else if (type === 'PU') {
            puCount++;
          }
          if (a.nodeset !== undefined && type !== 'NUMANode') {
            const single = singleBit(a.nodeset);
            numa = single === undefined ? (ctx.numa ?? null) : single;
          }
          if (type === 'Package' || type === 'Socket' || type === 'Machine') {
            const i = infos(n, 'object');
            cpuVendorId ??= i.get('CPUVendor');
            const fam = i.get('CPUFamilyNumber');
            if (cpuFamily === undefined && fam !== undefined && /^\d+$/.test(fam)) cpuFamily = Number(fam);
            cpuModel ??= i.get('CPUModel');
            platformName ??= i.get('PlatformName');
          }
          const socket =
            (type === 'Package' || type === 'Socket') && a.os_index !== undefined && /^\d+$/.test(a.os_index)
              ? Number(a.os_index)
              : ctx.socket;
          walk(kids, { ...ctx, numa, socket }, depth + 1);
        }
      }
    }
  };

  const root = childrenOf(top, 'topology');
  walk(root, { numa: undefined, socket: undefined, parent: undefined, range: undefined, pci: undefined }, 0);
  const topInfos = infos(top, 'topology');
  const arch = topInfos.get('Architecture');
  const host = topInfos.get('HostName');
  if (host) frag.hostname = host;
  if (numaCount > 0) frag.numaNodes = numaCount;
  if (puCount > 0) frag.onlineCpus = puCount;
  const cpu = cpuFrom(cpuVendorId, cpuFamily, cpuModel, arch, platformName);
  if (cpu) frag.cpu = cpu;
  if (frag.functions.length === 0 && frag.rootBuses.length === 0) {
    frag.warnings.push(`${file}: the hwloc topology has no PCI objects (exported without I/O?)`);
  }
  return frag;
}

/** The index of the only set bit of an hwloc bitmap (`0x00000002`, `0x0,0x00000001`), else `undefined`. */
function singleBit(s: string): number | undefined {
  const words = s.split(',');
  let found: number | undefined;
  for (let w = 0; w < words.length; w++) {
    const t = words[w]!.trim().replace(/^0x/i, '');
    if (t === '') continue;
    if (!/^[0-9a-fA-F]{1,8}$/.test(t)) return undefined;
    const v = Number.parseInt(t, 16);
    if (v === 0) continue;
    if ((v & (v - 1)) !== 0 || found !== undefined) return undefined;
    found = (words.length - 1 - w) * 32 + Math.log2(v);
  }
  return found;
}

function cpuFrom(
  vendorId: string | undefined,
  family: number | undefined,
  model: string | undefined,
  arch: string | undefined,
  platform: string | undefined,
): ImportFragment['cpu'] {
  const evidence = [
    vendorId && `CPUVendor ${vendorId}`,
    family !== undefined && `CPUFamilyNumber ${family}`,
    model && `CPUModel "${model}"`,
    arch && `Architecture ${arch}`,
  ]
    .filter(Boolean)
    .join(', ');
  let vendor: PlatformSpec['cpu']['vendor'] | undefined;
  if (vendorId === 'AuthenticAMD') vendor = 'amd';
  else if (vendorId === 'GenuineIntel') vendor = 'intel';
  else if (vendorId === 'HygonGenuine') vendor = 'hygon';
  else if (vendorId !== undefined) vendor = 'other';
  else if (model && /\bIntel\b/.test(model)) vendor = 'intel';
  else if (model && /\bAMD\b/.test(model)) vendor = 'amd';
  else if (model && /\bHygon\b/i.test(model)) vendor = 'hygon';
  else if ((arch && !/^(x86_64|i[3-6]86|x86)$/.test(arch)) || platform) vendor = 'other';
  if (vendor === undefined) return undefined;
  const m = model ? { model } : {};
  if (family !== undefined) return { cpu: { vendor, family, ...m }, evidence: `hwloc ${evidence}` };
  if (vendor === 'amd' && model && /\b(EPYC|Ryzen|Threadripper)\b/.test(model)) {
    return {
      cpu: { vendor, family: 0x17, ...m },
      evidence: `hwloc ${evidence} (a Zen part: family 0x17 or later, 0x17 used)`,
      familyAssumed: true,
    };
  }
  if (vendor === 'intel')
    return { cpu: { vendor, family: 6, ...m }, evidence: `hwloc ${evidence} (family 6 assumed)`, familyAssumed: true };
  if (vendor === 'hygon')
    return {
      cpu: { vendor, family: 0x18, ...m },
      evidence: `hwloc ${evidence} (family 0x18 assumed)`,
      familyAssumed: true,
    };
  if (vendor === 'other') return { cpu: { vendor, family: 0, ...m }, evidence: `hwloc ${evidence}` };
  return { cpu: { vendor, family: 0, ...m }, evidence: `hwloc ${evidence} (family unknown)`, familyAssumed: true };
}
