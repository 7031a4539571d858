import { planned } from './planned.ts';

/** `dmasim report`: write the capacity-planning report (json, md, html) from sweep results. */
export const reportCommand = planned(
  'report',
  'write the capacity-planning report (json, md, html) from sweep results',
  9,
);
