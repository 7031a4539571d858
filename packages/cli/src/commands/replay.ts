import { planned } from './planned.ts';

/** `dmasim replay`: replay an event log or stream, verify state hashes, re-drive kernel ftrace traces. */
export const replayCommand = planned(
  'replay',
  'replay an event log or stream, verify state hashes, re-drive kernel ftrace traces',
  7,
);
