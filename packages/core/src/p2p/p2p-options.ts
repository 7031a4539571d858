/**
 * Options of the P2PDMA decision that select between kernel trees (kernel-model.md 7.4), normalised once.
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import {
  DEFAULT_WHITELIST_VERSION,
  HOST_BRIDGE_WHITELISTS,
  type WhitelistEntry,
  type WhitelistVersionId,
} from './host-bridge-whitelist.ts';

/** Options of {@link calcMapTypeAndDist}, {@link pciP2pdmaMapType} and the helpers built on them. */
export interface P2pOptions {
  /**
   * Which host-bridge table to use (kernel-model.md 2.4, 7.4).
   * @defaultValue `'pci-cd2698d7'` (PCI maintainer tree, with the Zhaoxin entries)
   */
  whitelistVersion?: WhitelistVersionId;
  /** A table of your own (another release); takes precedence over `whitelistVersion`. */
  whitelist?: readonly WhitelistEntry[];
  /**
   * What gates "Host bridge not in P2PDMA whitelist": `'acs'` (PCI tree: only after an ACS redirect was
   * counted, also when quiet) or `'verbose'` (linux-rdma tree: on every verbose computation that reaches the
   * table).
   * @defaultValue `'acs'`
   */
  whitelistWarnOn?: 'acs' | 'verbose';
  /**
   * linux-rdma tree: checks `seq_buf_has_overflowed()` before dropping the final ';', so an overflowing ACS
   * list causes no out-of-bounds write (the printed text is the same).
   * @defaultValue `false` (PCI tree: the terminator is written one byte past the buffer)
   */
  acsListBoundsCheck?: boolean;
}

/** The option sets of the two trees kernel-model.md 7.4 compares. */
export const P2P_TREE_PRESETS = Object.freeze({
  pci: Object.freeze({ whitelistVersion: 'pci-cd2698d7', whitelistWarnOn: 'acs', acsListBoundsCheck: false }),
  rdma: Object.freeze({ whitelistVersion: 'rdma-04673b71', whitelistWarnOn: 'verbose', acsListBoundsCheck: true }),
} satisfies Record<string, Required<Omit<P2pOptions, 'whitelist'>>>);

/** Options with defaults applied. */
export interface ResolvedP2pOptions {
  readonly whitelistId: string;
  readonly whitelist: readonly WhitelistEntry[];
  readonly whitelistWarnOn: 'acs' | 'verbose';
  readonly acsListBoundsCheck: boolean;
}

const cache = new WeakMap<object, ResolvedP2pOptions>();
const DEFAULTS: ResolvedP2pOptions = Object.freeze({
  whitelistId: DEFAULT_WHITELIST_VERSION,
  whitelist: HOST_BRIDGE_WHITELISTS[DEFAULT_WHITELIST_VERSION].entries,
  whitelistWarnOn: 'acs',
  acsListBoundsCheck: false,
});

/**
 * Applies defaults and checks values.
 * @throws DmasimError `INVALID_ARGUMENT` for an unknown whitelist version or warn mode.
 */
export function resolveP2pOptions(opts: P2pOptions | undefined): ResolvedP2pOptions {
  if (opts === undefined) return DEFAULTS;
  const known = cache.get(opts);
  if (known) return known;
  const version = opts.whitelistVersion ?? DEFAULT_WHITELIST_VERSION;
  const table = (HOST_BRIDGE_WHITELISTS as Record<string, { entries: readonly WhitelistEntry[] }>)[version];
  if (!table) {
    throw new DmasimError(
      ErrorCode.INVALID_ARGUMENT,
      `unknown whitelistVersion ${JSON.stringify(version)}: expected one of ${Object.keys(HOST_BRIDGE_WHITELISTS).join(', ')}`,
    );
  }
  const warnOn = opts.whitelistWarnOn ?? 'acs';
  if (warnOn !== 'acs' && warnOn !== 'verbose') {
    throw new DmasimError(
      ErrorCode.INVALID_ARGUMENT,
      `whitelistWarnOn must be 'acs' or 'verbose', found ${JSON.stringify(warnOn)}`,
    );
  }
  const r: ResolvedP2pOptions = Object.freeze({
    whitelistId: opts.whitelist ? 'custom' : version,
    whitelist: opts.whitelist ?? table.entries,
    whitelistWarnOn: warnOn,
    acsListBoundsCheck: opts.acsListBoundsCheck === true,
  });
  cache.set(opts, r);
  return r;
}
