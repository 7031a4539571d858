/**
 * The kernel error numbers that the DMA API and the IOMMU layer return (include/uapi/asm-generic/errno*.h).
 * Values are positive here; kernel functions return them negated (`-EPERM`), and so do dmasim results
 * (`{ ok: false, errno: -Errno.EPERM }`).
 */
export const Errno = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EFAULT: 14,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
} as const;

export type ErrnoName = keyof typeof Errno;

const NAMES: ReadonlyMap<number, ErrnoName> = new Map(
  (Object.entries(Errno) as [ErrnoName, number][]).map(([k, v]) => [v, k]),
);

/** `-22` -> `"-EINVAL"`, `0` -> `"0"`; an unknown value prints as the number. */
export function errnoName(errno: number): string {
  if (errno === 0) return '0';
  const name = NAMES.get(Math.abs(errno));
  if (name === undefined) return String(errno);
  return errno < 0 ? `-${name}` : name;
}
