/**
 * Decoding a PCI configuration space dump (the binary sysfs `config` file): ids, class, header type,
 * bridge bus numbers, the PCIe port type, and the ACS and SR-IOV extended capabilities.
 *
 * sysfs gives 64 bytes to unprivileged readers, 256 without extended space, 4096 with it; every field says
 * whether the dump was long enough to know it, so "no ACS capability" is only reported when the extended
 * space was there to be read.
 */
import type { PortType } from '../topology-spec.ts';

/** What a config dump says. `undefined`: the dump is too short to say. */
export interface ConfigInfo {
  vendor?: number;
  device?: number;
  classCode?: number;
  headerType?: number;
  primaryBus?: number;
  secondaryBus?: number;
  subordinateBus?: number;
  /** From the PCI Express capability; `'legacy'` when the capability list was readable and has none. */
  type?: PortType;
  acsCap?: boolean;
  acsCtrl?: number;
  sriov?: { totalVfs: number; numVfs: number; vfOffset: number; vfStride: number; vfDevice: number };
}

const PCIE_TYPES: Readonly<Record<number, PortType>> = {
  0: 'endpoint',
  1: 'endpoint',
  4: 'root_port',
  5: 'upstream',
  6: 'downstream',
  7: 'pci_bridge',
  8: 'pci_bridge',
  9: 'rc_endpoint',
  10: 'rc_endpoint',
};

/** Decodes a configuration space dump of any length (0 to 4096 bytes). Never throws. */
export function decodeConfig(b: Uint8Array): ConfigInfo {
  const n = b.length;
  const u8 = (o: number): number => b[o]!;
  const u16 = (o: number): number => b[o]! | (b[o + 1]! << 8);
  const u32 = (o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  const info: ConfigInfo = {};
  if (n >= 4) {
    info.vendor = u16(0);
    info.device = u16(2);
  }
  if (n >= 0x0c) info.classCode = u8(0x09) | (u8(0x0a) << 8) | (u8(0x0b) << 16);
  if (n >= 0x0f) info.headerType = u8(0x0e) & 0x7f;
  if (info.headerType === 1 && n >= 0x1b) {
    info.primaryBus = u8(0x18);
    info.secondaryBus = u8(0x19);
    info.subordinateBus = u8(0x1a);
  }
  // Standard capability list (needs the status bit and the bytes the pointers lead to).
  if (n >= 0x40 && (u16(0x06) & 0x10) !== 0 && (info.headerType === 0 || info.headerType === 1)) {
    let ptr = u8(0x34) & 0xfc;
    let complete = true;
    let express = false;
    const seen = new Set<number>();
    while (ptr !== 0) {
      if (ptr + 4 > n) {
        complete = false;
        break;
      }
      if (ptr < 0x40 || seen.has(ptr) || seen.size > 48) break;
      seen.add(ptr);
      if (u8(ptr) === 0x10) {
        express = true;
        const t = PCIE_TYPES[(u16(ptr + 2) >> 4) & 0xf];
        if (t) info.type = t;
      }
      ptr = u8(ptr + 1) & 0xfc;
    }
    if (!express && complete && n >= 0x100) info.type = 'legacy';
  }
  // Extended capabilities start at 0x100 and need the full 4096-byte dump.
  if (n >= 0x1000) {
    info.acsCap = false;
    info.acsCtrl = 0;
    let off = 0x100;
    const seen = new Set<number>();
    while (off !== 0 && off >= 0x100 && off + 4 <= n && !seen.has(off) && seen.size < 512) {
      seen.add(off);
      const h = u32(off);
      if (h === 0 || h === 0xffffffff) break;
      const id = h & 0xffff;
      if (id === 0x000d && off + 8 <= n) {
        info.acsCap = true;
        info.acsCtrl = u16(off + 6);
      } else if (id === 0x0010 && off + 0x1c <= n) {
        info.sriov = {
          totalVfs: u16(off + 0x0e),
          numVfs: u16(off + 0x10),
          vfOffset: u16(off + 0x14),
          vfStride: u16(off + 0x16),
          vfDevice: u16(off + 0x1a),
        };
      }
      off = (h >>> 20) & 0xffc;
    }
  }
  return info;
}
