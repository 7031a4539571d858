/**
 * Reading the FILE... arguments of `dmasim topo`: text files, folders of a real machine (lspci*.txt,
 * nvidia-smi*.txt, acs*.txt, *.xml, and sysfs trees inside), sysfs snapshots (`sys/devices/pci*`, as
 * hwloc-gather-topology saves them, or a live `/sys`), and dmasim topology files (JSON/YAML). The core
 * importers do no I/O; this module is where files are read.
 */
import { type Dirent, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DmasimError, ErrorCode, type ImportInput, type InputKind, type SysfsEntry } from '@dmasim/core';

/** Files a machine folder contributes, by name. */
export const FOLDER_FILE_PATTERNS: readonly RegExp[] = [
  /^lspci.*\.(txt|log)$/i,
  /^nvidia-smi.*\.(txt|log|csv)$/i,
  /^acs.*\.txt$/i,
  /\.xml$/i,
];

/** Largest text input read (lspci and hwloc outputs are far smaller). */
const MAX_TEXT_BYTES = 64 * 1024 * 1024;

/** sysfs files the importer reads in a function's directory. */
const SYSFS_FILES = new Set([
  'vendor',
  'device',
  'class',
  'config',
  'resource',
  'numa_node',
  'dma_mask_bits',
  'secondary_bus_number',
  'subordinate_bus_number',
  'current_link_speed',
  'current_link_width',
  'max_link_speed',
  'max_link_width',
  'sriov_numvfs',
  'sriov_totalvfs',
  'sriov_offset',
  'sriov_stride',
  'sriov_vf_device',
]);
const SYSFS_LINKS = /^(iommu_group|driver|physfn|virtfn\d+)$/;
const NAME_DIRS = new Set(['net', 'infiniband', 'nvme', 'pci_bus']);
const BDF_DIR = /^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/;
const ROOT_DIR = /^pci[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}$/;

/** What the arguments name: importer inputs, or one dmasim topology file. */
export type LoadedInputs = { kind: 'import'; inputs: ImportInput[] } | { kind: 'dmasim'; file: string; text: string };

function cannotRead(path: string, e: unknown): DmasimError {
  return new DmasimError(ErrorCode.TOPOLOGY_PARSE, `${path}: cannot read (${(e as Error).message})`);
}

function readText(path: string): string {
  try {
    const st = statSync(path);
    if (st.size > MAX_TEXT_BYTES) throw new Error(`larger than ${MAX_TEXT_BYTES} bytes`);
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw cannotRead(path, e);
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function list(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** True when `dir` is (or holds, as `sys/` or `devices/`) a sysfs PCI tree. */
export function isSysfsRoot(dir: string): boolean {
  if (ROOT_DIR.test(basename(dir))) return true;
  const has = (d: string): boolean => list(d).some((e) => e.isDirectory() && ROOT_DIR.test(e.name));
  return has(join(dir, 'devices')) || has(join(dir, 'sys', 'devices')) || (basename(dir) === 'devices' && has(dir));
}

/**
 * Reads a sysfs PCI tree into the importer's files map (keys relative to `root`). Only the files and links
 * the importer reads are read; links are recorded, never followed; unreadable files are skipped (a live
 * `/sys` refuses some to non-root readers).
 */
export function readSysfsTree(root: string): Map<string, SysfsEntry> {
  const out = new Map<string, SysfsEntry>();
  const walkFunction = (dir: string, rel: string, depth: number): void => {
    if (depth > 64) return;
    for (const e of list(dir)) {
      const p = join(dir, e.name);
      const r = `${rel}/${e.name}`;
      if (e.isSymbolicLink()) {
        if (SYSFS_LINKS.test(e.name)) {
          try {
            out.set(r, { link: readlinkSync(p) });
          } catch {
            // a link that vanished while reading: skip it
          }
        }
      } else if (e.isDirectory()) {
        if (BDF_DIR.test(e.name)) walkFunction(p, r, depth + 1);
        else if (NAME_DIRS.has(e.name)) for (const c of list(p)) out.set(`${r}/${c.name}`, '');
      } else if (e.isFile() && SYSFS_FILES.has(e.name)) {
        try {
          const b = readFileSync(p);
          out.set(r, e.name === 'config' ? new Uint8Array(b) : b.toString('utf8'));
        } catch {
          // unreadable (permissions, I/O error on a live system): the importer treats the fact as unknown
        }
      }
    }
  };
  const walkRoots = (devices: string, rel: string): void => {
    for (const e of list(devices))
      if (e.isDirectory() && ROOT_DIR.test(e.name)) walkFunction(join(devices, e.name), `${rel}/${e.name}`, 0);
  };
  if (ROOT_DIR.test(basename(root))) walkFunction(root, `devices/${basename(root)}`, 0);
  else if (basename(root) === 'devices') walkRoots(root, 'devices');
  else {
    walkRoots(join(root, 'devices'), 'devices');
    walkRoots(join(root, 'sys', 'devices'), 'sys/devices');
    for (const e of list(join(root, 'sys', 'devices', 'system', 'node'))) {
      if (/^node\d+$/.test(e.name)) out.set(`sys/devices/system/node/${e.name}`, '');
    }
    try {
      const cpuinfo = join(root, 'proc', 'cpuinfo');
      if (lstatSync(cpuinfo).isFile()) out.set('proc/cpuinfo', readFileSync(cpuinfo, 'utf8'));
    } catch {
      // no /proc/cpuinfo in this snapshot
    }
  }
  return out;
}

function looksLikeDmasimTopology(path: string, text: string): boolean {
  return /\.(json|ya?ml)$/i.test(path) && /["']?kind["']?\s*:\s*["']?dmasim-topology/.test(text.slice(0, 4096));
}

/**
 * Turns FILE... into importer inputs. A folder contributes its files matching {@link FOLDER_FILE_PATTERNS}
 * and its sysfs subtrees; a sysfs root is read as one snapshot.
 *
 * @throws DmasimError TOPOLOGY_PARSE for an unreadable path or a folder with nothing to read;
 *   INVALID_ARGUMENT when a dmasim topology file is mixed with other inputs.
 */
export function loadInputs(paths: readonly string[], kind?: InputKind): LoadedInputs {
  const inputs: ImportInput[] = [];
  const dmasim: { file: string; text: string }[] = [];
  const addFile = (path: string): void => {
    const text = readText(path);
    if (kind === undefined && looksLikeDmasimTopology(path, text)) dmasim.push({ file: path, text });
    else inputs.push(kind ? { file: path, text, kind } : { file: path, text });
  };
  for (const path of paths) {
    if (!isDir(path)) {
      addFile(path);
      continue;
    }
    if (isSysfsRoot(path)) {
      inputs.push({ file: path, files: readSysfsTree(path) });
      continue;
    }
    const entries = list(path).sort((a, b) => a.name.localeCompare(b.name));
    let found = 0;
    for (const e of entries) {
      const p = join(path, e.name);
      if (e.isFile() && FOLDER_FILE_PATTERNS.some((re) => re.test(e.name))) {
        addFile(p);
        found++;
      } else if (e.isDirectory() && isSysfsRoot(p)) {
        inputs.push({ file: p, files: readSysfsTree(p) });
        found++;
      }
    }
    if (found === 0) {
      throw new DmasimError(
        ErrorCode.TOPOLOGY_PARSE,
        `${path}: no lspci*.txt, nvidia-smi*.txt, acs*.txt, *.xml or sysfs tree (sys/devices/pci*) in this folder`,
      );
    }
  }
  if (dmasim.length > 0) {
    if (dmasim.length > 1 || inputs.length > 0) {
      throw new DmasimError(
        ErrorCode.INVALID_ARGUMENT,
        `${dmasim[0]!.file}: a dmasim topology file is a whole machine; give it alone, not with other inputs`,
      );
    }
    return { kind: 'dmasim', ...dmasim[0]! };
  }
  return { kind: 'import', inputs };
}
