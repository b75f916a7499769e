import { useState } from 'preact/hooks';
import { enc, get, getText, q } from '../api.js';
import { Empty, ErrorNote, fmt, Loading, Table, saveAs } from '../components/common.js';
import { useLoad } from '../load.js';
import { href } from '../router.js';

interface Prediction {
  id: string;
  at: string;
  model: string;
  version: number;
  arm: string;
  event_id: string | null;
  score: number | null;
  decision: string;
  latency_ms: number;
  cached: boolean;
  /** The real outcome fed back (binary 0/1, the class, or the value), null while none is. */
  outcome: number | string | null;
}

interface Filter {
  from: string;
  to: string;
  decision: string;
  version: string;
  /** production, canary, pinned or shadow; '' for all. */
  arm: string;
  event_id: string;
  /** Newest first (what an operator looking into what just happened wants), or oldest first. */
  order: 'newest' | 'oldest';
}

const EMPTY: Filter = { from: '', to: '', decision: '', version: '', arm: '', event_id: '', order: 'newest' };
const PAGE = 50;

/** A datetime-local value as an ISO time (the browser's zone), or undefined when blank. */
const iso = (local: string): string | undefined => (local ? new Date(local).toISOString() : undefined);

/** What the console reads of the production version: its task and the policy whose decisions it orders. */
interface Serving {
  task: string;
  policy: { type: string; below?: string; above?: string; bands?: { decision: string }[] };
}

/** Decisions in the order the policy gives them (bands low to high, a threshold's below then above); others after, by name. */
function byPolicy(policy: Serving['policy'] | undefined) {
  const order = policy?.type === 'bands' ? (policy.bands ?? []).map((b) => b.decision) : policy?.type === 'threshold' ? [policy.below, policy.above] : [];
  const rank = (d: string) => {
    const i = order.indexOf(d);
    return i < 0 ? order.length : i;
  };
  return (a: { decision: string }, b: { decision: string }) => rank(a.decision) - rank(b.decision) || a.decision.localeCompare(b.decision);
}

function Distribution({ model, policy }: { model: string; policy?: Serving['policy'] }) {
  const [window, setWindow] = useState('24h');
  const d = useLoad(
    (signal) => get<{ total: number; decisions: { decision: string; count: number; rate: number }[] }>(`/v1/models/${enc(model)}/decisions${q({ window })}`, { signal }),
    [model, window],
  );
  return (
    <section aria-labelledby="dist-h">
      <h2 id="dist-h">Decisions in the last {window === '24h' ? '24 hours' : '7 days'}</h2>
      <div class="toolbar" role="group" aria-label="window">
        <button type="button" aria-pressed={window === '24h'} onClick={() => setWindow('24h')}>
          24 h
        </button>
        <button type="button" aria-pressed={window === '7d'} onClick={() => setWindow('7d')}>
          7 d
        </button>
      </div>
      <ErrorNote error={d.error} />
      {d.data && d.data.total === 0 ? (
        <p class="empty">No predictions in this window.</p>
      ) : d.data ? (
        <ul class="bars" data-testid="decision-distribution">
          {[...d.data.decisions].sort(byPolicy(policy)).map((x) => (
            <li key={x.decision}>
              <span class="bar-label">{x.decision}</span>
              <meter min={0} max={1} value={x.rate} aria-label={`${x.decision} share`} />
              <span>
                {fmt.pct(x.rate)} ({x.count})
              </span>
            </li>
          ))}
        </ul>
      ) : (
        <Loading what="decisions" />
      )}
    </section>
  );
}

export function DecisionsPage({ name }: { name?: string }) {
  const models = useLoad((signal) => get<{ models: { name: string; aliases: Record<string, number> }[] }>('/v1/models', { signal }), []);
  // Without a model in the address: the first that serves (has production), else the first.
  const list = models.data?.models;
  const model = name ?? (list?.find((m) => m.aliases.production !== undefined) ?? list?.[0])?.name;
  const production = list?.find((m) => m.name === model)?.aliases.production;
  const serving = useLoad(
    (signal) => (model && production !== undefined ? get<Serving>(`/v1/models/${enc(model)}/versions/${production}`, { signal }) : Promise.resolve(undefined)),
    [model, production],
  );
  const [draft, setDraft] = useState<Filter>(EMPTY);
  const [filter, setFilter] = useState<Filter>(EMPTY);
  /** Cursors of the pages before this one (the API pages forward by keyset cursor). */
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const query = (f: Filter) => ({ model, from: iso(f.from), to: iso(f.to), decision: f.decision, version: f.version, arm: f.arm, event_id: f.event_id });
  const page = useLoad(
    (signal) =>
      model
        ? get<{ predictions: Prediction[]; next_cursor: string | null }>(`/v1/predictions${q({ ...query(filter), order: filter.order, limit: PAGE, cursor })}`, { signal })
        : Promise.resolve(undefined),
    [model, JSON.stringify(filter), cursor],
  );
  const [exporting, setExporting] = useState(false);
  const [error, setError] = useState<Error>();
  const exportCsv = async () => {
    setExporting(true);
    setError(undefined);
    try {
      const csv = await getText(`/v1/predictions.csv${q(query(filter))}`);
      saveAs(csv, `${model}-predictions.csv`, 'text/csv');
    } catch (e) {
      setError(e as Error);
    } finally {
      setExporting(false);
    }
  };
  const field = (k: keyof Filter, label: string, type = 'text') => (
    <label>
      {label}
      <input type={type} value={draft[k]} onInput={(e) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value })} />
    </label>
  );
  if (!model)
    return (
      <main>
        <h1>Decisions</h1>
        {models.data ? <Empty>No models registered yet.</Empty> : <Loading what="models" />}
      </main>
    );
  return (
    <main>
      <h1>Decisions: {model}</h1>
      <nav class="subnav" aria-label="models">
        <label>
          Model{' '}
          <select value={model} onChange={(e) => (location.hash = href('decisions', (e.target as HTMLSelectElement).value))}>
            {(models.data?.models ?? [{ name: model }]).slice(0, 1000).map((m) => (
              <option key={m.name}>{m.name}</option>
            ))}
          </select>
        </label>
        <a href={href('models', model)}>Model</a>
        <a href={href('monitoring', model)}>Monitoring</a>
      </nav>
      <Distribution model={model} policy={serving.data?.policy} />
      <section aria-labelledby="log-h">
        <h2 id="log-h">Audit log</h2>
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            setFilter(draft);
            setCursors([undefined]);
          }}
        >
          {field('from', 'From', 'datetime-local')}
          {field('to', 'To', 'datetime-local')}
          {field('decision', 'Decision')}
          {field('version', 'Version')}
          {field('event_id', 'Event id')}
          <label>
            Arm
            <select value={draft.arm} onChange={(e) => setDraft({ ...draft, arm: (e.target as HTMLSelectElement).value })} data-testid="arm-filter">
              <option value="">All</option>
              <option value="production">production</option>
              <option value="canary">canary</option>
              <option value="pinned">pinned</option>
              <option value="shadow">shadow (never returned)</option>
            </select>
          </label>
          <label>
            Order
            <select value={draft.order} onChange={(e) => setDraft({ ...draft, order: (e.target as HTMLSelectElement).value as Filter['order'] })}>
              <option value="newest">Newest first</option>
              <option value="oldest">Oldest first</option>
            </select>
          </label>
          <button type="submit" class="primary">
            Search
          </button>
          <button type="button" onClick={() => void exportCsv()} disabled={exporting} data-testid="export-csv">
            {exporting ? 'Exporting…' : 'Export CSV'}
          </button>
        </form>
        <ErrorNote error={error ?? page.error} />
        {page.data && page.data.predictions.length === 0 ? (
          <p class="empty">No predictions match. Predictions appear here once the model serves requests with AUDIT_LOG on.</p>
        ) : page.data ? (
          <Table head={['When', 'Version', 'Arm', 'Event id', serving.data?.task === 'regression' ? 'Value' : 'Score', 'Decision', 'Outcome', 'ms']} testId="predictions-table">
            {page.data.predictions.map((p) => (
              <tr key={p.id}>
                <td>{fmt.time(p.at)}</td>
                <td>v{p.version}</td>
                <td>{p.arm}</td>
                <td>{p.event_id ?? '—'}</td>
                <td>{fmt.num(p.score, 4)}</td>
                <td>{p.decision}</td>
                <td>{typeof p.outcome === 'number' ? fmt.num(p.outcome, 4) : (p.outcome ?? '—')}</td>
                <td>{fmt.num(p.latency_ms, 2)}</td>
              </tr>
            ))}
          </Table>
        ) : (
          page.loading && <Loading what="predictions" />
        )}
        <nav class="pager" aria-label="audit log pages">
          <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
            Previous
          </button>
          <span>Page {cursors.length}</span>
          <button type="button" disabled={!page.data?.next_cursor} onClick={() => page.data?.next_cursor && setCursors([...cursors, page.data.next_cursor])}>
            Next
          </button>
        </nav>
      </section>
    </main>
  );
}
