export { EVENT_TYPES, emitToOutbox, messageId, type EventType, type EmitEvent } from './events.js';
export { sign, verify, newSecret } from './signing.js';
export { createWebhookStore, type WebhookStore, type Subscription } from './store.js';
export { createWebhookService, type WebhookService } from './service.js';
export { DeliveryWorker } from './worker.js';
export { retryAfterMs, sendEvent } from './send.js';
export { webhookRoutes } from './routes.js';
