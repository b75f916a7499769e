import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/index.js';

export const EVENT_TYPES = [
  'model.registered',
  'model.promoted',
  'model.rolled_back',
  'rollout.started',
  'rollout.step',
  'rollout.rolled_back',
  'rollout.promoted',
  'monitor.alert.fired',
  'monitor.alert.resolved',
  'monitor.report',
  'retrain.started',
  'retrain.gated_out',
  'retrain.registered',
  'retrain.canary_started',
  'retrain.unchanged',
  'retrain.failed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

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
