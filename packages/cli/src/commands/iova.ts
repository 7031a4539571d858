import { planned } from './planned.ts';

/** `dmasim iova`: the kernel IOVA allocator: check vector files, benchmark traces. */
export const iovaCommand = planned('iova', 'the kernel IOVA allocator: check vector files, benchmark traces', 3);
