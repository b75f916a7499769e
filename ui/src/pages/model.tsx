import { useState } from 'preact/hooks';
import { compareDecisions } from '../../../src/inference/decision-sets.js';
import { enc, get, post } from '../api.js';
import { ConfirmButton, ErrorNote, fmt, Loading, Table, warningsOf } from '../components/common.js';
import { useLoad } from '../load.js';
import { href } from '../router.js';
import { isAdmin, useSession } from '../session.js';
import { RegisterVersionButton } from './register.js';
import { StartCanaryButton } from './canary-actions.js';
import { RetrainSection } from './retrain.js';
import { SlotsSection, ToSlotButton } from './slots.js';
import { MAIN_METRIC_WORDS, type MainMetric } from '../../../src/lib/main-metric.js';

interface VersionRow {
  version: number;
  status: string;
  task: string;
  description: string | null;
  aliases: string[];
  created_at: string;
  created_by: string;
  size_bytes: number;
  engine: { engine: string; reason?: string; memory_bytes: number | null } | null;
  held_out: { metric: MainMetric; value: number } | null;
  /** What its policy decides; null for a class policy (its decisions are the classes). */
  decisions: string[] | null;
  /** What requests made for production meet in it (features they lack or send as another kind); null when nothing. */
  inputs_unlike_production: string | null;
}

/**
 * Said in a dialog before a version answers production's clients: one whose policy decides other
 * things gives them decisions they were never given (a version trained with the default policy
 * against a banded production, say).
 */
export function decisionNote(v: VersionRow | undefined, production: VersionRow | undefined): string | undefined {
  const mine = v?.decisions;
  const theirs = production?.decisions;
  if (!v || !production || !mine || !theirs || v.version === production.version) return undefined;
  const differ = compareDecisions(mine, theirs);
  if (!differ) return undefined;
  return `Version ${v.version} decides ${mine.join(', ')}; production (version ${production.version}) decides ${theirs.join(', ')}: ${
    differ.added.length ? 'the clients it answers get decisions they were never given' : `the clients it answers never get ${differ.missing.join(', ')}`
  }. modelgate policy set gives it production's policy as a new version.`;
}

interface ModelDetail {
  name: string;
  description: string | null;
  aliases: Record<string, number>;
  versions: VersionRow[];
  alias_history: { alias: string; version: number | null; previous_version: number | null; action: string; actor: string; at: string }[];
  /** Per alias (each of `aliases`), the version a rollback would go back to; null when there is none. */
  rollback_to: Record<string, number | null>;
}

interface VersionDetail {
  version: number;
  policy: Record<string, unknown>;
  metrics: Record<string, number>;
  manifest: Record<string, unknown>;
}

function VersionPanel({ model, version }: { model: string; version: number }) {
  const v = useLoad((signal) => get<VersionDetail>(`/v1/models/${enc(model)}/versions/${version}`, { signal }), [model, version]);
  if (v.error) return <ErrorNote error={v.error} />;
  if (!v.data) return <Loading what={`version ${version}`} />;
  const metrics = Object.entries(v.data.metrics);
  return (
    <section aria-labelledby="version-h" class="panel">
      <h2 id="version-h">Version {version}</h2>
      <h3>Policy</h3>
      <pre>{JSON.stringify(v.data.policy, null, 2)}</pre>
      <h3>Metrics</h3>
      {metrics.length ? (
        <dl class="metrics">
          {metrics.map(([k, val]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{fmt.num(val)}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p class="empty">No metrics were registered with this version.</p>
      )}
      <details>
        <summary>Manifest</summary>
        <pre>{JSON.stringify(v.data.manifest, null, 2)}</pre>
      </details>
    </section>
  );
}

export function ModelPage({ name }: { name: string }) {
  const session = useSession();
  const admin = isAdmin(session);
  const m = useLoad((signal) => get<ModelDetail>(`/v1/models/${enc(name)}`, { signal }), [name]);
  const [open, setOpen] = useState<number>();
  const [done, setDone] = useState<string>();
  const after = (what: string) => () => {
    setDone(what);
    m.reload();
  };
  if (m.error && !m.data)
    return (
      <main>
        <h1>{name}</h1>
        <ErrorNote error={m.error} />
      </main>
    );
  if (!m.data)
    return (
      <main>
        <h1>{name}</h1>
        <Loading what="the model" />
      </main>
    );
  const d = m.data;
  const production = d.aliases.production;
  const rollbackTo = d.rollback_to.production;
  // The model's own description is what its first version brought; what serves is what an operator asks about.
  const serving = d.versions.find((v) => v.version === production);
  // Said before a version answers production's clients: inputs they do not send first, then decisions they were never given.
  const unlike = (v: VersionRow) => [v.inputs_unlike_production && `Version ${v.version} ${v.inputs_unlike_production}.`, decisionNote(v, serving)].filter(Boolean).join(' ') || undefined;
  return (
    <main>
      <h1>{d.name}</h1>
      {serving?.description ? (
        <p>
          Production v{serving.version}: {serving.description}
        </p>
      ) : d.description ? (
        <p>{d.description}</p>
      ) : null}
      <nav class="subnav" aria-label={`${d.name} pages`}>
        <a href={href('rollout', d.name)}>Rollout</a>
        <a href={href('monitoring', d.name)}>Monitoring</a>
        <a href={href('decisions', d.name)}>Decisions</a>
      </nav>
      {done ? (
        <p class="done" role="status">
          {done}
        </p>
      ) : null}
      <ErrorNote error={m.error} />
      <h2>Versions</h2>
      {admin ? (
        <div class="actions">
          <RegisterVersionButton model={d.name} done={(what) => after(what)()} />
        </div>
      ) : null}
      <Table head={['Version', 'Status', 'Aliases', 'Decides', 'Held out', 'Engine', 'Description', 'Registered', ...(admin ? ['Actions'] : [])]} testId="versions-table">
        {d.versions.map((v) => (
          <tr key={v.version} data-version={v.version}>
            <th scope="row">
              <button type="button" class="link" onClick={() => setOpen(open === v.version ? undefined : v.version)} aria-expanded={open === v.version}>
                v{v.version}
              </button>
            </th>
            <td>{v.status}</td>
            <td>{v.aliases.join(', ') || '—'}</td>
            <td title={v.decisions?.join(', ')}>
              {v.decisions ? v.decisions.length > 4 ? `${v.decisions.slice(0, 3).join(', ')} … (${v.decisions.length})` : v.decisions.join(', ') : <span class="muted">its classes</span>}
            </td>
            <td title="the main metric on the rows held out in training, as the version records it">
              {v.held_out ? `${MAIN_METRIC_WORDS[v.held_out.metric]} ${v.held_out.value.toFixed(4)}` : <span class="muted">—</span>}
            </td>
            <td title={v.engine?.reason ?? ''}>{v.engine ? `${v.engine.engine}${v.engine.reason ? ' (see why)' : ''}` : <span class="muted">not loaded yet</span>}</td>
            <td>{v.description ?? <span class="muted">—</span>}</td>
            <td>
              {fmt.time(v.created_at)} by {v.created_by}
            </td>
            {admin ? (
              <td class="row-actions">
                {v.status !== 'archived' && production !== v.version ? (
                  <ConfirmButton
                    label="Promote"
                    testId={`promote-${v.version}`}
                    title={`Promote ${d.name} v${v.version} to production?`}
                    confirm={
                      <p>
                        Production of <strong>{d.name}</strong> moves from {production !== undefined ? `version ${production}` : 'nothing'} to <strong>version {v.version}</strong>. Every request
                        without a pinned version is answered by version {v.version} within a reload interval. A running canary is completed or refused by the server.
                        {unlike(v) ? <strong class="warn-text"> {unlike(v)}</strong> : null}
                      </p>
                    }
                    // The dialog said what production's clients meet in it: confirming is accepting new inputs (the server refuses a version sharing none without it).
                    run={() =>
                      post(`/v1/models/${enc(d.name)}/promote`, {
                        version: v.version,
                        target: 'production',
                        ...(production !== undefined ? { from_version: production } : {}),
                        ...(unlike(v) ? { accept_new_inputs: true } : {}),
                      })
                    }
                    done={(r) => after(`Version ${v.version} of ${d.name} is now production.${warningsOf(r)}`)()}
                  />
                ) : null}
                {v.status !== 'archived' && production !== undefined && production !== v.version ? (
                  <StartCanaryButton model={d.name} version={v.version} production={production} task={v.task} note={unlike(v)} done={(what) => after(what)()} />
                ) : null}
                {v.status !== 'archived' && production !== undefined && production !== v.version ? (
                  <ConfirmButton
                    label="Shadow"
                    testId={`shadow-${v.version}`}
                    title={`Shadow production of ${d.name} with v${v.version}?`}
                    confirm={
                      <p>
                        Version {v.version} scores a copy of every request production (version {production}) answers, off the request path, and is compared with it answer for answer; callers keep
                        production's answers. A shadow of another version running now is replaced. Watch it, and stop it, on the Rollout page; a smaller share:{' '}
                        <code>
                          modelgate shadow start --model {d.name} --version {v.version} --percent 10
                        </code>
                        .
                      </p>
                    }
                    run={() => post('/v1/shadow', { model: d.name, version: v.version })}
                    done={after(`Version ${v.version} of ${d.name} shadows production; its agreement shows on the Rollout page.`)}
                  />
                ) : null}
                {v.status !== 'archived' ? <ToSlotButton model={d.name} version={v.version} aliases={d.aliases} done={(what) => after(what)()} /> : null}
                {v.status === 'archived' ? (
                  <ConfirmButton
                    label="Restore"
                    testId={`restore-${v.version}`}
                    title={`Restore ${d.name} v${v.version}?`}
                    confirm={
                      <p>
                        Version {v.version} of {d.name} becomes active again: it can be promoted, rolled back to, and served to pinned requests. Nothing serves it until then.
                      </p>
                    }
                    run={() => post(`/v1/models/${enc(d.name)}/promote`, { version: v.version, target: 'active' })}
                    done={after(`Version ${v.version} of ${d.name} is active again.`)}
                  />
                ) : null}
                {v.status !== 'archived' && v.aliases.length === 0 ? (
                  <ConfirmButton
                    label="Archive"
                    danger
                    testId={`archive-${v.version}`}
                    title={`Archive ${d.name} v${v.version}?`}
                    confirm={
                      <p>
                        Version {v.version} of {d.name} will no longer be servable or promotable until it is marked active again. Its files and history stay.
                      </p>
                    }
                    run={() => post(`/v1/models/${enc(d.name)}/promote`, { version: v.version, target: 'archived' })}
                    done={after(`Version ${v.version} of ${d.name} is archived.`)}
                  />
                ) : null}
              </td>
            ) : null}
          </tr>
        ))}
      </Table>
      {admin && production !== undefined ? (
        rollbackTo === null ? (
          <p class="muted" data-testid="no-rollback">
            Production has no earlier version to roll back to; promote a version instead.
          </p>
        ) : d.versions.some((v) => v.version === rollbackTo && v.status === 'archived') ? (
          <p class="muted" data-testid="no-rollback">
            A rollback of production would go back to version {rollbackTo}, which is archived: restore it first, or promote a version instead.
          </p>
        ) : (
          <p>
            <ConfirmButton
              label="Roll back production"
              danger
              testId="rollback"
              title={`Roll back production of ${d.name}?`}
              confirm={
                <p>
                  Production of {d.name} goes back from version {production} to <strong>version {rollbackTo}</strong>. The alias history keeps both moves.
                </p>
              }
              run={() => post(`/v1/models/${enc(d.name)}/rollback`, { version: production })}
              done={after(`Production of ${d.name} rolled back.`)}
            />
          </p>
        )
      ) : null}
      <SlotsSection
        model={d.name}
        aliases={d.aliases}
        rollbackTo={d.rollback_to}
        admin={admin}
        note={(version) => unlike(d.versions.find((x) => x.version === version)!)}
        done={(what) => after(what)()}
      />
      {open !== undefined ? <VersionPanel model={d.name} version={open} /> : null}
      <RetrainSection model={d.name} admin={admin} />
      <h2>Alias history</h2>
      {d.alias_history.length === 0 ? (
        <p class="empty">No alias has moved yet.</p>
      ) : (
        <Table head={['When', 'Alias', 'Change', 'By']}>
          {d.alias_history.map((h, i) => (
            <tr key={i}>
              <td>{fmt.time(h.at)}</td>
              <td>{h.alias}</td>
              <td>
                {h.action}: {h.previous_version !== null ? `v${h.previous_version} → ` : ''}
                {h.version !== null ? `v${h.version}` : 'none'}
              </td>
              <td>{h.actor}</td>
            </tr>
          ))}
        </Table>
      )}
    </main>
  );
}
