/**
 * `dmasim topo compare`: dmasim's path class against `nvidia-smi topo -m` for every pair of labelled
 * devices, with each disagreement listed and explained from the data (the two upstream chains, the host
 * bridges and NUMA nodes, and which facts were assumed rather than read).
 */
import { type NvidiaSmiTopo, type PathClass, pairMatrix, pathClassOf } from '@dmasim/core';
import type { Machine } from './machine.ts';

/** One compared pair. */
export interface ComparedPair {
  a: string;
  b: string;
  aBdf: string | null;
  bBdf: string | null;
  nvidiaSmi: string;
  dmasim: PathClass | null;
  mapType: string | null;
  distance: number | null;
  status: 'agree' | 'differ' | 'not-compared';
  /** For a disagreement or a pair not compared: why, one line each. */
  explanation: string[];
}

/** The comparison of one matrix. */
export interface Comparison {
  file: string;
  pairs: ComparedPair[];
  agree: number;
  differ: number;
  notCompared: number;
}

/** nvidia-smi's old name for SYS. */
function normalize(link: string): string {
  return link === 'SOC' ? 'SYS' : link;
}

const RANK: Readonly<Record<string, number>> = { X: 0, PIX: 1, PXB: 2, PHB: 3, NODE: 4, SYS: 5 };

function chainText(m: Machine, bdf: string): string {
  return m.topology
    .get(bdf)
    .chain.map((f) => f.bdf)
    .join(' -> ');
}

function explain(
  m: Machine,
  a: string,
  b: string,
  aBdf: string,
  bBdf: string,
  theirs: string,
  ours: PathClass,
  reason: string,
): string[] {
  const out = [`dmasim: ${reason}`, `  ${a} ${chainText(m, aBdf)}`, `  ${b} ${chainText(m, bBdf)}`];
  const ra = RANK[theirs]!;
  const ro = RANK[ours]!;
  const fa = m.topology.get(aBdf);
  const fb = m.topology.get(bBdf);
  if (ra <= 2 && ro <= 2) {
    out.push(
      `nvidia-smi sees ${theirs === 'PIX' ? 'at most one' : 'several'} PCIe bridges between them, dmasim counts ${ours === 'PIX' ? 'at most one' : 'several'} (a switch counts once): a bridge may be missing from the data (hwloc drops bridges) or nvidia-smi counts this switch differently`,
    );
  } else if (ra <= 2 && ro >= 3) {
    out.push(
      'nvidia-smi sees a common PCIe bridge, dmasim none: the two labels may be bound to the wrong functions, or the data miss the switch above them',
    );
  } else if (ra >= 3 && ro <= 2) {
    out.push('dmasim finds a common upstream bridge that nvidia-smi does not see: check the label bindings below');
  } else if (theirs === 'PHB' && ours !== 'PHB') {
    out.push(
      `nvidia-smi sees one host bridge; dmasim has them on different root buses (${fa.hostBridge.name}, ${fb.hostBridge.name}). Platforms that expose one root complex as several root buses make nvidia-smi report PHB here`,
    );
  } else if (ours === 'PHB') {
    out.push(
      `dmasim has both below host bridge ${fa.hostBridge.name}; nvidia-smi sees different host bridges: a label may be bound to the wrong function`,
    );
  } else {
    const numa = m.assumed.find((x) => x.field === 'platform.numaNodes');
    const single = m.topology.platform.numaNodes === 1;
    const nodeOf = (f: typeof fa): string => String(f.numaNode ?? f.hostBridge.numaNode ?? (single ? 0 : '?'));
    out.push(
      `NODE vs SYS is a NUMA question: dmasim places ${a} in node ${nodeOf(fa)} and ${b} in node ${nodeOf(fb)}${numa ? ` (the node count was assumed: ${numa.why})` : ''}; give data with NUMA nodes (hwloc XML, sysfs numa_node, lspci -vvv "NUMA node") or set --numa-node`,
    );
  }
  for (const [label, bdf] of [
    [a, aBdf],
    [b, bBdf],
  ] as const) {
    const bind = m.labels.find((l) => l.label === label);
    if (bind?.how.startsWith('inferred'))
      out.push(`${label} -> ${bdf} was ${bind.how}; if that is wrong, set --label ${label}=ssss:bb:dd.f`);
  }
  return out;
}

/** Compares the matrix with dmasim's path classes. */
export function compareWith(m: Machine, topo: NvidiaSmiTopo): Comparison {
  const pairs: ComparedPair[] = [];
  const bdfOf = (label: string): string | null => m.labels.find((l) => l.label === label)?.bdf ?? null;
  for (let i = 0; i < topo.labels.length; i++) {
    for (let j = i + 1; j < topo.labels.length; j++) {
      const a = topo.labels[i]!;
      const b = topo.labels[j]!;
      const theirs = normalize(topo.cells[i]![j]!);
      const aBdf = bdfOf(a);
      const bBdf = bdfOf(b);
      const base = { a, b, aBdf, bBdf, nvidiaSmi: theirs };
      if (!aBdf || !bBdf) {
        pairs.push({
          ...base,
          dmasim: null,
          mapType: null,
          distance: null,
          status: 'not-compared',
          explanation: [`${!aBdf ? a : b} is not bound to a PCI function (see the warnings; --label binds it)`],
        });
        continue;
      }
      const info = pathClassOf(m.topology, aBdf, bBdf);
      const row = aBdf === bBdf ? undefined : pairMatrix(m.topology, [aBdf, bBdf], { ordered: false })[0];
      const common = {
        ...base,
        dmasim: info.pathClass,
        mapType: row?.mapType ?? 'BUS_ADDR',
        distance: row?.distance ?? 0,
      };
      if (RANK[theirs] === undefined) {
        pairs.push({
          ...common,
          status: 'not-compared',
          explanation: [
            `nvidia-smi reports ${theirs} (NVLink), not a PCIe path; dmasim's PCIe path is ${info.pathClass}: ${info.reason}`,
          ],
        });
        continue;
      }
      if (theirs === info.pathClass) pairs.push({ ...common, status: 'agree', explanation: [] });
      else
        pairs.push({
          ...common,
          status: 'differ',
          explanation: explain(m, a, b, aBdf, bBdf, theirs, info.pathClass, info.reason),
        });
    }
  }
  return {
    file: topo.file,
    pairs,
    agree: pairs.filter((p) => p.status === 'agree').length,
    differ: pairs.filter((p) => p.status === 'differ').length,
    notCompared: pairs.filter((p) => p.status === 'not-compared').length,
  };
}

/** The text report of one comparison. */
export function comparisonText(m: Machine, c: Comparison): string {
  let s =
    c.pairs.length > 0 && c.pairs.every((p) => p.nvidiaSmi === '-')
      ? `${m.spec.id}: no nvidia-smi topo -m among the inputs; dmasim's path classes only\n`
      : `${c.file} vs dmasim (${m.spec.id}): path class of every labelled pair\n`;
  const used = new Set(c.pairs.flatMap((p) => [p.a, p.b]));
  for (const l of m.labels) if (used.has(l.label)) s += `  ${l.label.padEnd(6)} ${l.bdf}  (${l.how})\n`;
  s += '\n';
  const rows = c.pairs.map((p) => [
    `${p.a}-${p.b}`,
    p.nvidiaSmi,
    p.dmasim ?? '-',
    p.mapType ? `${p.mapType} ${p.distance}` : '-',
    p.status === 'agree' ? 'agree' : p.status === 'differ' ? 'DIFFERS' : 'not compared',
  ]);
  const head = ['pair', 'nvidia-smi', 'dmasim', 'map type, distance', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    `  ${cells
      .map((x, i) => x.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()}`;
  s += `${line(head)}\n`;
  c.pairs.forEach((p, k) => {
    s += `${line(rows[k]!)}\n`;
    for (const e of p.explanation) s += `      ${e}\n`;
  });
  s += `\n${c.pairs.length} pairs: ${c.agree} agree, ${c.differ} differ, ${c.notCompared} not compared\n`;
  if (c.pairs.length > 0 && c.pairs.every((p) => p.nvidiaSmi === '-')) {
    s += 'nothing to compare with: give the nvidia-smi topo -m output of this machine (--nvidia-smi TOPO.txt)\n';
  }
  return s;
}

/**
 * dmasim's classes alone, for inputs without an nvidia-smi matrix: every pair of the labelled devices (GPUs
 * and NICs when none is labelled), all "not compared".
 */
export function withoutNvidiaSmi(m: Machine, devices: readonly { bdf: string; name: string }[]): Comparison {
  const pairs: ComparedPair[] = [];
  for (let i = 0; i < devices.length; i++) {
    for (let j = i + 1; j < devices.length; j++) {
      const a = devices[i]!;
      const b = devices[j]!;
      const info = pathClassOf(m.topology, a.bdf, b.bdf);
      const row = pairMatrix(m.topology, [a.bdf, b.bdf], { ordered: false })[0]!;
      pairs.push({
        a: a.name,
        b: b.name,
        aBdf: a.bdf,
        bBdf: b.bdf,
        nvidiaSmi: '-',
        dmasim: info.pathClass,
        mapType: row.mapType,
        distance: row.distance,
        status: 'not-compared',
        explanation: [],
      });
    }
  }
  return { file: '(no nvidia-smi topo -m among the inputs)', pairs, agree: 0, differ: 0, notCompared: pairs.length };
}
