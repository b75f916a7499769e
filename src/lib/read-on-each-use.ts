import { readFileSync } from 'node:fs';

/**
 * Sets each property of `target` to a getter that reads its file again at each use: a TLS
 * client reads its CA, certificate and key when it makes a connection, so a certificate renewed
 * in place (by cert-manager, or a Kubernetes Secret mounted as a volume, which is updated
 * without restarting the pod) is sent from the next connection on, with no restart. The first
 * contents come from `first` (reading the file, so a missing one is still an error at start, or
 * what a parser already read). A file that
 * cannot be read at a later use keeps its last contents: the connection then succeeds or fails
 * on its own instead of the read throwing inside the driver.
 */
export function readOnEachUse<T extends object>(target: T, files: Partial<Record<keyof T & string, string>>, first: (property: keyof T & string, file: string) => Buffer | string): T {
  for (const [property, file] of Object.entries(files) as [keyof T & string, string | undefined][]) {
    if (!file) continue;
    let last = first(property, file);
    Object.defineProperty(target, property, {
      enumerable: true,
      // Drivers redefine a key as not enumerable (so it stays out of logs), which keeps the getter.
      configurable: true,
      get() {
        try {
          last = readFileSync(file);
        } catch {
          // kept: see above
        }
        return last;
      },
    });
  }
  return target;
}
