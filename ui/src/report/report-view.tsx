import { useState } from 'preact/hooks';
import { BarsChart, LinesChart } from '../components/charts.js';
import { fmt, Table } from '../components/common.js';
import type { FeatureDrift, Report, ReportSummary } from './types.js';

/** Drifted features first, then by PSI, largest first (features without a PSI last). */
export const driftOrder = (features: FeatureDrift[]): FeatureDrift[] =>
  [...features].sort((a, b) => Number(b.drifted) - Number(a.drifted) || (b.psi ?? -1) - (a.psi ?? -1) || a.name.localeCompare(b.name));

const OUTCOME_NAMES: Record<string, string> = {
  roc_auc: 'ROC AUC',
  pr_auc: 'PR AUC',
  mean_score: 'Mean score',
  positive_rate: 'Positive rate',
  f1: 'F1',
  precision: 'Precision',
  recall: 'Recall',
  brier: 'Brier score',
  log_loss: 'Log loss',
  realized_profit: 'Realised profit',
  reported_value: 'Reported value',
  mae: 'MAE',
  rmse: 'RMSE',
  r2: 'R²',
  accuracy: 'Accuracy',
  macro_f1: 'Macro F1',
};

function Alerts({ report }: { report: Report }) {
  const alerts = [...report.alerts].sort((a, b) => Number(b.firing) - Number(a.firing));
  return (
    <section aria-labelledby="alerts-h">
      <h3 id="alerts-h">Alerts</h3>
      <Table head={['Alert', 'State', 'Value', 'Threshold', 'Rule']}>
        {alerts.map((a) => (
          <tr key={a.name} class={a.firing ? 'firing' : ''}>
            <th scope="row">{a.name}</th>
            <td>{a.firing ? <span class="badge bad">firing</span> : <span class="badge ok">ok</span>}</td>
            <td>{fmt.num(a.value)}</td>
            <td>{fmt.num(a.threshold)}</td>
            <td>{a.detail}</td>
          </tr>
        ))}
      </Table>
    </section>
  );
}

function Features({ features, selected, select }: { features: FeatureDrift[]; selected: string | undefined; select: (n: string) => void }) {
  return (
    <section aria-labelledby="features-h">
      <h3 id="features-h">
        Feature drift ({features.filter((f) => f.drifted).length} of {features.length} drifted)
      </h3>
      <Table head={['Feature', 'Type', 'PSI', 'KS', 'KS p-value', 'JS distance', 'Missing (change)', 'Drifted']} testId="feature-table">
        {features.map((f) => (
          <tr key={f.name} class={f.drifted ? 'firing' : ''} aria-selected={f.name === selected}>
            <th scope="row">
              <button type="button" class="link" onClick={() => select(f.name)} title="show its distribution">
                {f.name}
              </button>
            </th>
            <td>{f.type}</td>
            <td>{fmt.num(f.psi)}</td>
            <td>{fmt.num(f.ks_statistic)}</td>
            <td>{fmt.p(f.ks_p_value)}</td>
            <td>{fmt.num(f.js_distance)}</td>
            <td>
              {fmt.pct(f.missing_rate)} ({f.missing_rate_change === null ? '—' : `${f.missing_rate_change >= 0 ? '+' : ''}${fmt.pct(f.missing_rate_change)}`})
            </td>
            <td>{f.drifted ? <span class="badge bad">drifted</span> : <span class="badge ok">no</span>}</td>
          </tr>
        ))}
      </Table>
    </section>
  );
}

function Distribution({ feature }: { feature: FeatureDrift }) {
  const d = feature.distribution;
  return (
    <section aria-labelledby="dist-h">
      <h3 id="dist-h">
        Distribution of <span data-testid="distribution-feature">{feature.name}</span>: reference vs window
      </h3>
      {!d ? (
        <p class="empty">This report was made before distributions were stored; run a new report to see them.</p>
      ) : (
        <div class="split">
          <BarsChart
            labels={d.bins}
            series={[
              { name: 'reference', values: d.reference },
              { name: 'window', values: d.window },
            ]}
            label={`Share of values per bin of ${feature.name}, reference and window`}
          />
          <Table head={['Bin', 'Reference', 'Window']}>
            {d.bins.map((b, i) => (
              <tr key={b}>
                <th scope="row">{b}</th>
                <td>{fmt.pct(d.reference[i])}</td>
                <td>{fmt.pct(d.window[i])}</td>
              </tr>
            ))}
          </Table>
        </div>
      )}
      {feature.unseen_categories?.length ? <p>Values the reference never had: {feature.unseen_categories.map((u) => `${u.value} (${u.count})`).join(', ')}</p> : null}
    </section>
  );
}

function Outcomes({ report }: { report: Report }) {
  const p = report.performance;
  const rows = Object.entries(OUTCOME_NAMES).filter(([k]) => typeof p[k] === 'number');
  return (
    <section aria-labelledby="outcomes-h">
      <h3 id="outcomes-h">Outcomes from feedback</h3>
      <p>
        {p.labelled} labelled predictions (coverage {fmt.pct(p.label_coverage)}).
      </p>
      {rows.length === 0 ? (
        <p class="empty">No outcome metrics yet: send real outcomes to POST /v1/feedback with the predictions' event ids.</p>
      ) : (
        <dl class="metrics">
          {rows.map(([k, name]) => (
            <div key={k}>
              <dt>{name}</dt>
              <dd>{fmt.num(p[k] as number)}</dd>
            </div>
          ))}
        </dl>
      )}
    </section>
  );
}

function PredictionDrift({ report }: { report: Report }) {
  const pd = report.prediction_drift;
  const ar = report.action_rate;
  return (
    <section aria-labelledby="pred-h">
      <h3 id="pred-h">Prediction drift</h3>
      <dl class="metrics">
        <div>
          <dt>PSI of the {pd.basis.replace('_', ' ')}</dt>
          <dd>{fmt.num(pd.psi)}</dd>
        </div>
        {ar.decisions.length ? (
          <div>
            <dt>Action rate ({ar.decisions.join(', ')})</dt>
            <dd>
              {fmt.pct(ar.window)}{' '}
              <small>
                reference {fmt.pct(ar.reference)}, 7 days {fmt.pct(ar.trailing_7d)}
              </small>
            </dd>
          </div>
        ) : null}
      </dl>
      {pd.class_mix ? (
        <Table head={['Class', 'Reference', 'Window']}>
          {pd.class_mix.map((c) => (
            <tr key={c.class}>
              <th scope="row">{c.class}</th>
              <td>{fmt.pct(c.reference)}</td>
              <td>{fmt.pct(c.window)}</td>
            </tr>
          ))}
        </Table>
      ) : null}
    </section>
  );
}

/** Headline numbers of past reports, oldest first, as lines. */
export function History({ history }: { history: ReportSummary[] }) {
  const rows = [...history].filter((h) => h.metrics).reverse();
  if (rows.length < 2) return <p class="empty">History appears once there are two reports or more.</p>;
  const times = rows.map((h) => Date.parse(h.created_at) / 1000);
  const line = (k: string) => rows.map((h) => h.metrics?.[k] ?? null);
  const outcome = ['roc_auc', 'accuracy', 'mae'].filter((k) => rows.some((h) => typeof h.metrics?.[k] === 'number'));
  return (
    <section aria-labelledby="history-h">
      <h3 id="history-h">History ({rows.length} reports)</h3>
      <LinesChart
        times={times}
        series={[
          { name: 'worst feature PSI', values: line('worst_feature_psi') },
          { name: 'prediction PSI', values: line('prediction_psi') },
        ]}
        label="Worst feature PSI and prediction PSI over time"
      />
      {outcome.length ? (
        <LinesChart times={times} series={outcome.map((k) => ({ name: OUTCOME_NAMES[k] ?? k, values: line(k) }))} unit={!outcome.includes('mae')} label="Outcome metrics over time" />
      ) : null}
    </section>
  );
}

/** A monitoring report: the console's Monitoring page and the self-contained HTML report show the same. */
export function ReportView({ report }: { report: Report }) {
  const features = driftOrder(report.features);
  // Until someone picks a feature, the chart follows the most drifted one of the report shown.
  const [selected, setSelected] = useState<string>();
  const feature = features.find((f) => f.name === selected) ?? features[0];
  return (
    <div class="report">
      <p class="meta">
        {report.model} version {report.version} · window {fmt.time(report.window.from)} to {fmt.time(report.window.to)} · {report.predictions} predictions · made {fmt.time(report.generated_at)}
      </p>
      {report.sufficiency.message ? <p class="note">{report.sufficiency.message}</p> : null}
      {/* The reason says it (reports before 2026-12-07 say only "no reference profile"). */}
      {!report.reference.available ? <p class="note">{report.reference.reason}</p> : null}
      <Alerts report={report} />
      {features.length ? <Features features={features} selected={feature?.name} select={setSelected} /> : <p class="empty">No feature drift in this report (see the notes below).</p>}
      {feature ? <Distribution feature={feature} /> : null}
      <PredictionDrift report={report} />
      <Outcomes report={report} />
      {report.notes.length ? (
        <section aria-labelledby="notes-h">
          <h3 id="notes-h">Notes</h3>
          <ul>
            {report.notes.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        </section>
      ) : null}
    </div>
  );
}
