import { z } from 'zod';
import { AppError } from '../lib/errors.js';
import { closedCategoryInputs, type GraphInfo, type TensorType } from './onnx-graph.js';

/** Bumped when the meaning of a contract changes; `verify` refuses versions it cannot read. */
export const CONTRACT_VERSION = 1;
export const SUPPORTED_CONTRACT_VERSIONS = [1];

const featureType = z.enum(['float', 'double', 'int64', 'int32', 'string', 'bool']);

export const featureSchema = z.object({
  name: z.string().min(1),
  type: featureType,
  /** Graph input that carries it: its own input (columns layout) or the shared matrix input. */
  input: z.string().min(1),
  /** Column inside the matrix input (matrix layout only). */
  index: z.number().int().min(0).optional(),
  /** Categories the graph knows (from its OneHotEncoder); others still pass through, unless categories_only. */
  categories: z.array(z.string()).optional(),
  /** The graph's OneHotEncoder fails on any other category (scikit-learn's handle_unknown="error"): such a value is a 400, not a failed run. */
  categories_only: z.boolean().optional(),
});

/** What a model predicts; it decides the response, the policies and the statistics. */
export const TASKS = ['binary', 'multiclass', 'regression'] as const;
export const taskSchema = z.enum(TASKS);
export type Task = z.infer<typeof taskSchema>;

export const contractSchema = z.object({
  contract_version: z.number().int(),
  /** Absent in manifests written before tasks existed: those are binary. */
  task: taskSchema.optional(),
  layout: z.enum(['columns', 'matrix']),
  features: z.array(featureSchema).min(1),
  /**
   * What a missing (null or absent) string feature becomes before the graph sees it: the value
   * the model was trained with for a missing category ('' for modelgate's trainer; e.g.
   * 'missing' for a scikit-learn pipeline that imputes a constant). Unset: a missing string is
   * refused with 400.
   */
  missing_category: z.string().optional(),
  /**
   * 'train': values are read as `modelgate train` read its CSV — a string feature trimmed, and
   * a missing-value token (NA, NULL, ?, None, …) or a blank missing; in a CSV (evaluate, score,
   * register --reference) also a numeric cell that is not a number missing, where it is refused
   * otherwise. Unset: a string goes to the graph as sent (an imported pipeline's own encoders
   * decide).
   */
  cell_reading: z.enum(['train']).optional(),
});

export const outputSchema = z.object({
  /** Graph output read at serving time (after the ZipMap rewrite, the tensor it wrapped). */
  name: z.string().min(1),
  /** zipmap: the registered graph's output was a ZipMap and is rewritten at load. */
  source: z.enum(['tensor', 'zipmap']),
  /** The ZipMap output that is dropped at load (source zipmap only). */
  zipmap_output: z.string().optional(),
  /** Column of the output tensor read as the score: binary, the positive class; regression, the value (0). Unused for multiclass. */
  positive_index: z.number().int().min(0),
  /** Class labels in probability-column order (multiclass: always; binary: when the graph names them). */
  class_labels: z.array(z.union([z.string(), z.number()])).optional(),
});

export type Feature = z.infer<typeof featureSchema>;
export type ClassLabel = string | number;

/** The task of a version's contract (manifests from before tasks are binary). */
export const taskOf = (c: { task?: Task }): Task => c.task ?? 'binary';
export type Contract = z.infer<typeof contractSchema>;
export type OutputSpec = z.infer<typeof outputSchema>;

export interface DeriveOptions {
  /** Names for the columns of a single [N,F] input (XGBoost/LightGBM exports). */
  featureNames?: string[];
  /** Graph output to read; default: the ZipMap or probability tensor. */
  outputName?: string;
  /** Which class's probability is the score: its column (a number) or its label (a string); default: column 1 of two. */
  positiveClass?: number | string;
  /** What the model predicts; default: read from the graph (see pickOutput). */
  task?: Task;
  /** A binary model's two classes in column order (negative, positive), for a graph that does not name them (modelgate's own binary exports). */
  classLabels?: [string, string];
}

const isNumeric = (t: string) => t === 'float' || t === 'double';
/** Number types: a single [N,F] input of one is a feature matrix (`to_onnx(model, X[:1])` makes one of X's dtype), and such features can travel as one. */
export const isNumberType = (t: string) => isNumeric(t) || t === 'int64' || t === 'int32';

export function deriveContract(graph: GraphInfo, opts: DeriveOptions = {}): { contract: Contract; output: OutputSpec } {
  const unsupported = graph.inputs.filter((i) => i.type.startsWith('unsupported'));
  if (unsupported.length) {
    throw new AppError(
      'INVALID_MODEL',
      `graph inputs of unsupported type: ${unsupported.map((i) => `${i.name} (${i.type})`).join(', ')}; modelgate feeds float, double, int64, int32, string and bool tensors`,
    );
  }
  let contract: Contract;
  const single = graph.inputs.length === 1 ? graph.inputs[0] : undefined;
  const width = single?.shape?.length === 2 ? single.shape[1] : null;
  if (single && isNumberType(single.type) && (width === null || width > 1 || opts.featureNames)) {
    const names = opts.featureNames;
    if (!names || names.length === 0) {
      throw new AppError(
        'INVALID_MODEL',
        `the model takes one ${single.type} matrix input "${single.name}"${width ? ` with ${width} columns` : ''}; name its columns with --feature-names a,b,c or feature_names in the manifest`,
      );
    }
    if (width !== null && names.length !== width) {
      throw new AppError('INVALID_MODEL', `${names.length} feature names given but input "${single.name}" has ${width} columns`);
    }
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw new AppError('INVALID_MODEL', `feature name "${dup}" is given twice`);
    contract = {
      contract_version: CONTRACT_VERSION,
      layout: 'matrix',
      features: names.map((name, index) => ({ name, type: single.type as TensorType, input: single.name, index })),
    };
  } else {
    const wide = graph.inputs.filter((i) => i.shape && (i.shape.length !== 2 || (i.shape[1] !== null && i.shape[1] !== 1)));
    if (wide.length) {
      throw new AppError(
        'INVALID_MODEL',
        `inputs ${wide.map((i) => `${i.name} [${i.shape!.map((d) => d ?? 'N').join(',')}]`).join(', ')} are not one column each; modelgate serves graphs with one [N,1] input per column or a single [N,F] numeric input`,
      );
    }
    if (opts.featureNames) {
      throw new AppError('INVALID_MODEL', 'feature names are only for a single [N,F] matrix input; this graph names its columns itself');
    }
    contract = {
      contract_version: CONTRACT_VERSION,
      layout: 'columns',
      features: graph.inputs.map((i) => ({
        name: i.name,
        type: i.type as TensorType,
        input: i.name,
        ...(graph.categories[i.name] ? { categories: graph.categories[i.name] } : {}),
        ...(graph.closedCategories.includes(i.name) ? { categories_only: true } : {}),
      })),
    };
  }
  assertSendableNames(contract.features, contract.layout === 'matrix');
  const { task, output } = pickOutput(graph, opts);
  return { contract: { ...contract, task }, output };
}

/**
 * A feature is a field of a request's JSON body, so it needs a name a body can carry: not empty,
 * and not `__proto__`, which the JSON parser refuses (prototype pollution). Refused at
 * registration, not found at the first request.
 */
function assertSendableNames(features: Contract['features'], named: boolean) {
  const empty = features.findIndex((f) => f.name === '');
  const where = named ? '--feature-names (feature_names in the manifest)' : 'the graph';
  if (empty >= 0) throw new AppError('INVALID_MODEL', `feature ${empty + 1} of ${where} has an empty name; a request could not send it, so give every feature a name`);
  if (features.some((f) => f.name === '__proto__'))
    throw new AppError('INVALID_MODEL', `a feature of ${where} is named __proto__, which no request can send (JSON bodies setting __proto__ are refused); rename it`);
}

/**
 * A contract stored before `categories_only` existed (modelgate 0.1.0) learns it from its graph
 * when the version is read to serve: without it, an unknown category for a one-hot encoder that
 * refuses them failed the run (500, a whole batch or score file) instead of being a 400.
 */
export function withClosedCategories(contract: Contract, graph: Uint8Array): Contract {
  const open = (f: Feature) => f.type === 'string' && !!f.categories?.length && !f.categories_only;
  if (contract.layout !== 'columns' || !contract.features.some(open)) return contract;
  const closed = closedCategoryInputs(graph);
  if (!contract.features.some((f) => open(f) && closed.has(f.input))) return contract;
  return { ...contract, features: contract.features.map((f) => (open(f) && closed.has(f.input) ? { ...f, categories_only: true } : f)) };
}

const describeOutputs = (graph: GraphInfo) => graph.outputs.map((o) => `${o.name} (${o.kind}${o.type ? ` ${o.type}` : ''}${o.shape ? ` [${o.shape.map((d) => d ?? 'N').join(',')}]` : ''})`).join(', ');

/**
 * Which output serves and what it means. A ZipMap, a tensor named like probabilities, or a
 * float output beside a classifier node holds class probabilities: two classes are binary, more
 * are multiclass. A single float output with no classifier in the graph (scikit-learn's
 * `variable` [N,1]) is a regression value. `task` overrides the reading where the graph allows it.
 */
function pickOutput(graph: GraphInfo, opts: DeriveOptions): { task: Task; output: OutputSpec } {
  const candidates = opts.outputName ? graph.outputs.filter((o) => o.name === opts.outputName) : graph.outputs;
  if (opts.outputName && candidates.length === 0) {
    throw new AppError('INVALID_MODEL', `the graph has no output "${opts.outputName}"; it has ${graph.outputs.map((o) => o.name).join(', ')}`);
  }
  const zipmap = candidates.find((o) => o.kind === 'zipmap');
  if (zipmap) {
    if (opts.task === 'regression') throw new AppError('INVALID_MODEL', `output ${zipmap.name} is a ZipMap of class probabilities, not a value; a regression model has one float value output`);
    const classes = zipmap.classLabels ?? [];
    return classifierOutput({ name: zipmap.zipmapSource!, source: 'zipmap', zipmap_output: zipmap.name }, classes.length || 2, classes, opts);
  }
  const floats = candidates.filter((o) => o.kind === 'tensor' && isNumeric(o.type ?? ''));
  if (floats.length === 0) {
    throw new AppError(
      'INVALID_MODEL',
      `no output reads as a score, value or probabilities: outputs are ${describeOutputs(graph)}; modelgate reads a float probability tensor, a ZipMap or one float value tensor`,
    );
  }
  const named = floats.find((o) => /prob/i.test(o.name));
  const perClass = named
    ? undefined
    : perClassOutputs(
        graph,
        graph.outputs.filter((o) => o.kind === 'tensor' && isNumeric(o.type ?? '')),
      );
  if (perClass) {
    // "output" naming one of them serves that class's probability as a binary score.
    const found = opts.outputName ? perClass.findIndex((o) => o.name === opts.outputName) : -1;
    const at = found >= 0 ? found : undefined;
    return at !== undefined || perClass.length === 2 ? perClassBinary(perClass, graph.classifierLabels!, opts, at) : refusePerClass(perClass);
  }
  if (!named && floats.length > 1) {
    throw new AppError(
      'INVALID_MODEL',
      `outputs ${floats.map((o) => o.name).join(', ')} could each be the prediction; name the one to read with "output" in the manifest (--manifest) or register a graph with one float output`,
    );
  }
  const classifier = graph.classifierLabels !== undefined;
  const chosen = named ?? floats[0];
  const cols = columnsOf(chosen);
  const reads = opts.task ?? (named || classifier || /score/i.test(chosen.name) ? undefined : 'regression');
  if (reads === 'regression') {
    if (cols !== null && cols !== 1) throw new AppError('INVALID_MODEL', `output ${chosen.name} has ${cols} columns; a regression model outputs one value per row ([N,1] or [N])`);
    return { task: 'regression', output: { name: chosen.name, source: 'tensor', positive_index: 0 } };
  }
  const all = graph.classifierLabels;
  // One column beside a two-class classifier is the positive class's (column 1 of the two): name that class.
  const labels = all && (cols === null || all.length === cols) ? all : all && cols === 1 && all.length === 2 ? [all[1]] : [];
  return classifierOutput({ name: chosen.name, source: 'tensor' }, cols ?? (labels.length || 2), labels, opts);
}

/** A binary output's positive class, when the graph names its classes: the class the score is the probability of. */
export function positiveClassOf(task: Task, output: OutputSpec): ClassLabel | undefined {
  const labels = output.class_labels;
  return task === 'binary' && labels && output.positive_index < labels.length ? labels[output.positive_index] : undefined;
}

const columnsOf = (o: GraphInfo['outputs'][number]): number | null => (o.shape && o.shape.length === 2 ? o.shape[1] : o.shape?.length === 1 ? 1 : null);

/**
 * scikit-learn's `zipmap="columns"` export: one single-column float output per class of the
 * graph's classifier, in class order, named `i<label>` (integer labels) or `s<label>`, where the
 * default export has one probabilities tensor. Other graphs with several outputs are not guessed at.
 */
function perClassOutputs(graph: GraphInfo, floats: GraphInfo['outputs']): GraphInfo['outputs'] | undefined {
  const classes = graph.classifierLabels;
  if (!classes || classes.length !== floats.length) return undefined;
  const named = floats.every((o, i) => o.name === `${typeof classes[i] === 'number' ? 'i' : 's'}${classes[i]}` && [1, null].includes(columnsOf(o)));
  return named ? floats : undefined;
}

/** Per-class outputs as a binary score: the named one's, else the positive class's of two (the second, or positive_class). */
function perClassBinary(outputs: GraphInfo['outputs'], classes: ClassLabel[], opts: DeriveOptions, named?: number): { task: Task; output: OutputSpec } {
  if (opts.task === 'multiclass') refusePerClass(outputs);
  if (opts.task === 'regression')
    throw new AppError('INVALID_MODEL', `outputs ${outputs.map((o) => o.name).join(', ')} hold class probabilities, not a value; register a regression model by its value output`);
  let at: number;
  if (named === undefined) at = positiveIndex(2, classes, opts.positiveClass);
  else {
    at = named;
    // The named output holds one class's probability: its only column, or that class by label.
    const p = opts.positiveClass;
    if (p !== undefined && p !== 0 && String(p) !== String(classes[at])) {
      throw new AppError('INVALID_MODEL', `output ${outputs[at].name} holds the probability of class ${JSON.stringify(classes[at])}, not of positive_class ${JSON.stringify(p)}`);
    }
  }
  return { task: 'binary', output: { name: outputs[at].name, source: 'tensor', positive_index: 0, class_labels: [classes[at]] } };
}

function refusePerClass(outputs: GraphInfo['outputs']): never {
  throw new AppError(
    'INVALID_MODEL',
    `outputs ${outputs.map((o) => o.name).join(', ')} each hold one class's probability (scikit-learn's zipmap="columns" export); modelgate reads a multiclass model's probabilities from one output: export it with the default ZipMap or with options={"zipmap": False}`,
  );
}

function classifierOutput(base: Pick<OutputSpec, 'name' | 'source' | 'zipmap_output'>, columns: number, graphClasses: ClassLabel[], opts: DeriveOptions): { task: Task; output: OutputSpec } {
  const named = opts.classLabels;
  if (named && graphClasses.length && graphClasses.map(String).join('\u0000') !== named.join('\u0000'))
    throw new AppError('INVALID_MODEL', `class_labels ${JSON.stringify(named)}: the graph names its classes ${JSON.stringify(graphClasses)}; leave class_labels out`);
  if (named && (columns !== 2 || opts.task === 'multiclass'))
    throw new AppError('INVALID_MODEL', `class_labels name a binary model's two classes; output ${base.name} has ${columns} columns${opts.task ? ` and the task is ${opts.task}` : ''}`);
  const classes = graphClasses.length ? graphClasses : (named ?? []);
  const labelled = classes.length ? { class_labels: classes } : {};
  const task = opts.task ?? (columns > 2 && opts.positiveClass === undefined ? 'multiclass' : 'binary');
  if (task === 'multiclass') {
    if (columns < 2) throw new AppError('INVALID_MODEL', `output ${base.name} has one column; a multiclass model outputs one probability per class`);
    if (opts.positiveClass !== undefined) throw new AppError('INVALID_MODEL', 'positive_class is for a binary model; a multiclass model serves every class');
    const class_labels = classes.length === columns ? classes : Array.from({ length: columns }, (_, i) => i);
    return { task, output: { ...base, positive_index: 0, class_labels } };
  }
  if (task === 'regression') throw new AppError('INVALID_MODEL', `output ${base.name} holds class probabilities, not a value; register a regression model by its value output`);
  return { task, output: { ...base, positive_index: positiveIndex(columns, classes, opts.positiveClass), ...labelled } };
}

/** The score's column: positive_class as a column number or a class label, else column 1 of two. */
function positiveIndex(columns: number, classes: ClassLabel[], requested: number | string | undefined): number {
  if (typeof requested === 'string') {
    if (!classes.length) {
      throw new AppError('INVALID_MODEL', `positive_class ${JSON.stringify(requested)}: the graph does not name its classes; give the probability column as a number (0 to ${columns - 1})`);
    }
    const at = classes.findIndex((c) => String(c) === requested);
    if (at < 0) throw new AppError('INVALID_MODEL', `positive_class ${JSON.stringify(requested)} is not a class of this output; its classes are ${classes.map((c) => JSON.stringify(c)).join(', ')}`);
    return at;
  }
  if (requested !== undefined) {
    if (requested >= columns) throw new AppError('INVALID_MODEL', `positive class index ${requested} is out of range: the model has ${columns} probability columns`);
    return requested;
  }
  if (columns > 2) {
    throw new AppError(
      'INVALID_MODEL',
      `the model outputs ${columns} class probabilities; serve it as multiclass (the default), or say which one is the score of a binary model with positive_class in the manifest`,
    );
  }
  return columns === 2 ? 1 : 0;
}
