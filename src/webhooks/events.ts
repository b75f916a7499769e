import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/index.js';
import type { EventType } from './event-types.js';

export { EVENT_TYPES, type EventType } from './event-types.js';

/**
 * Records an event in the outbox inside the caller's transaction, so the event exists if and
 * only if the change it tells of was committed. Services take this as a dependency.
 */
export type EmitEvent = (tx: Kysely<Database> | Transaction<Database>, type: EventType, data: Record<string, unknown>, at: string) => Promise<void>;

/** Message ids as Standard Webhooks writes them: msg_ and 24 random base62-ish characters. */
export const messageId = () => `msg_${randomBytes(18).toString('base64url')}`;

export const emitToOutbox: EmitEvent = async (tx, type, data, at) => {
  const id = messageId();
  const payload = JSON.stringify({ type, timestamp: at, data });
  await tx.insertInto('webhook_outbox').values({ id, type, payload, created_at: at, fanned_out: 0 }).execute();
};
