/**
 * nvidia-smi outputs -> {@link ImportFragment}s:
 *
 * - `nvidia-smi topo -m`: the path-class matrix (tab- or space-aligned, with or without ANSI escapes,
 *   trailing multi-word columns `CPU Affinity`, `NUMA Affinity`, `GPU NUMA ID`, and the `NIC Legend`;
 *   old versions that name NIC columns `mlx5_0` directly are read too). Its labels are bound to PCI
 *   functions by the combiner.
 * - GPU index -> bus id, from plain `nvidia-smi` (the `Bus-Id` column), `nvidia-smi -q` (`GPU
 *   00000000:C1:00.0` sections, in index order) or `nvidia-smi --query-gpu=index,pci.bus_id --format=csv`.
 */
import { normalizeBdf } from './bdf.ts';
import type { ImportFragment, NvidiaSmiTopo, ObservedGpu } from './import-types.ts';
import { quoteFound, splitLines, stripAnsi, topoParseError } from './text.ts';

const LINK = /^(X|PIX|PXB|PHB|NODE|SYS|SOC|NV\d+|NVB)$/;
const TRAILING = /\b(CPU\s+Affinity|NUMA\s+Affinity|GPU\s+NUMA\s+ID)\b/;

/** True when the text is an `nvidia-smi topo -m` matrix. */
export function looksLikeNvidiaSmiTopo(text: string): boolean {
  const t = stripAnsi(text);
  return /^[ \t]*GPU0[ \t]+X(?:[ \t]|$)/m.test(t) || /^[ \t]*GPU0(?:[ \t]+\S+)*[ \t]+CPU[ \t]+Affinity/m.test(t);
}

/** True when the text maps GPU indexes to bus ids (`nvidia-smi`, `-q`, or the csv query). */
export function looksLikeNvidiaSmiGpus(text: string): boolean {
  return (
    (/NVIDIA-SMI\s+\d/.test(text) && /Bus-Id/.test(text)) ||
    /^GPU [0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]\s*$/m.test(text) ||
    /^[^\n]*\bpci\.bus_id\b/m.test(text)
  );
}

/** A whitespace token with its 1-based column. */
function tokens(line: string): { t: string; col: number }[] {
  const out: { t: string; col: number }[] = [];
  for (const m of line.matchAll(/\S+/g)) out.push({ t: m[0], col: m.index + 1 });
  return out;
}

/**
 * Parses `nvidia-smi topo -m`. Throws TOPOLOGY_PARSE (file:line:col) for a missing header, a row with a
 * cell that is not a link class, or a missing row.
 */
export function parseNvidiaSmiTopo(text: string, file: string): ImportFragment {
  const lines = splitLines(text).map(stripAnsi);
  let headerAt = -1;
  let labels: string[] = [];
  let trailing: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const tr = TRAILING.exec(l);
    const head = tr ? l.slice(0, tr.index) : l;
    const toks = tokens(head).map((x) => x.t);
    if (toks.length > 0 && toks.every((t) => !LINK.test(t)) && /^GPU\d+$/.test(toks[0]!) && (tr || /^\s/.test(l))) {
      headerAt = i;
      labels = toks;
      trailing = tr
        ? [...l.slice(tr.index).matchAll(/CPU\s+Affinity|NUMA\s+Affinity|GPU\s+NUMA\s+ID/g)].map((m) =>
            m[0].replace(/\s+/g, ' '),
          )
        : [];
      break;
    }
  }
  if (headerAt < 0) {
    throw topoParseError(
      file,
      1,
      1,
      'expected an nvidia-smi topo -m header line (GPU0 GPU1 ... CPU Affinity ...), found none',
    );
  }
  const n = labels.length;
  const index = new Map(labels.map((l, i) => [l, i]));
  if (index.size !== n)
    throw topoParseError(
      file,
      headerAt + 1,
      1,
      `expected distinct column labels, found ${quoteFound(labels.join(' '))}`,
    );
  const cells: string[][] = labels.map(() => []);
  const rowLines: number[] = labels.map(() => 0);
  const numaAffinity: Record<string, string> = {};
  const numaCol = trailing.indexOf('NUMA Affinity');
  const nicNames: Record<string, string> = {};
  const warnings: string[] = [];
  let inLegend = false;
  for (let i = headerAt + 1; i < lines.length; i++) {
    const l = lines[i]!;
    const toks = tokens(l);
    if (toks.length === 0) continue;
    if (/^NIC Legend:/.test(l.trim())) {
      inLegend = true;
      continue;
    }
    if (/^Legend:/.test(l.trim())) {
      inLegend = false;
      continue;
    }
    if (inLegend) {
      const m = /^\s*(\S+):\s*(\S+)\s*$/.exec(l);
      if (m && index.has(m[1]!)) nicNames[m[1]!] = m[2]!;
      continue;
    }
    const r = index.get(toks[0]!.t);
    if (r === undefined) continue;
    if (rowLines[r] !== 0)
      throw topoParseError(
        file,
        i + 1,
        toks[0]!.col,
        `the row ${toks[0]!.t} appears twice (first at line ${rowLines[r]})`,
      );
    rowLines[r] = i + 1;
    for (let j = 0; j < n; j++) {
      const tok = toks[j + 1];
      if (!tok)
        throw topoParseError(file, i + 1, l.length + 1, `expected ${n} link classes in row ${labels[r]}, found ${j}`);
      if (!LINK.test(tok.t)) {
        throw topoParseError(
          file,
          i + 1,
          tok.col,
          `expected a link class (X, PIX, PXB, PHB, NODE, SYS, NV#) for ${labels[r]}-${labels[j]}, found ${quoteFound(tok.t)}`,
        );
      }
      cells[r]![j] = tok.t;
    }
    const rest = toks.slice(n + 1).map((x) => x.t);
    if (numaCol >= 0 && rest.length === trailing.length && rest[numaCol] !== undefined)
      numaAffinity[labels[r]!] = rest[numaCol]!;
  }
  for (let r = 0; r < n; r++) {
    if (rowLines[r] === 0)
      throw topoParseError(
        file,
        lines.length,
        undefined,
        `expected a row for ${labels[r]} (a column of the header at line ${headerAt + 1}), found none`,
      );
    if (cells[r]![r] !== 'X')
      warnings.push(`${file}:${rowLines[r]}: the diagonal cell of ${labels[r]} is ${cells[r]![r]}, not X`);
    for (let c = 0; c < r; c++) {
      if (cells[r]![c] !== cells[c]![r])
        warnings.push(
          `${file}:${rowLines[r]}: ${labels[r]}-${labels[c]} is ${cells[r]![c]} but ${labels[c]}-${labels[r]} is ${cells[c]![r]}`,
        );
    }
  }
  const topo: NvidiaSmiTopo = { file, labels, cells, rowLines, nicNames, numaAffinity };
  return { kind: 'nvidia-smi-topo', file, functions: [], rootBuses: [], warnings, topo };
}

/** Parses `nvidia-smi`, `nvidia-smi -q` or the csv query into GPU index -> bus id. */
export function parseNvidiaSmiGpus(text: string, file: string): ImportFragment {
  const lines = splitLines(text).map(stripAnsi);
  const gpus: ObservedGpu[] = [];
  const add = (index: number, bus: string, line: number, col: number, name?: string): void => {
    const bdf = normalizeBdf(bus);
    if (!bdf)
      throw topoParseError(file, line, col, `expected a bus id like 00000000:C1:00.0, found ${quoteFound(bus)}`);
    if (gpus.some((g) => g.index === index)) throw topoParseError(file, line, col, `GPU ${index} is listed twice`);
    gpus.push({ index, bdf, where: { file, line }, ...(name ? { name } : {}) });
  };
  const csvHeader = lines.findIndex((l) => /\bpci\.bus_id\b/.test(l));
  if (csvHeader >= 0) {
    const cols = lines[csvHeader]!.split(',').map((c) => c.trim().replace(/\s*\[.*\]$/, ''));
    const bi = cols.indexOf('pci.bus_id');
    const ii = cols.indexOf('index');
    const ni = cols.indexOf('name');
    let row = 0;
    for (let i = csvHeader + 1; i < lines.length; i++) {
      const l = lines[i]!;
      if (l.trim() === '') continue;
      const v = l.split(',').map((c) => c.trim());
      const bus = v[bi];
      if (bus === undefined)
        throw topoParseError(file, i + 1, 1, `expected ${cols.length} comma-separated values, found ${v.length}`);
      const idx = ii >= 0 ? v[ii] : String(row);
      if (idx === undefined || !/^\d+$/.test(idx))
        throw topoParseError(file, i + 1, 1, `expected a GPU index, found ${quoteFound(idx ?? '')}`);
      add(Number(idx), bus, i + 1, l.indexOf(bus) + 1, ni >= 0 ? v[ni] : undefined);
      row++;
    }
  } else {
    let qIndex = 0;
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!;
      const q = /^GPU ([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])\s*$/.exec(l);
      if (q) {
        add(qIndex++, q[1]!, i + 1, 5);
        continue;
      }
      const t = /^\|\s*(\d+)\s+(.*?)\s*\|\s*([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])\s/.exec(l);
      if (t) {
        const name = t[2]!.replace(/\s+(On|Off|N\/A)$/, '').trim();
        add(Number(t[1]), t[3]!, i + 1, l.indexOf(t[3]!) + 1, name || undefined);
      }
    }
  }
  if (gpus.length === 0) {
    throw topoParseError(
      file,
      1,
      1,
      'expected nvidia-smi GPU rows with a Bus-Id (nvidia-smi, nvidia-smi -q or --query-gpu=index,pci.bus_id), found none',
    );
  }
  return { kind: 'nvidia-smi-gpus', file, functions: [], rootBuses: [], warnings: [], gpus };
}
