import type ort from 'onnxruntime-node';
import { onnxruntime } from './ort.js';
import { AppError } from '../lib/errors.js';
import { compileGraphYielding, Scratch, type DType, type NumData, type Program, type Tensor as CTensor } from './compiled/index.js';
import type { Contract } from './contract.js';
import { defaultFeedPlans, type RawFeed, type Row } from './encoder.js';

/** Which code runs a version's graph. */
export type EngineName = 'compiled' | 'onnxruntime';
/** auto: the compiled engine where it is proven equal to onnxruntime, else onnxruntime. */
export type EngineChoice = 'auto' | 'onnxruntime';

/** A graph's output for a batch: row-major values and their shape. */
export interface RawOutput {
  data: Float32Array | Float64Array;
  dims: readonly number[];
}

/** Runs a version's graph; the Servable around it validates and reads the output. */
export interface Engine {
  readonly name: EngineName;
  run(rows: Row[]): RawOutput | Promise<RawOutput>;
  release(): Promise<void>;
}

const ORT_TYPE = { float: 'float32', double: 'float64', int64: 'int64', int32: 'int32', string: 'string', bool: 'bool' } as const;

export function onnxruntimeEngine(session: ort.InferenceSession, output: string, feed: (rows: Row[]) => Record<string, RawFeed>): Engine {
  return {
    name: 'onnxruntime',
    async run(rows) {
      const feeds = feed(rows);
      const tensors: Record<string, ort.Tensor> = {};
      const { Tensor } = onnxruntime();
      for (const [name, f] of Object.entries(feeds)) tensors[name] = new Tensor(ORT_TYPE[f.type], f.data as never, f.dims);
      const result = await session.run(tensors, [output]);
      const out = result[output];
      if (!out || (out.type !== 'float32' && out.type !== 'float64')) {
        throw new AppError('INVALID_MODEL', `output ${output} is ${out?.type ?? 'missing'}, not a float tensor`);
      }
      return { data: out.data as Float32Array | Float64Array, dims: out.dims };
    },
    release: () => session.release(),
  };
}

/** One graph input's feed: the contract columns it takes and the tensor it reuses while the batch size stays. */
class Feed {
  tensor: CTensor | undefined = undefined;
  constructor(
    readonly input: string,
    readonly type: DType,
    readonly columns: number[],
    readonly scratch: Scratch | undefined,
  ) {}
}

/**
 * Rows to the compiled engine's input tensors, in buffers reused from run to run (a run is
 * synchronous and copies its output, so nothing outlives it). Every number is a JavaScript
 * number (see compiled/tensor.ts): int64 values beyond 2^53 lose precision as in a float cast.
 */
function compiledFeeder(contract: Contract): (rows: Row[]) => Record<string, CTensor> {
  const all = defaultFeedPlans(contract).map((p) => new Feed(p.input, p.type, p.columns, p.type === 'string' ? undefined : new Scratch(p.type === 'float' ? 'float' : 'double')));
  // Numbers and strings in loops of their own, so each loop's store sees one kind of array.
  const numeric = all.filter((f) => f.scratch !== undefined);
  const strings = all.filter((f) => f.scratch === undefined);
  const feeds: Record<string, CTensor> = {};
  const tensorOf = (f: Feed, m: number): CTensor => {
    const k = f.columns.length;
    let t = f.tensor;
    if (t === undefined || t.data.length !== m * k) {
      t = f.tensor = { type: f.type, dims: [m, k], data: f.scratch ? f.scratch.get(m * k) : new Array<string>(m * k) };
      // Stored by name only when the tensor changes: a store under a computed name for every
      // input of every run cost about as much as filling the values.
      feeds[f.input] = t;
    }
    return t;
  };
  return (rows) => {
    const m = rows.length;
    for (let i = 0; i < numeric.length; i++) {
      const f = numeric[i];
      const cols = f.columns;
      const k = cols.length;
      const data = tensorOf(f, m).data as NumData;
      for (let r = 0; r < m; r++) {
        const row = rows[r];
        for (let j = 0; j < k; j++) {
          const v = row[cols[j]];
          data[r * k + j] = typeof v === 'bigint' ? Number(v) : typeof v === 'boolean' ? (v ? 1 : 0) : (v as number);
        }
      }
    }
    for (let i = 0; i < strings.length; i++) {
      const f = strings[i];
      const cols = f.columns;
      const k = cols.length;
      const data = tensorOf(f, m).data as string[];
      for (let r = 0; r < m; r++) {
        const row = rows[r];
        for (let j = 0; j < k; j++) data[r * k + j] = row[cols[j]] as string;
      }
    }
    return feeds;
  };
}

export function compiledEngine(program: Program, contract: Contract, output: string, alter?: (out: RawOutput) => RawOutput): Engine {
  const feed = compiledFeeder(contract);
  return {
    name: 'compiled',
    run(rows) {
      const out = program.run(feed(rows));
      if (out.type !== 'float' && out.type !== 'double') throw new AppError('INVALID_MODEL', `output ${output} is ${out.type}, not a float tensor`);
      const raw = { data: out.data as Float32Array | Float64Array, dims: out.dims };
      return alter ? alter(raw) : raw;
    },
    release: async () => undefined,
  };
}

/** Compile a graph, or say why it cannot be; requests waiting on this thread get a turn every few ms. */
export async function tryCompile(graph: Uint8Array, output: string): Promise<{ program: Program } | { reason: string }> {
  try {
    return { program: await compileGraphYielding(graph, output) };
  } catch (e) {
    return { reason: e instanceof Error ? e.message : String(e) };
  }
}

/** Values a check row takes per feature: what the version saw, and what breaks naive code. */
const EXTREMES = [0, 1, -1, 0.5, 2, 10, 100, 1e3, 1e4, 1e6, -1e6, 1e30, -1e30, 3.4e38, -3.4e38, 1e300, 5e-324, 1e-40, NaN, Infinity, -Infinity, 123.456];

/** Ordinary numbers, for rows whose every value is in a range a model was likely trained on. */
export const MODERATE = [0, 1, -1, 0.5, 2, 3, 5, 10, 20, 30, 50, 75, 100, 250, 1000];

/**
 * Rows the compiled engine must score as onnxruntime does before it may serve: the reference
 * values the version was registered with (bin edges, categories) and around them, every known
 * category, unseen and missing categories, and extreme numbers (±Infinity, NaN, huge, denormal).
 */
export function checkRows(contract: Contract, samples: Record<string, (number | string)[]> | undefined, probes: unknown[][], numbers: readonly number[] = EXTREMES): unknown[][] {
  const f = contract.features;
  const valuesOf = (i: number): unknown[] => {
    const feat = f[i];
    const seen = samples?.[feat.name] ?? [];
    switch (feat.type) {
      case 'float':
      case 'double': {
        const edges = seen.filter((v): v is number => typeof v === 'number');
        // Each edge, and values just either side of it, where a tree's thresholds are likely.
        const near = edges.flatMap((e) => [e, e * (1 + 1e-7), e * (1 - 1e-7), e + 0.5, e - 0.5, Math.fround(e)]);
        return [...near, ...numbers];
      }
      case 'int32':
        return [...seen.filter((v) => typeof v === 'number').map((v) => Math.round(v as number)), 0, 1, -1, 7, 100, 2147483647, -2147483648];
      case 'int64':
        return [...seen.filter((v) => typeof v === 'number').map((v) => BigInt(Math.round(v as number))), 0n, 1n, -1n, 7n, 100n, 1n << 40n];
      case 'string':
        return [...new Set([...(feat.categories ?? []), ...seen.map(String), '', 'unseen category', contract.missing_category ?? ''])];
      case 'bool':
        return [false, true];
    }
  };
  const lists = f.map((_, i) => valuesOf(i));
  const n = Math.min(512, Math.max(64, ...lists.map((l) => l.length)));
  const rows: unknown[][] = [...probes];
  // Row r takes each feature's (r × stride + offset)-th value, so columns vary independently.
  for (let r = 0; r < n; r++) rows.push(lists.map((l, i) => l[(r * (2 * i + 1) + i) % l.length]));
  return rows;
}

/**
 * The first place two outputs differ by more than 1e-6, or undefined. Scores and probabilities
 * (at most 1) are held to 1e-6 absolute. Values above 1 (regression) are held to 1e-6 of the
 * largest value in the batch: onnxruntime sums them in float32, whose error grows with the size
 * of the terms summed, not of the result (a ridge price of -698 summed from terms in the tens
 * of thousands differs in its 7th digit between two correct summation orders).
 */
export function firstDifference(a: RawOutput, b: RawOutput): { index: number; text: string } | undefined {
  if (a.data.length !== b.data.length) return { index: 0, text: `${a.data.length} values where onnxruntime gave ${b.data.length}` };
  let scale = 1;
  for (const y of b.data) if (Number.isFinite(y)) scale = Math.max(scale, Math.abs(y));
  const tolerance = 1e-6 * scale;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i];
    const y = b.data[i];
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    if (!(Math.abs(x - y) <= tolerance)) return { index: i, text: `${x} where onnxruntime gives ${y}` };
  }
  return undefined;
}
