/** Telling the input formats apart by their content, and dispatching to the right parser. */
import { looksLikeHwlocXml, parseHwlocXml } from './hwloc-xml.ts';
import { type ImportFragment, type ImportInput, InputKind } from './import-types.ts';
import { looksLikeLspciTree, parseLspciTree } from './lspci-tree.ts';
import { looksLikeAcsctlOnly, looksLikeLspciListing, parseLspciVerbose } from './lspci-verbose.ts';
import {
  looksLikeNvidiaSmiGpus,
  looksLikeNvidiaSmiTopo,
  parseNvidiaSmiGpus,
  parseNvidiaSmiTopo,
} from './nvidia-smi.ts';
import { looksLikeSysfs, parseSysfsSnapshot } from './sysfs.ts';
import { quoteFound, topoParseError } from './text.ts';

/**
 * The kind of a text input, from its content; `undefined` when it is none of the formats. Order matters:
 * nvidia-smi and hwloc first (they are unambiguous), then the lspci tree (its `[dddd:bb]` roots), then
 * lspci listings.
 */
export function detectKind(text: string): InputKind | undefined {
  if (looksLikeHwlocXml(text)) return InputKind.HWLOC_XML;
  if (looksLikeNvidiaSmiTopo(text)) return InputKind.NVIDIA_SMI_TOPO;
  if (looksLikeNvidiaSmiGpus(text)) return InputKind.NVIDIA_SMI_GPUS;
  if (looksLikeLspciTree(text)) return InputKind.LSPCI_TREE;
  if (looksLikeLspciListing(text)) return InputKind.LSPCI_VERBOSE;
  if (looksLikeAcsctlOnly(text)) return InputKind.LSPCI_ACSCTL;
  return undefined;
}

const KINDS = new Set<string>(Object.values(InputKind));

/** True for the name of an input kind. */
export function isInputKind(s: string): s is InputKind {
  return KINDS.has(s);
}

/** Parses one input with the parser its kind (given or detected) names. */
export function parseInput(input: ImportInput): ImportFragment {
  if (input.files) {
    if (input.kind !== undefined && input.kind !== InputKind.SYSFS) {
      throw topoParseError(
        input.file,
        undefined,
        undefined,
        `a directory can only be read as ${InputKind.SYSFS}, not ${input.kind}`,
      );
    }
    if (!looksLikeSysfs(input.files)) {
      throw topoParseError(
        input.file,
        undefined,
        undefined,
        'expected a sysfs snapshot (a devices/pciSSSS:BB/ tree), found none',
      );
    }
    return parseSysfsSnapshot(input.files, input.file);
  }
  const text = input.text ?? '';
  const kind = input.kind ?? detectKind(text);
  if (kind === undefined) {
    const first = text.split('\n').find((l) => l.trim() !== '') ?? '';
    throw topoParseError(
      input.file,
      1,
      1,
      `expected lspci (-t or -vvv), hwloc XML or nvidia-smi output, found ${first ? quoteFound(first) : 'an empty file'}`,
    );
  }
  switch (kind) {
    case InputKind.LSPCI_TREE:
      return parseLspciTree(text, input.file);
    case InputKind.LSPCI_VERBOSE:
    case InputKind.LSPCI_ACSCTL:
      return parseLspciVerbose(text, input.file);
    case InputKind.HWLOC_XML:
      return parseHwlocXml(text, input.file);
    case InputKind.NVIDIA_SMI_TOPO:
      return parseNvidiaSmiTopo(text, input.file);
    case InputKind.NVIDIA_SMI_GPUS:
      return parseNvidiaSmiGpus(text, input.file);
    case InputKind.SYSFS:
      throw topoParseError(
        input.file,
        undefined,
        undefined,
        'a sysfs snapshot is a directory (a files map), not a text file',
      );
  }
}
