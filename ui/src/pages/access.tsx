import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { del, enc, get, post, q } from '../api.js';
import { ConfirmButton, Empty, ErrorNote, fmt, Loading, Table } from '../components/common.js';
import { useLoad } from '../load.js';
import { EVENT_TYPES } from '../../../src/webhooks/event-types.js';
import type { AttemptView as Attempt, DeliveryView as Delivery } from '../../../src/webhooks/delivery-view.js';

interface Key {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  rate_limit: string | null;
  status: string;
  expires_at: string | null;
  last_used_at: string | null;
  created_at: string;
  /** Until when the token a rotation replaced still works. */
  previous_valid_until: string | null;
}

/** A rotated key's old token still works until then (its grace), while it does. */
const oldTokenUntil = (k: Key): string | undefined => (k.status === 'active' && k.previous_valid_until && Date.parse(k.previous_valid_until) > Date.now() ? k.previous_valid_until : undefined);

interface Subscription {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  disabled_reason: string | null;
  /** Enabled, but this server would not deliver to it now: why. */
  refused?: string;
  created_at: string;
  previous_secret_valid_until: string | null;
}

interface TestResult {
  url: string;
  delivered: boolean;
  status_code: number | null;
  error: string | null;
  response: string | null;
  duration_ms: number;
}

/** How a receiver took a test event, in a sentence. */
function testNote(r: TestResult): string {
  const how = `${r.status_code === null ? r.error : `HTTP ${r.status_code}`} in ${Math.round(r.duration_ms)} ms`;
  if (r.delivered) return `Test event delivered to ${r.url}: ${how}.`;
  return `Test event not delivered to ${r.url}: ${how}${r.response ? `; the receiver answered: ${r.response}` : ''}.`;
}

/** Every attempt at one delivery, with what the receiver answered: what to fix before retrying a dead letter. */
function DeliveryHistory({ id, columns }: { id: string; columns: number }) {
  const d = useLoad((signal) => get<Delivery & { history: Attempt[] }>(`/v1/webhooks/deliveries/${enc(id)}`, { signal }), [id]);
  return (
    <tr class="detail">
      <td colSpan={columns}>
        <ErrorNote error={d.error} />
        {!d.data ? (
          d.error ? null : (
            <Loading what="attempts" />
          )
        ) : (
          <>
            <p>
              Event <code>{d.data.event_id}</code>
              {d.data.requeued ? `, queued again by hand ${d.data.requeued === 1 ? 'once' : `${d.data.requeued} times`}` : ''}
              {d.data.next_attempt_at ? `; next attempt ${fmt.time(d.data.next_attempt_at)}` : ''}.
            </p>
            {d.data.history.length === 0 ? (
              <p class="empty">Not attempted yet.</p>
            ) : (
              <Table head={['Attempt', 'At', 'Answer', 'Took', 'Receiver said']} testId="delivery-history">
                {d.data.history.map((a) => (
                  <tr key={a.attempt}>
                    <td>{a.attempt}</td>
                    <td>{fmt.time(a.at)}</td>
                    <td>{a.error ?? a.status_code ?? '—'}</td>
                    <td>{fmt.num(a.duration_ms, 0)} ms</td>
                    <td>{a.response === null ? '—' : <code class="wrap">{a.response}</code>}</td>
                  </tr>
                ))}
              </Table>
            )}
          </>
        )}
      </td>
    </tr>
  );
}

const SCOPES = ['infer', 'read', 'feedback', 'admin'] as const;

/** A row of checkboxes for some of a fixed list (a key's scopes, a webhook's events). */
function Ticks(props: { legend: string; options: readonly string[]; chosen: string[]; set: (next: (now: string[]) => string[]) => void; testId: string }) {
  return (
    <fieldset class="ticks">
      <legend>{props.legend}</legend>
      {props.options.map((option) => (
        <label key={option} class="check">
          <input
            type="checkbox"
            data-testid={`${props.testId}-${option}`}
            checked={props.chosen.includes(option)}
            onChange={(e) => {
              const on = e.currentTarget.checked;
              props.set((now) => (on ? [...now.filter((x) => x !== option), option] : now.filter((x) => x !== option)));
            }}
          />
          {option}
        </label>
      ))}
    </fieldset>
  );
}

/** Create a key: its token is in the answer only, shown once above the table. */
function CreateKeyButton(props: { done: (name: string, token: string) => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['infer']);
  const [rate, setRate] = useState('');
  const [expires, setExpires] = useState('');
  return (
    <ConfirmButton
      label="Create key"
      testId="create-key"
      title="Create an API key?"
      confirm={
        <>
          <p>The token is shown once, when the key is made: copy it then. Only its SHA-256 is kept.</p>
          <div class="fields">
            <label>
              Name (who or what uses it)
              <input data-testid="key-name" value={name} placeholder="checkout-service" onInput={(e) => setName(e.currentTarget.value)} />
            </label>
            <Ticks legend="Scopes (admin implies the others)" options={SCOPES} chosen={scopes} set={setScopes} testId="key-scope" />
            <label>
              Rate limit (requests per window, such as 100/s or 6000/m; empty: the server's default)
              <input data-testid="key-rate" value={rate} placeholder="RATE_LIMIT_DEFAULT" onInput={(e) => setRate(e.currentTarget.value)} />
            </label>
            <label>
              Expires (a lifetime such as 90d, or a date such as 2027-06-30; empty: never)
              <input data-testid="key-expires" value={expires} placeholder="never" onInput={(e) => setExpires(e.currentTarget.value)} />
            </label>
          </div>
        </>
      }
      run={() => {
        if (!name.trim()) return Promise.reject(new Error('Name: give who or what uses the key, such as checkout-service.'));
        if (!scopes.length) return Promise.reject(new Error('Scopes: pick at least one.'));
        const order = SCOPES.filter((x) => scopes.includes(x));
        return post<{ token: string }>('/v1/keys', { name: name.trim(), scopes: order, ...(rate.trim() ? { rate: rate.trim() } : {}), ...(expires.trim() ? { expires: expires.trim() } : {}) });
      }}
      done={(r) => props.done(name.trim(), (r as { token: string }).token)}
    />
  );
}

function Keys() {
  const keys = useLoad((signal) => get<{ keys: Key[]; default_rate?: string | null }>('/v1/keys', { signal }), []);
  const [token, setToken] = useState<{ name: string; token: string }>();
  return (
    <section aria-labelledby="keys-h">
      <h2 id="keys-h">API keys</h2>
      <ErrorNote error={keys.error} />
      {token ? (
        <p class="done" role="status">
          New token for {token.name} (shown once; copy it now): <code data-testid="new-token">{token.token}</code>
        </p>
      ) : null}
      <div class="actions">
        <CreateKeyButton
          done={(name, made) => {
            setToken({ name, token: made });
            keys.reload();
          }}
        />
      </div>
      {!keys.data ? (
        <Loading what="keys" />
      ) : keys.data.keys.length === 0 ? (
        <Empty>
          No API keys yet. Create one here, or with <code>modelgate keys create --name app --scopes infer</code>.
        </Empty>
      ) : (
        <Table head={['Name', 'Token starts', 'Scopes', 'Rate limit', 'Expires', 'Status', 'Last used', 'Actions']} testId="keys-table">
          {keys.data.keys.map((k) => (
            <tr key={k.id}>
              <th scope="row">{k.name}</th>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>{k.scopes.join(', ')}</td>
              <td>{k.rate_limit ?? (keys.data?.default_rate ? `default (${keys.data.default_rate})` : 'none (no default set)')}</td>
              <td>{k.expires_at ? fmt.time(k.expires_at) : 'never'}</td>
              <td>{oldTokenUntil(k) ? `${k.status}, old token until ${fmt.time(oldTokenUntil(k))}` : k.status}</td>
              <td>{fmt.time(k.last_used_at)}</td>
              <td class="row-actions">
                {k.status === 'active' ? (
                  <>
                    <ConfirmButton
                      label="Rotate"
                      title={`Rotate the key ${k.name}?`}
                      confirm={<p>A new token is made for {k.name}; the current one keeps working for 24 hours so callers can switch.</p>}
                      run={() => post<{ token: string }>(`/v1/keys/${enc(k.id)}/rotate`, {})}
                      done={(r) => {
                        setToken({ name: k.name, token: (r as { token: string }).token });
                        keys.reload();
                      }}
                    />
                    <ConfirmButton
                      label="Revoke"
                      danger
                      title={`Revoke the key ${k.name}?`}
                      confirm={<p>Every request with a token of {k.name} is refused from now on (401), on every replica within a reload interval. This cannot be undone.</p>}
                      run={() => del(`/v1/keys/${enc(k.id)}`)}
                      done={() => keys.reload()}
                    />
                  </>
                ) : null}
              </td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

/** Subscribe a receiver: its signing secret is in the answer only, shown once above the table. */
function AddWebhookButton(props: { done: (url: string, reply: { secret?: string; already?: boolean }) => void }) {
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>([]);
  return (
    <ConfirmButton
      label="Add webhook"
      testId="add-webhook"
      title="Subscribe a receiver to events?"
      confirm={
        <>
          <p>Each event is POSTed to the URL, signed with a secret shown once, when the receiver is added: give it to the receiver then. Failed deliveries are retried, then kept as dead letters.</p>
          <div class="fields">
            <label>
              URL (https://, reachable from the servers)
              <input data-testid="webhook-url" value={url} placeholder="https://hooks.example.com/modelgate" onInput={(e) => setUrl(e.currentTarget.value)} />
            </label>
            <Ticks legend="Events (none ticked: every event)" options={EVENT_TYPES} chosen={events} set={setEvents} testId="webhook-event" />
          </div>
        </>
      }
      run={() => {
        if (!url.trim()) return Promise.reject(new Error('URL: give the address the receiver listens on, such as https://hooks.example.com/modelgate.'));
        const chosen = EVENT_TYPES.filter((x) => events.includes(x));
        return post<{ secret?: string; already?: boolean }>('/v1/webhooks', { url: url.trim(), ...(chosen.length ? { events: chosen } : {}) });
      }}
      done={(r) => props.done(url.trim(), r as { secret?: string; already?: boolean })}
    />
  );
}

function Webhooks() {
  const subs = useLoad((signal) => get<{ subscriptions: Subscription[]; dead_letters: number }>('/v1/webhooks', { signal }), []);
  const [status, setStatus] = useState('');
  const deliveries = useLoad((signal) => get<{ deliveries: Delivery[] }>(`/v1/webhooks/deliveries${q({ status, limit: 50 })}`, { signal }), [status]);
  const [open, setOpen] = useState<string>();
  const [secret, setSecret] = useState<{ url: string; secret: string; until: string | null }>();
  const [note, setNote] = useState<string>();
  const now = new Date().toISOString();
  return (
    <section aria-labelledby="hooks-h">
      <h2 id="hooks-h">Webhooks</h2>
      <ErrorNote error={subs.error ?? deliveries.error} />
      {secret ? (
        <p class="done" role="status">
          New signing secret for {secret.url} (shown once; give it to the receiver): <code data-testid="new-secret">{secret.secret}</code>
          {secret.until ? ` Deliveries carry the old secret's signature too until ${fmt.time(secret.until)}.` : null}
        </p>
      ) : note ? (
        <p class="done" role="status">
          {note}
        </p>
      ) : null}
      <div class="actions">
        <AddWebhookButton
          done={(url, r) => {
            if (r.secret) setSecret({ url, secret: r.secret, until: null });
            else {
              setSecret(undefined);
              setNote(`${url} is subscribed to these events already; its secret was shown when it was added (Rotate secret makes a new one).`);
            }
            subs.reload();
          }}
        />
      </div>
      {subs.data && subs.data.subscriptions.length === 0 ? (
        <Empty>
          No subscriptions. Add one here, or with <code>modelgate webhooks add --url https://… --events rollout.rolled_back</code>.
        </Empty>
      ) : subs.data ? (
        <Table head={['URL', 'Events', 'Status', 'Since', 'Actions']} testId="webhooks-table">
          {subs.data.subscriptions.map((s) => (
            <tr key={s.id}>
              <td>{s.url}</td>
              <td>{s.events.join(', ')}</td>
              <td>
                {s.enabled ? (s.refused ? `enabled, but refused by this server: ${s.refused}` : 'enabled') : `disabled: ${s.disabled_reason ?? 'no reason recorded'}`}
                {s.previous_secret_valid_until && s.previous_secret_valid_until > now ? ` (old secret signs too until ${fmt.time(s.previous_secret_valid_until)})` : null}
              </td>
              <td>{fmt.time(s.created_at)}</td>
              <td class="row-actions">
                <button
                  type="button"
                  onClick={() => {
                    setSecret(undefined);
                    setNote(`Sending a test event to ${s.url}…`);
                    post<TestResult>(`/v1/webhooks/${enc(s.id)}/test`, {}).then(
                      (r) => setNote(testNote(r)),
                      (e: Error) => setNote(`The test event was not sent: ${e.message}`),
                    );
                  }}
                >
                  Send test
                </button>
                {s.enabled ? null : (
                  <ConfirmButton
                    label="Enable"
                    title={`Send to ${s.url} again?`}
                    confirm={
                      <p>Events from now on are delivered to it, signed with its secret as before. Those while it was disabled are not sent. Send it a test first if you are not sure it is back.</p>
                    }
                    run={() => post(`/v1/webhooks/${enc(s.id)}/enable`, {})}
                    done={() => {
                      setSecret(undefined);
                      setNote(`${s.url} is enabled: events from now on are delivered to it.`);
                      subs.reload();
                    }}
                  />
                )}
                <ConfirmButton
                  label="Rotate secret"
                  title={`Rotate the signing secret of ${s.url}?`}
                  confirm={<p>A new secret is made and shown once. For 24 hours each delivery is signed with the old and the new secret, so the receiver can switch to the new one meanwhile.</p>}
                  run={() => post<{ secret: string; previous_secret_valid_until: string | null }>(`/v1/webhooks/${enc(s.id)}/rotate-secret`, {})}
                  done={(r) => {
                    const rotated = r as { secret: string; previous_secret_valid_until: string | null };
                    setSecret({ url: s.url, secret: rotated.secret, until: rotated.previous_secret_valid_until });
                    subs.reload();
                  }}
                />
                <ConfirmButton
                  label="Remove"
                  danger
                  title={`Remove the webhook ${s.url}?`}
                  confirm={<p>No more events are sent to {s.url}; deliveries still pending to it are cancelled.</p>}
                  run={() => del(`/v1/webhooks/${enc(s.id)}`)}
                  done={() => {
                    setSecret(undefined);
                    setNote(`${s.url} is removed.`);
                    subs.reload();
                    deliveries.reload();
                  }}
                />
              </td>
            </tr>
          ))}
        </Table>
      ) : null}
      <h3>Deliveries</h3>
      <div class="toolbar">
        <label>
          Show{' '}
          <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            <option value="">all recent</option>
            <option value="pending">pending</option>
            <option value="delivered">delivered</option>
            <option value="dead">dead letters</option>
          </select>
        </label>
        {subs.data && subs.data.dead_letters > 0 ? (
          <ConfirmButton
            label={`Retry ${subs.data.dead_letters} dead letters`}
            title="Retry every dead letter?"
            confirm={<p>{subs.data.dead_letters} deliveries that ran out of retries are queued again with their event ids and bodies, signed anew (receivers deduplicate by event id).</p>}
            run={() => post('/v1/webhooks/retry-dlq', {})}
            done={() => {
              subs.reload();
              deliveries.reload();
            }}
          />
        ) : null}
      </div>
      {deliveries.data && deliveries.data.deliveries.length === 0 ? (
        <p class="empty">No deliveries{status ? ` with status ${status}` : ''}.</p>
      ) : deliveries.data ? (
        <Table head={['Event', 'Receiver', 'Status', 'Attempts', 'Last answer', 'Updated', '']} testId="deliveries-table">
          {deliveries.data.deliveries.map((d) => (
            <Fragment key={d.id}>
              <tr>
                <td>{d.type}</td>
                <td>{d.url ?? `removed (${d.subscription_id})`}</td>
                <td>{d.status}</td>
                <td>{d.attempts}</td>
                <td>{d.last_error ?? d.last_status ?? '—'}</td>
                <td>{fmt.time(d.updated_at)}</td>
                <td class="row-actions">
                  <button type="button" aria-expanded={open === d.id} onClick={() => setOpen(open === d.id ? undefined : d.id)}>
                    {open === d.id ? 'Hide attempts' : 'Attempts'}
                  </button>
                  {d.status !== 'pending' && d.url ? (
                    <ConfirmButton
                      label="Redeliver"
                      title={`Send this ${d.type} event to ${d.url} again?`}
                      confirm={
                        <p>
                          It is queued again with the same event id (webhook-id) and body, signed anew; it is now {d.status} after {d.attempts} attempt{d.attempts === 1 ? '' : 's'}. A receiver that
                          deduplicates by event id takes it as seen already.
                        </p>
                      }
                      run={() => post(`/v1/webhooks/deliveries/${enc(d.id)}/redeliver`, {})}
                      done={() => {
                        setSecret(undefined);
                        setNote(`The ${d.type} event is queued for ${d.url} again.`);
                        subs.reload();
                        deliveries.reload();
                      }}
                    />
                  ) : null}
                </td>
              </tr>
              {open === d.id ? <DeliveryHistory id={d.id} columns={7} /> : null}
            </Fragment>
          ))}
        </Table>
      ) : null}
    </section>
  );
}

export function AccessPage() {
  return (
    <main>
      <h1>Access and webhooks</h1>
      <Keys />
      <Webhooks />
    </main>
  );
}
