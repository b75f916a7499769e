import { useEffect, useRef } from 'preact/hooks';
import { axisWidth, unitRange } from './chart-range.js';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLORS = ['#4063b8', '#d9822b', '#2e8b57', '#b03a48'];

/** A y-axis as wide as its longest label (uPlot calls it again once the labels are known). */
const fitLabels: uPlot.Axis.Size = (u, values, axisIdx, cycleNum) => {
  const axis = u.axes[axisIdx];
  // uPlot sizes axes in a few passes; past the second the size is settled.
  if (cycleNum > 1) return (axis as { _size?: number })._size ?? 50;
  u.ctx.font = (axis.font as unknown as string[])[0];
  const ratio = devicePixelRatio || 1;
  return axisWidth(values, (t) => u.ctx.measureText(t).width / ratio, ((axis.ticks as { size?: number } | undefined)?.size ?? 10) + (axis.gap ?? 5));
};

/** A uPlot chart that fills its container's width and follows it on resize. */
function useChart(make: (width: number) => { opts: uPlot.Options; data: uPlot.AlignedData }, deps: unknown[]) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = () => Math.max(240, el.clientWidth);
    const { opts, data } = make(width());
    const chart = new uPlot(opts, data, el);
    const resize = () => chart.setSize({ width: width(), height: opts.height });
    addEventListener('resize', resize);
    return () => {
      removeEventListener('resize', resize);
      chart.destroy();
    };
  }, deps);
  return box;
}

/**
 * Two distributions side by side per bin (reference and window shares). The numbers are in
 * the table next to it; the chart is for the eye, so it is hidden from screen readers.
 */
export function BarsChart({ labels, series, label }: { labels: string[]; series: { name: string; values: number[] }[]; label: string }) {
  const box = useChart(
    (width) => ({
      data: [labels.map((_, i) => i), ...series.map((s) => s.values)] as uPlot.AlignedData,
      opts: {
        width,
        height: 220,
        scales: { x: { time: false, range: [-0.6, labels.length - 0.4] }, y: { range: (_u, _min, max) => [0, Math.max(max, 0.01) * 1.1] } },
        axes: [
          { splits: () => labels.map((_, i) => i), values: (_u, splits) => splits.map((i) => (labels[i] ?? '').slice(0, 14)), rotate: labels.length > 6 ? -30 : 0, size: labels.length > 6 ? 70 : 40 },
          { values: (_u, splits) => splits.map((v) => `${Number((v * 100).toFixed(1))}%`), size: fitLabels },
        ],
        series: [
          { label: 'bin', value: (_u, i) => (i === null ? '' : (labels[i] ?? '')) },
          ...series.map((s, k) => ({
            label: s.name,
            stroke: COLORS[k],
            fill: `${COLORS[k]}aa`,
            width: 1,
            paths: uPlot.paths.bars!({ size: [0.4, 60], align: k === 0 ? -1 : 1 }),
            points: { show: false },
            value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)}%`),
          })),
        ],
        cursor: { points: { show: false } },
        // The key only: a live readout shows "—" for every series until hovered (and always in a printed report); the table beside the chart has the numbers.
        legend: { live: false },
      },
    }),
    [labels.join('\u0000'), JSON.stringify(series)],
  );
  return <div class="chart" ref={box} role="img" aria-label={label} />;
}

/** Values over time, one line per series (missing values leave gaps). */
export function LinesChart({
  times,
  series,
  label,
  percent,
  unit,
}: {
  times: number[];
  series: { name: string; values: (number | null)[] }[];
  label: string;
  percent?: boolean;
  /** Values that lie between 0 and 1 (ROC AUC, accuracy): the axis stays inside, instead of uPlot's padding past 1. */
  unit?: boolean;
}) {
  const box = useChart(
    (width) => ({
      data: [times, ...series.map((s) => s.values)] as uPlot.AlignedData,
      opts: {
        width,
        height: 200,
        scales: {
          x: { time: true },
          ...(unit
            ? {
                y: {
                  range: (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => unitRange(min, max),
                },
              }
            : {}),
        },
        // Time ticks at least 80 px apart: at uPlot's default 50, a few minutes of reports crowded the axis with overlapping labels.
        axes: [{ space: 80 }, { values: (_u, splits) => splits.map((v) => (percent ? `${Math.round(v * 100)}%` : String(Number(v.toPrecision(3))))), size: fitLabels }],
        series: [{}, ...series.map((s, k) => ({ label: s.name, stroke: COLORS[k % COLORS.length], width: 2, spanGaps: false }))],
      },
    }),
    [times.join(','), JSON.stringify(series)],
  );
  return <div class="chart" ref={box} role="img" aria-label={label} />;
}
