/** A model's retrain plan, as stored and answered (the console reads the same shape). */
export interface RetrainPlan {
  model: string;
  data: string;
  canary_steps: number[];
  step_interval: string | null;
  min_interval_ms: number;
  max_metric_drop: number;
  created_at: string;
  created_by: string;
}
