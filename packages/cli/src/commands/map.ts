import { planned } from './planned.ts';

/** `dmasim map`: map one DMA-buf BAR range for an importer and show the sg table and events. */
export const mapCommand = planned(
  'map',
  'map one DMA-buf BAR range for an importer and show the sg table and events',
  5,
);
