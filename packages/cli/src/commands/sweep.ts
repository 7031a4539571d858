import { planned } from './planned.ts';

/** `dmasim sweep`: run a sweep of scenarios (embedded, or distributed with --redis) and write reports. */
export const sweepCommand = planned(
  'sweep',
  'run a sweep of scenarios (embedded, or distributed with --redis) and write reports',
  6,
);
