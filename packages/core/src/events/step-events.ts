/**
 * Step records of the DMA API / IOMMU-DMA layer and the IOVA allocator (iommu/iommu-steps.ts,
 * iova/iova-steps.ts) as event payloads, and back. The payload of an event is the step record without
 * its `kind` (the event type says it) and with every optional field present (absent -> null), so no
 * field a layer computed is lost (docs/ARCHITECTURE.md). One exception of naming: the flush queue's
 * `iova.free` record (destination `flush_queue`, a different shape from the allocator's) becomes event
 * type `iova.queue`.
 *
 * The type-level assertions at the end of this file fail to compile if a step record and its schema
 * entry ever disagree.
 */
import type { IommuStep } from '../iommu/iommu-steps.ts';
import { type StepBuilder, stepBuilder, stepCopier } from './codegen.ts';
import type { EventData, EventType } from './event-schema.ts';

/** Event types that carry a DMA/IOMMU/IOVA step record. */
export type StepEventType =
  | 'dma.iova_try_alloc'
  | 'iova.alloc'
  | 'iova.dac_switch'
  | 'iova.rcache_flush'
  | 'dma.iova_link'
  | 'iommu.map'
  | 'dma.iova_sync'
  | 'dma.map_phys'
  | 'dma.unmap_phys'
  | 'iommu.unmap'
  | 'dma.iova_destroy'
  | 'iova.free'
  | 'iova.queue'
  | 'iova.fq_flush'
  | 'iova.depot'
  | 'iova.reserve'
  | 'iommu.domain_init'
  | 'dma.device_setup'
  | 'kernel.log';

/**
 * The event type and payload of a step record.
 *
 * A payload is a fresh object with the schema's fields in the schema's order (generated copier,
 * `codegen.ts`), `kind` dropped, optional fields filled with null.
 */
export function stepToEvent(step: IommuStep): { type: StepEventType; data: Record<string, unknown> } {
  const type = stepEventType(step);
  return { type, data: stepPayload(type, step) };
}

/** The event type of a step record (see the file comment for `iova.queue`). */
export function stepEventType(step: IommuStep): StepEventType {
  return step.kind === 'iova.free' && step.destination === 'flush_queue' ? 'iova.queue' : (step.kind as StepEventType);
}

/** The payload of a step record for its event type (see {@link stepToEvent}). */
export function stepPayload(type: StepEventType, step: IommuStep): Record<string, unknown> {
  return stepCopier(type)(step as unknown as Record<string, unknown>);
}

/** The step record an event of a {@link StepEventType} was made from (for the layers' reducers). */
export function eventToStep(type: StepEventType, data: Record<string, unknown>): IommuStep {
  return STEP_BUILDERS.get(type)!(data) as unknown as IommuStep;
}

/** True if events of type `t` carry a step record. */
export function isStepEventType(t: EventType): t is StepEventType {
  return STEP_TYPES.has(t);
}

const STEP_TYPES: ReadonlySet<EventType> = new Set<EventType>([
  'dma.iova_try_alloc',
  'iova.alloc',
  'iova.dac_switch',
  'iova.rcache_flush',
  'dma.iova_link',
  'iommu.map',
  'dma.iova_sync',
  'dma.map_phys',
  'dma.unmap_phys',
  'iommu.unmap',
  'dma.iova_destroy',
  'iova.free',
  'iova.queue',
  'iova.fq_flush',
  'iova.depot',
  'iova.reserve',
  'iommu.domain_init',
  'dma.device_setup',
  'kernel.log',
]);

/** Payload -> step record, one generated builder per type (`iova.queue` -> `iova.free` to the flush queue). */
const STEP_BUILDERS: ReadonlyMap<EventType, StepBuilder> = new Map(
  [...STEP_TYPES].map((t) => [
    t,
    t === 'iova.queue' ? stepBuilder(t, 'iova.free', { destination: 'flush_queue' }) : stepBuilder(t, t),
  ]),
);

// ------------------------------------------------------------------------------------------------------
// Compile-time correspondence between step records and the schema.

type DeepMutable<T> = T extends bigint | number | string | boolean | null | undefined
  ? T
  : T extends readonly (infer E)[]
    ? DeepMutable<E>[]
    : { -readonly [K in keyof T]: DeepMutable<T[K]> };
/** A step record as a payload: no `kind`, optional fields required and nullable. */
type AsPayload<S> = DeepMutable<{
  [K in keyof Omit<S, 'kind'>]-?: undefined extends S[K] ? Exclude<S[K], undefined> | null : S[K];
}>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type StepOf<K extends string> = Extract<IommuStep, { kind: K }>;
type AllocStep = Extract<StepOf<'iova.alloc'>, { api: unknown }>;

type Checks = {
  tryAlloc: Same<EventData<'dma.iova_try_alloc'>, AsPayload<StepOf<'dma.iova_try_alloc'>>>;
  dac: Same<EventData<'iova.dac_switch'>, AsPayload<StepOf<'iova.dac_switch'>>>;
  link: Same<EventData<'dma.iova_link'>, AsPayload<StepOf<'dma.iova_link'>>>;
  map: Same<EventData<'iommu.map'>, AsPayload<StepOf<'iommu.map'>>>;
  sync: Same<EventData<'dma.iova_sync'>, AsPayload<StepOf<'dma.iova_sync'>>>;
  mapPhys: Same<EventData<'dma.map_phys'>, AsPayload<StepOf<'dma.map_phys'>>>;
  unmapPhys: Same<EventData<'dma.unmap_phys'>, AsPayload<StepOf<'dma.unmap_phys'>>>;
  unmap: Same<EventData<'iommu.unmap'>, AsPayload<StepOf<'iommu.unmap'>>>;
  destroy: Same<EventData<'dma.iova_destroy'>, AsPayload<StepOf<'dma.iova_destroy'>>>;
  fqFlush: Same<EventData<'iova.fq_flush'>, AsPayload<StepOf<'iova.fq_flush'>>>;
  alloc: Same<EventData<'iova.alloc'>, AsPayload<Omit<AllocStep, 'fqQueue'>>>;
  queue: Same<
    EventData<'iova.queue'>,
    AsPayload<Omit<Extract<StepOf<'iova.free'>, { destination: 'flush_queue' }>, 'destination'>>
  >;
  free: Same<
    EventData<'iova.free'>,
    AsPayload<Omit<Extract<StepOf<'iova.free'>, { api: unknown }>, 'device' | 'caller' | 'phase'>>
  >;
  flush: Same<
    EventData<'iova.rcache_flush'>,
    AsPayload<Omit<StepOf<'iova.rcache_flush'>, 'device' | 'caller' | 'phase' | 'fqQueue'>>
  >;
  depot: Same<
    EventData<'iova.depot'>,
    AsPayload<Omit<StepOf<'iova.depot'>, 'device' | 'caller' | 'phase' | 'fqQueue'>>
  >;
  reserve: Same<
    EventData<'iova.reserve'>,
    AsPayload<Omit<StepOf<'iova.reserve'>, 'device' | 'caller' | 'phase' | 'fqQueue'>>
  >;
  log: Same<EventData<'kernel.log'>, AsPayload<Omit<StepOf<'kernel.log'>, 'msg'>> & { msg: string }>;
  domainInit: Same<EventData<'iommu.domain_init'>, AsPayload<StepOf<'iommu.domain_init'>>>;
  deviceSetup: Same<EventData<'dma.device_setup'>, AsPayload<StepOf<'dma.device_setup'>>>;
  /** Every step kind has an event type. */
  exhaustive: Same<Exclude<IommuStep['kind'], StepEventType>, never>;
};
/** Every entry must be `true`; a `false` names the step record that no longer matches the schema. */
export const STEP_SCHEMA_CHECKS: { [K in keyof Checks]: Checks[K] extends true ? true : never } = {
  tryAlloc: true,
  dac: true,
  link: true,
  map: true,
  sync: true,
  mapPhys: true,
  unmapPhys: true,
  unmap: true,
  destroy: true,
  fqFlush: true,
  alloc: true,
  queue: true,
  free: true,
  flush: true,
  depot: true,
  reserve: true,
  log: true,
  domainInit: true,
  deviceSetup: true,
  exhaustive: true,
};
