import type { MonitorGauges } from './job.js';
import type { Report } from './monitor.js';

interface GaugeLike {
  set(labels: Record<string, string>, value: number): void;
  remove(labels: Record<string, string>): void;
}

export interface MonitorMetrics {
  featurePsi: GaugeLike;
  predictionPsi: GaugeLike;
  driftedShare: GaugeLike;
  rocAuc: GaugeLike;
  brier: GaugeLike;
  mae: GaugeLike;
  accuracy: GaugeLike;
  actionRate: GaugeLike;
  actionRate7d: GaugeLike;
  realizedProfit: GaugeLike;
  lastRun: GaugeLike;
  alert: GaugeLike;
  runs: { inc(labels: { result: string }): void };
  duration: { observe(seconds: number): void };
}

/** Reports to Prometheus gauges. A value the report lacks (null) removes the series rather than exporting NaN. */
export function monitorGauges(m: MonitorMetrics): MonitorGauges {
  const put = (g: GaugeLike, labels: Record<string, string>, v: number | null) => (v === null ? g.remove(labels) : g.set(labels, v));
  const featuresShown = new Map<string, Set<string>>();
  const versionShown = new Map<string, string>();
  return {
    show(r: Report) {
      const model = r.model;
      const now = new Set(r.features.map((f) => f.name));
      for (const old of featuresShown.get(model) ?? []) if (!now.has(old)) m.featurePsi.remove({ model, feature: old });
      featuresShown.set(model, now);
      // Too little data: no value rather than a huge one from a handful of rows.
      const drift = r.sufficiency?.drift.sufficient ?? true;
      // Feature drift also needs enough predictions whose features were logged (AUDIT_FEATURES=full).
      const featureDrift = drift && (r.sufficiency?.drift.features_sufficient ?? true);
      const outcomes = r.sufficiency?.outcomes.sufficient ?? true;
      for (const f of r.features) put(m.featurePsi, { model, feature: f.name }, featureDrift ? f.psi : null);
      put(m.predictionPsi, { model }, drift ? r.prediction_drift.psi : null);
      put(m.driftedShare, { model }, featureDrift ? r.drifted_share : null);
      const version = String(r.version);
      const before = versionShown.get(model);
      if (before && before !== version) {
        m.rocAuc.remove({ model, version: before });
        m.brier.remove({ model, version: before });
        m.mae.remove({ model, version: before });
        m.accuracy.remove({ model, version: before });
      }
      versionShown.set(model, version);
      put(m.rocAuc, { model, version }, outcomes ? r.performance.roc_auc : null);
      put(m.brier, { model, version }, outcomes ? r.performance.brier : null);
      put(m.mae, { model, version }, outcomes ? (r.performance.mae ?? null) : null);
      put(m.accuracy, { model, version }, outcomes ? (r.performance.accuracy ?? null) : null);
      put(m.actionRate, { model }, r.action_rate.window);
      put(m.actionRate7d, { model }, r.action_rate.trailing_7d);
      put(m.realizedProfit, { model }, outcomes ? r.performance.realized_profit : null);
      put(m.lastRun, { model }, Date.parse(r.generated_at) / 1000);
      for (const a of r.alerts) m.alert.set({ model, alert: a.name }, a.firing ? 1 : 0);
    },
    run(result, seconds) {
      m.runs.inc({ result });
      if (result !== 'follower') m.duration.observe(seconds);
    },
  };
}
