import { useState } from 'preact/hooks';
import { ApiError, enc, get, getText, post, q } from '../api.js';
import { Empty, ErrorNote, Loading, saveAs } from '../components/common.js';
import { useLoad } from '../load.js';
import { History, ReportView } from '../report/report-view.js';
import type { Report, ReportSummary } from '../report/types.js';
import { href } from '../router.js';
import { isAdmin, useSession } from '../session.js';

/** Save a stored report as its self-contained HTML file. */
async function downloadHtml(model: string, id: string): Promise<void> {
  const html = await getText(`/v1/monitoring/${enc(model)}/reports/${enc(id)}.html`);
  saveAs(html, `${model}-report-${id}.html`, 'text/html');
}

export function MonitoringPage({ name }: { name: string }) {
  const admin = isAdmin(useSession());
  const latest = useLoad(
    (signal) =>
      get<Report>(`/v1/monitoring/${enc(name)}/latest`, { signal }).catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 404 && e.code === 'NOT_FOUND') return null;
        throw e;
      }),
    [name],
  );
  const history = useLoad((signal) => get<{ reports: ReportSummary[] }>(`/v1/monitoring/${enc(name)}/history${q({ limit: 30, metrics: 'true' })}`, { signal }), [name]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [window, setWindow] = useState('24h');
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await post(`/v1/monitoring/${enc(name)}/run`, { window });
      latest.reload();
      history.reload();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  const lastId = history.data?.reports[0]?.id;
  return (
    <main>
      <h1>Monitoring: {name}</h1>
      <nav class="subnav" aria-label={`${name} pages`}>
        <a href={href('models', name)}>Model</a>
        <a href={href('rollout', name)}>Rollout</a>
        <a href={href('decisions', name)}>Decisions</a>
      </nav>
      <div class="toolbar">
        {admin ? (
          <>
            <label>
              Window{' '}
              <select value={window} onChange={(e) => setWindow((e.target as HTMLSelectElement).value)}>
                <option value="1h">1 hour</option>
                <option value="24h">24 hours</option>
                <option value="7d">7 days</option>
              </select>
            </label>
            <button type="button" class="primary" onClick={() => void run()} disabled={busy} data-testid="run-report">
              {busy ? 'Running…' : 'Run a report now'}
            </button>
          </>
        ) : null}
        {lastId ? (
          <button type="button" onClick={() => void downloadHtml(name, lastId).catch((e: unknown) => setError(e as Error))} data-testid="download-html">
            Download as HTML
          </button>
        ) : null}
      </div>
      <ErrorNote error={error ?? latest.error} />
      {latest.data === undefined ? (
        latest.loading && <Loading what="the latest report" />
      ) : latest.data === null ? (
        <Empty>
          No monitoring report for {name} yet. {admin ? 'Run one now with the button above, ' : 'Ask an admin to run one, '}or with <code>modelgate monitor --model {name}</code>; the server also runs
          one every MONITOR_INTERVAL.
        </Empty>
      ) : (
        <>
          {latest.data.alerts.some((a) => a.name === 'retrain_recommended' && a.firing) ? (
            <p class="warn-text" data-testid="retrain-hint">
              This report recommends retraining. The model page's{' '}
              <a href={href('models', name)} data-testid="retrain-link">
                Retraining
              </a>{' '}
              section retrains now, or sets a plan that does it when a scheduled report recommends it, and lists the runs.
            </p>
          ) : null}
          <ReportView report={latest.data} />
        </>
      )}
      {history.data && history.data.reports.length > 1 ? <History history={history.data.reports} /> : null}
    </main>
  );
}
