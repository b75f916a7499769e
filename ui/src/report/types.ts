// The parts of a monitoring report (src/monitoring/monitor.ts, docs/monitoring.md) the console shows.

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
  unseen_categories?: { value: string; count: number }[];
  /** Reports from before distributions were stored lack it. */
  distribution?: { bins: string[]; reference: number[]; window: number[] };
}

export interface Alert {
  name: string;
  firing: boolean;
  value: number | null;
  threshold: number;
  detail: string;
}

export interface Report {
  model: string;
  version: number;
  generated_at: string;
  window: { from: string; to: string; hours: number };
  predictions: number;
  reference: { available: boolean; rows?: number; reason?: string };
  features: FeatureDrift[];
  drifted_share: number | null;
  task: string;
  prediction_drift: { psi: number | null; window_predictions: number; basis: string; class_mix?: { class: string; reference: number; window: number }[] };
  action_rate: { decisions: string[]; window: number | null; trailing_7d: number | null; reference: number | null };
  performance: Record<string, unknown> & { labelled: number; label_coverage: number | null };
  sufficiency: { status: string; message: string | null };
  alerts: Alert[];
  notes: string[];
}

export interface ReportSummary {
  id: string;
  created_at: string;
  predictions: number;
  alerts_firing: string[];
  metrics?: Record<string, number | null>;
}
