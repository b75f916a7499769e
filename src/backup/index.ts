export { createBackup, type BackupOptions, type BackupResult } from './backup.js';
export { restoreBackup, type RestoreOptions, type RestoreResult } from './restore.js';
export { BACKUP_FORMAT, type BackupManifest } from './format.js';
