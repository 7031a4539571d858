/**
 * `lspci -t` tree text (`-t`, `-tv`, `-tvnn`, `-tn`, and `-tvvv` with its BAR lines) -> an
 * {@link ImportFragment}.
 *
 * The grammar is the one pciutils' `ls-tree.c` prints: a host level that lists root buses
 * (`-+-[0000:00]-+-...`, ` +-[0000:20]-...`, ` \-[0000:e0]-...`, or `-[0000:00]-...` when there is one),
 * buses that list functions (`--00.0` for one, `+-00.0` ... `\-1f.0` for several), and bridges that
 * print their bus range (`-[01-13]-` or `-[c1]-`) and then their own buses. A continuation line repeats the
 * tree drawing (` `, `|`) up to the column of the list it continues, so every list is known by the column
 * of its `+`/`\`. Bridges print no name. Several root buses, 5-digit (VMD) domains, bridges with empty
 * buses (`-[13]--`) and one-line chains (`-[e1-e2]----00.0-[e2]----00.0`) all follow from this.
 */
import { formatBdf } from './bdf.ts';
import type { ImportFragment, ObservedFunction } from './import-types.ts';
import { idsFromName, parseRegionLine } from './lspci-verbose.ts';
import { quoteFound, splitLines, topoParseError } from './text.ts';

/** What a bus list or a bus-of-buses list at some column continues. */
type ListCtx =
  | { kind: 'devices'; segment: number; bus: number; parent: string | null | undefined; line: number; closed: boolean }
  | { kind: 'buses'; segment: number; bridge: string | null; secondary: number; line: number; closed: boolean };

/** True when the text looks like `lspci -t` output (a tree line with a `[dddd:bb]` root bus). */
export function looksLikeLspciTree(text: string): boolean {
  return /^[ |]*(?:-\+-|-|\+-|\\-)\[[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}\]-/m.test(text);
}

const NOISE = /^\s*(?:```|\$ |# |#$|\[sudo\])/;

/**
 * Parses `lspci -t` output. Throws TOPOLOGY_PARSE naming file, line and column for any line that does not
 * follow the tree grammar.
 */
export function parseLspciTree(text: string, file: string): ImportFragment {
  const frag: ImportFragment = { kind: 'lspci-tree', file, functions: [], rootBuses: [], warnings: [] };
  const byBdf = new Map<string, ObservedFunction>();
  const lists = new Map<number, ListCtx>();
  let last: ObservedFunction | undefined;
  let started = false;
  let skipped = 0;
  let firstSkipped = 0;
  let noIndexBars = 0;
  const lines = splitLines(text);

  for (let li = 0; li < lines.length; li++) {
    const lineNo = li + 1;
    const raw = lines[li]!;
    const s = raw.replace(/\t/g, '        ').trimEnd();
    if (s === '') continue;
    if (NOISE.test(s) || (!started && !/^[ |]*[-+\\]/.test(s))) {
      if (skipped++ === 0) firstSkipped = lineNo;
      continue;
    }
    let c = 0;
    while (c < s.length && (s[c] === ' ' || s[c] === '|')) c++;
    const ch = s[c];
    const p = new Parser(s, lineNo, file, frag, byBdf, lists, (f) => {
      last = f;
    });
    if (ch === '-' && !s.slice(0, c).includes('|')) {
      // A new tree (the host level). Several trees in one file are read as one machine.
      lists.clear();
      started = true;
      p.bridgeBody(c, { segment: 0, bridge: null, secondary: -1 });
      continue;
    }
    if (!started) {
      throw topoParseError(
        file,
        lineNo,
        c + 1,
        `expected the first tree line ('-[0000:00]-...' or '-+-[0000:00]-...'), found ${quoteFound(s.slice(c))}`,
      );
    }
    if (ch === '+' || ch === '\\') {
      const ctx = lists.get(c);
      if (!ctx) {
        throw topoParseError(
          file,
          lineNo,
          c + 1,
          `a '${ch}-' at column ${c + 1} continues no open list (open lists are at columns ${[...lists.keys()].map((k) => k + 1).join(', ') || 'none'})`,
        );
      }
      if (ctx.closed) {
        throw topoParseError(
          file,
          lineNo,
          c + 1,
          `the list at column ${c + 1} (line ${ctx.line}) was already closed by '\\-'`,
        );
      }
      for (const [k, deeper] of lists) {
        if (k > c) {
          if (!deeper.closed)
            frag.warnings.push(`${file}:${deeper.line}: a list at column ${k + 1} was not closed with '\\-'`);
          lists.delete(k);
        }
      }
      if (ch === '\\') ctx.closed = true;
      p.listItem(c, ctx);
      continue;
    }
    const bar = s.slice(c).trim();
    if (/^(Region \d+: |\[virtual\] |\[enhanced\] )?(Memory at|I\/O ports at)/.test(bar)) {
      if (!last) throw topoParseError(file, lineNo, c + 1, 'a BAR line before any device');
      const region = parseRegionLine(bar, file, lineNo, c + 1);
      if (region === 'no-index') noIndexBars++;
      else if (region) last.bars = [...(last.bars ?? []), region];
      continue;
    }
    throw topoParseError(
      file,
      lineNo,
      c + 1,
      `expected a tree line ('+-', '\\-' continuing a list, or a BAR line), found ${quoteFound(s.slice(c))}`,
    );
  }
  if (!started) {
    throw topoParseError(file, 1, undefined, "expected lspci -t output (a line like '-[0000:00]-+-00.0'), found none");
  }
  for (const [k, ctx] of lists) {
    if (!ctx.closed && ctx.kind === 'devices')
      frag.warnings.push(`${file}:${ctx.line}: the list at column ${k + 1} ends without '\\-' (truncated output?)`);
  }
  if (skipped > 0)
    frag.warnings.push(
      `${file}: ${skipped} line(s) that are not tree lines were skipped (first at line ${firstSkipped})`,
    );
  if (noIndexBars > 0) {
    frag.warnings.push(
      `${file}: ${noIndexBars} BAR line(s) without 'Region N:' (lspci -tvv) ignored; use -tvvv or lspci -vvv for BARs`,
    );
  }
  return frag;
}

/** Parses one line from a given column on. */
class Parser {
  private readonly s: string;
  private readonly line: number;
  private readonly file: string;
  private readonly frag: ImportFragment;
  private readonly byBdf: Map<string, ObservedFunction>;
  private readonly lists: Map<number, ListCtx>;
  private readonly onDevice: (f: ObservedFunction) => void;

  constructor(
    s: string,
    line: number,
    file: string,
    frag: ImportFragment,
    byBdf: Map<string, ObservedFunction>,
    lists: Map<number, ListCtx>,
    onDevice: (f: ObservedFunction) => void,
  ) {
    this.s = s;
    this.line = line;
    this.file = file;
    this.frag = frag;
    this.byBdf = byBdf;
    this.lists = lists;
    this.onDevice = onDevice;
  }

  private fail(pos: number, expected: string): never {
    const found = pos >= this.s.length ? 'the end of the line' : quoteFound(this.s.slice(pos));
    throw topoParseError(this.file, this.line, pos + 1, `expected ${expected}, found ${found}`);
  }

  private openList(col: number, ctx: ListCtx): void {
    for (const k of [...this.lists.keys()]) if (k >= col) this.lists.delete(k);
    this.lists.set(col, ctx);
  }

  /** Continues the list `ctx` with the item whose `+`/`\` is at `col`. */
  listItem(col: number, ctx: ListCtx): void {
    if (this.s[col + 1] !== '-') this.fail(col + 1, "'-' after the list marker");
    if (ctx.kind === 'devices') this.device(col + 2, ctx.segment, ctx.bus, ctx.parent);
    else this.busItem(col + 2, ctx.bridge, ctx.secondary);
  }

  /** `-` then a bus (single) or a list of buses; `pos` is at the `-`. */
  bridgeBody(pos: number, b: { segment: number; bridge: string | null; secondary: number }): void {
    if (this.s[pos] !== '-') this.fail(pos, "'-'");
    pos++;
    const ch = this.s[pos];
    if (ch === '[') {
      this.busItem(pos, b.bridge, b.secondary);
      return;
    }
    if ((ch === '+' || ch === '\\') && this.s[pos + 1] === '-' && this.s[pos + 2] === '[') {
      this.openList(pos, {
        kind: 'buses',
        segment: b.segment,
        bridge: b.bridge,
        secondary: b.secondary,
        line: this.line,
        closed: ch === '\\',
      });
      this.busItem(pos + 2, b.bridge, b.secondary);
      return;
    }
    if (b.bridge === null) this.fail(pos, "a root bus '[dddd:bb]' or a list of them");
    this.busBody(pos, b.segment, b.secondary, b.bridge);
  }

  /** `[dddd:bb]-` then the bus body. */
  private busItem(pos: number, bridge: string | null, secondary: number): void {
    const m = /^\[([0-9a-fA-F]{4,8}):([0-9a-fA-F]{2})\]-/.exec(this.s.slice(pos));
    if (!m) this.fail(pos, "a bus '[dddd:bb]-'");
    const segment = Number.parseInt(m[1]!, 16);
    const bus = Number.parseInt(m[2]!, 16);
    if (bridge === null) {
      this.frag.rootBuses.push({ segment, bus, where: { file: this.file, line: this.line } });
    } else if (bus !== secondary) {
      // lspci puts a bus inside a bridge's range that no bridge leads to here; the combiner places it.
      this.frag.warnings.push(
        `${this.file}:${this.line}: bus ${m[1]}:${m[2]} is listed under bridge ${bridge} but is not its secondary bus`,
      );
    }
    this.busBody(pos + m[0].length, segment, bus, bridge === null ? null : bus === secondary ? bridge : undefined);
  }

  /** Nothing (empty bus), `--dev`, or `+-dev` opening a list. */
  private busBody(pos: number, segment: number, bus: number, parent: string | null | undefined): void {
    const ch = this.s[pos];
    if (ch === undefined) return;
    if (ch === '-' && this.s[pos + 1] === '-') {
      this.device(pos + 2, segment, bus, parent);
      return;
    }
    if ((ch === '+' || ch === '\\') && this.s[pos + 1] === '-') {
      this.openList(pos, { kind: 'devices', segment, bus, parent, line: this.line, closed: ch === '\\' });
      this.device(pos + 2, segment, bus, parent);
      return;
    }
    this.fail(pos, "'--' (one device), '+-' (a list of devices) or the end of the line (an empty bus)");
  }

  /** `dd.f` then a bridge range and body, or a name, or nothing. */
  private device(pos: number, segment: number, bus: number, parent: string | null | undefined): void {
    const m = /^([0-9a-fA-F]{2})\.([0-7])/.exec(this.s.slice(pos));
    if (!m) this.fail(pos, "a device and function 'dd.f'");
    const dev = Number.parseInt(m[1]!, 16);
    if (dev > 0x1f) this.fail(pos, 'a device number 00-1f');
    const bdf = formatBdf({ segment, bus, device: dev, function: Number.parseInt(m[2]!, 16) });
    if (this.byBdf.has(bdf)) {
      // A second tree in the same file (or a repeated run): the first reading stands.
      this.frag.warnings.push(`${this.file}:${this.line}: ${bdf} appears again; the first occurrence is kept`);
    }
    const f: ObservedFunction = this.byBdf.get(bdf) ?? { bdf, where: { file: this.file, line: this.line } };
    if (!this.byBdf.has(bdf) && parent !== undefined) f.parent = parent;
    if (!this.byBdf.has(bdf)) {
      this.byBdf.set(bdf, f);
      this.frag.functions.push(f);
    }
    this.onDevice(f);
    pos += m[0].length;
    const rest = this.s.slice(pos);
    const range = /^-\[([0-9a-fA-F]{2})(?:-([0-9a-fA-F]{2}))?\]-/.exec(rest);
    if (range) {
      const secondary = Number.parseInt(range[1]!, 16);
      const subordinate = range[2] === undefined ? secondary : Number.parseInt(range[2], 16);
      if (subordinate < secondary)
        this.fail(pos + 1, `a bus range with subordinate >= secondary (${range[1]}-${range[2]})`);
      f.isBridge = true;
      f.secondaryBus = secondary;
      f.subordinateBus = subordinate;
      this.bridgeBody(pos + range[0].length, { segment, bridge: bdf, secondary });
      return;
    }
    if (rest === '') return;
    if (!rest.startsWith('  '))
      this.fail(pos, "a bus range '-[bb-bb]-', two spaces and a name, or the end of the line");
    nameInto(f, rest.trim());
  }
}

/** Reads ids from a tree name: `-tvnn` (`Name [vvvv:dddd]`), `-tn` (`vvvv:dddd`), or names alone (`-tv`). */
function nameInto(f: ObservedFunction, name: string): void {
  const numeric = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/.exec(name);
  if (numeric) {
    f.vendor = Number.parseInt(numeric[1]!, 16);
    f.device = Number.parseInt(numeric[2]!, 16);
    return;
  }
  idsFromName(f, name);
}
