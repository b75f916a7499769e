import { accessSync, constants, statSync } from 'node:fs';

/**
 * Who owns a path this process may not write, and its mode (as `ls -l` shows it): what an
 * error about a file another user made (sudo, a container's root) names. `exists: false` when
 * the path is absent; undefined when it exists and is writable.
 */
export function unwritableOwner(p: string): { exists: false } | { exists: true; uid: number; mode: string } | undefined {
  let st;
  try {
    st = statSync(p);
  } catch {
    return { exists: false };
  }
  try {
    accessSync(p, constants.W_OK);
    return undefined;
  } catch {
    return { exists: true, uid: st.uid, mode: (st.mode & 0o777).toString(8) };
  }
}
