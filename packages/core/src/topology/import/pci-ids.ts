/**
 * The few pieces of the PCI id database the importers need: vendor names as `lspci` prints them (so that
 * `lspci -tv`, which prints names and no ids, still gives the vendor of each function), class names as
 * `lspci` prints them (`VGA compatible controller` -> 0x0300), and the mapping from class codes to the
 * device classes dmasim selects by (`--class gpu,nic,nvme`).
 */
import type { DeviceClass } from '../topology-spec.ts';

/**
 * Vendor names exactly as pci.ids spells them (and so as lspci prints them), with their ids. Longest match
 * wins, so `Advanced Micro Devices, Inc. [AMD/ATI]` is told from `Advanced Micro Devices, Inc. [AMD]`.
 */
const VENDOR_NAMES: readonly (readonly [string, number])[] = [
  ['Advanced Micro Devices, Inc. [AMD/ATI]', 0x1002],
  ['Advanced Micro Devices, Inc. [AMD]', 0x1022],
  ['ATI Technologies Inc', 0x1002],
  ['Intel Corporation', 0x8086],
  ['NVIDIA Corporation', 0x10de],
  ['nVidia Corporation', 0x10de],
  ['Mellanox Technologies', 0x15b3],
  ['Mellanox Technology', 0x15b3],
  ['Broadcom / LSI', 0x1000],
  ['LSI Logic / Symbios Logic', 0x1000],
  ['Broadcom Inc. and subsidiaries', 0x14e4],
  ['Broadcom Limited', 0x14e4],
  ['Broadcom Corporation', 0x14e4],
  ['PLX Technology, Inc.', 0x10b5],
  ['Samsung Electronics Co Ltd', 0x144d],
  ['ASPEED Technology, Inc.', 0x1a03],
  ['Kingston Technology Company, Inc.', 0x2646],
  ['ASMedia Technology Inc.', 0x1b21],
  ['HighPoint Technologies, Inc.', 0x1103],
  ['Micron Technology Inc', 0x1344],
  ['Micron/Crucial Technology', 0xc0a9],
  ['Sandisk Corp', 0x15b7],
  ['Western Digital', 0x1b96],
  ['Seagate Technology PLC', 0x1bb1],
  ['SK hynix', 0x1c5c],
  ['KIOXIA Corporation', 0x1e0f],
  ['Toshiba Corporation', 0x1179],
  ['Phison Electronics Corporation', 0x1987],
  ['Solidigm', 0x025e],
  ['Silicon Motion, Inc.', 0x126f],
  ['Marvell Technology Group Ltd.', 0x1b4b],
  ['Cavium, Inc.', 0x177d],
  ['QLogic Corp.', 0x1077],
  ['Emulex Corporation', 0x10df],
  ['Chelsio Communications Inc', 0x1425],
  ['Solarflare Communications', 0x1924],
  ['Netronome Systems, Inc.', 0x19ee],
  ['Pensando Systems', 0x1dd8],
  ['Amazon.com, Inc.', 0x1d0f],
  ['Google, Inc.', 0x1ae0],
  ['Red Hat, Inc.', 0x1af4],
  ['VMware', 0x15ad],
  ['Microsoft Corporation', 0x1414],
  ['Xilinx Corporation', 0x10ee],
  ['Altera Corporation', 0x1172],
  ['Habana Labs Ltd.', 0x1da3],
  ['Huawei Technologies Co., Ltd.', 0x19e5],
  ['Hygon Information Technology Co., Ltd', 0x1d94],
  ['Chengdu Haiguang IC Design Co., Ltd.', 0x1d94],
  ['Zhaoxin', 0x1d17],
  ['Ampere Computing, LLC', 0x1def],
  ['IBM', 0x1014],
  ['Hewlett-Packard Company', 0x103c],
  ['Hewlett Packard Enterprise', 0x1590],
  ['Dell', 0x1028],
  ['Super Micro Computer Inc', 0x15d9],
  ['Lenovo', 0x17aa],
  ['Cisco Systems Inc', 0x1137],
  ['Matrox Electronics Systems Ltd.', 0x102b],
  ['Realtek Semiconductor Co., Ltd.', 0x10ec],
  ['Aquantia Corp.', 0x1d6a],
  ['Renesas Technology Corp.', 0x1912],
  ['Texas Instruments', 0x104c],
  ['Fresco Logic', 0x1b73],
  ['Pericom Semiconductor', 0x12d8],
  ['Microsemi / PMC / IDT', 0x11f8],
  ['PMC-Sierra Inc.', 0x11f8],
  ['Adaptec', 0x9005],
  ['Qualcomm Technologies, Inc', 0x17cb],
  ['Cornelis Networks', 0x434e],
  ['Fungible Inc.', 0x1dad],
  ['Memblaze Technology Co. Ltd.', 0x1c5f],
  ['Tenstorrent Inc', 0x1e52],
  ['Graphcore Ltd', 0x1d46],
  ['Cerebras Systems', 0x1f3f],
];

/** Vendor names by their first word, longest first within each word. */
const VENDOR_BY_WORD = new Map<string, (readonly [string, number])[]>();
for (const e of [...VENDOR_NAMES].sort((a, b) => b[0].length - a[0].length)) {
  const w = e[0].split(' ')[0]!;
  const list = VENDOR_BY_WORD.get(w);
  if (list) list.push(e);
  else VENDOR_BY_WORD.set(w, [e]);
}

/**
 * The vendor id and the rest of the name for an lspci-style `Vendor Device` string, or `undefined` when the
 * vendor is not one this table knows. Unknown vendors lspci prints as `Device vvvv:dddd`, which is also
 * handled.
 */
export function vendorFromName(name: string): { vendor: number; rest: string } | undefined {
  const unknown = /^Device ([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\b/.exec(name);
  if (unknown) return { vendor: Number.parseInt(unknown[1]!, 16), rest: `Device ${unknown[2]!}` };
  for (const [v, id] of VENDOR_BY_WORD.get(name.split(' ', 1)[0]!) ?? []) {
    if (name === v) return { vendor: id, rest: '' };
    if (name.startsWith(`${v} `)) return { vendor: id, rest: name.slice(v.length + 1) };
  }
  return undefined;
}

/**
 * Device names (as pci.ids spells them) of the functions the host-bridge whitelist reads (kernel-model.md
 * 2.4) and of AMD root complexes (which tell the CPU family), so that `lspci -tv`, which prints names only,
 * still gives their ids.
 */
const WHITELIST_DEVICE_NAMES: Readonly<Record<number, Readonly<Record<string, number>>>> = {
  32902: {
    'Xeon E5/Core i7 DMI2': 0x3c00,
    'Xeon E5/Core i7 DMI2 in PCI Express Mode': 0x3c01,
    'Xeon E7 v3/Xeon E5 v3/Core i7 DMI2': 0x2f00,
    'Xeon E7 v3/Xeon E5 v3/Core i7 PCI Express Root Port 0': 0x2f01,
    'Sky Lake-E DMI3 Registers': 0x2020,
    'Sky Lake-E PCI Express Root Port A': 0x2030,
    'Sky Lake-E PCI Express Root Port B': 0x2031,
    'Sky Lake-E PCI Express Root Port C': 0x2032,
    'Sky Lake-E PCI Express Root Port D': 0x2033,
    'Ice Lake Memory Map/VT-d': 0x09a2,
  },
  // AMD root complexes (function 00.0 of each root bus): they tell the CPU family (combine.ts).
  4130: {
    'Family 17h (Models 00h-0fh) Root Complex': 0x1450,
    'Raven/Raven2 Root Complex': 0x15d0,
    'Starship/Matisse Root Complex': 0x1480,
    'Renoir/Cezanne Root Complex': 0x1630,
  },
};

/**
 * The device id of a name: `Device 14a4` (a device pci.ids does not name), or a host-bridge function the
 * whitelist lists, by its pci.ids name.
 */
export function deviceFromName(rest: string, vendor?: number): number | undefined {
  const m = /^Device ([0-9a-fA-F]{4})$/.exec(rest.trim());
  if (m) return Number.parseInt(m[1]!, 16);
  return vendor === undefined ? undefined : WHITELIST_DEVICE_NAMES[vendor]?.[rest.trim()];
}

/** Sub-class names as lspci prints them -> `(class << 8) | subclass`. */
const CLASS_NAMES: Readonly<Record<string, number>> = {
  'Non-VGA unclassified device': 0x0000,
  'VGA compatible unclassified device': 0x0001,
  'SCSI storage controller': 0x0100,
  'IDE interface': 0x0101,
  'Floppy disk controller': 0x0102,
  'IPI bus controller': 0x0103,
  'RAID bus controller': 0x0104,
  'ATA controller': 0x0105,
  'SATA controller': 0x0106,
  'Serial Attached SCSI controller': 0x0107,
  'Non-Volatile memory controller': 0x0108,
  'Universal Flash Storage controller': 0x0109,
  'Mass storage controller': 0x0180,
  'Ethernet controller': 0x0200,
  'Token ring network controller': 0x0201,
  'FDDI network controller': 0x0202,
  'ATM network controller': 0x0203,
  'ISDN controller': 0x0204,
  'WorldFip controller': 0x0205,
  'PICMG controller': 0x0206,
  'Infiniband controller': 0x0207,
  'Fabric controller': 0x0208,
  'Network controller': 0x0280,
  'VGA compatible controller': 0x0300,
  'XGA compatible controller': 0x0301,
  '3D controller': 0x0302,
  'Display controller': 0x0380,
  'Multimedia video controller': 0x0400,
  'Multimedia audio controller': 0x0401,
  'Computer telephony device': 0x0402,
  'Audio device': 0x0403,
  'Multimedia controller': 0x0480,
  'RAM memory': 0x0500,
  'FLASH memory': 0x0501,
  CXL: 0x0502,
  'Memory controller': 0x0580,
  'Host bridge': 0x0600,
  'ISA bridge': 0x0601,
  'EISA bridge': 0x0602,
  'MicroChannel bridge': 0x0603,
  'PCI bridge': 0x0604,
  'PCMCIA bridge': 0x0605,
  'NuBus bridge': 0x0606,
  'CardBus bridge': 0x0607,
  'RACEway bridge': 0x0608,
  'Semi-transparent PCI-to-PCI bridge': 0x0609,
  'InfiniBand to PCI host bridge': 0x060a,
  Bridge: 0x0680,
  'Serial controller': 0x0700,
  'Parallel controller': 0x0701,
  'Multiport serial controller': 0x0702,
  Modem: 0x0703,
  'GPIB controller': 0x0704,
  'Smard Card controller': 0x0705,
  'Communication controller': 0x0780,
  PIC: 0x0800,
  'DMA controller': 0x0801,
  Timer: 0x0802,
  RTC: 0x0803,
  'PCI Hot-plug controller': 0x0804,
  'SD Host controller': 0x0805,
  IOMMU: 0x0806,
  'Generic system peripheral': 0x0880,
  'System peripheral': 0x0880,
  'Keyboard controller': 0x0900,
  'Input device controller': 0x0980,
  'Generic Docking Station': 0x0a00,
  'Docking station': 0x0a80,
  'Co-processor': 0x0b40,
  Processor: 0x0b80,
  'FireWire (IEEE 1394)': 0x0c00,
  'ACCESS Bus': 0x0c01,
  SSA: 0x0c02,
  'USB controller': 0x0c03,
  'Fibre Channel': 0x0c04,
  SMBus: 0x0c05,
  InfiniBand: 0x0c06,
  'IPMI Interface': 0x0c07,
  'SERCOS interface': 0x0c08,
  CANBUS: 0x0c09,
  'Serial bus controller': 0x0c80,
  'Wireless controller': 0x0d80,
  'Satellite communications controller': 0x0f80,
  'Network and computing encryption device': 0x1000,
  'Entertainment encryption device': 0x1001,
  'Encryption controller': 0x1080,
  'DPIO module': 0x1100,
  'Performance counters': 0x1101,
  'Communication synchronizer': 0x1110,
  'Signal processing management': 0x1120,
  'Signal processing controller': 0x1180,
  'Processing accelerators': 0x1200,
  'SNIA Smart Data Accelerator Interface (SDXI) controller': 0x1201,
  'Non-Essential Instrumentation': 0x1300,
};

/** `(class << 8) | subclass` for a class name lspci printed, or `undefined` when unknown. */
export function classFromName(name: string): number | undefined {
  const code = /\[([0-9a-fA-F]{4})\]\s*$/.exec(name);
  if (code) return Number.parseInt(code[1]!, 16);
  const generic = /^Class ([0-9a-fA-F]{4})$/.exec(name);
  if (generic) return Number.parseInt(generic[1]!, 16);
  return CLASS_NAMES[name.trim()];
}

const GPU_VENDORS = new Set([0x10de, 0x1002]);

/**
 * The device class of a function from its 24-bit class code (`0x030000`) and vendor. A 3D/VGA/display
 * controller or processing accelerator from NVIDIA or AMD is a GPU; other accelerators are `accel`; the
 * VGA of a BMC is `other`.
 */
export function deviceClassOf(classCode: number, vendor: number | undefined): DeviceClass {
  const base = (classCode >> 16) & 0xff;
  const sub = (classCode >> 8) & 0xff;
  if (base === 0x03) {
    if (vendor !== undefined && (GPU_VENDORS.has(vendor) || vendor === 0x8086)) return 'gpu';
    return sub === 0x02 ? 'gpu' : 'other';
  }
  if (base === 0x12) return vendor !== undefined && GPU_VENDORS.has(vendor) ? 'gpu' : 'accel';
  if (base === 0x0b && sub === 0x40) return 'accel';
  if (base === 0x02) return 'nic';
  if (base === 0x0c && sub === 0x06) return 'nic';
  if (base === 0x01 && sub === 0x08) return 'nvme';
  if (base === 0x06 && sub === 0x00) return 'host_bridge';
  if (base === 0x06 && (sub === 0x04 || sub === 0x09)) return 'bridge';
  return 'other';
}

/**
 * The device class guessed from a name alone (`lspci -tv` prints no class): used only when no class code
 * is known. Bridges are recognised by their bus range, not here.
 */
export function deviceClassFromName(name: string, vendor: number | undefined): DeviceClass {
  if (/\b(NVMe|Non-Volatile memory)\b/i.test(name)) return 'nvme';
  if (
    /\b(Ethernet|ConnectX|BlueField|InfiniBand|Infiniband|Network|NetXtreme|Omni-Path|Elastic Fabric|Gigabit)\b/i.test(
      name,
    )
  )
    return 'nic';
  if (/\b(Audio|USB|SMBus|SATA|Switch|NVSwitch|Bridge|PCIe Root|PCI Express|Host|LPC|ISA)\b/i.test(name))
    return 'other';
  if (vendor === 0x15b3) return 'nic';
  // NVIDIA also makes NVSwitches, bridges and USB/audio functions; a GPU name carries a model in brackets
  // (`AD102GL [RTX 6000 Ada Generation]`) or a GPU family name. An unnamed `Device 2901` stays `other`
  // until nvidia-smi names it a GPU.
  if (vendor === 0x10de) {
    return /\[[^\]]+\]|\b(Tesla|Quadro|GeForce|TITAN|Titan|RTX|GRID|[GATKPVHBLJ]\d{2,3}[A-Z]*)\b/.test(name)
      ? 'gpu'
      : 'other';
  }
  if (vendor === 0x1002 && /\b(Radeon|Instinct|MI\d+|Navi|Vega|Aldebaran|Arcturus|FirePro)\b/i.test(name)) return 'gpu';
  return 'other';
}
