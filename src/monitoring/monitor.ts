import type { Policy } from '../inference/index.js';
import { taskOf, type Contract, type Task } from '../inference/index.js';
import { actionDecisions, FeatureAccumulator, referenceCounts } from './profile.js';
import { referenceSchema, type FeatureProfile, type ReferenceProfile } from '../registry/index.js';
import {
  averagePrecision,
  binOfServed,
  finiteOrNull,
  servedTolerance,
  profit,
  type CostMatrix,
  brier,
  classification,
  confusion,
  jsDistance,
  ksFromCounts,
  logLoss,
  multiclassMetrics,
  psi,
  regressionMetrics,
  rocAuc,
} from './statistics.js';
import type { MonitoringStore } from './store.js';

export const REPORT_FORMAT = 'modelgate.report/v1';

/** Alert thresholds (issue #6; also in deploy/prometheus/alerts.yml). */
export const THRESHOLDS = {
  high_psi: 0.2,
  /** PSI of the served scores (values, class mix) against the reference's. */
  prediction_psi: 0.2,
  low_auc: 0.65,
  action_rate_anomaly_pp: 15,
  retrain_drifted_share: 0.5,
  retrain_metric_drop: 0.05,
  /** Regression: window MAE this much above the reference's (0.2 = 20 % higher). */
  mae_rise: 0.2,
  /** Multiclass: window accuracy this many percentage points below the reference's. */
  accuracy_drop_pp: 5,
  /** Binary: the observed positive rate this many times the mean score, or its inverse (and past three standard errors). */
  miscalibration_ratio: 1.5,
} as const;

export type { CostMatrix } from './statistics.js';

/** The version whose traffic is judged: its contract, policy, reference and training record. */
export interface MonitoredVersion {
  version: number;
  contract: Contract;
  policy: Policy;
  reference: unknown;
  metrics?: Record<string, number>;
  training?: Record<string, unknown>;
}

export interface MonitorInput {
  model: string;
  target: MonitoredVersion;
  from: Date;
  to: Date;
  /** Report time (injectable for tests); default now. */
  now?: Date;
  /** Database reads in parallel, each over a slice of the window (default 2). */
  readers?: number;
  /** Told every page of predictions read. */
  onProgress?: (rowsRead: number) => void;
  /** Predictions the window needs before a drift flag may fire (MONITOR_MIN_ROWS). */
  minRows?: number;
  /** Labelled predictions the window needs before an outcome flag may fire (MONITOR_MIN_LABELS). */
  minLabels?: number;
}

export const DEFAULT_MIN_ROWS = 500;
export const DEFAULT_MIN_LABELS = 100;

export interface Alert {
  name: 'high_psi' | 'prediction_drift' | 'low_auc' | 'miscalibrated' | 'mae_rising' | 'low_accuracy' | 'action_rate_anomaly' | 'retrain_recommended';
  firing: boolean;
  value: number | null;
  threshold: number;
  detail: string;
}

export interface FeatureDrift {
  name: string;
  type: 'numeric' | 'categorical';
  count: number;
  psi: number | null;
  ks_statistic: number | null;
  ks_p_value: number | null;
  js_distance: number | null;
  missing_rate: number | null;
  reference_missing_rate: number;
  missing_rate_change: number | null;
  drifted: boolean;
  /** Categorical: values outside the reference's named categories, most frequent first. */
  unseen_categories?: { value: string; count: number }[];
  /**
   * Each bin's share of the present (non-missing) values in the reference and in the window:
   * the reference's value ranges for a number, its named categories and "(other)" for a category.
   */
  distribution: { bins: string[]; reference: number[]; window: number[] };
}

export interface Report {
  format: typeof REPORT_FORMAT;
  model: string;
  version: number;
  generated_at: string;
  window: { from: string; to: string; hours: number };
  predictions: number;
  reference: { available: true; rows: number } | { available: false; reason: string };
  features: FeatureDrift[];
  drifted_share: number | null;
  /** What the model predicts: the outcome metrics and alerts below follow from it. */
  task: Task;
  /**
   * Prediction drift: PSI of the score distribution (binary), of the value distribution
   * (regression), or of the predicted class mix (multiclass, with the mix itself).
   */
  prediction_drift: { psi: number | null; window_predictions: number; basis: 'score' | 'value' | 'class_mix'; class_mix?: { class: string; reference: number; window: number }[] };
  action_rate: { decisions: string[]; window: number | null; trailing_7d: number | null; reference: number | null };
  performance: {
    labelled: number;
    label_coverage: number | null;
    roc_auc: number | null;
    /** Average precision: what a rare positive class is judged by. */
    pr_auc: number | null;
    /** Binary: the mean score of the labelled predictions, and the share of them that were positive: probabilities that match outcomes make the two alike. */
    mean_score: number | null;
    positive_rate: number | null;
    f1: number | null;
    precision: number | null;
    recall: number | null;
    brier: number | null;
    log_loss: number | null;
    realized_profit: number | null;
    cost_matrix: CostMatrix | null;
    /** Sum of the realised values sent with feedback (when callers send them). */
    reported_value: number | null;
    /** Regression: errors of the predicted values against the reported real ones. */
    mae: number | null;
    rmse: number | null;
    r2: number | null;
    /** Multiclass: the predicted class against the reported real one. */
    accuracy: number | null;
    macro_f1: number | null;
    training: Record<string, number>;
  };
  /**
   * Whether the window held enough data to judge: drift flags need `min_rows` predictions,
   * outcome flags `min_labels` labelled ones; below that the flags stay off and say why.
   */
  sufficiency: {
    status: 'ok' | 'insufficient_data';
    /** `features_sufficient`: feature drift flags need `min_rows` predictions whose features were logged (`with_features`). */
    drift: { sufficient: boolean; predictions: number; min_rows: number; with_features: number; features_sufficient: boolean };
    outcomes: { sufficient: boolean; labelled: number; min_labels: number };
    message: string | null;
  };
  alerts: Alert[];
  notes: string[];
}

// Non-finite numbers become null, so no report ever carries NaN or Infinity.
const finite = finiteOrNull;

/** The version's cost matrix, from its training record (either {tp,fp,fn,tn} or the trainer's {truePositive,falsePositive}). */
export function costMatrixOf(training: Record<string, unknown> | undefined): CostMatrix | null {
  const params = (training?.params ?? training) as Record<string, unknown> | undefined;
  const c = (params?.cost_matrix ?? params?.cost) as Record<string, unknown> | undefined;
  if (!c || typeof c !== 'object') return null;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  if (num(c.tp) !== undefined || num(c.fp) !== undefined) return { tp: num(c.tp) ?? 0, fp: num(c.fp) ?? 0, fn: num(c.fn) ?? 0, tn: num(c.tn) ?? 0 };
  if (num(c.truePositive) !== undefined) return { tp: num(c.truePositive)!, fp: num(c.falsePositive) ?? 0, fn: 0, tn: 0 };
  return null;
}

const DAY_MS = 86_400_000;

/** A metric as the alert's words show it: four places (an MAE of thousands keeps its digits: 11445.4069). */
const fmtMetric = (v: number): string => v.toFixed(4);

/** The version's reference profile, or why there is none (also said in a note). */
function readReference(target: MonitoredVersion, notes: string[]): { reference: ReferenceProfile } | { reference: undefined; missing: string } {
  const parsed = target.reference == null ? undefined : referenceSchema.safeParse(target.reference);
  if (parsed?.success) return { reference: parsed.data };
  const missing =
    target.reference == null
      ? `version ${target.version} has no reference profile: register it with --reference CSV to get drift numbers`
      : `version ${target.version}'s reference profile is not in the modelgate.reference/v1 format; drift is not computed`;
  notes.push(missing);
  return { reference: undefined, missing };
}

/** What one pass over the window's logged predictions counted. */
interface WindowScan {
  accs: Map<string, FeatureAccumulator>;
  scoreCounts: number[];
  classCounts: number[];
  refClasses: ReferenceProfile['classes'];
  total: number;
  ofVersion: number;
  /** Predictions whose payload was logged (AUDIT_FEATURES=full); feature drift is measured on these. */
  withFeatures: number;
}

/** Read the window's predictions once, binning every monitored feature, the scores and the predicted classes. */
async function scanWindow(store: MonitoringStore, input: MonitorInput, reference: ReferenceProfile | undefined, task: Task, notes: string[]): Promise<WindowScan> {
  const { model, target } = input;
  const from = input.from.toISOString();
  const to = input.to.toISOString();
  // Every contract feature the reference describes; features it lacks are named in a note.
  const names = target.contract.features.map((f) => f.name);
  const accs = new Map<string, FeatureAccumulator>();
  if (reference) {
    const asTrained = target.contract.cell_reading === 'train';
    for (const n of names) if (reference.features[n]) accs.set(n, new FeatureAccumulator(reference.features[n], asTrained));
    const lacking = names.filter((n) => !reference.features[n]);
    if (lacking.length) notes.push(`the reference profile has no distribution for ${lacking.join(', ')}; no drift for them`);
  }
  const scoreCounts = reference ? new Array(reference.score.edges.length + 1).fill(0) : [];
  const scoreTolerance = reference ? servedTolerance(reference.score.edges) : 0;
  // Multiclass: the predicted class mix, against the reference's.
  const refClasses = task === 'multiclass' ? reference?.classes : undefined;
  const classIndex = new Map((refClasses?.labels ?? []).map((c, i) => [c, i]));
  const classCounts = new Array<number>(refClasses?.labels.length ?? 0).fill(0);
  const monitored = [...accs.keys()];
  const binners = [...accs.values()];
  let total = 0;
  let ofVersion = 0;
  let withFeatures = 0;
  // The window is read as a few time slices at once: while this thread bins one slice's page,
  // the database is already producing the next page of another (histograms do not care about order).
  const slices = Math.max(1, input.readers ?? 2);
  const span = input.to.getTime() - input.from.getTime();
  const bounds = Array.from({ length: slices + 1 }, (_, i) => (i === slices ? to : new Date(input.from.getTime() + Math.floor((span * i) / slices)).toISOString()));
  const consume = async (sliceFrom: string, sliceTo: string) => {
    for await (const page of store.predictions(model, sliceFrom, sliceTo)) {
      for (const p of page) {
        total++;
        if (p.version === target.version) {
          ofVersion++;
          if (reference) scoreCounts[binOfServed(p.score, reference.score.edges, scoreTolerance)]++;
          if (refClasses && p.label !== null) {
            const c = classIndex.get(p.label);
            if (c !== undefined) classCounts[c]++;
          }
        }
        if (p.features && typeof p.features === 'object') {
          withFeatures++;
          const f = p.features as Record<string, unknown>;
          for (let i = 0; i < binners.length; i++) binners[i].add(f[monitored[i]]);
        }
      }
      input.onProgress?.(total);
    }
  };
  await Promise.all(bounds.slice(0, -1).map((b, i) => consume(b, bounds[i + 1])));
  if (total === 0) notes.push(`no predictions for ${model} between ${from} and ${to}`);
  else if (reference && withFeatures === 0) notes.push('no logged features in the window (AUDIT_FEATURES is hashed or none): feature drift needs AUDIT_FEATURES=full');
  else if (reference && withFeatures < total)
    notes.push(`features were logged for ${withFeatures} of the ${total} predictions (the others were audited with AUDIT_FEATURES hashed or none): feature drift is measured on those ${withFeatures}`);

  return { accs, scoreCounts, classCounts, refClasses, total, ofVersion, withFeatures };
}

/** Each monitored feature's drift from its reference distribution. */
/** Counts as shares of their total (all 0 when there are none). */
const shares = (counts: number[]): number[] => {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total ? c / total : 0));
};

/** A feature's bins in words: value ranges (a value falls in the first bin whose upper edge it does not exceed), or categories then "(other)". */
function binLabels(p: FeatureProfile): string[] {
  if (p.type === 'categorical') return [...p.categories, '(other)'];
  const e = p.edges.map((x) => Number(x.toPrecision(4)));
  if (!e.length) return ['all values'];
  return [`≤ ${e[0]}`, ...e.slice(1).map((x, i) => `${e[i]} – ${x}`), `> ${e[e.length - 1]}`];
}

function featureDrift(accs: Map<string, FeatureAccumulator>): FeatureDrift[] {
  const features: FeatureDrift[] = [];
  for (const [name, acc] of accs) {
    const p = acc.profile;
    const ref = referenceCounts(p);
    const refTotal = ref.reduce((s, x) => s + x, 0) + p.missing;
    const present = acc.seen - acc.missing;
    const missingRate = acc.seen ? acc.missing / acc.seen : NaN;
    const refMissing = refTotal ? p.missing / refTotal : 0;
    const featurePsi = present ? psi(ref, acc.counts) : NaN;
    const ks = p.type === 'numeric' && present ? ksFromCounts(ref, acc.counts) : undefined;
    features.push({
      name,
      type: p.type,
      count: acc.seen,
      psi: finite(featurePsi),
      ks_statistic: finite(ks?.statistic),
      ks_p_value: finite(ks?.p_value),
      js_distance: p.type === 'categorical' && present ? finite(jsDistance(ref, acc.counts)) : null,
      missing_rate: finite(missingRate),
      reference_missing_rate: refMissing,
      missing_rate_change: finite(missingRate - refMissing),
      drifted: featurePsi > THRESHOLDS.high_psi,
      distribution: { bins: binLabels(p), reference: shares(ref), window: shares(acc.counts) },
      ...(p.type === 'categorical'
        ? {
            unseen_categories: [...acc.unseen]
              .sort((a, b) => b[1] - a[1])
              .slice(0, 10)
              .map(([value, count]) => ({ value, count })),
          }
        : {}),
    });
  }
  return features;
}

/** Outcome metrics from the window's feedback, for the version's task. */
async function outcomesOf(
  store: MonitoringStore,
  input: MonitorInput,
  task: Task,
  scan: WindowScan,
  reference: ReferenceProfile | undefined,
  acting: string[],
  notes: string[],
): Promise<{ performance: Report['performance']; outcomeCount: number; training: Record<string, number>; labelledBinary: number }> {
  const { model, target } = input;
  const from = input.from.toISOString();
  const to = input.to.toISOString();
  const { ofVersion, total, refClasses } = scan;
  const allLabelled = await store.labelled(model, target.version, from, to);
  // Outcomes of this task's kind only (feedback is checked against the version's task when stored).
  const labelled = task === 'binary' ? allLabelled : [];
  const scores = labelled.map((l) => l.score);
  const labels = labelled.map((l) => l.label ?? NaN);
  const acted = labelled.map((l) => (acting.includes(l.decision) ? 1 : 0));
  const invalid = labelled.filter((l) => l.label !== 0 && l.label !== 1).length;
  if (invalid) notes.push(`${invalid} feedback labels are not 0 or 1 and were left out`);
  const valued = task === 'regression' ? allLabelled.filter((l) => l.actual_value !== null) : [];
  const classed = task === 'multiclass' ? allLabelled.filter((l) => l.actual_class !== null && l.predicted !== null) : [];
  const reg = valued.length
    ? regressionMetrics(
        valued.map((l) => l.score),
        valued.map((l) => l.actual_value!),
      )
    : undefined;
  const multi = classed.length
    ? multiclassMetrics(
        classed.map((l) => l.predicted!),
        classed.map((l) => l.actual_class!),
        (refClasses?.labels ?? []).map(String),
      )
    : undefined;
  const valid = invalid ? labelled.map((l, i) => i).filter((i) => labels[i] === 0 || labels[i] === 1) : undefined;
  const pick = <T>(xs: T[]) => (valid ? valid.map((i) => xs[i]) : xs);
  const [s, y, a] = [pick(scores), pick(labels), pick(acted)];
  const conf = confusion(a, y);
  const cls = classification(conf);
  const cost = costMatrixOf(target.training);
  if (!cost) notes.push(`version ${target.version} has no cost matrix in its training record; realised profit is not computed`);
  const values = allLabelled.filter((l) => l.value !== null);
  const outcomeCount = task === 'regression' ? valued.length : task === 'multiclass' ? classed.length : labelled.length - invalid;
  const training = Object.fromEntries(Object.entries(target.metrics ?? reference?.metrics ?? {}).filter(([, v]) => Number.isFinite(v)));
  const auc = y.length ? rocAuc(s, y) : NaN;
  const performance: Report['performance'] = {
    labelled: outcomeCount,
    label_coverage: finite(ofVersion ? outcomeCount / ofVersion : NaN),
    roc_auc: finite(auc),
    pr_auc: finite(y.length ? averagePrecision(s, y) : NaN),
    mean_score: finite(y.length ? s.reduce((t, v) => t + v, 0) / y.length : NaN),
    positive_rate: finite(y.length ? y.reduce((t, v) => t + v, 0) / y.length : NaN),
    f1: finite(cls.f1),
    precision: finite(cls.precision),
    recall: finite(cls.recall),
    brier: finite(y.length ? brier(s, y) : NaN),
    log_loss: finite(y.length ? logLoss(s, y) : NaN),
    realized_profit: cost && y.length ? profit(conf, cost) : null,
    cost_matrix: cost,
    reported_value: values.length ? values.reduce((t, l) => t + (l.value ?? 0), 0) : null,
    mae: finite(reg?.mae),
    rmse: finite(reg?.rmse),
    r2: finite(reg?.r2),
    accuracy: finite(multi?.accuracy),
    macro_f1: finite(multi?.macro_f1),
    training,
  };
  if (outcomeCount === 0 && total > 0) notes.push('no feedback for this version in the window: performance is not computed');

  return { performance, outcomeCount, training, labelledBinary: y.length };
}

/** One monitoring run for a model over [from, to): drift against the reference, action rate, performance from feedback, alerts. */
export async function runMonitor(store: MonitoringStore, input: MonitorInput): Promise<Report> {
  const { model, target } = input;
  const task = taskOf(target.contract);
  const from = input.from.toISOString();
  const to = input.to.toISOString();
  const notes: string[] = [];
  const read = readReference(target, notes);
  const reference = read.reference;
  const scan = await scanWindow(store, input, reference, task, notes);
  const { total, ofVersion, refClasses, scoreCounts, classCounts } = scan;
  const features = featureDrift(scan.accs);
  const measured = features.filter((f) => f.psi !== null);
  const driftedShare = measured.length ? measured.filter((f) => f.drifted).length / measured.length : null;
  const predictionPsi = !reference || !ofVersion ? null : refClasses ? finite(psi(refClasses.counts, classCounts)) : finite(psi(reference.score.counts, scoreCounts));
  if (task === 'multiclass' && reference && !refClasses)
    notes.push('the reference profile has no class mix (made before multiclass monitoring); prediction drift compares the probability of the predicted class instead');
  const share = (counts: number[]) => {
    const n = counts.reduce((a, b) => a + b, 0);
    return counts.map((c) => (n ? c / n : 0));
  };
  const classMixReport = refClasses ? refClasses.labels.map((c, i) => ({ class: c, reference: share(refClasses.counts)[i], window: share(classCounts)[i] })) : undefined;

  const acting = actionDecisions(target.policy);
  const win = await store.decisionCounts(model, from, to, acting);
  const week = await store.decisionCounts(model, new Date(input.to.getTime() - 7 * DAY_MS).toISOString(), to, acting);
  // A policy none of whose decisions acts (a regression's value, a multiclass label) has no action rate: 0 would read as a model that never acts.
  const actionRate = acting.length && win.total ? win.acted / win.total : null;
  const actionRate7d = acting.length && week.total ? week.acted / week.total : null;
  if (!acting.length) notes.push(`version ${target.version}'s policy (${target.policy.type}) has no decision that counts as acting: no action rate`);

  const { performance, outcomeCount, training, labelledBinary } = await outcomesOf(store, input, task, scan, reference, acting, notes);
  const minRows = input.minRows ?? DEFAULT_MIN_ROWS;
  const minLabels = input.minLabels ?? DEFAULT_MIN_LABELS;
  const driftOk = total >= minRows;
  // Feature drift is measured only on predictions whose features were logged: a window audited
  // mostly with AUDIT_FEATURES=hashed must not raise feature flags from its few full rows.
  const featuresOk = driftOk && scan.withFeatures >= minRows;
  // The judged version's own predictions: after a promotion inside the window, fewer than all.
  const predictionOk = driftOk && ofVersion >= minRows;
  const predictionBasis = refClasses ? 'class_mix' : task === 'regression' ? 'value' : 'score';
  const outcomesOk = outcomeCount >= minLabels;
  const short = [
    ...(driftOk ? [] : [`${total} predictions in the window, ${minRows} needed for drift flags (MONITOR_MIN_ROWS)`]),
    ...(driftOk && !featuresOk && reference
      ? [`${scan.withFeatures} of the ${total} predictions have logged features, ${minRows} needed for feature drift flags (MONITOR_MIN_ROWS; AUDIT_FEATURES hashed or none logs none)`]
      : []),
    ...(outcomesOk ? [] : [`${outcomeCount} labelled predictions, ${minLabels} needed for outcome flags (MONITOR_MIN_LABELS)`]),
  ];
  const sufficiency: Report['sufficiency'] = {
    status: short.length ? 'insufficient_data' : 'ok',
    drift: { sufficient: driftOk, predictions: total, min_rows: minRows, with_features: scan.withFeatures, features_sufficient: featuresOk },
    outcomes: { sufficient: outcomesOk, labelled: outcomeCount, min_labels: minLabels },
    message: short.length ? `insufficient data: ${short.join('; ')}` : null,
  };
  const noDrift = `insufficient data: ${total} predictions of the ${minRows} needed (MONITOR_MIN_ROWS)`;
  const noFeatureDrift = driftOk ? `insufficient data: ${scan.withFeatures} predictions with logged features of the ${minRows} needed (MONITOR_MIN_ROWS)` : noDrift;
  const noOutcomes = `insufficient data: ${outcomeCount} labelled predictions of the ${minLabels} needed (MONITOR_MIN_LABELS)`;

  const worstFeature = measured.reduce<FeatureDrift | undefined>((w, f) => (!w || (f.psi ?? 0) > (w.psi ?? 0) ? f : w), undefined);
  // How far each outcome metric is below (or, for errors, above) its training or reference value, relative to it.
  const higherIsBetter = { roc_auc: true, f1: true, r2: true, accuracy: true, macro_f1: true, mae: false } as const;
  const watched: (keyof typeof higherIsBetter)[] = task === 'regression' ? ['r2', 'mae'] : task === 'multiclass' ? ['accuracy', 'macro_f1'] : ['roc_auc', 'f1'];
  const drops = watched
    .filter((m) => performance[m] !== null && Number.isFinite(training[m]) && training[m] > 0)
    .map((m) => ({ m, drop: ((higherIsBetter[m] ? 1 : -1) * (training[m] - performance[m]!)) / training[m] }))
    .filter((d) => d.drop > THRESHOLDS.retrain_metric_drop);
  const maeRise = performance.mae !== null && training.mae > 0 ? performance.mae / training.mae - 1 : null;
  const accuracyDrop = performance.accuracy !== null && Number.isFinite(training.accuracy) ? (training.accuracy - performance.accuracy) * 100 : null;
  const outcomeAlert: Alert =
    task === 'regression'
      ? {
          name: 'mae_rising',
          firing: outcomesOk && maeRise !== null && maeRise > THRESHOLDS.mae_rise,
          value: outcomesOk ? maeRise : null,
          threshold: THRESHOLDS.mae_rise,
          detail: !outcomesOk
            ? noOutcomes
            : maeRise === null
              ? 'no reference MAE (register with --reference CSV --target COL) or no feedback values'
              : `MAE ${performance.mae!.toFixed(4)} over ${outcomeCount} predictions against ${training.mae.toFixed(4)} in the reference (relative rise)`,
        }
      : task === 'multiclass'
        ? {
            name: 'low_accuracy',
            firing: outcomesOk && accuracyDrop !== null && accuracyDrop > THRESHOLDS.accuracy_drop_pp,
            value: outcomesOk ? accuracyDrop : null,
            threshold: THRESHOLDS.accuracy_drop_pp,
            detail: !outcomesOk
              ? noOutcomes
              : accuracyDrop === null
                ? 'no reference accuracy (register with --reference CSV --target COL) or no feedback'
                : `accuracy ${performance.accuracy!.toFixed(4)} over ${outcomeCount} predictions, percentage points below the reference's ${training.accuracy.toFixed(4)}`,
          }
        : {
            name: 'low_auc',
            firing: outcomesOk && performance.roc_auc !== null && performance.roc_auc < THRESHOLDS.low_auc,
            value: outcomesOk ? performance.roc_auc : null,
            threshold: THRESHOLDS.low_auc,
            detail: !outcomesOk ? noOutcomes : performance.roc_auc === null ? 'no AUC: too little feedback (both outcomes are needed)' : `ROC AUC over ${labelledBinary} labelled predictions`,
          };
  const gap = actionRate !== null && actionRate7d !== null ? Math.abs(actionRate - actionRate7d) * 100 : null;
  // Calibration in the large: how many times the observed positive rate is the mean score (or
  // the other way round), counted only past three standard errors of a rate the scores predict,
  // so that a small window's noise is not a finding.
  const { mean_score: meanScore, positive_rate: positiveRate } = performance;
  const calibrationOff = meanScore !== null && positiveRate !== null && meanScore > 0 && positiveRate > 0 ? Math.max(positiveRate / meanScore, meanScore / positiveRate) : null;
  const calibrationSignificant = meanScore !== null && positiveRate !== null && Math.abs(positiveRate - meanScore) > 3 * Math.sqrt((meanScore * (1 - meanScore)) / Math.max(1, labelledBinary));
  const retrainByDrift = featuresOk && (driftedShare ?? 0) > THRESHOLDS.retrain_drifted_share;
  const retrainByDrop = outcomesOk && drops.length > 0;
  // Scores fitted to another base rate: ranking may hold (no metric drops) while every score is
  // off, which refitting on the outcomes now coming in corrects.
  const miscalibrated = task === 'binary' && outcomesOk && calibrationOff !== null && calibrationSignificant && calibrationOff > THRESHOLDS.miscalibration_ratio;
  // What retrain_recommended reports: a metric drop first, then miscalibration, then drift.
  const retrainByCalibration = !retrainByDrop && !retrainByDrift && miscalibrated;
  const calibrationAlert: Alert[] =
    task !== 'binary'
      ? []
      : [
          {
            name: 'miscalibrated',
            firing: miscalibrated,
            value: outcomesOk ? calibrationOff : null,
            threshold: THRESHOLDS.miscalibration_ratio,
            detail: !outcomesOk
              ? noOutcomes
              : calibrationOff === null
                ? 'no calibration: too little feedback (a positive outcome and a score above 0 are needed)'
                : `times apart: scores average ${fmtMetric(meanScore!)}, and ${fmtMetric(positiveRate!)} of ${labelledBinary} labelled predictions were positive${calibrationSignificant ? '' : ' (within three standard errors)'}`,
          },
        ];
  const alerts: Alert[] = [
    {
      name: 'high_psi',
      firing: featuresOk && (worstFeature?.psi ?? 0) > THRESHOLDS.high_psi,
      value: featuresOk ? (worstFeature?.psi ?? null) : null,
      threshold: THRESHOLDS.high_psi,
      detail: !featuresOk ? noFeatureDrift : worstFeature ? `largest feature PSI: ${worstFeature.name}` : 'no feature drift measured',
    },
    {
      name: 'prediction_drift',
      firing: predictionOk && predictionPsi !== null && predictionPsi > THRESHOLDS.prediction_psi,
      value: predictionOk ? predictionPsi : null,
      threshold: THRESHOLDS.prediction_psi,
      detail: !reference
        ? 'no reference profile: no prediction drift'
        : !predictionOk
          ? `insufficient data: ${ofVersion} predictions of version ${target.version} of the ${minRows} needed (MONITOR_MIN_ROWS)`
          : `PSI of the ${predictionBasis === 'class_mix' ? 'predicted class mix' : predictionBasis === 'value' ? 'predicted values' : 'scores'} against the reference's`,
    },
    outcomeAlert,
    ...calibrationAlert,
    {
      name: 'action_rate_anomaly',
      firing: driftOk && gap !== null && gap > THRESHOLDS.action_rate_anomaly_pp,
      value: driftOk ? gap : null,
      threshold: THRESHOLDS.action_rate_anomaly_pp,
      detail: !acting.length
        ? 'no action rate: the policy has no decision that counts as acting'
        : !driftOk
          ? noDrift
          : "percentage points between the window's action rate and the trailing 7-day rate",
    },
    {
      name: 'retrain_recommended',
      firing: retrainByDrift || retrainByDrop || miscalibrated,
      value: retrainByDrop ? Math.max(...drops.map((d) => d.drop)) : retrainByCalibration ? calibrationOff : featuresOk ? driftedShare : null,
      threshold: retrainByDrop ? THRESHOLDS.retrain_metric_drop : retrainByCalibration ? THRESHOLDS.miscalibration_ratio : THRESHOLDS.retrain_drifted_share,
      detail: retrainByDrop
        ? `${drops.map((d) => `${d.m} ${fmtMetric(performance[d.m]!)} against ${fmtMetric(training[d.m])} in training (${(d.drop * 100).toFixed(1)}% ${higherIsBetter[d.m] ? 'below' : 'above'})`).join(', ')}`
        : retrainByCalibration
          ? `miscalibrated: scores average ${fmtMetric(meanScore!)} where ${fmtMetric(positiveRate!)} of ${labelledBinary} labelled predictions were positive (times apart)`
          : !driftOk && !outcomesOk
            ? `${noDrift}; ${noOutcomes}`
            : 'share of features drifted (PSI > 0.2); or a metric more than 5% below its training value; or scores miscalibrated',
    },
  ];

  return {
    format: REPORT_FORMAT,
    model,
    version: target.version,
    generated_at: (input.now ?? new Date()).toISOString(),
    window: { from, to, hours: (input.to.getTime() - input.from.getTime()) / 3_600_000 },
    predictions: total,
    reference: read.reference ? { available: true, rows: read.reference.rows } : { available: false, reason: read.missing },
    features,
    drifted_share: driftedShare,
    task,
    prediction_drift: {
      psi: predictionPsi,
      window_predictions: ofVersion,
      basis: predictionBasis,
      ...(classMixReport ? { class_mix: classMixReport } : {}),
    },
    action_rate: { decisions: acting, window: actionRate, trailing_7d: actionRate7d, reference: acting.length ? (reference?.action_rate ?? null) : null },
    performance,
    sufficiency,
    alerts,
    notes,
  };
}
