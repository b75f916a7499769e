export { AUDIT_ARMS, createAuditStore, type AuditStore, type PredictionRecord, type PredictionView, type PredictionQuery } from './store.js';
export { AuditWriter, type AuditWriterOptions } from './writer.js';
export { createAuditRecorder, type AuditFeatures } from './recorder.js';
export { auditRoutes, parseTime, parseFlagTime, checkRange, encodeCursor, decodeCursor } from './routes.js';
export { RetentionJob } from './retention.js';
export { createFeedbackService, NOT_WRITTEN_YET, type FeedbackService, type FeedbackItem, type FeedbackResult } from './feedback.js';
export { feedbackRoutes } from './feedback-routes.js';
export { csvRows, predictionPages, predictionsCsv, trainingCsv, EXPORT_COLUMNS, type TrainingColumns } from './export.js';
