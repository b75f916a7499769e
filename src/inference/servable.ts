import type ort from 'onnxruntime-node';
import { onnxruntime } from './ort.js';
import { AppError, errorMessage } from '../lib/errors.js';
import { taskOf, type Contract, type OutputSpec, type Task } from './contract.js';
import { createEncoder, type Encoder, type Row } from './encoder.js';
import { MicroBatcher, type BatcherOptions, type RunTiming } from './batcher.js';
import { setImmediate } from 'node:timers/promises';
import { exposeZipMapSource, graphNames, inputShapes } from './onnx-graph.js';
import { packInputs, type FeedPlan } from './pack-inputs.js';
import { checkRows, compiledEngine, MODERATE, firstDifference, onnxruntimeEngine, tryCompile, type Engine, type EngineChoice, type EngineName, type RawOutput } from './engine.js';
import { compilePolicy, type Policy } from './policy.js';
import { outcomeReader, presenter, type Outcome, type PresentedOutcome } from './outcome.js';
import { ReferenceLost, type Reference } from './reference.js';

export interface ServableSpec {
  model: string;
  version: number;
  contract: Contract;
  output: OutputSpec;
  policy: Policy;
  /** Values the version was registered with, per feature (its drift reference's bin edges and categories): rows the compiled engine is checked on. */
  samples?: Record<string, (number | string)[]>;
  /**
   * Columns of the training data left out of the features, with why (constant, an identifier,
   * --exclude): a client sending the training file's rows sends them, and they are no typo to warn of.
   */
  leftOut?: Record<string, string>;
  /** The training data's outcome column, which a client replaying that file may send too. */
  target?: string;
  /**
   * Categories each string feature took in the data the version was trained (or registered) with,
   * though its graph may know fewer (a GBDT keeps the most frequent): not warned of as unseen.
   */
  seenCategories?: Record<string, string[]>;
}

export interface RuntimeOptions {
  intraOpThreads: number;
  batch: BatcherOptions;
  /** auto (default): compiled JavaScript where it scores exactly as onnxruntime; onnxruntime: always onnxruntime. */
  engine?: EngineChoice;
  /** Told when a version serves on onnxruntime although the compiled engine was allowed, and why. */
  onEngineFallback?: (spec: ServableSpec, reason: string) => void;
  /** Test hook: change the compiled engine's output, to prove a mismatch keeps a version on onnxruntime. */
  alterCompiled?: (out: RawOutput) => RawOutput;
  /** Feed [N,1] inputs of one type as one tensor (see pack-inputs.ts); default on. */
  packInputs?: boolean;
  /** Told when packing was tried and the original graph serves instead, and why. */
  onPackFallback?: (spec: ServableSpec, reason: string) => void;
  /**
   * Opens the onnxruntime session a compiled version is checked against somewhere other than
   * this thread (the server: off-thread-reference.ts), started beside the compile. Unset: on
   * this thread, after the compile (batch commands, tests).
   */
  openReference?: (graph: Uint8Array, spec: ServableSpec) => Promise<Reference>;
  /** Told when the reference's thread failed and the check was made on this thread instead. */
  onReferenceLost?: (spec: ServableSpec, reason: string) => void;
}

/** Which engine serves a version, why, and what it holds. */
export interface EngineInfo {
  engine: EngineName;
  /** Why the compiled engine does not serve it (onnxruntime only). */
  reason?: string;
  /** Memory the loaded version holds, in bytes: the onnxruntime session's RSS growth at load, or the compiled program's arrays. */
  memory_bytes: number;
}

async function openSession(graph: Uint8Array, spec: ServableSpec, opts: RuntimeOptions, inputs: string[]): Promise<ort.InferenceSession> {
  let session: ort.InferenceSession;
  try {
    session = await onnxruntime().InferenceSession.create(graph, {
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

/** Rows per run when checking the compiled engine against onnxruntime. */
const CHECK_CHUNK = 256;
/** Float32 sums of many trees' class fractions may pass 1 by a few units in the last place. */
const PROBABILITY_SLACK = 1e-4;

/** A loaded, ready-to-serve model version: engine (compiled or onnxruntime), encoder, decision policy, batcher. */
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
  /** The contract's feature names, in its order (what the audit log keeps of an oversized payload). */
  readonly featureNames: readonly string[];
  /** Which engine serves this version; also the `engine` label of its metrics. */
  readonly engineName: EngineName;
  info: EngineInfo;
  private readonly batcher: MicroBatcher<Row, Outcome>;
  private readonly read: (data: ArrayLike<number>, rows: number, cols: number) => Outcome[];
  private released = false;

  private constructor(
    readonly spec: ServableSpec,
    private readonly engine: Engine,
    opts: RuntimeOptions,
    memoryBytes: number,
    /** Feeds of the packed graph, when input packing applied. */
    plans?: FeedPlan[],
  ) {
    this.encoder = createEncoder(spec.contract, plans, spec.seenCategories);
    this.packed = plans !== undefined;
    this.task = taskOf(spec.contract);
    this.decide = compilePolicy(spec.policy);
    this.present = presenter(this.task, spec.output.class_labels);
    this.read = outcomeReader(this.task, spec.output);
    this.versionLabel = String(spec.version);
    this.cachePrefix = `${JSON.stringify(spec.model)}@${spec.version}`;
    this.featureNames = spec.contract.features.map((f) => f.name);
    this.engineName = engine.name;
    this.info = { engine: engine.name, memory_bytes: memoryBytes };
    // Compiled runs batch too, though a row costs the same alone: replies then leave in bursts,
    // one client wake-up per burst (ADR 5; the figures are in docs/performance.md).
    this.batcher = new MicroBatcher((rows) => this.run(rows), opts.batch);
  }

  static async load(bytes: Uint8Array, spec: ServableSpec, opts: RuntimeOptions): Promise<Servable> {
    const graph = spec.output.source === 'zipmap' ? exposeZipMapSource(bytes, spec.output.zipmap_output!).bytes : bytes;
    const fallBack = async (reason: string) => {
      const onnx = await Servable.loadOnnxruntime(graph, spec, opts);
      onnx.info.reason = reason;
      if (opts.engine !== 'onnxruntime') opts.onEngineFallback?.(spec, reason);
      return onnx;
    };
    if (opts.engine === 'onnxruntime') return fallBack('INFERENCE_ENGINE=onnxruntime');
    // onnxruntime's answers for the check, from a thread of their own when the caller has one: started now, they are ready about when the compile is.
    const elsewhere = opts.openReference?.(graph, spec);
    elsewhere?.catch(() => undefined);
    // Each step of a load runs on the thread that serves requests (a large forest's compile
    // takes 100 ms before the JIT warms up): let waiting requests through between them, and
    // within the compile (tryCompile).
    await setImmediate();
    const compiled = await tryCompile(graph, spec.output.name);
    if ('reason' in compiled) {
      void elsewhere?.then(
        (r) => r.release(),
        () => undefined,
      );
      return fallBack(compiled.reason);
    }
    await setImmediate();
    const candidate = new Servable(spec, compiledEngine(compiled.program, spec.contract, spec.output.name, opts.alterCompiled), opts, compiled.program.bytes);
    const here = () => Servable.openReference(graph, spec, opts);
    const check = async (reference: Reference) => {
      await setImmediate();
      return candidate.differenceFrom(reference).finally(() => reference.release());
    };
    let difference: string | undefined;
    try {
      difference = await check(elsewhere ? await elsewhere : await here());
    } catch (e) {
      if (!(e instanceof ReferenceLost)) throw e;
      // The reference's thread failed (not onnxruntime refusing the graph or a row): check here instead.
      opts.onReferenceLost?.(spec, e.message);
      difference = await check(await here());
    }
    return difference ? fallBack(`compiled output differs from onnxruntime: ${difference}`) : candidate;
  }

  /** onnxruntime's own answers for a compiled version's check: a plain session (no input packing), released once the check is done. */
  static async openReference(graph: Uint8Array, spec: ServableSpec, opts: RuntimeOptions): Promise<Reference> {
    const s = await Servable.loadOnnxruntime(graph, spec, { ...opts, packInputs: false });
    return { run: (rows) => s.runRaw(rows), release: () => s.release() };
  }

  private static async loadOnnxruntime(graph: Uint8Array, spec: ServableSpec, opts: RuntimeOptions): Promise<Servable> {
    const rssBefore = process.memoryUsage.rss();
    const open = async (g: Uint8Array, inputs: string[], plans?: FeedPlan[]) => {
      const session = await openSession(g, spec, opts, inputs);
      const encoder = createEncoder(spec.contract, plans, spec.seenCategories);
      return new Servable(spec, onnxruntimeEngine(session, spec.output.name, encoder.feeds), opts, Math.max(0, process.memoryUsage.rss() - rssBefore), plans);
    };
    const plain = await open(
      graph,
      spec.contract.features.map((f) => f.input),
    );
    if (opts.packInputs === false || spec.contract.layout !== 'columns') return plain;
    let packed: Servable | undefined;
    try {
      const shapes = inputShapes(graph);
      const columns = spec.contract.features.map((f) => ({ input: f.input, type: f.type, rank2: shapes.get(f.input)?.length === 2 }));
      const rewrite = packInputs(graph, columns, graphNames(graph));
      if (!rewrite) return plain;
      packed = await open(
        rewrite.bytes,
        rewrite.feeds.map((f) => f.input),
        rewrite.feeds,
      );
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

  /**
   * Where this (compiled) version scores differently from onnxruntime on the check rows
   * (engine.ts: reference values, categories, extremes): values beyond 1e-6, a different
   * decision, or a row only one of them refuses. Undefined when they agree everywhere.
   */
  private async differenceFrom(reference: Reference, rows = checkRows(this.spec.contract, this.spec.samples, this.encoder.probeRows()) as Row[]): Promise<string | undefined> {
    for (let i = 0; i < rows.length; i += CHECK_CHUNK) {
      const chunk = rows.slice(i, i + CHECK_CHUNK);
      const [mine, theirs] = await Promise.all([this.runRaw(chunk).catch((e: unknown) => e as Error), reference.run(chunk).catch((e: unknown) => e as Error)]);
      if (theirs instanceof ReferenceLost) throw theirs;
      if (theirs instanceof Error || mine instanceof Error) {
        // One refused the chunk: compare row by row, so a row onnxruntime refuses must be refused here too.
        if (chunk.length > 1) {
          for (const row of chunk) {
            const d = await this.differenceFrom(reference, [row]);
            if (d) return d;
          }
          continue;
        }
        if (theirs instanceof Error && mine instanceof Error) continue;
        return theirs instanceof Error
          ? `onnxruntime refuses row ${JSON.stringify(chunk[0], bigints)} (${theirs.message}) but the compiled engine scores it`
          : `the compiled engine fails on row ${JSON.stringify(chunk[0], bigints)}: ${(mine as Error).message}`;
      }
      const d = firstDifference(mine, theirs);
      if (d) return `${d.text} on row ${JSON.stringify(chunk[Math.floor(d.index / Math.max(1, theirs.dims[1] ?? 1))], bigints)}`;
      // Both read by this version's spec: the reference is the same graph, contract and policy.
      const a = this.outcomes(mine, chunk.length);
      const b = this.outcomes(theirs, chunk.length);
      for (let r = 0; r < chunk.length; r++) {
        if (this.decide(a[r]) !== this.decide(b[r])) return `decision ${this.decide(a[r])} where onnxruntime decided ${this.decide(b[r])} (check row ${i + r})`;
      }
    }
    return undefined;
  }

  /** The first value of the read output outside [0, 1] on the check rows and ordinary ones, if any (see refuseNonProbabilities). */
  async firstNonProbability(): Promise<{ value: number; row: Row; columns: number } | undefined> {
    // Extreme values alone can hide a margin: an RBF kernel of a huge value is 0, leaving the intercept.
    const rows = [...checkRows(this.spec.contract, this.spec.samples, this.encoder.probeRows()), ...checkRows(this.spec.contract, this.spec.samples, [], MODERATE)] as Row[];
    for (let i = 0; i < rows.length; i += CHECK_CHUNK) {
      const chunk = rows.slice(i, i + CHECK_CHUNK);
      // A chunk the graph refuses (an unknown category for a strict encoder) is tried row by row:
      // a refused row says nothing about what the output means, the others still do.
      const whole = await this.runRaw(chunk).catch(() => undefined);
      const runs = whole ? [{ out: whole, rows: chunk }] : [];
      if (!whole) {
        for (const row of chunk) {
          const out = await this.runRaw([row]).catch(() => undefined);
          if (out) runs.push({ out, rows: [row] });
        }
      }
      for (const run of runs) {
        const outcomes = this.outcomes(run.out, run.rows.length);
        for (let r = 0; r < outcomes.length; r++) {
          const o = outcomes[r];
          const value = (o.probabilities ?? [o.score]).find((v) => Number.isFinite(v) && (v < -PROBABILITY_SLACK || v > 1 + PROBABILITY_SLACK));
          if (value !== undefined) return { value, row: run.rows[r], columns: run.out.dims.length >= 2 ? run.out.dims[1] : 1 };
        }
      }
    }
    return undefined;
  }

  /** Score one validated row, sharing a run with the requests that arrived in the same turn; `timing` gets how long it waited for this version (RunTiming). */
  scoreOne(row: Row, timing?: RunTiming): Promise<Outcome> {
    return this.batcher.submit(row, timing);
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
    const out = this.runEngine(rows);
    // The compiled engine answers synchronously: no second promise to wait for on its path.
    return this.outcomes(out instanceof Promise ? await out : out, rows.length);
  }

  /** runEngine as a promise: what it throws (a version unloaded meanwhile) becomes a rejection. */
  private async runRaw(rows: Row[]): Promise<RawOutput> {
    return this.runEngine(rows);
  }

  private runEngine(rows: Row[]): RawOutput | Promise<RawOutput> {
    if (this.released) throw new AppError('UNAVAILABLE', `model ${this.spec.model} version ${this.spec.version} was unloaded; retry`);
    return this.engine.run(rows);
  }

  private outcomes(out: RawOutput, rows: number): Outcome[] {
    const name = this.spec.output.name;
    const cols = out.dims.length >= 2 ? out.dims[1] : 1;
    if (out.data.length !== rows * cols) {
      throw new AppError('INVALID_MODEL', `output ${name} has ${out.data.length} values for ${rows} rows`);
    }
    if (this.task === 'multiclass') {
      const classes = this.spec.output.class_labels?.length;
      if (classes !== cols) throw new AppError('INVALID_MODEL', `output ${name} has ${cols} columns for ${classes} classes`);
    } else if (this.spec.output.positive_index >= cols) {
      throw new AppError('INVALID_MODEL', `the score is column ${this.spec.output.positive_index} but output ${name} has ${cols} columns`);
    }
    return this.read(out.data, rows, cols);
  }

  /** Release the engine once nothing is queued or running on it (waiting at most 10 s). */
  async release(): Promise<void> {
    // Wait for queued and running work, but never forever: a stuck run must not block shutdown.
    const until = Date.now() + 10_000;
    while (this.batcher.inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.released = true;
    await this.engine.release();
  }
}

const bigints = (_: string, v: unknown) => (typeof v === 'bigint' ? Number(v) : v);

/**
 * A classifier's score must be a probability: policies, calibration and drift bins assume it.
 * Decision-function exports (scikit-learn's LinearSVC, an SVC without probability=True) put
 * margins where probabilities go, and would be served as if they were. The check rows reach far
 * enough (extreme, unseen and ordinary values) that a margin leaves [0, 1].
 */
async function refuseNonProbabilities(s: Servable): Promise<void> {
  const found = await s.firstNonProbability();
  if (!found) return;
  const asValue = found.columns === 1 ? ', or serve the raw value with --task regression (task "regression" in the manifest)' : '';
  throw new AppError(
    'INVALID_MODEL',
    `output ${s.spec.output.name} does not hold probabilities: it gave ${found.value} for row ${JSON.stringify(found.row, bigints)}, and a ${s.task} model's scores are class probabilities between 0 and 1. ` +
      `A decision-function export (LinearSVC, SVC without probability=True) outputs margins: calibrate the classifier before exporting (scikit-learn's CalibratedClassifierCV)${asValue}`,
  );
}

/**
 * Registration's smoke test: load the graph and score a neutral row. A model that does not
 * load, or whose output cannot be read as a finite score, is refused before anything is stored.
 * Also says which engine the version serves on (the same check every server makes at load).
 */
export async function smokeTest(bytes: Uint8Array, spec: ServableSpec, engine: EngineChoice = 'auto'): Promise<{ score: number; engine: EngineInfo }> {
  const s = await Servable.load(bytes, spec, { intraOpThreads: 1, batch: { maxRows: 1, maxWaitUs: 0 }, engine });
  try {
    let score: number;
    try {
      [score] = await s.scores([s.encoder.sampleRow()]);
    } catch (e) {
      throw e instanceof AppError ? e : new AppError('INVALID_MODEL', `smoke inference failed: ${errorMessage(e)}`);
    }
    if (!Number.isFinite(score)) throw new AppError('INVALID_MODEL', `smoke inference returned ${score}, not a finite score`);
    if (s.task !== 'regression') await refuseNonProbabilities(s);
    return { score, engine: s.info };
  } finally {
    await s.release();
  }
}
