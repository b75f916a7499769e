import { AppError } from '../lib/errors.js';
import type { Clock } from '../lib/clock.js';
import type { RegistryService } from '../registry/index.js';
import { runMonitor, type Report } from './monitor.js';
import type { EmitEvent } from '../webhooks/index.js';
import type { MonitoringStore, StoredReportSummary } from './store.js';

export interface MonitoringServiceDeps {
  store: MonitoringStore;
  registry: Pick<RegistryService, 'getModel' | 'getVersion' | 'listModels'>;
  clock: Clock;
  /** Told about every stored report. */
  onReport?: (report: Report, id: string) => void;
  /** Webhook outbox: monitor.report and alert transitions, written with the report. */
  emit?: EmitEvent;
  /** MONITOR_MIN_ROWS / MONITOR_MIN_LABELS: data a window needs before its flags may fire. */
  minRows?: number;
  minLabels?: number;
}

/** Runs and stores monitoring reports; the production version of a model is the one judged. */
export function createMonitoringService(deps: MonitoringServiceDeps) {
  const { store, registry, clock } = deps;

  async function run(model: string, windowMs: number, opts: { version?: number; onProgress?: (rows: number) => void } = {}): Promise<{ id: string; report: Report }> {
    const m = await registry.getModel(model);
    const version = opts.version ?? m.aliases.production;
    if (version === undefined) throw new AppError('CONFLICT', `model ${model} has no production version to monitor; promote one, or pass a version`, { model });
    const v = await registry.getVersion(model, version);
    const now = clock.now();
    const report = await runMonitor(store, {
      model,
      target: { version, contract: v.contract, policy: v.policy, reference: v.manifest.reference ?? null, metrics: v.manifest.metrics, training: v.manifest.training },
      from: new Date(now.getTime() - windowMs),
      to: now,
      now,
      onProgress: opts.onProgress,
      minRows: deps.minRows,
      minLabels: deps.minLabels,
    });
    const id = await store.saveReport(
      {
        model,
        version,
        createdAt: report.generated_at,
        from: report.window.from,
        to: report.window.to,
        predictions: report.predictions,
        alertsFiring: report.alerts.filter((a) => a.firing).map((a) => a.name),
        alerts: report.alerts,
        report,
      },
      deps.emit,
    );
    deps.onReport?.(report, id);
    return { id, report };
  }

  /** Models with a production version (the ones a scheduled run covers). */
  async function monitoredModels(): Promise<string[]> {
    const models = await registry.listModels();
    return models.filter((m) => m.aliases.production !== undefined).map((m) => m.name);
  }

  /** Report summaries, newest first; with `withMetrics` each carries its report's headline numbers. */
  async function history(model: string, limit: number, before?: { at: string; id: string }, withMetrics = false): Promise<StoredReportSummary[]> {
    const rows = await store.history(model, limit, before, withMetrics);
    return withMetrics ? rows.map(({ report, ...row }) => ({ ...row, metrics: headlineMetrics(report as Report) })) : rows;
  }

  /** A stored report of `model` by id; NOT_FOUND when that model has none with the id. */
  async function report(model: string, id: string): Promise<Report> {
    const r = (await store.reportById(id)) as Report | undefined;
    if (!r || r.model !== model) throw new AppError('NOT_FOUND', `no report ${id} for ${model}`, { model });
    return r;
  }

  return { run, monitoredModels, latest: store.latestReport, history, report };
}

/** The numbers a chart over time follows: drift, prediction drift, action rate and outcomes. */
export function headlineMetrics(r: Report): Record<string, number | null> {
  const psis = r.features.map((f) => f.psi).filter((v): v is number => v !== null);
  return {
    worst_feature_psi: psis.length ? Math.max(...psis) : null,
    drifted_share: r.drifted_share,
    prediction_psi: r.prediction_drift.psi,
    action_rate: r.action_rate.window,
    roc_auc: r.performance.roc_auc,
    accuracy: r.performance.accuracy,
    mae: r.performance.mae,
    label_coverage: r.performance.label_coverage,
  };
}

export type MonitoringService = ReturnType<typeof createMonitoringService>;
