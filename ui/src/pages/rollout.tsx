import { useState } from 'preact/hooks';
import { describeEnding, describeRolloutEvent, type RolloutEvent } from '../../../src/rollout/describe-event.js';
import { describeRules, type RulesShown } from '../../../src/rollout/describe-rules.js';
import type { ArmOutcomes, ShadowComparison } from '../../../src/rollout/shadow-view.js';
import { enc, get, post, q } from '../api.js';
import { ConfirmButton, Empty, ErrorNote, fmt, Loading, Table, warningsOf } from '../components/common.js';
import { useLoad } from '../load.js';
import { href } from '../router.js';
import { isAdmin, useSession } from '../session.js';
import { SetPercentButton } from './canary-actions.js';

interface Arm {
  version: number | null;
  requests: number;
  scored: number;
  errors: number;
  error_rate: number;
  p50_ms: number | null;
  p95_ms: number | null;
  decision_rates: Record<string, number>;
  mean_score: number | null;
}

interface Status {
  model: string;
  target: string;
  production_version: number | null;
  canary_version: number | null;
  canary_percent: number;
  steps: number[];
  step: number | null;
  step_interval: string;
  step_started_at: string | null;
  min_requests: number;
  auto_promote: boolean;
  analysis: RulesShown;
  started_at: string | null;
  started_by: string | null;
  arms: { production: Arm; canary: Arm } | null;
  verdict: { status: string; reason?: string; checks: { metric: string; observed: number; threshold: number; passed: boolean; detail: string }[] } | null;
  shadow: (Arm & ShadowComparison) | null;
  outcomes: { production: ArmOutcomes; canary: ArmOutcomes; judged: boolean; reason?: string } | null;
  /** Decisions the canary or shadow gives that production never does, with what to run. */
  warnings: string[];
  /** With no canary running: how the last one ended (promoted, rolled back, stopped); null when none has run. */
  last_canary: RolloutEvent | null;
}

type OutcomeMetric = keyof ArmOutcomes['standard_errors'];

const OUTCOME_COLUMNS: [OutcomeMetric, string, (v: number | null) => string, (se: number) => string][] = [
  ['accuracy', 'Accuracy', (v) => fmt.pct(v), (se) => `${(se * 100).toFixed(1)} pts`],
  ['false_positive_rate', 'False-positive rate', (v) => fmt.pct(v), (se) => `${(se * 100).toFixed(1)} pts`],
  ['roc_auc', 'ROC AUC', (v) => fmt.num(v, 4), (se) => se.toFixed(4)],
  ['mae', 'MAE', (v) => fmt.num(v, 4), (se) => se.toFixed(4)],
];

/** Arms' outcomes from feedback: the canary's and production's, or a shadow's and production's on the same requests. */
function OutcomesTable({ id, title, arms, reason }: { id: string; title: string; arms: (readonly [string, number | null, ArmOutcomes])[]; reason?: string }) {
  // Only the metrics this model's feedback gives (binary, multiclass or regression).
  const columns = OUTCOME_COLUMNS.filter(([k]) => arms.some(([, , o]) => o[k] !== null));
  return (
    <section aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>{title}</h2>
      <Table head={['Arm', 'Version', 'Labelled', ...columns.map(([, label]) => label)]} testId={`${id}-table`}>
        {arms.map(([name, version, o]) => (
          <tr key={name} data-arm={name}>
            <th scope="row">{name}</th>
            <td>{version !== null ? `v${version}` : '—'}</td>
            <td>{o.labelled}</td>
            {columns.map(([k, , show, showSe]) => {
              const se = o.standard_errors?.[k];
              return (
                <td key={k}>
                  {show(o[k])}
                  {o[k] !== null && se !== null && se !== undefined ? <small title="standard error: what chance alone moves it by"> (SE {showSe(se)})</small> : null}
                </td>
              );
            })}
          </tr>
        ))}
      </Table>
      {reason ? <p>{reason}</p> : null}
    </section>
  );
}

interface Rollback {
  canary_version: number;
  production_version: number | null;
  reason: string;
  trigger_metric: string | null;
  observed: number | null;
  threshold: number | null;
  rolled_back_by: string;
  at: string;
}

const REFRESH_MS = 3000;

const DURATION: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** "10m" → ms (the server's step_interval format). */
const durationMs = (s: string): number => {
  const m = /^([0-9.]+)(ms|s|m|h|d)$/.exec(s);
  return m ? Number(m[1]) * DURATION[m[2]] : NaN;
};

function ArmsTable({ arms, shadow }: { arms: Status['arms']; shadow: Status['shadow'] }) {
  const rows: [string, Arm][] = [];
  if (arms) rows.push(['production', arms.production], ['canary', arms.canary]);
  if (shadow) rows.push(['shadow', shadow]);
  const decisions = [...new Set(rows.flatMap(([, a]) => Object.keys(a.decision_rates)))].sort();
  return (
    <Table head={['Arm', 'Version', 'Requests', 'Errors', 'p50 ms', 'p95 ms', ...decisions]} testId="arms-table">
      {rows.map(([name, a]) => (
        <tr key={name} data-arm={name}>
          <th scope="row">{name}</th>
          <td>{a.version !== null ? `v${a.version}` : '—'}</td>
          <td data-testid={`${name}-requests`}>{a.requests}</td>
          <td>
            {a.errors} ({fmt.pct(a.error_rate)})
          </td>
          <td>{fmt.num(a.p50_ms)}</td>
          <td>{fmt.num(a.p95_ms)}</td>
          {decisions.map((d) => (
            <td key={d}>{fmt.pct(a.decision_rates[d] ?? 0)}</td>
          ))}
        </tr>
      ))}
    </Table>
  );
}

function Steps({ s, now }: { s: Status; now: number }) {
  if (!s.steps.length) return <p>Fixed at {s.canary_percent}% (no steps).</p>;
  const next = s.step_started_at ? Date.parse(s.step_started_at) + durationMs(s.step_interval) : NaN;
  const last = (s.step ?? 0) >= s.steps.length;
  // A percent set by hand between steps moves on to the step above it.
  const exact = s.step !== null && s.steps[s.step - 1] === s.canary_percent;
  const where = exact ? `step ${s.step} of ${s.steps.length}` : `set by hand to ${s.canary_percent}% ${s.step === null ? 'before step 1' : `after step ${s.step} of ${s.steps.length}`}`;
  return (
    <p>
      Steps {s.steps.map((p, i) => (exact && i + 1 === s.step ? `[${p}%]` : `${p}%`)).join(' → ')}; {where}, every {s.step_interval}.{' '}
      {last
        ? s.auto_promote
          ? 'Promoted automatically when this step stays healthy.'
          : 'Last step: promote it by hand.'
        : Number.isFinite(next)
          ? `Next step ${next <= now ? 'when the analysis finds it healthy' : `at ${new Date(next).toLocaleTimeString()} if healthy`}.`
          : ''}
    </p>
  );
}

export function RolloutPage({ name }: { name: string }) {
  const admin = isAdmin(useSession());
  const status = useLoad((signal) => get<Status>(`/v1/canary/${enc(name)}`, { signal }), [name], REFRESH_MS);
  const rollbacks = useLoad((signal) => get<{ rollbacks: Rollback[]; total: number }>(`/v1/rollbacks${q({ model: name, limit: 50 })}`, { signal }), [name], REFRESH_MS * 3);
  const events = useLoad((signal) => get<{ events: RolloutEvent[] }>(`/v1/canary/${enc(name)}/events${q({ limit: 50 })}`, { signal }), [name], REFRESH_MS * 3);
  // A message about an action, shown while the canary the page shows is the run it is about (its start time; null: none running, after a stop or promotion).
  const [done, setDone] = useState<{ text: string; run: string | null }>();
  const after =
    (what: string, run: string | null = null) =>
    () => {
      setDone({ text: what, run });
      status.reload();
      rollbacks.reload();
      events.reload();
    };
  const s = status.data;
  return (
    <main>
      <h1>Rollout: {name}</h1>
      <nav class="subnav" aria-label={`${name} pages`}>
        <a href={href('models', name)}>Model</a>
        <a href={href('monitoring', name)}>Monitoring</a>
        <a href={href('decisions', name)}>Decisions</a>
      </nav>
      {/* Not shown over the next canary's page: a stop's message is not about it. */}
      {done && s && (s.canary_version === null ? null : s.started_at) === done.run ? (
        <p class="done" role="status">
          {done.text}
        </p>
      ) : null}
      <ErrorNote error={status.error} />
      {s?.warnings.length ? (
        <ul class="note warnings" data-testid="rollout-warnings">
          {s.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      ) : null}
      {!s ? (
        status.loading && <Loading what="the rollout" />
      ) : (
        <>
          {s.canary_version === null ? (
            <Empty>
              No canary running for {name}; production is {s.production_version !== null ? `version ${s.production_version}` : 'not set'}. Start one from the model page (Canary, on a version's row),
              with <code>modelgate canary start --model {name}</code> or <code>POST /v1/canary</code>.
              {s.last_canary ? <span data-testid="last-canary"> The last one: {describeEnding(s.last_canary, fmt.time(s.last_canary.at))}.</span> : null}
            </Empty>
          ) : (
            <section aria-labelledby="canary-h">
              <h2 id="canary-h">
                Canary v{s.canary_version} at {s.canary_percent}% against {s.target} v{s.production_version}
              </h2>
              <p>
                Started {fmt.time(s.started_at)} by {s.started_by}. Verdict:{' '}
                <span class={`badge ${s.verdict?.status === 'failing' ? 'bad' : s.verdict?.status === 'healthy' ? 'ok' : ''}`} data-testid="verdict">
                  {s.verdict?.status ?? 'waiting'}
                </span>{' '}
                {s.verdict?.reason ?? ''}
              </p>
              <Steps s={s} now={Date.now()} />
              <p data-testid="rules">Rules: {describeRules(s.analysis)}.</p>
              {admin ? (
                <div class="actions">
                  <ConfirmButton
                    label="Stop canary"
                    danger
                    testId="stop-canary"
                    title={`Stop the canary of ${name}?`}
                    confirm={
                      <p>
                        All traffic goes back to {s.target} version {s.production_version}; version {s.canary_version} stops serving. A rollback row records that you stopped it.
                      </p>
                    }
                    run={() => post(`/v1/canary/${enc(name)}/stop`, { reason: 'stopped from the console' })}
                    done={after(`The canary of ${name} is stopped; version ${s.production_version} serves everything.`)}
                  />
                  <ConfirmButton
                    label="Promote canary"
                    testId="promote-canary"
                    title={`Promote the canary of ${name}?`}
                    confirm={
                      <p>
                        {s.target} of {name} moves from version {s.production_version} to version {s.canary_version}, which then serves all traffic. The canary ends.
                      </p>
                    }
                    run={() => post(`/v1/canary/${enc(name)}/promote`, s.canary_version !== null ? { canary_version: s.canary_version } : {})}
                    done={(r) => after(`Version ${s.canary_version} of ${name} is now ${s.target}.${warningsOf(r)}`)()}
                  />
                  <SetPercentButton model={name} canaryVersion={s.canary_version} target={s.target} percent={s.canary_percent} done={(what) => after(what, s.started_at)()} />
                </div>
              ) : null}
              {s.verdict?.checks.length ? (
                <ul class="checks">
                  {s.verdict.checks.map((c) => (
                    <li key={c.metric} class={c.passed ? 'ok' : 'bad'}>
                      {c.passed ? 'passes' : 'fails'}: {c.detail}
                    </li>
                  ))}
                </ul>
              ) : null}
            </section>
          )}
          {s.arms || s.shadow ? (
            <section aria-labelledby="arms-h">
              <h2 id="arms-h">Arms (live, every {REFRESH_MS / 1000} s)</h2>
              <ArmsTable arms={s.arms} shadow={s.shadow} />
              {s.shadow ? (
                <p>
                  Shadow v{s.shadow.version} sees {s.shadow.percent}% of requests; agreement with production v{s.shadow.production_version ?? '?'}{' '}
                  {fmt.pct(s.shadow.decision_agreement ?? s.shadow.label_agreement ?? null)} over {s.shadow.compared} compared since {fmt.time(s.shadow.started_at)}.
                </p>
              ) : null}
              {s.shadow && admin ? (
                <ConfirmButton
                  label="Stop shadow"
                  testId="stop-shadow"
                  title={`Stop the shadow of ${name}?`}
                  confirm={
                    <p>
                      Version {s.shadow.version} stops scoring copies of {name}'s requests. Callers were never answered by it, so nothing changes for them.
                    </p>
                  }
                  run={() => post(`/v1/shadow/${enc(name)}/stop`, {})}
                  done={after(`The shadow of ${name} is stopped.`, s.canary_version === null ? null : s.started_at)}
                />
              ) : null}
            </section>
          ) : null}
          {s.outcomes && s.arms && (s.outcomes.production.labelled > 0 || s.outcomes.canary.labelled > 0 || s.outcomes.reason) ? (
            <OutcomesTable
              id="outcomes"
              title="Outcomes from feedback (since the canary started)"
              arms={[
                ['production', s.arms.production.version, s.outcomes.production],
                ['canary', s.arms.canary.version, s.outcomes.canary],
              ]}
              reason={s.outcomes.reason}
            />
          ) : null}
          {s.shadow?.outcomes && s.shadow.outcomes.shadow.labelled > 0 ? (
            <OutcomesTable
              id="shadow-outcomes"
              title="Shadow outcomes from feedback (the same requests, both versions' answers)"
              arms={[
                ['production', s.shadow.production_version, s.shadow.outcomes.production],
                ['shadow', s.shadow.version, s.shadow.outcomes.shadow],
              ]}
            />
          ) : null}
        </>
      )}
      <section aria-labelledby="rollbacks-h">
        <h2 id="rollbacks-h">Rollbacks</h2>
        <ErrorNote error={rollbacks.error} />
        {rollbacks.data && rollbacks.data.rollbacks.length === 0 ? (
          <p class="empty">No canary of {name} has been rolled back.</p>
        ) : (
          <Table head={['When', 'Canary', 'Back to', 'By', 'Reason']} testId="rollbacks-table">
            {(rollbacks.data?.rollbacks ?? []).map((r, i) => (
              <tr key={i}>
                <td>{fmt.time(r.at)}</td>
                <td>v{r.canary_version}</td>
                <td>{r.production_version !== null ? `v${r.production_version}` : '—'}</td>
                <td>{r.rolled_back_by}</td>
                <td>{r.reason}</td>
              </tr>
            ))}
          </Table>
        )}
      </section>
      <section aria-labelledby="history-h">
        <h2 id="history-h">History</h2>
        <ErrorNote error={events.error} />
        {events.data && events.data.events.length === 0 ? (
          <p class="empty">No canary or shadow of {name} has run yet.</p>
        ) : (
          <Table head={['When', 'What', 'By']} testId="history-table">
            {(events.data?.events ?? []).map((e, i) => (
              <tr key={i}>
                <td>{fmt.time(e.at)}</td>
                <td>{describeRolloutEvent(e)}</td>
                <td>{e.actor}</td>
              </tr>
            ))}
          </Table>
        )}
      </section>
    </main>
  );
}
