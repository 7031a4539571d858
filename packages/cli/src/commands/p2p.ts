import { planned } from './planned.ts';

/** `dmasim p2p`: check the P2PDMA map-type decision against recorded kernel vectors. */
export const p2pCommand = planned('p2p', 'check the P2PDMA map-type decision against recorded kernel vectors', 4);
