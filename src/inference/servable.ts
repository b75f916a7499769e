import ort from 'onnxruntime-node';
import { AppError, errorMessage } from '../lib/errors.js';
import { taskOf, type Contract, type OutputSpec, type Task } from './contract.js';
import { createEncoder, type Encoder, type Row } from './encoder.js';
import { MicroBatcher, type BatcherOptions } from './batcher.js';
import { exposeZipMapSource, graphNames, inspectGraph } from './onnx-graph.js';
import { packInputs, type FeedPlan } from './pack-inputs.js';
import { compilePolicy, type Policy } from './policy.js';
import { outcomeReader, presenter, type Outcome, type PresentedOutcome } from './outcome.js';

export interface ServableSpec {
  model: string;
  version: number;
  contract: Contract;
  output: OutputSpec;
  policy: Policy;
}

export interface RuntimeOptions {
  intraOpThreads: number;
  batch: BatcherOptions;
  /** Feed [N,1] inputs of one type as one tensor (see pack-inputs.ts); default on. */
  packInputs?: boolean;
  /** Told when packing was tried and the original graph serves instead, and why. */
  onPackFallback?: (spec: ServableSpec, reason: string) => void;
}

async function openSession(graph: Uint8Array, spec: ServableSpec, opts: RuntimeOptions, inputs: string[]): Promise<ort.InferenceSession> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(graph, {
      intraOpNumThreads: opts.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Run failures reach the caller and our logs as errors; onnxruntime's own stderr copy is noise.
      logSeverityLevel: 4,
    });
  } catch (e) {
    throw new AppError('INVALID_MODEL', `onnxruntime cannot load the model: ${errorMessage(e)}`);
  }
  const missing = [...new Set(inputs)].filter((n) => !session.inputNames.includes(n));
  if (!session.outputNames.includes(spec.output.name) || missing.length) {
    await session.release();
    throw new AppError('INVALID_MODEL', `the graph does not match its manifest: ${missing.length ? `inputs ${missing.join(', ')} missing` : `output ${spec.output.name} missing`}`);
  }
  return session;
}

/** Every number an outcome carries, for comparing two runs of the same rows. */
const flat = (outcomes: Outcome[]) => outcomes.flatMap((o) => o.probabilities ?? [o.score]);

/** A loaded, ready-to-serve model version: ONNX session, encoder, decision policy, batcher. */
export class Servable {
  readonly encoder: Encoder;
  readonly task: Task;
  readonly decide: (o: Outcome) => string;
  /** Response fields for an outcome and its decision. */
  readonly present: (o: Outcome, decision: string) => PresentedOutcome;
  readonly versionLabel: string;
  /** True when the session runs the input-packed rewrite of the graph. */
  readonly packed: boolean;
  /** Start of this version's prediction-cache keys. */
  readonly cachePrefix: string;
  private readonly batcher: MicroBatcher<Row, Outcome>;
  private readonly read: (data: ArrayLike<number>, rows: number, cols: number) => Outcome[];
  private released = false;

  private constructor(
    readonly spec: ServableSpec,
    private readonly session: ort.InferenceSession,
    opts: RuntimeOptions,
    /** Feeds of the packed graph, when input packing applied. */
    plans?: FeedPlan[],
  ) {
    this.encoder = createEncoder(spec.contract, plans);
    this.packed = plans !== undefined;
    this.task = taskOf(spec.contract);
    this.decide = compilePolicy(spec.policy);
    this.present = presenter(this.task, spec.output.class_labels);
    this.read = outcomeReader(this.task, spec.output);
    this.versionLabel = String(spec.version);
    this.cachePrefix = `${JSON.stringify(spec.model)}@${spec.version}`;
    this.batcher = new MicroBatcher((rows) => this.run(rows), opts.batch);
  }

  static async load(bytes: Uint8Array, spec: ServableSpec, opts: RuntimeOptions): Promise<Servable> {
    const graph = spec.output.source === 'zipmap' ? exposeZipMapSource(bytes, spec.output.zipmap_output!).bytes : bytes;
    const plain = new Servable(spec, await openSession(graph, spec, opts, spec.contract.features.map((f) => f.input)), opts);
    if (opts.packInputs === false || spec.contract.layout !== 'columns') return plain;
    let packed: Servable | undefined;
    try {
      const info = inspectGraph(graph);
      const shapes = new Map(info.inputs.map((i) => [i.name, i.shape]));
      const columns = spec.contract.features.map((f) => ({ input: f.input, type: f.type, rank2: shapes.get(f.input)?.length === 2 }));
      const rewrite = packInputs(graph, columns, graphNames(graph));
      if (!rewrite) return plain;
      packed = new Servable(spec, await openSession(rewrite.bytes, spec, opts, rewrite.feeds.map((f) => f.input)), opts, rewrite.feeds);
      // The rewrite must score exactly as the original graph; if anything differs, serve the original.
      const probes = plain.encoder.probeRows();
      const [a, b] = await Promise.all([plain.run(probes).then(flat, () => undefined), packed.run(probes).then(flat, () => undefined)]);
      if (!a || !b || a.length !== b.length || a.some((v, i) => !(Math.abs(v - b[i]) <= 1e-6 || (Number.isNaN(v) && Number.isNaN(b[i]))))) {
        if (a || b) throw new Error(`packed graph scored ${JSON.stringify(b)} where the original scored ${JSON.stringify(a)}`);
        // Both refuse the probe rows (a model with strict inputs): nothing to compare, keep the original.
        throw new Error('the probe rows could not be scored');
      }
    } catch (e) {
      opts.onPackFallback?.(spec, errorMessage(e));
      await packed?.release();
      return plain;
    }
    await plain.release();
    return packed;
  }

  /** Score one validated row, sharing an ONNX run with concurrent requests. */
  scoreOne(row: Row): Promise<Outcome> {
    return this.batcher.submit(row);
  }

  /** Score many rows in as few runs as possible (a batch request is already a batch). */
  async scoreMany(rows: Row[]): Promise<Outcome[]> {
    return this.run(rows);
  }

  /** The score of each row (binary: positive-class probability; multiclass: the label's; regression: the value). */
  async scores(rows: Row[]): Promise<number[]> {
    return (await this.run(rows)).map((o) => o.score);
  }

  /** Run the graph and read its output as outcomes (see outcome.ts). */
  async run(rows: Row[]): Promise<Outcome[]> {
    if (this.released) throw new AppError('UNAVAILABLE', `model ${this.spec.model} version ${this.spec.version} was unloaded; retry`);
    const result = await this.session.run(this.encoder.feeds(rows), [this.spec.output.name]);
    const out = result[this.spec.output.name];
    if (!out || (out.type !== 'float32' && out.type !== 'float64')) {
      throw new AppError('INVALID_MODEL', `output ${this.spec.output.name} is ${out?.type ?? 'missing'}, not a float tensor`);
    }
    const data = out.data as Float32Array | Float64Array;
    const cols = out.dims.length >= 2 ? out.dims[1] : 1;
    if (data.length !== rows.length * cols) {
      throw new AppError('INVALID_MODEL', `output ${this.spec.output.name} has ${data.length} values for ${rows.length} rows`);
    }
    if (this.task === 'multiclass') {
      const classes = this.spec.output.class_labels?.length;
      if (classes !== cols) throw new AppError('INVALID_MODEL', `output ${this.spec.output.name} has ${cols} columns for ${classes} classes`);
    } else if (this.spec.output.positive_index >= cols) {
      throw new AppError('INVALID_MODEL', `the score is column ${this.spec.output.positive_index} but output ${this.spec.output.name} has ${cols} columns`);
    }
    return this.read(data, rows.length, cols);
  }

  /** Release the session once nothing is queued or running on it (waiting at most 10 s). */
  async release(): Promise<void> {
    // Wait for queued and running work, but never forever: a stuck run must not block shutdown.
    const until = Date.now() + 10_000;
    while (this.batcher.inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.released = true;
    await this.session.release();
  }
}

/**
 * Registration's smoke test: load the graph and score a neutral row. A model that does not
 * load, or whose output cannot be read as a finite score, is refused before anything is stored.
 */
export async function smokeTest(bytes: Uint8Array, spec: ServableSpec): Promise<number> {
  const s = await Servable.load(bytes, spec, { intraOpThreads: 1, batch: { maxRows: 1, maxWaitUs: 0 } });
  try {
    let score: number;
    try {
      [score] = await s.scores([s.encoder.sampleRow()]);
    } catch (e) {
      throw e instanceof AppError ? e : new AppError('INVALID_MODEL', `smoke inference failed: ${errorMessage(e)}`);
    }
    if (!Number.isFinite(score)) throw new AppError('INVALID_MODEL', `smoke inference returned ${score}, not a finite score`);
    return score;
  } finally {
    await s.release();
  }
}
