/** A byte count for people: 292 B, 41.5 KiB, 1.1 MiB, 52.3 GiB (a compiled linear model takes a few hundred bytes). */
export function byteSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}
