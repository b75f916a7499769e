export { createAuditStore, type AuditStore, type PredictionRecord, type PredictionView, type PredictionQuery } from './store.js';
export { AuditWriter, type AuditWriterOptions } from './writer.js';
export { createAuditRecorder, type AuditFeatures } from './recorder.js';
export { auditRoutes, parseTime, checkRange, encodeCursor, decodeCursor } from './routes.js';
export { RetentionJob } from './retention.js';
