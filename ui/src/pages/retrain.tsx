import { useEffect, useState } from 'preact/hooks';
import { formatDuration } from '../../../src/lib/duration.js';
import { runActor, runWhy } from '../../../src/retrain/describe-run.js';
import type { RetrainPlan as Plan } from '../../../src/retrain/plan.js';
import { del, enc, get, post, put } from '../api.js';
import { ConfirmButton, ErrorNote, fmt, Loading, Table, warningsOf } from '../components/common.js';
import { useLoad } from '../load.js';
import { parseSteps } from './canary-actions.js';

interface Run {
  id: string;
  trigger: string;
  status: string;
  from_version: number | null;
  candidate_version: number | null;
  started_at: string;
  finished_at: string | null;
  detail: unknown;
}

interface RetrainStatus {
  plan: Plan | null;
  runs: Run[];
}

/** A run's outcome in words (its status is the API's word for it). */
const OUTCOME: Record<string, string> = {
  running: 'training',
  registered: 'registered',
  canary_started: 'registered, canary started',
  gated_out: 'gated out',
  unchanged: 'nothing new',
  failed: 'failed',
  interrupted: 'interrupted',
  lost: 'lost',
};

function describePlan(p: Plan): string {
  const canary = p.canary_steps.length ? `, then sent out as a canary (${p.canary_steps.join(' → ')} %${p.step_interval ? `, at least ${p.step_interval} a step` : ''})` : ' (no canary)';
  const drop = p.max_metric_drop > 0 ? `its main metric is at most ${p.max_metric_drop} below production's` : "it is at least as good as production on the new data's held-out rows";
  return `When a scheduled monitoring report recommends retraining, production is trained again on ${p.data}; the candidate is registered if it passes its gates and ${drop}${canary}. At most once every ${formatDuration(p.min_interval_ms)}.`;
}

/** Set or change the plan: the fields start from the plan there is, if any. */
function SetPlanButton(props: { model: string; plan: Plan | null; done: (what: string) => void }) {
  const { model, plan } = props;
  const [data, setData] = useState(plan?.data ?? '');
  const [steps, setSteps] = useState(plan?.canary_steps.join(', ') ?? '');
  const [stepInterval, setStepInterval] = useState(plan?.step_interval ?? '');
  const [minInterval, setMinInterval] = useState(plan ? formatDuration(plan.min_interval_ms) : '7d');
  const [drop, setDrop] = useState(plan ? String(plan.max_metric_drop) : '0');
  return (
    <ConfirmButton
      label={plan ? 'Change plan' : 'Set a plan'}
      testId="retrain-plan-set"
      title={`${plan ? 'Change' : 'Set'} the retrain plan of ${model}?`}
      confirm={
        <>
          <p>
            When a scheduled monitoring report recommends retraining (more than half of the features drifted, or the outcome metric 5 % worse than in training), the monitor's leader trains production
            again from its own run record on the data below, and registers the candidate only if it passes its gates.
          </p>
          <div class="fields">
            <label>
              Training data (an absolute path the servers can read, or s3://bucket/key)
              <input data-testid="retrain-data" value={data} placeholder="s3://lake/churn/latest.csv" onInput={(e) => setData(e.currentTarget.value)} />
            </label>
            <label>
              Canary steps (% of requests; empty: register only)
              <input data-testid="retrain-steps" value={steps} placeholder="10, 50, 100" onInput={(e) => setSteps(e.currentTarget.value)} />
            </label>
            <label>
              Each canary step lasts at least
              <input data-testid="retrain-step-interval" value={stepInterval} placeholder="the server's CANARY_STEP_INTERVAL" onInput={(e) => setStepInterval(e.currentTarget.value)} />
            </label>
            <label>
              At most one retrain every
              <input data-testid="retrain-min-interval" value={minInterval} onInput={(e) => setMinInterval(e.currentTarget.value)} />
            </label>
            <label>
              Main metric may be below production's by
              <input data-testid="retrain-drop" value={drop} inputMode="decimal" onInput={(e) => setDrop(e.currentTarget.value)} />
            </label>
          </div>
        </>
      }
      run={() => {
        const maxDrop = Number(drop.trim() || '0');
        if (!Number.isFinite(maxDrop)) return Promise.reject(new Error(`Main metric drop: "${drop}" is not a number; give 0, or a small one such as 0.01.`));
        const body = {
          data: data.trim(),
          ...(steps.trim() ? { canary_steps: parseSteps(steps) } : {}),
          ...(stepInterval.trim() ? { step_interval: stepInterval.trim() } : {}),
          min_interval: minInterval.trim() || '7d',
          max_metric_drop: maxDrop,
        };
        return put<{ warnings?: string[] }>(`/v1/models/${enc(model)}/retrain`, body);
      }}
      done={(r) => props.done(`The retrain plan of ${model} is set.${warningsOf(r)}`)}
    />
  );
}

/** Retrain production now, on this server's training thread; the run shows in the list below as it goes. */
function RetrainNowButton(props: { model: string; plan: Plan | null; done: (what: string) => void }) {
  const { model, plan } = props;
  const [data, setData] = useState(plan?.data ?? '');
  const [steps, setSteps] = useState('');
  const [sameData, setSameData] = useState(false);
  return (
    <ConfirmButton
      label="Retrain now"
      testId="retrain-now"
      title={`Retrain ${model} now?`}
      confirm={
        <>
          <p>
            Production is trained again from its own run record on the data below, on this server's training thread (it goes on answering requests), and compared with production on the new data's
            held-out rows; the candidate is registered only if it passes its gates. The run shows below as it goes. On data production (or an earlier retrain of it) was trained on already, nothing is
            trained, unless asked.
          </p>
          <div class="fields">
            <label>
              Training data (an absolute path on the server, or s3://bucket/key)
              <input data-testid="retrain-now-data" value={data} placeholder="s3://lake/churn/latest.csv" onInput={(e) => setData(e.currentTarget.value)} />
            </label>
            <label>
              Canary steps for the candidate (% of requests; empty: register only)
              <input data-testid="retrain-now-steps" value={steps} placeholder="10, 50, 100" onInput={(e) => setSteps(e.currentTarget.value)} />
            </label>
            <label class="check">
              <input type="checkbox" data-testid="retrain-now-same" checked={sameData} onChange={(e) => setSameData(e.currentTarget.checked)} />
              Train even on data it was trained on (after an upgrade of the trainer)
            </label>
          </div>
        </>
      }
      run={() => post(`/v1/models/${enc(model)}/retrain/runs`, { data: data.trim(), ...(steps.trim() ? { canary_steps: parseSteps(steps) } : {}), ...(sameData ? { same_data: true } : {}) })}
      done={() => props.done(`Retraining ${model} on ${data.trim()}: the run is listed below until it ends.`)}
    />
  );
}

/** The model's retrain plan and its recent runs (planned and by hand); admins set, change or remove the plan. */
export function RetrainSection(props: { model: string; admin: boolean }) {
  const { model, admin } = props;
  const [watching, setWatching] = useState(false);
  // Refreshed while a run goes on (one started here, or by the plan or a CLI), so its end shows.
  const r = useLoad((signal) => get<RetrainStatus>(`/v1/models/${enc(model)}/retrain`, { signal }), [model], watching ? 2000 : undefined);
  const runningNow = r.data?.runs.some((run) => run.status === 'running') ?? false;
  useEffect(() => setWatching(runningNow), [runningNow]);
  const [done, setDone] = useState<string>();
  const after = (what: string) => {
    setDone(what);
    r.reload();
  };
  if (r.error && !r.data)
    return (
      <section aria-labelledby="retrain-h">
        <h2 id="retrain-h">Retraining</h2>
        <ErrorNote error={r.error} />
      </section>
    );
  if (!r.data) return <Loading what="the retrain plan" />;
  const { plan, runs } = r.data;
  return (
    <section aria-labelledby="retrain-h" data-testid="retrain">
      <h2 id="retrain-h">Retraining</h2>
      {done ? (
        <p class="done" role="status">
          {done}
        </p>
      ) : null}
      {plan ? (
        <p data-testid="retrain-plan">
          {describePlan(plan)}{' '}
          <span class="muted">
            Set by {plan.created_by}, {fmt.time(plan.created_at)}.
          </span>
        </p>
      ) : (
        <p class="empty" data-testid="retrain-plan">
          No retrain plan: retraining is by hand (<code>modelgate retrain --model {model} --data FILE</code>). A plan retrains production when monitoring recommends it.
        </p>
      )}
      {admin ? (
        <div class="toolbar">
          <RetrainNowButton key={`now-${plan?.data ?? ''}`} model={model} plan={plan} done={after} />
          <SetPlanButton key={plan?.created_at ?? 'none'} model={model} plan={plan} done={after} />
          {plan ? (
            <ConfirmButton
              label="Remove plan"
              danger
              testId="retrain-plan-remove"
              title={`Remove the retrain plan of ${model}?`}
              confirm={<p>Retraining of {model} becomes by hand only. The runs below stay listed.</p>}
              run={() => del(`/v1/models/${enc(model)}/retrain`)}
              done={() => after(`The retrain plan of ${model} is removed.`)}
            />
          ) : null}
        </div>
      ) : null}
      {runs.length === 0 ? (
        <p class="empty">No retrain has run yet.</p>
      ) : (
        <Table head={['Started', 'By', 'Outcome', 'Versions', 'Why']} testId="retrain-runs">
          {runs.map((run) => (
            <tr key={run.id} data-status={run.status}>
              <td>{fmt.time(run.started_at)}</td>
              <td>{run.trigger === 'monitor' ? 'the plan' : (runActor(run.detail) ?? 'hand')}</td>
              <td>{OUTCOME[run.status] ?? run.status}</td>
              <td>
                {run.from_version !== null ? `from v${run.from_version}` : '—'}
                {run.candidate_version !== null ? ` → v${run.candidate_version}` : ''}
              </td>
              <td>{runWhy(run.detail) || <span class="muted">—</span>}</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}
