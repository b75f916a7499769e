import type { EmitEvent, EventType } from '../webhooks/index.js';
import type { RolloutStore } from './store.js';

/** Which rollout transitions are webhook events (a manual stop is a rollback by its actor). */
const WEBHOOK_EVENT: Record<string, EventType | undefined> = {
  start: 'rollout.started',
  step: 'rollout.step',
  rollback: 'rollout.rolled_back',
  stop: 'rollout.rolled_back',
  promote: 'rollout.promoted',
};

/**
 * The store, with every transition that subscribers hear of also written to the webhook
 * outbox in the same transaction as its rollout event.
 */
export function withWebhookEvents(store: RolloutStore, emit: EmitEvent | undefined): RolloutStore {
  if (!emit) return store;
  return {
    ...store,
    async event(tx, e) {
      await store.event(tx, e);
      const type = WEBHOOK_EVENT[e.event];
      if (type) {
        await emit(
          tx,
          type,
          { model: e.model, transition: e.event, production_version: e.production_version, canary_version: e.canary_version, percent: e.percent, actor: e.actor, details: e.details ?? {} },
          e.at,
        );
      }
    },
  };
}
