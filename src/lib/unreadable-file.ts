import { accessSync, constants, statSync } from 'node:fs';

/**
 * Why a file named in the configuration (a certificate, a key, a CA) cannot be read: its error
 * code (ENOENT, EACCES), "not a file" for a directory, or undefined when it can be. Checked
 * with the configuration, so a wrong path stops the command at start instead of failing each
 * connection.
 */
export function unreadableFile(file: string): string | undefined {
  try {
    accessSync(file, constants.R_OK);
    return statSync(file).isFile() ? undefined : 'not a file';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}
