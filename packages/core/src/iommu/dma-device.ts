/**
 * A device as the DMA API sees it (`struct device` + `struct dev_iommu`, kernel-model.md 1.1, 1.6): its
 * name, whether it is PCI, its streaming DMA mask and bus limit, `min_align_mask`, untrusted /
 * forced-bounce flags, the default domain of its IOMMU group, and the two per-device flags the IOMMU setup
 * sets: `dma_iommu` (use IOMMU-DMA) and the sticky `pci_32bit_workaround`.
 *
 * Constructing a device probes it: `iommu_setup_dma_ops` runs, so the first device of a group initialises
 * the group's domain with its reservations. Create devices in the kernel's probe order.
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import { dmaBitMask } from './dma-mapping.ts';
import type {
  BusDmaRegion,
  DomainInitDevice,
  DomainInitResult,
  HostBridgeDma,
  IommuDomain,
  IommuReservedRegion,
} from './iommu-domain.ts';
import type { DmaDeviceSetupStep } from './iommu-steps.ts';
import type { KernelContext } from './kernel-context.ts';
import { U64_MAX } from './u64.ts';

/** Options of {@link DmaDevice}. */
export interface DmaDeviceOptions {
  /** Kernel device name, e.g. `0000:21:00.0`. */
  readonly name: string;
  /** A PCI device (gets the 32-bit-first IOVA policy, host-bridge reservations). @defaultValue true */
  readonly isPci?: boolean;
  /** The group's default domain; null or absent: no IOMMU (dma-direct). */
  readonly domain?: IommuDomain | null;
  /** Streaming DMA mask `*dev->dma_mask`; 0n = not set (dma_get_mask then answers 32 bits). @defaultValue 0n */
  readonly dmaMask?: bigint;
  /** The device has a `dma_mask` pointer at all (without it dma_map_phys fails untraced). @defaultValue true */
  readonly hasDmaMask?: boolean;
  /** `bus_dma_limit`; 0n = no limit. @defaultValue 0n */
  readonly busDmaLimit?: bigint;
  /** `dma_get_min_align_mask(dev)`. @defaultValue 0n */
  readonly minAlignMask?: bigint;
  /** External-facing port (Thunderbolt): unaligned MMIO cannot be bounced. @defaultValue false */
  readonly untrusted?: boolean;
  /** `swiotlb=force` / confidential-computing guest: dma-direct MMIO mapping fails. @defaultValue false */
  readonly swiotlbForce?: boolean;
  /** The PCI host bridge's windows and inbound ranges (reserved by the first device of a group). */
  readonly hostBridge?: HostBridgeDma | null;
  /** `dev->dma_range_map` (device-tree platforms). @defaultValue null */
  readonly dmaRangeMap?: readonly BusDmaRegion[] | null;
  /** Device-specific reserved regions the IOMMU driver reports (RMRR, IVMD). @defaultValue [] */
  readonly resvRegions?: readonly IommuReservedRegion[];
  /** In a kdump kernel, the deferred IOMMU attach of this device fails. @defaultValue false */
  readonly deferredAttachFails?: boolean;
}

/** Canonical plain state of a device's DMA flags. */
export interface DmaDeviceSnapshot {
  readonly name: string;
  readonly dmaIommu: boolean;
  readonly pci32bitWorkaround: boolean;
}

/** A DMA-capable device (an importer). */
export class DmaDevice implements DomainInitDevice {
  readonly kernel: KernelContext;
  readonly name: string;
  readonly isPci: boolean;
  readonly domain: IommuDomain | null;
  /** `*dev->dma_mask` (0n: not set). Drivers may change it (`dma_set_mask`). */
  dmaMask: bigint;
  readonly hasDmaMask: boolean;
  readonly busDmaLimit: bigint;
  readonly minAlignMask: bigint;
  readonly untrusted: boolean;
  readonly swiotlbForce: boolean;
  readonly hostBridge: HostBridgeDma | null;
  readonly dmaRangeMap: readonly BusDmaRegion[] | null;
  readonly resvRegions: readonly IommuReservedRegion[];
  readonly deferredAttachFails: boolean;
  /** `dev->dma_iommu` (`use_dma_iommu`): the DMA API goes through IOMMU-DMA. */
  dmaIommu: boolean;
  /** `dev->iommu->pci_32bit_workaround`: try below 4 GiB first. Cleared for good by the first failure. */
  pci32bitWorkaround: boolean;
  /** What `iommu_dma_init_domain` said at probe (null: no DMA domain). */
  readonly setup: DomainInitResult | null;

  constructor(kernel: KernelContext, opts: DmaDeviceOptions) {
    this.kernel = kernel;
    this.name = opts.name;
    this.isPci = opts.isPci ?? true;
    this.domain = opts.domain ?? null;
    this.dmaMask = opts.dmaMask ?? 0n;
    this.hasDmaMask = opts.hasDmaMask ?? true;
    this.busDmaLimit = opts.busDmaLimit ?? 0n;
    this.minAlignMask = opts.minAlignMask ?? 0n;
    this.untrusted = opts.untrusted ?? false;
    this.swiotlbForce = opts.swiotlbForce ?? false;
    this.hostBridge = opts.hostBridge ?? null;
    this.dmaRangeMap = opts.dmaRangeMap ?? null;
    this.resvRegions = opts.resvRegions ?? [];
    this.deferredAttachFails = opts.deferredAttachFails ?? false;
    for (const [k, v] of [
      ['dmaMask', this.dmaMask],
      ['busDmaLimit', this.busDmaLimit],
      ['minAlignMask', this.minAlignMask],
    ] as const) {
      if (v < 0n || v > U64_MAX) {
        throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `device ${opts.name}: ${k} must be a u64, found ${v}`);
      }
    }
    if (this.domain !== null && this.domain.kernel !== kernel) {
      throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `device ${opts.name}: its domain belongs to another kernel`);
    }
    // iommu_setup_dma_ops (only devices behind an IOMMU have dev->iommu).
    this.pci32bitWorkaround = this.domain !== null && this.isPci && !kernel.forcedac;
    this.dmaIommu = this.domain?.isDmaDomain ?? false;
    let setup: DomainInitResult | null = null;
    if (this.dmaIommu && this.domain !== null) {
      setup = this.domain.initForDevice(this);
      if (!setup.ok) {
        this.domain.log(
          null,
          'warn',
          'dma_iommu.setup_failed',
          `Failed to set up IOMMU for device ${this.name}; retaining platform DMA ops`,
        );
        this.dmaIommu = false;
      }
    }
    this.setup = setup;
    const step: DmaDeviceSetupStep = {
      kind: 'dma.device_setup',
      device: this.name,
      domainId: this.domain?.id ?? null,
      domainType: this.domain?.type ?? null,
      dmaIommu: this.dmaIommu,
      pci32bitWorkaround: this.pci32bitWorkaround,
      init: setup === null ? null : setup.ok ? setup.initialised : setup.reason,
    };
    kernel.emit(step);
  }

  /** `dma_get_mask(dev)`: the streaming mask if set and non-zero, else DMA_BIT_MASK(32). */
  dmaGetMask(): bigint {
    return this.hasDmaMask && this.dmaMask !== 0n ? this.dmaMask : dmaBitMask(32);
  }

  /** Canonical plain state. */
  snapshot(): DmaDeviceSnapshot {
    return { name: this.name, dmaIommu: this.dmaIommu, pci32bitWorkaround: this.pci32bitWorkaround };
  }
}
