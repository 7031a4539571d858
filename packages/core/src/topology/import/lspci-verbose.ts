/**
 * `lspci` listings -> an {@link ImportFragment}: plain `lspci`, `-nn`, `-n`, `-m`/`-mm`, and the verbose
 * `-v`/`-vv`/`-vvv` forms (optionally with `-nn`, `-D`, `-s` per device, and copied into a Markdown file
 * with fences and shell prompts around it). Also `lspci -vvv | grep ACSCtl`, whose lines carry no device
 * name: they become an ACS summary.
 *
 * What is read from a verbose block: the header (`bb:dd.f class: vendor device [ids] (rev) (prog-if)`),
 * `Bus: primary=, secondary=, subordinate=`, the PCIe port type (`Express (v2) Root Port`), the ACS
 * capability and its `ACSCtl` flags, `NUMA node`, `IOMMU group`, `Region N:` BARs at the device level (not
 * the VF BARs inside the SR-IOV capability), the SR-IOV VF count/offset/stride, `LnkCap`/`LnkSta`, and
 * `Kernel driver in use`. Lines lspci prints that dmasim does not need are skipped; a line dmasim needs
 * that does not have the expected form is an error naming file, line and column.
 */

import type { BarSpec, PortType } from '../topology-spec.ts';
import { normalizeBdf } from './bdf.ts';
import type { ImportFragment, ObservedFunction } from './import-types.ts';
import { classFromName, deviceFromName, vendorFromName } from './pci-ids.ts';
import { hex, quoteFound, splitLines, topoParseError } from './text.ts';

const HEADER = /^((?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+(\S.*)$/;
const NOISE = /^\s*(?:```|\$ |# |#$|\[sudo\])/;

/** True when the text has at least one lspci device line at the start of a line. */
export function looksLikeLspciListing(text: string): boolean {
  return /^(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7] +(?:"|[0-9a-fA-F]{4}: |[A-Za-z][^:\n]*: )/m.test(
    text,
  );
}

/** True when the text is `lspci -vvv | grep ACSCtl` (ACSCtl lines and no device lines). */
export function looksLikeAcsctlOnly(text: string): boolean {
  return /^\s+ACSCtl:/m.test(text) && !looksLikeLspciListing(text);
}

/** ACS control bits by the names lspci prints (kernel-model.md 2.3). */
const ACS_BITS: Readonly<Record<string, number>> = {
  SrcValid: 0x01,
  TransBlk: 0x02,
  ReqRedir: 0x04,
  CmpltRedir: 0x08,
  UpstreamFwd: 0x10,
  EgressCtrl: 0x20,
  DirectTrans: 0x40,
};

/** The redirect bits the P2PDMA code tests: ReqRedir, CmpltRedir, EgressCtrl. */
export const ACS_REDIRECT_MASK = 0x04 | 0x08 | 0x20;

/**
 * The 16-bit ACS control value of an `ACSCtl:` (or `ACSCap:`) line. Each flag is `Name+` or `Name-`;
 * the three redirect flags must be present.
 */
export function parseAcsFlags(s: string, file: string, line: number, col: number): number {
  const body = s.replace(/^\s*ACSC(?:tl|ap):\s*/, '');
  let value = 0;
  const seen = new Set<string>();
  for (const m of body.matchAll(/([A-Za-z]+)([+-])/g)) {
    const bit = ACS_BITS[m[1]!];
    if (bit === undefined) continue;
    seen.add(m[1]!);
    if (m[2] === '+') value |= bit;
  }
  for (const need of ['ReqRedir', 'CmpltRedir', 'EgressCtrl']) {
    if (!seen.has(need))
      throw topoParseError(
        file,
        line,
        col,
        `expected '${need}+' or '${need}-' in the ACS flags, found ${quoteFound(body)}`,
      );
  }
  return value;
}

const SIZE_UNITS: Readonly<Record<string, bigint>> = { '': 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n };

/**
 * A `Region N: Memory at ... (64-bit, prefetchable) [size=64G]` or `Region N: I/O ports at ...` line.
 * Returns `undefined` for a BAR without an address or size (unassigned), and `'no-index'` for the
 * index-less form `lspci -vv` prints (`Memory at ...`).
 */
export function parseRegionLine(s: string, file: string, line: number, col: number): BarSpec | 'no-index' | undefined {
  const r = /^Region (\d+): (.*)$/.exec(s);
  if (!r) return 'no-index';
  const index = Number(r[1]);
  if (index > 5) throw topoParseError(file, line, col, `expected a BAR index 0-5, found ${r[1]}`);
  const body = r[2]!.replace(/^(?:\[virtual\] |\[enhanced\] )+/, '');
  const mem = /^Memory at (\S+) \((32-bit|64-bit|low-1M|type 3), (non-)?prefetchable\)(.*)$/.exec(body);
  const io = mem ? null : /^I\/O ports at (\S+)(.*)$/.exec(body);
  if (!mem && !io) {
    throw topoParseError(
      file,
      line,
      col,
      `expected 'Memory at ADDR (64-bit, prefetchable)' or 'I/O ports at ADDR', found ${quoteFound(body)}`,
    );
  }
  const addr = (mem ?? io)![1]!;
  const tail = (mem ? mem[4] : io![2])!;
  const size = /\[size=(\d+)([KMGT]?)\]/.exec(tail);
  if (!/^[0-9a-fA-F]{1,16}$/.test(addr) || !size) return undefined;
  return {
    index,
    memory: mem !== null,
    is64: mem?.[2] === '64-bit',
    prefetchable: mem !== null && mem[3] === undefined,
    cpuStart: hex(BigInt(`0x${addr}`)),
    length: hex(BigInt(size[1]!) * SIZE_UNITS[size[2]!]!),
  };
}

const PORT_TYPES: Readonly<Record<string, PortType>> = {
  'Root Port': 'root_port',
  'Upstream Port': 'upstream',
  'Downstream Port': 'downstream',
  Endpoint: 'endpoint',
  'Legacy Endpoint': 'endpoint',
  'Root Complex Integrated Endpoint': 'rc_endpoint',
  'Root Complex Event Collector': 'rc_endpoint',
  'PCI-Express to PCI/PCI-X Bridge': 'pci_bridge',
  'PCI/PCI-X to PCI-Express Bridge': 'pci_bridge',
};
const EXPRESS =
  /Express (?:\(v\d+\) )?(Root Port|Upstream Port|Downstream Port|Legacy Endpoint|Endpoint|Root Complex Integrated Endpoint|Root Complex Event Collector|PCI-Express to PCI\/PCI-X Bridge|PCI\/PCI-X to PCI-Express Bridge)/;

/** Per-device parse state. */
interface Block {
  f: ObservedFunction;
  baseIndent: number;
  cap: string;
  capsSeen: boolean;
  capsDenied: boolean;
  express: boolean;
  lnkCap?: string;
  lnkSta?: string;
}

function indentOf(s: string): number {
  let n = 0;
  for (const ch of s) {
    if (ch === ' ') n++;
    else if (ch === '\t') n = (Math.floor(n / 8) + 1) * 8;
    else break;
  }
  return n;
}

/**
 * Parses lspci listing output. Throws TOPOLOGY_PARSE when there is no device line (and no ACSCtl line),
 * or when a line dmasim reads is malformed.
 */
export function parseLspciVerbose(text: string, file: string): ImportFragment {
  const frag: ImportFragment = { kind: 'lspci-verbose', file, functions: [], rootBuses: [], warnings: [] };
  const lines = splitLines(text);
  const seen = new Map<string, number>();
  let block: Block | undefined;
  let skipped = 0;
  let firstSkipped = 0;
  let acsLines = 0;
  let acsRedirecting = 0;

  const finish = (): void => {
    if (!block) return;
    const b = block;
    block = undefined;
    if (b.capsSeen && !b.capsDenied) {
      b.f.acsCap ??= false;
      if (b.f.acsCap === false) b.f.acsCtrl = 0;
      if (!b.express) b.f.type ??= 'legacy';
    }
    if (b.lnkCap) b.f.link = b.lnkSta && b.lnkSta !== b.lnkCap ? `${b.lnkCap} (running ${b.lnkSta})` : b.lnkCap;
    else if (b.lnkSta) b.f.link = b.lnkSta;
  };

  for (let li = 0; li < lines.length; li++) {
    const lineNo = li + 1;
    const s = lines[li]!;
    if (s.trim() === '') continue;
    const indent = indentOf(s);
    if (indent === 0) {
      const h = HEADER.exec(s);
      if (h) {
        finish();
        const bdf = normalizeBdf(h[1]!);
        if (!bdf)
          throw topoParseError(
            file,
            lineNo,
            1,
            `expected a device name bb:dd.f with dd <= 1f, found ${quoteFound(h[1]!)}`,
          );
        const f: ObservedFunction = { bdf, where: { file, line: lineNo } };
        header(f, h[2]!, file, lineNo, s.indexOf(h[2]!, h[1]!.length) + 1);
        const prev = seen.get(bdf);
        if (prev !== undefined) {
          frag.warnings.push(`${file}:${lineNo}: ${bdf} was already listed at line ${prev}; the first listing is kept`);
          block = { f: { ...f }, baseIndent: -1, cap: '', capsSeen: false, capsDenied: false, express: false };
          continue;
        }
        seen.set(bdf, lineNo);
        frag.functions.push(f);
        block = { f, baseIndent: -1, cap: '', capsSeen: false, capsDenied: false, express: false };
        continue;
      }
      finish();
      if (skipped++ === 0) firstSkipped = lineNo;
      continue;
    }
    const t = s.trim();
    if (!block) {
      if (t.startsWith('ACSCtl:')) {
        acsLines++;
        if (parseAcsFlags(t, file, lineNo, s.length - s.trimStart().length + 1) & ACS_REDIRECT_MASK) acsRedirecting++;
      } else if (!NOISE.test(s)) {
        if (skipped++ === 0) firstSkipped = lineNo;
      }
      continue;
    }
    detail(block, t, indent, s.length - s.trimStart().length + 1, file, lineNo);
  }
  finish();
  if (acsLines > 0) frag.acsSummary = { lines: acsLines, redirecting: acsRedirecting };
  if (frag.functions.length === 0) {
    if (acsLines > 0) {
      frag.kind = 'lspci-acsctl';
      return frag;
    }
    throw topoParseError(
      file,
      1,
      undefined,
      `expected lspci output (device lines like '00:00.0 Host bridge: ...'), found none${lines[0] ? ` (first line ${quoteFound(lines[0])})` : ''}`,
    );
  }
  if (skipped > 0)
    frag.warnings.push(
      `${file}: ${skipped} line(s) that are neither lspci device lines nor their details were skipped (first at line ${firstSkipped})`,
    );
  return frag;
}

/** The header after the device name: class, vendor and device names or ids, revision, prog-if. */
function header(f: ObservedFunction, rest: string, file: string, line: number, col: number): void {
  if (rest.startsWith('"')) {
    machineReadable(f, rest);
    return;
  }
  const sep = rest.indexOf(': ');
  if (sep < 0)
    throw topoParseError(
      file,
      line,
      col,
      `expected 'class: vendor device' after the device name, found ${quoteFound(rest)}`,
    );
  const classPart = rest.slice(0, sep).trim();
  let name = rest.slice(sep + 2).trim();
  let progIf = 0;
  const pi = /\s*\(prog-if ([0-9a-fA-F]{2})(?: \[[^\]]*\])?\)\s*$/.exec(name);
  if (pi) {
    progIf = Number.parseInt(pi[1]!, 16);
    name = name.slice(0, pi.index);
  }
  name = name.replace(/\s*\(rev [0-9a-fA-F]{2}\)\s*$/, '');
  const numericClass = /^([0-9a-fA-F]{4})$/.exec(classPart);
  const cls = numericClass ? Number.parseInt(numericClass[1]!, 16) : classFromName(classPart);
  if (cls !== undefined) f.classCode = (cls << 8) | progIf;
  if (!numericClass) f.className = classPart.replace(/\s*\[[0-9a-fA-F]{4}\]$/, '');
  const numericIds = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\b/.exec(name);
  if (numericIds) {
    f.vendor = Number.parseInt(numericIds[1]!, 16);
    f.device = Number.parseInt(numericIds[2]!, 16);
    return;
  }
  idsFromName(f, name);
}

/**
 * Sets vendor and device (and the name) from an lspci device name: `Name [vvvv:dddd]` as `-nn` prints it,
 * or a name alone, whose ids are looked up in the vendor and device tables. Shared by the tree and the
 * verbose parsers.
 */
export function idsFromName(f: ObservedFunction, name: string): void {
  const nn = /^(.*?)\s*\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]$/.exec(name);
  if (nn) {
    f.vendor = Number.parseInt(nn[2]!, 16);
    f.device = Number.parseInt(nn[3]!, 16);
    f.name = nn[1]!;
    return;
  }
  f.name = name;
  const v = vendorFromName(name);
  if (v) {
    f.vendor = v.vendor;
    const d = deviceFromName(v.rest, v.vendor);
    if (d !== undefined) f.device = d;
  }
}

/** `lspci -m`/`-mm`: `"class" "vendor" "device" -rXX -pXX "svendor" "sdevice"`, each with `[xxxx]` under `-nn`. */
function machineReadable(f: ObservedFunction, rest: string): void {
  const q = [...rest.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  const id = (s: string | undefined): number | undefined => {
    const m = s === undefined ? null : /\[([0-9a-fA-F]{4})\]$/.exec(s);
    return m ? Number.parseInt(m[1]!, 16) : undefined;
  };
  const strip = (s: string): string => s.replace(/\s*\[[0-9a-fA-F]{4}\]$/, '');
  const cls =
    q[0] === undefined ? undefined : /^[0-9a-fA-F]{4}$/.test(q[0]) ? Number.parseInt(q[0], 16) : classFromName(q[0]);
  const progIf = /-p([0-9a-fA-F]{2})/.exec(rest);
  if (cls !== undefined) f.classCode = (cls << 8) | (progIf ? Number.parseInt(progIf[1]!, 16) : 0);
  if (q[0] !== undefined) f.className = strip(q[0]);
  const vendorText = q[1] ?? '';
  const deviceText = q[2] ?? '';
  f.vendor =
    id(vendorText) ??
    (/^[0-9a-fA-F]{4}$/.test(vendorText) ? Number.parseInt(vendorText, 16) : vendorFromName(strip(vendorText))?.vendor);
  f.device =
    id(deviceText) ??
    (/^[0-9a-fA-F]{4}$/.test(deviceText) ? Number.parseInt(deviceText, 16) : deviceFromName(strip(deviceText)));
  if (f.vendor === undefined) delete f.vendor;
  if (f.device === undefined) delete f.device;
  f.name = `${strip(vendorText)} ${strip(deviceText)}`.trim();
}

/** One indented line of a verbose block. */
function detail(b: Block, t: string, indent: number, col: number, file: string, line: number): void {
  if (b.baseIndent < 0) b.baseIndent = indent;
  const f = b.f;
  if (indent <= b.baseIndent) {
    b.cap = '';
    if (t.startsWith('Capabilities:')) {
      if (/<access denied>/.test(t)) {
        b.capsDenied = true;
        return;
      }
      b.capsSeen = true;
      b.cap = t;
      const e = EXPRESS.exec(t);
      if (e) {
        b.express = true;
        f.type = PORT_TYPES[e[1]!]!;
      }
      if (/Access Control Services/.test(t)) f.acsCap = true;
      return;
    }
    if (t.startsWith('Bus:')) {
      const m = /^Bus: primary=([0-9a-fA-F]{2}), secondary=([0-9a-fA-F]{2}), subordinate=([0-9a-fA-F]{2})/.exec(t);
      if (!m)
        throw topoParseError(
          file,
          line,
          col,
          `expected 'Bus: primary=bb, secondary=bb, subordinate=bb', found ${quoteFound(t)}`,
        );
      f.isBridge = true;
      f.primaryBus = Number.parseInt(m[1]!, 16);
      f.secondaryBus = Number.parseInt(m[2]!, 16);
      f.subordinateBus = Number.parseInt(m[3]!, 16);
      return;
    }
    if (t.startsWith('Region ')) {
      const bar = parseRegionLine(t, file, line, col);
      if (bar && bar !== 'no-index') f.bars = [...(f.bars ?? []), bar];
      return;
    }
    if (t.startsWith('NUMA node:')) {
      f.numaNode = intField(t, 'NUMA node:', file, line, col);
      return;
    }
    if (t.startsWith('IOMMU group:')) {
      f.iommuGroup = intField(t, 'IOMMU group:', file, line, col);
      return;
    }
    if (t.startsWith('Kernel driver in use:')) {
      const d = t.slice('Kernel driver in use:'.length).trim();
      if (d) f.driver = d;
    }
    return;
  }
  // Inside a capability.
  if (/Access Control Services/.test(b.cap) && t.startsWith('ACSCtl:')) {
    f.acsCtrl = parseAcsFlags(t, file, line, col);
    return;
  }
  if (/SR-IOV/.test(b.cap)) {
    const n = /Total VFs: (\d+), Number of VFs: (\d+)/.exec(t);
    if (n) {
      f.sriov = {
        totalVfs: Number(n[1]),
        numVfs: Number(n[2]),
        vfOffset: f.sriov?.vfOffset ?? 0,
        vfStride: f.sriov?.vfStride ?? 0,
      };
      return;
    }
    const o = /VF offset: (\d+), stride: (\d+), Device ID: ([0-9a-fA-F]{4})/.exec(t);
    if (o) {
      f.sriov = {
        totalVfs: f.sriov?.totalVfs ?? 0,
        numVfs: f.sriov?.numVfs ?? 0,
        vfOffset: Number(o[1]),
        vfStride: Number(o[2]),
        vfDevice: Number.parseInt(o[3]!, 16),
      };
    }
    return;
  }
  if (b.express) {
    const cap = /^LnkCap:\s+Port #\d+, Speed ([\d.]+GT\/s)[^,]*, Width (x\d+)/.exec(t);
    if (cap) b.lnkCap = `${cap[1]} ${cap[2]}`;
    const sta = /^LnkSta:\s+Speed ([\d.]+GT\/s)[^,]*, Width (x\d+)/.exec(t);
    if (sta) b.lnkSta = `${sta[1]} ${sta[2]}`;
  }
}

function intField(t: string, prefix: string, file: string, line: number, col: number): number {
  const rest = t.slice(prefix.length);
  const v = rest.trim();
  if (!/^\d+$/.test(v))
    throw topoParseError(
      file,
      line,
      col + prefix.length + (rest.length - rest.trimStart().length),
      `expected a number after '${prefix}', found ${quoteFound(v)}`,
    );
  return Number(v);
}
