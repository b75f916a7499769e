import type { Command } from 'commander';
import { formatDuration, parseWindow } from '../lib/duration.js';
import { writeFileAtomic } from '../lib/files.js';
import { assertOutputFile } from '../lib/user-paths.js';
import type { Report } from '../monitoring/index.js';
import type { RetrainPlan } from '../retrain/index.js';
import { readReportAssets } from '../console/assets.js';
import { renderReportHtml } from '../console/report-html.js';
import { parseVersion, withContext } from './context.js';
import { emit, progress, type OutputOptions } from './output.js';

const fmt = (v: number | null, digits = 3) => (v === null ? '—' : v.toFixed(digits));

/** When the report recommends retraining: what does it, by hand or by the model's plan (which a report made on demand does not start). */
function retrainNext(r: Report, plan: RetrainPlan | null): string[] {
  if (!r.alerts.some((a) => a.name === 'retrain_recommended' && a.firing)) return [];
  return [
    plan
      ? `next: ${r.model}'s retrain plan (on ${plan.data}) runs when a scheduled report recommends retraining, at most every ${formatDuration(plan.min_interval_ms)}; now, by hand: modelgate retrain --model ${r.model} --data ${plan.data}`
      : `next: modelgate retrain --model ${r.model} --data NEW.csv (production trained again on newer data, registered only if it is as good), or a plan that does it when a scheduled report recommends it: modelgate retrain plan set --model ${r.model} --data FILE`,
  ];
}

function summary(r: Report, files: string[], plan: RetrainPlan | null): string {
  // Feature drift reads every prediction of the model; the prediction drift and outcomes only the judged version's.
  const own = r.prediction_drift.window_predictions;
  const lines = [
    `${r.model} version ${r.version}: ${r.predictions.toLocaleString('en-US')} predictions between ${r.window.from} and ${r.window.to}${own !== r.predictions ? ` (${own.toLocaleString('en-US')} by version ${r.version}: its prediction drift and outcomes; feature drift reads them all)` : ''}`,
  ];
  if (r.sufficiency.message) lines.push(r.sufficiency.message);
  if (r.features.length) {
    // As wide as the longest name, so a long one (required_car_parking_spaces) does not push its row's numbers out of their columns.
    const width = Math.max(26, ...r.features.map((f) => f.name.length));
    lines.push('', `${'feature'.padEnd(width)}    PSI      KS     JS  missing`);
    for (const f of [...r.features].sort((a, b) => (b.psi ?? -1) - (a.psi ?? -1))) {
      lines.push(
        `${f.name.padEnd(width)} ${fmt(f.psi).padStart(6)}  ${fmt(f.ks_statistic).padStart(6)} ${fmt(f.js_distance).padStart(6)}  ${fmt(f.missing_rate, 2).padStart(6)}${f.drifted ? '  drifted' : ''}`,
      );
    }
    // As the HTML report says them: a category the reference never had is often the drift's cause.
    const unseen = r.features.filter((f) => f.unseen_categories?.length);
    if (unseen.length) {
      lines.push('', 'values the reference never had:');
      for (const f of unseen)
        lines.push(
          `  ${f.name}: ${f
            .unseen_categories!.slice(0, 5)
            .map((u) => `${JSON.stringify(u.value)} ${u.count.toLocaleString('en-US')}`)
            .join(', ')}${f.unseen_categories!.length > 5 ? ', …' : ''}`,
        );
    }
  }
  const p = r.performance;
  lines.push(
    '',
    `prediction PSI (${r.prediction_drift.basis === 'class_mix' ? 'class mix' : r.prediction_drift.basis}) ${fmt(r.prediction_drift.psi)}; drifted features ${r.drifted_share === null ? '—' : `${Math.round(r.drifted_share * 100)}%`}`,
    ...(r.prediction_drift.class_mix ? [`class mix, reference → window: ${r.prediction_drift.class_mix.map((c) => `${c.class} ${fmt(c.reference, 2)}→${fmt(c.window, 2)}`).join(', ')}`] : []),
    ...(r.action_rate.decisions.length ? [`action rate ${fmt(r.action_rate.window)} (7 days: ${fmt(r.action_rate.trailing_7d)}; reference ${fmt(r.action_rate.reference)})`] : []),
    r.task === 'regression'
      ? `feedback on ${p.labelled} predictions (coverage ${fmt(p.label_coverage)}): MAE ${fmt(p.mae)}, RMSE ${fmt(p.rmse)}, R² ${fmt(p.r2)}`
      : r.task === 'multiclass'
        ? `feedback on ${p.labelled} predictions (coverage ${fmt(p.label_coverage)}): accuracy ${fmt(p.accuracy)}, macro F1 ${fmt(p.macro_f1)}`
        : `feedback on ${p.labelled} predictions (coverage ${fmt(p.label_coverage)}): ROC AUC ${fmt(p.roc_auc)}, PR AUC ${fmt(p.pr_auc)}, F1 ${fmt(p.f1)}, mean score ${fmt(p.mean_score)} against a positive rate of ${fmt(p.positive_rate)}, Brier ${fmt(p.brier)}, log loss ${fmt(p.log_loss)}, profit ${fmt(p.realized_profit, 0)}${p.realized_profit !== null && p.labelled ? ` (${fmt(p.realized_profit / p.labelled, 2)} a prediction)` : ''}`,
    '',
    ...r.alerts.map((a) => `${a.firing ? 'FIRING ' : 'ok     '} ${a.name.padEnd(20)} value ${fmt(a.value)} threshold ${a.threshold}  ${a.detail}`),
    ...r.notes.map((n) => `note: ${n}`),
    ...retrainNext(r, plan),
  );
  for (const f of files) lines.push(`report written to ${f}`);
  return lines.join('\n');
}

export function registerMonitorCommands(program: Command): void {
  program
    .command('monitor')
    .description(
      "Compute a monitoring report for a model's production version from the prediction log: drift against its reference profile, action rate, performance from feedback, alert flags; the report is stored (GET /v1/monitoring/:model/latest)",
    )
    .requiredOption('--model <name>', 'model to monitor')
    .option('--window <duration>', 'how much recent traffic to cover, e.g. 1h, 24h, 7d', '24h')
    .option('--version <n>', 'judge this version instead of production')
    .option('--out <file>', 'also write the report JSON here (atomically)')
    .option('--html <file>', 'also write the report as one self-contained HTML page (charts and tables; opens from disk with no network)')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate monitor --model hotel-cancel\n  modelgate monitor --model hotel-cancel --window 7d --out reports/monitoring/latest_monitoring_report.json --json\n  modelgate monitor --model hotel-cancel --html drift-report.html',
    )
    .action(async (o: OutputOptions & { model: string; window: string; version?: string; out?: string; html?: string }) =>
      withContext(o, async (ctx) => {
        const windowMs = parseWindow(o.window, '--window');
        const version = parseVersion(o.version);
        // Before the report is made and stored, not after.
        if (o.out) assertOutputFile(o.out, '--out', 'report.json');
        if (o.html) assertOutputFile(o.html, '--html', 'report.html');
        // The page's script and styles are read first: a missing build fails before a report is stored.
        const assets = o.html ? await readReportAssets() : undefined;
        progress(`monitoring ${o.model} over the last ${o.window}…`);
        // A line per 100,000 predictions: told every page, it printed 366 lines for a day of 1.8 million.
        let nextLine = 100_000;
        const onProgress = (n: number) => {
          if (n < nextLine) return;
          progress(`  ${n.toLocaleString('en')} predictions read`);
          nextLine = (Math.floor(n / 100_000) + 1) * 100_000;
        };
        const { report } = await ctx.monitoring.run(o.model, windowMs, { version, onProgress });
        if (o.out) await writeFileAtomic(o.out, `${JSON.stringify(report, null, 2)}\n`);
        if (o.html && assets) await writeFileAtomic(o.html, renderReportHtml(report, assets).html);
        const plan = o.json ? null : ((await ctx.retrain.getPlan(o.model)) ?? null);
        emit(o, report, () =>
          summary(
            report,
            [o.out, o.html].filter((f): f is string => !!f),
            plan,
          ),
        );
      }),
    );
}
