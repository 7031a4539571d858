import { planned } from './planned.ts';

/** `dmasim run`: run one scenario file and print its summary. */
export const runCommand = planned('run', 'run one scenario file and print its summary', 5);
