import type { Fusion, Kernel, OneHotFusion } from './op.js';
import { sameDims, Scratch, type NumData, type Tensor } from './tensor.js';

/** One compiled node: its kernel and the value slots it reads and writes. */
export interface Step {
  kernel: Kernel;
  ins: number[];
  outs: number[];
  fusion?: Fusion;
}

/**
 * Replace each Concat of one-hot encodings (scikit-learn's ColumnTransformer: one
 * OneHotEncoder per categorical column, concatenated along the new last axis) by one step that
 * writes every column's ones straight into the concatenated output. Each separate node cost a
 * call, a zeroed buffer and a tensor, and the Concat copied them all again: for 15 columns
 * that was most of a one-row run.
 *
 * A fused step computes exactly what the nodes did: when its inputs are not all of one shape
 * or the axis is not the new last one, it runs the original kernels.
 */
export function fuseOneHotConcat(steps: Step[], output: number): Step[] {
  const readers = new Map<number, number>();
  for (const s of steps) for (const i of s.ins) readers.set(i, (readers.get(i) ?? 0) + 1);
  const producer = new Map<number, Step>();
  for (const s of steps) for (const o of s.outs) if (o >= 0) producer.set(o, s);
  const absorbed = new Set<Step>();
  const replaced = new Map<Step, Step>();
  for (const s of steps) {
    if (s.fusion?.kind !== 'concat' || s.ins.length < 2) continue;
    const parts = s.ins.map((i) => producer.get(i));
    // Each one-hot output must feed only this Concat, so nothing else needs it computed.
    const fusable = parts.every((p, k) => p?.fusion?.kind === 'oneHot' && p.outs.length === 1 && readers.get(s.ins[k]) === 1 && s.ins[k] !== output);
    if (!fusable) continue;
    const oneHots = parts as Step[];
    oneHots.forEach((p) => absorbed.add(p));
    replaced.set(s, {
      kernel: oneHotConcat(
        oneHots.map((p) => p.fusion as OneHotFusion),
        s.fusion.axis,
        oneHots.map((p) => p.kernel),
        s.kernel,
      ),
      ins: oneHots.map((p) => p.ins[0]),
      outs: s.outs,
    });
  }
  return steps.filter((s) => !absorbed.has(s)).map((s) => replaced.get(s) ?? s);
}

/** String categories up to which a column is searched in turn rather than through its Map. */
const SCAN_CATEGORIES = 8;

function oneHotConcat(columns: OneHotFusion[], axis: number, oneHots: Kernel[], concat: Kernel): Kernel {
  const total = columns.reduce((n, c) => n + c.count, 0);
  const offsets = columns.map((_, j) => columns.slice(0, j).reduce((n, c) => n + c.count, 0));
  const buf = new Scratch('float');
  const separately: Kernel = (ins) => concat(ins.map((x, j) => oneHots[j]([x])[0]));
  // A column of a few string categories (yes / no / no internet service) is searched in turn:
  // each request's strings are new, and hashing one for the Map costs about twice as much as
  // comparing it with three or four categories.
  const scanned = columns.map((c) => (!c.numeric && c.index.size <= SCAN_CATEGORIES ? { keys: [...c.index.keys()], positions: [...c.index.values()] } : undefined));
  return (ins) => {
    const first = ins[0]!;
    const rank = first.dims.length;
    const n = first.data.length;
    // The fast path's layout: the one-hot axis is the last, and every column has the same shape.
    if (axis !== rank && axis !== -1) return separately(ins);
    for (let j = 1; j < ins.length; j++) if (!sameDims(ins[j]!.dims, first.dims)) return separately(ins);
    const out = buf.get(n * total, true);
    for (let j = 0; j < columns.length; j++) {
      const c = columns[j];
      const src = ins[j]!.data;
      for (let i = 0; i < n; i++) {
        const v = c.numeric ? Math.trunc((src as NumData)[i]) : (src as string[])[i];
        const scan = scanned[j];
        let k: number | undefined;
        if (scan === undefined) k = c.index.get(v);
        else {
          for (let q = 0; q < scan.keys.length; q++) {
            if (scan.keys[q] === v) {
              k = scan.positions[q];
              break;
            }
          }
        }
        if (k !== undefined) out[i * total + offsets[j] + k] = 1;
        else if (!c.zeros) throw new Error(`${c.at}: unknown category ${JSON.stringify(v)}`);
      }
    }
    const result: Tensor = { type: 'float', dims: [...first.dims, total], data: out };
    return [result];
  };
}
