export { openDb, migrate, pendingMigrations, type Db, type DbLocation, type Dialect } from './db.js';
export { toIso, fromJson, type Database, type ModelVersionsTable } from './schema.js';
