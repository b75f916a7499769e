/** Every event a webhook may subscribe to. Pure: the console bundles it. */
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

/** What `webhooks test` sends: to one subscription, whatever events it takes; not an event anything else sends. */
export const TEST_EVENT_TYPE = 'webhook.test';
