export { openDb, migrate, pendingMigrations, lastMigration, dedicatedPgClient, type Db, type DbLocation, type Dialect } from './db.js';
export { toIso, toIsoOrNull, fromJson, type Database, type ModelVersionsTable, type RolloutsTable, type ApiKeysTable, type RollbacksTable, type RetrainRunsTable } from './schema.js';
export { bumpRevision, readRevision } from './revision.js';
export { allMigrations } from './migrations/index.js';
export { modelRowsUpTo, overTimeSlices, predictionRowsUpTo } from './time-slices.js';
export { isUniqueViolation } from './unique-violation.js';
