/**
 * A y-axis for values that lie between 0 and 1 (ROC AUC, accuracy): a little room around the
 * data, never past 0 or 1 (uPlot's own padding put a single 0.905 on an axis up to 1.5).
 */
export function unitRange(min: number, max: number): [number, number] {
  const pad = Math.max(0.02, (max - min) * 0.1);
  return [Math.max(0, min - pad), Math.min(1, max + pad)];
}
