import { useState } from 'preact/hooks';
import { get, enc, q } from '../api.js';
import { Empty, ErrorNote, Loading, usePaged, Table } from '../components/common.js';
import { useLoad } from '../load.js';
import { href } from '../router.js';
import { isAdmin, useSession } from '../session.js';
import { RegisterVersionButton } from './register.js';
import type { ReportSummary } from '../report/types.js';

interface ModelRow {
  name: string;
  description: string | null;
  task: string | null;
  latest_version: number | null;
  version_count: number;
  aliases: Record<string, number>;
  production_engine: { engine: string; reason?: string } | null;
}

export interface RolloutRow {
  model: string;
  target: string;
  canary_version: number | null;
  canary_percent: number;
  step: number | null;
  steps: number[];
  shadow_version: number | null;
  shadow_percent: number;
}

const PAGE = 25;

/** Alert flags of the models on the page shown (one small request each, only for the rows in view). */
function AlertFlags({ model }: { model: string }) {
  const r = useLoad((signal) => get<{ reports: ReportSummary[] }>(`/v1/monitoring/${enc(model)}/history${q({ limit: 1 })}`, { signal }), [model]);
  const last = r.data?.reports[0];
  if (!r.data) return <span class="muted">…</span>;
  if (!last) return <span class="muted">no report</span>;
  return last.alerts_firing.length ? (
    <span class="badge bad" title={`report of ${last.created_at}`}>
      {last.alerts_firing.join(', ')}
    </span>
  ) : (
    <span class="badge ok">none</span>
  );
}

function canaryText(r: RolloutRow | undefined): string {
  if (!r) return '—';
  const parts: string[] = [];
  if (r.canary_version !== null) parts.push(`v${r.canary_version} at ${r.canary_percent}%${r.steps.length ? ` (step ${r.step} of ${r.steps.length})` : ''}`);
  if (r.shadow_version !== null) parts.push(`shadow v${r.shadow_version} at ${r.shadow_percent}%`);
  return parts.join('; ') || '—';
}

export function ModelsPage() {
  const [filter, setFilter] = useState('');
  const models = useLoad((signal) => get<{ total: number; models: ModelRow[] }>('/v1/models', { signal }), []);
  const rollouts = useLoad((signal) => get<{ rollouts: RolloutRow[] }>('/v1/canary', { signal }), [], 5000);
  const byModel = new Map((rollouts.data?.rollouts ?? []).map((r) => [r.model, r]));
  const all = (models.data?.models ?? []).filter((m) => m.name.toLowerCase().includes(filter.trim().toLowerCase()));
  const { shown, pager } = usePaged(all, PAGE);
  const admin = isAdmin(useSession());
  const [done, setDone] = useState<{ what: string; model: string }>();
  return (
    <main>
      <h1>Models</h1>
      {done ? (
        <p class="done" role="status">
          {done.what} <a href={href('models', done.model)}>Open {done.model}</a>
        </p>
      ) : null}
      {admin ? (
        <div class="actions">
          <RegisterVersionButton
            done={(what, model) => {
              setDone({ what, model });
              models.reload();
            }}
          />
        </div>
      ) : null}
      <ErrorNote error={models.error} />
      {!models.data ? (
        models.loading && <Loading what="models" />
      ) : models.data.models.length === 0 ? (
        <Empty>
          No models registered yet. Train and register one with <code>modelgate train</code> and <code>modelgate register</code>
          {admin ? ', register an ONNX file here' : ''}, or run <code>npm run demo</code>.
        </Empty>
      ) : (
        <>
          <label class="filter">
            Find a model <input type="search" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
          </label>
          <Table head={['Model', 'Task', 'Production', 'Slots', 'Canary / shadow', 'Engine', 'Alerts (last report)']} testId="models-table">
            {shown.map((m) => {
              const slots = Object.entries(m.aliases).filter(([a]) => a !== 'production');
              return (
                <tr key={m.name}>
                  <th scope="row">
                    <a href={href('models', m.name)}>{m.name}</a>
                  </th>
                  <td>{m.task ?? '—'}</td>
                  <td>{m.aliases.production !== undefined ? `v${m.aliases.production}` : <span class="muted">none</span>}</td>
                  <td>{slots.length ? slots.map(([a, v]) => `${a}: v${v}`).join(', ') : '—'}</td>
                  <td>{byModel.has(m.name) ? <a href={href('rollout', m.name)}>{canaryText(byModel.get(m.name))}</a> : '—'}</td>
                  <td title={m.production_engine?.reason ?? ''}>{m.production_engine?.engine ?? (m.aliases.production !== undefined ? <span class="muted">not loaded yet</span> : '—')}</td>
                  <td>
                    <AlertFlags model={m.name} />
                  </td>
                </tr>
              );
            })}
          </Table>
          {pager}
        </>
      )}
    </main>
  );
}
