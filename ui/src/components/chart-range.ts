/**
 * A y-axis for values that lie between 0 and 1 (ROC AUC, accuracy): a little room around the
 * data, never past 0 or 1 (uPlot's own padding put a single 0.905 on an axis up to 1.5).
 */
export function unitRange(min: number, max: number): [number, number] {
  const pad = Math.max(0.02, (max - min) * 0.1);
  return [Math.max(0, min - pad), Math.min(1, max + pad)];
}

/**
 * How wide a y-axis must be for its longest tick label, measured in the chart's own font: a
 * fixed width clipped "0.00225" (a PSI near zero) to ".00225". `tickAndGap` is the tick's length
 * and the gap to its label.
 */
export function axisWidth(labels: readonly string[] | null | undefined, measure: (text: string) => number, tickAndGap: number, least = 40): number {
  const widest = Math.max(0, ...(labels ?? []).map(measure));
  return Math.max(least, Math.ceil(widest + tickAndGap + 4));
}
