import { closeSync, mkdirSync, openSync } from 'node:fs';

/**
 * Modes for what modelgate creates that holds data others on the host should not read: the
 * SQLite database (webhook secrets, key hashes, audited features), the spill files of audit
 * records and retrain downloads. Group-readable, so a sidecar of the pod's fsGroup (a backup or
 * replication agent) can still read them; nothing for other users. Existing files and
 * directories keep the modes they have: they are the operator's.
 */
export const PRIVATE_DIR_MODE = 0o750;
export const PRIVATE_FILE_MODE = 0o640;

/** mkdir -p, the directories it creates with PRIVATE_DIR_MODE (less the umask). */
export function mkdirPrivate(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Create an empty file with PRIVATE_FILE_MODE when it does not exist yet, so that what opens it
 * next (SQLite) finds it rather than making it by the umask; SQLite gives its -wal and -shm
 * files the database file's mode.
 */
export function createPrivateFile(file: string): void {
  try {
    closeSync(openSync(file, 'wx', PRIVATE_FILE_MODE));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}
