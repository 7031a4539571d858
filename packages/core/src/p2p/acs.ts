/**
 * The ACS redirect test (`pci_bridge_has_acs_redir()`, kernel-model.md 2.3) and the kernel's 128-byte
 * `seq_buf` that collects the names of redirecting functions for the `pci=disable_acs_redir=` hint (2.7),
 * including what happens when the list overflows.
 */
import type { PciFunction } from '../topology/topology.ts';

/** ACS extended capability id. */
export const PCI_EXT_CAP_ID_ACS = 0x000d;
/** ACS control bits (offset 6 of the capability). */
export const PCI_ACS = {
  SV: 0x0001,
  TB: 0x0002,
  RR: 0x0004,
  CR: 0x0008,
  UF: 0x0010,
  EC: 0x0020,
  DT: 0x0040,
} as const;
/** The bits `pci_bridge_has_acs_redir()` tests: ReqRedir | CmpltRedir | EgressCtrl. */
export const ACS_REDIRECT_BITS = PCI_ACS.RR | PCI_ACS.CR | PCI_ACS.EC;
/** Size of the kernel's ACS list buffer (`char buf[128]`). */
export const ACS_LIST_BUFFER_SIZE = 128;

/** `pci_bridge_has_acs_redir(x)`: has an ACS capability and any of RR, CR, EC set in its control register. */
export function pciBridgeHasAcsRedir(fn: PciFunction): boolean {
  return fn.acsCap && (fn.acsCtrl & ACS_REDIRECT_BITS) !== 0;
}

/** What became of the ACS list buffer. */
export interface AcsListText {
  /** The list as printed after `pci=disable_acs_redir=` (and as the p2p vectors record it). */
  readonly text: string;
  /** `seq_buf_has_overflowed()`: a name did not fit; `text` is then the first 127 characters. */
  readonly overflowed: boolean;
}

/**
 * `seq_buf_printf(&acs_list, "%s;", name)` for each name into a 128-byte buffer, then the final-';' removal.
 * While the list fits, the last ';' is dropped. When a name does not fit, vsnprintf writes what fits up to
 * byte 127 (plus the terminator), the buffer is marked overflowed (len = size + 1), later names are dropped,
 * and nothing is removed from the end (in the PCI tree the kernel then writes its terminator one byte past the
 * buffer; see {@link calcMapTypeAndDist}'s `acs_list_oob_write` hazard).
 */
export function acsListText(names: readonly string[]): AcsListText {
  const size = ACS_LIST_BUFFER_SIZE;
  let len = 0;
  let text = '';
  let overflowed = false;
  for (const name of names) {
    const s = `${name};`;
    if (len < size) {
      // vsnprintf(buffer + len, size - len, ...) writes at most size - len - 1 characters and a NUL.
      const room = size - len - 1;
      if (len + s.length < size) {
        text += s;
        len += s.length;
        continue;
      }
      text += s.slice(0, room);
    }
    overflowed = true;
    len = size + 1;
  }
  if (!overflowed && text.length > 0) text = text.slice(0, -1);
  return { text, overflowed };
}
