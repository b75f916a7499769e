export {
  psi,
  jsDistance,
  kolmogorovSf,
  ksPValue,
  ksTwoSample,
  ksFromCounts,
  histogramQuantile,
  histogramCountAbove,
  wilsonLower,
  proportionStandardError,
  aucStandardError,
  quantileEdges,
  binOf,
  rocAuc,
  logLoss,
  brier,
  confusion,
  classification,
  averagePrecision,
  calibration,
  accuracy,
  profit,
  f1FromCounts,
  finiteOrNull,
  quantile,
  regressionMetrics,
  multiclassMetrics,
  type RegressionMetrics,
  type MulticlassMetrics,
  type CostMatrix as OutcomeCosts,
  type CalibrationBin,
  type KsResult,
  type Confusion,
} from './statistics.js';
export { buildReference, actionDecisions, kindOf, type FeatureKind } from './profile.js';
export { runMonitor, costMatrixOf, REPORT_FORMAT, THRESHOLDS, type Report, type Alert, type FeatureDrift } from './monitor.js';
export { createMonitoringStore, type MonitoringStore, type LabelledPrediction } from './store.js';
export { createMonitoringService, type MonitoringService } from './service.js';
export { checkSkipped, referenceFromCsv, scoreCsv, type ScoredCsv } from './reference-csv.js';
export { profileReferenceFile, type PreparedVersion } from './reference-for-version.js';
export { monitoringRoutes } from './routes.js';
export { MonitorJob, type MonitorGauges } from './job.js';
export { monitorGauges } from './gauges.js';
