/** Public API of the events area of @dmasim/core: schema, binary frames, log files, NDJSON, state hash. */

export { renderEventSchemaMarkdown } from './event-docs.ts';
export {
  type EventsNdjsonHeader,
  eventFromJson,
  eventsToNdjson,
  eventToJson,
  parseEventsNdjson,
  validateEvent,
} from './event-json.ts';
export {
  decodeEventLog,
  EVENT_LOG_VERSION,
  type EventLogContents,
  encodeEventLog,
  eventLogHeader,
  eventLogRecord,
  FrameOrderChecker,
  type LogRecord,
  type ReadLogOptions,
  readEventLogRecords,
} from './event-log.ts';
export {
  DMA_DIRECTION,
  EVENT_SCHEMA,
  EVENT_SCHEMA_VERSION,
  EVENT_TYPE_BY_ID,
  type EventData,
  type EventDef,
  type EventEnvelope,
  type EventOrigin,
  type EventType,
  HAZARD_KIND,
  isEventType,
  MAP_TYPE,
  MAPPING_MODE,
  SIM_OP,
  type SimEvent,
} from './event-schema.ts';
export { describeMapTypeDecision, formatEventLine } from './event-text.ts';
export { describeKind, type FieldKind, type Fields } from './field-kinds.ts';
export {
  CODEC_VERSION,
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  decodeFrameHeader,
  encodeFrame,
  FrameEncoder,
  type FrameMeta,
  type FrameTarget,
  type FramingOptions,
  READABLE_CODEC_VERSIONS,
} from './frame-codec.ts';
export { type ReplayResult, replayEvents, SimReducer } from './reducer.ts';
export { stateHash } from './state-hash.ts';
export {
  eventToStep,
  isStepEventType,
  STEP_SCHEMA_CHECKS,
  type StepEventType,
  stepEventType,
  stepPayload,
  stepToEvent,
} from './step-events.ts';
