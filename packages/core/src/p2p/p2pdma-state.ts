/**
 * Per-function P2PDMA state (`struct pci_p2pdma`, kernel-model.md 1.5) with its providers (one per standard BAR,
 * `struct p2pdma_provider`) and its map-type cache (an xarray keyed by `map_types_idx()`, 2.6).
 */
import { DmasimError, ErrorCode } from '../errors.ts';
import { PCI_STD_NUM_BARS, type PciFunction, type Topology } from '../topology/topology.ts';
import type { Bdf } from '../topology/topology-spec.ts';
import { EOPNOTSUPP, type MapTypeValue } from './map-type.ts';

/** `struct p2pdma_provider`: the owner function and the bus offset of one memory BAR. */
export interface P2pdmaProvider {
  /** BAR index 0..5. */
  readonly bar: number;
  /** The owning function (`provider->owner`), `null` for a non-memory or empty BAR (zeroed provider). */
  readonly owner: Bdf | null;
  /** `pci_bus_address(bar) - pci_resource_start(bar)` as u64 (0n for a zeroed provider). */
  readonly busOffset: bigint;
  /** CPU start and length of the BAR (0n for a zeroed provider); for `p2p.provider_init` events. */
  readonly cpuStart: bigint;
  readonly length: bigint;
}

/** One map-type cache entry: the value and the client whose computation stored it. */
export interface MapTypeCacheEntry {
  readonly value: MapTypeValue;
  /** The client the value was computed for (several clients can share a key: 2.6). */
  readonly client: Bdf;
}

/**
 * `map_types_idx(client)`: `(pci_domain_nr(bus) << 16) | pci_dev_id(client)` computed, as the kernel does, in a
 * 32-bit signed `int` (segments >= 0x8000 overflow, segments >= 0x10000 wrap onto lower ones). Returned as the
 * unsigned 32-bit pattern; the kernel's `unsigned long` index is its sign extension, which keeps collisions
 * exactly the same.
 */
export function mapTypesIdx(client: PciFunction): number {
  return ((client.segment << 16) | client.devId) >>> 0;
}

/** The kernel's `unsigned long` xarray index for a key from {@link mapTypesIdx} (sign-extended to 64 bits). */
export function mapTypesXarrayIndex(key: number): bigint {
  return BigInt.asUintN(64, BigInt(key | 0));
}

/**
 * Groups of functions whose map-type cache keys collide (2.6): with a segment of 0x10000 or more (VMD domains),
 * the key wraps onto the same bus/devfn of a lower segment, and those clients share cached decisions.
 */
export function mapTypeKeyCollisions(topology: Topology): { key: number; clients: Bdf[] }[] {
  const byKey = new Map<number, Bdf[]>();
  for (const f of topology.functions) {
    const k = mapTypesIdx(f);
    const l = byKey.get(k);
    if (l) l.push(f.bdf);
    else byKey.set(k, [f.bdf]);
  }
  const out: { key: number; clients: Bdf[] }[] = [];
  for (const [key, clients] of byKey) if (clients.length > 1) out.push({ key, clients });
  return out;
}

/**
 * `struct pci_p2pdma` of one provider function. Mutable only through its map-type cache, as in the kernel;
 * {@link release} models the provider driver's unbind (state removed, cache destroyed).
 */
export class P2pdmaState {
  /** The function this state belongs to. */
  readonly owner: Bdf;
  /** Six providers, one per standard BAR; owner `null` where the BAR is not a memory BAR. */
  readonly providers: readonly P2pdmaProvider[];
  readonly #mapTypes = new Map<number, MapTypeCacheEntry>();
  #released = false;

  /** Use {@link pcimP2pdmaInit}. */
  constructor(fn: PciFunction) {
    this.owner = fn.bdf;
    const providers: P2pdmaProvider[] = [];
    for (let i = 0; i < PCI_STD_NUM_BARS; i++) {
      const r = fn.resources[i];
      providers.push(
        Object.freeze(
          r?.memory
            ? { bar: i, owner: fn.bdf, busOffset: r.busOffset, cpuStart: r.cpuStart, length: r.length }
            : { bar: i, owner: null, busOffset: 0n, cpuStart: 0n, length: 0n },
        ),
      );
    }
    this.providers = Object.freeze(providers);
  }

  /** False after {@link release}: `pdev->p2pdma` is then NULL. */
  get live(): boolean {
    return !this.#released;
  }

  /**
   * `pcim_p2pdma_provider(pdev, bar)`: the provider of a memory BAR, or `null` for a non-memory/absent BAR or after
   * release. (`non_mappable_bars` functions never get a state, see {@link pcimP2pdmaInit}.)
   */
  provider(bar: number): P2pdmaProvider | null {
    if (this.#released) return null;
    const p = this.providers[bar];
    return p && p.owner !== null ? p : null;
  }

  /** `xa_load(&p2pdma->map_types, key)`: the entry, or `undefined` (value 0, "compute"). */
  lookup(key: number): MapTypeCacheEntry | undefined {
    return this.#released ? undefined : this.#mapTypes.get(key);
  }

  /**
   * `xa_store(&p2pdma->map_types, key, value)` (overwrites). Returns the entry it replaced, if any.
   * @throws DmasimError `INTERNAL` when the state was released (the kernel stores only while the state exists).
   */
  store(key: number, value: MapTypeValue, client: Bdf): MapTypeCacheEntry | undefined {
    if (this.#released) throw new DmasimError(ErrorCode.INTERNAL, `store into released p2pdma state of ${this.owner}`);
    const prev = this.#mapTypes.get(key);
    this.#mapTypes.set(key, Object.freeze({ value, client }));
    return prev;
  }

  /** Entries of the cache, by key (a snapshot). */
  entries(): [number, MapTypeCacheEntry][] {
    return [...this.#mapTypes.entries()];
  }

  /** Number of cached decisions. */
  get size(): number {
    return this.#mapTypes.size;
  }

  /** `pci_p2pdma_release()`: the driver unbound; the state is gone and its cache destroyed. Idempotent. */
  release(): void {
    this.#released = true;
    this.#mapTypes.clear();
  }
}

/** The result of {@link pcimP2pdmaInit}: the kernel's return value and the state (`null` on error). */
export type P2pdmaInitResult =
  | { readonly ret: 0; readonly state: P2pdmaState }
  | { readonly ret: typeof EOPNOTSUPP; readonly state: null };

/**
 * `pcim_p2pdma_init(pdev)` (kernel-model.md 1.5): refused with -EOPNOTSUPP when the function has
 * `non_mappable_bars` (or the kernel lacks CONFIG_PCI_P2PDMA, 7.3); idempotent when `states` (the devices'
 * `pdev->p2pdma` pointers) already holds a live state for it; otherwise a new state with an empty cache and one
 * provider per memory BAR (`bus_offset` from the BAR's bus address), recorded in `states` when given.
 *
 * @throws DmasimError `DEVICE_NOT_FOUND` when `bdf` is not in the topology.
 */
export function pcimP2pdmaInit(topology: Topology, bdf: Bdf, states?: Map<Bdf, P2pdmaState>): P2pdmaInitResult {
  const fn = topology.get(bdf);
  if (!topology.platform.p2pdmaEnabled || fn.nonMappableBars) return { ret: EOPNOTSUPP, state: null };
  const existing = states?.get(bdf);
  if (existing?.live) return { ret: 0, state: existing };
  const state = new P2pdmaState(fn);
  states?.set(bdf, state);
  return { ret: 0, state };
}

/** What {@link pcimP2pdmaProvider} returns: a provider, none (with the kernel's WARN when there is no state), or an error. */
export interface P2pdmaProviderLookup {
  readonly provider: P2pdmaProvider | null;
  /** `no_p2pdma_state`: `pcim_p2pdma_init` was never called for the function (the kernel's `WARN_ON(!p2p)`). */
  readonly warning: 'no_p2pdma_state' | null;
  /** `-EOPNOTSUPP` (an error pointer) when the kernel lacks CONFIG_PCI_P2PDMA (kernel-model.md 7.3). */
  readonly error: typeof EOPNOTSUPP | null;
}

/**
 * `pcim_p2pdma_provider(pdev, bar)` (kernel-model.md 1.5): none for a non-memory BAR or a function with
 * `non_mappable_bars`; none with a warning when the function has no p2pdma state in `states`; otherwise the BAR's
 * provider. Without CONFIG_PCI_P2PDMA the stub returns an error pointer.
 * @throws DmasimError `DEVICE_NOT_FOUND` when `bdf` is not in the topology; `INVALID_ARGUMENT` for a BAR outside 0..5.
 */
export function pcimP2pdmaProvider(
  topology: Topology,
  bdf: Bdf,
  bar: number,
  states: ReadonlyMap<Bdf, P2pdmaState>,
): P2pdmaProviderLookup {
  const fn = topology.get(bdf);
  if (!Number.isInteger(bar) || bar < 0 || bar >= PCI_STD_NUM_BARS) {
    throw new DmasimError(ErrorCode.INVALID_ARGUMENT, `BAR index ${bar} of ${bdf}: expected 0..5`);
  }
  if (!topology.platform.p2pdmaEnabled) return { provider: null, warning: null, error: EOPNOTSUPP };
  if (!fn.resources[bar]?.memory || fn.nonMappableBars) return { provider: null, warning: null, error: null };
  const state = states.get(bdf);
  if (!state?.live) return { provider: null, warning: 'no_p2pdma_state', error: null };
  return { provider: state.provider(bar), warning: null, error: null };
}
