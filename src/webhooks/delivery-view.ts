/** A webhook delivery and its attempts as the API shows them. Types only: the console uses them too. */

/** A delivery as listed: its event, its receiver, where it stands. */
export interface DeliveryView {
  id: string;
  event_id: string;
  type: string;
  /** When the event happened. */
  event_at: string;
  subscription_id: string;
  /** The receiver's URL; null once its subscription is gone. */
  url: string | null;
  status: string;
  attempts: number;
  /** How often it was queued again by hand (retry-dlq, redeliver). */
  requeued: number;
  /** When a pending delivery is sent next; null otherwise. */
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  updated_at: string;
}

/** One attempt at a delivery. */
export interface AttemptView {
  attempt: number;
  at: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  /** The start of what the receiver answered to a failed attempt (at most 1 KiB). */
  response: string | null;
}
