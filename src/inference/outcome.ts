import type { ClassLabel, OutputSpec, Task } from './contract.js';

/**
 * What a model says about one row. `score` is what every kind has: binary, the positive-class
 * probability; multiclass, the probability of `label`; regression, the value.
 */
export interface Outcome {
  score: number;
  /** Multiclass: the most probable class. */
  label?: ClassLabel;
  /** Multiclass: one probability per class, in the output's class order. */
  probabilities?: number[];
}

/** The prediction part of a response, per task (binary as it always was). */
export interface PresentedOutcome {
  score: number;
  decision: string;
  label?: ClassLabel;
  probabilities?: Record<string, number>;
  value?: number;
}

/**
 * Turns one output tensor (rows × columns, row-major) into outcomes. Built once per version,
 * so the request path does no lookups.
 */
export function outcomeReader(task: Task, output: OutputSpec): (data: ArrayLike<number>, rows: number, cols: number) => Outcome[] {
  if (task === 'multiclass') {
    const classes = output.class_labels ?? [];
    return (data, rows, cols) => {
      const out = new Array<Outcome>(rows);
      for (let r = 0; r < rows; r++) {
        const base = r * cols;
        let best = 0;
        const probabilities = new Array<number>(cols);
        for (let c = 0; c < cols; c++) {
          probabilities[c] = data[base + c];
          // Ties take the first class, as scikit-learn's argmax does.
          if (probabilities[c] > probabilities[best]) best = c;
        }
        out[r] = { score: probabilities[best], label: classes[best] ?? best, probabilities };
      }
      return out;
    };
  }
  const col = output.positive_index;
  return (data, rows, cols) => {
    const out = new Array<Outcome>(rows);
    for (let r = 0; r < rows; r++) out[r] = { score: data[r * cols + col] };
    return out;
  };
}

/** Response fields for one outcome. Probabilities are keyed by class label as text (JSON keys are strings). */
export function presenter(task: Task, classes: ClassLabel[] | undefined): (o: Outcome, decision: string) => PresentedOutcome {
  if (task === 'multiclass') {
    const keys = (classes ?? []).map(String);
    return (o, decision) => {
      const probabilities: Record<string, number> = {};
      const p = o.probabilities ?? [];
      for (let i = 0; i < p.length; i++) probabilities[keys[i] ?? String(i)] = p[i];
      return { label: o.label, probabilities, score: o.score, decision };
    };
  }
  if (task === 'regression') return (o, decision) => ({ value: o.score, score: o.score, decision });
  return (o, decision) => ({ score: o.score, decision });
}
