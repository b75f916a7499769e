import { z } from 'zod';
import { AppError } from '../lib/errors.js';
import type { GraphInfo, TensorType } from './onnx-graph.js';

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
  /** Categories the graph knows (from its OneHotEncoder); others still pass through. */
  categories: z.array(z.string()).optional(),
});

export const contractSchema = z.object({
  contract_version: z.number().int(),
  layout: z.enum(['columns', 'matrix']),
  features: z.array(featureSchema).min(1),
  /**
   * What a missing (null or absent) string feature becomes before the graph sees it: the value
   * the model was trained with for a missing category ('' for modelgate's trainer; e.g.
   * 'missing' for a scikit-learn pipeline that imputes a constant). Unset: a missing string is
   * refused with 400.
   */
  missing_category: z.string().optional(),
});

export const outputSchema = z.object({
  /** Graph output read at serving time (after the ZipMap rewrite, the tensor it wrapped). */
  name: z.string().min(1),
  /** zipmap: the registered graph's output was a ZipMap and is rewritten at load. */
  source: z.enum(['tensor', 'zipmap']),
  /** The ZipMap output that is dropped at load (source zipmap only). */
  zipmap_output: z.string().optional(),
  /** Column of the probability tensor that is the score (the positive class). */
  positive_index: z.number().int().min(0),
  class_labels: z.array(z.union([z.string(), z.number()])).optional(),
});

export type Feature = z.infer<typeof featureSchema>;
export type Contract = z.infer<typeof contractSchema>;
export type OutputSpec = z.infer<typeof outputSchema>;

export interface DeriveOptions {
  /** Names for the columns of a single [N,F] input (XGBoost/LightGBM exports). */
  featureNames?: string[];
  /** Graph output to read; default: the ZipMap or probability tensor. */
  outputName?: string;
  /** Which probability column is the score; default: 1 for two classes, 0 for one. */
  positiveIndex?: number;
}

const isNumeric = (t: string) => t === 'float' || t === 'double';

export function deriveContract(graph: GraphInfo, opts: DeriveOptions = {}): { contract: Contract; output: OutputSpec } {
  const unsupported = graph.inputs.filter((i) => i.type.startsWith('unsupported'));
  if (unsupported.length) {
    throw new AppError('INVALID_MODEL', `graph inputs of unsupported type: ${unsupported.map((i) => `${i.name} (${i.type})`).join(', ')}; modelgate feeds float, double, int64, int32, string and bool tensors`);
  }
  let contract: Contract;
  const single = graph.inputs.length === 1 ? graph.inputs[0] : undefined;
  const width = single?.shape?.length === 2 ? single.shape[1] : null;
  if (single && isNumeric(single.type) && (width === null || width > 1 || opts.featureNames)) {
    const names = opts.featureNames;
    if (!names || names.length === 0) {
      throw new AppError('INVALID_MODEL', `the model takes one ${single.type} matrix input "${single.name}"${width ? ` with ${width} columns` : ''}; name its columns with --feature-names a,b,c or feature_names in the manifest`);
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
      throw new AppError('INVALID_MODEL', `inputs ${wide.map((i) => `${i.name} [${i.shape!.map((d) => d ?? 'N').join(',')}]`).join(', ')} are not one column each; modelgate serves graphs with one [N,1] input per column or a single [N,F] float input`);
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
      })),
    };
  }
  return { contract, output: pickOutput(graph, opts) };
}

function pickOutput(graph: GraphInfo, opts: DeriveOptions): OutputSpec {
  const candidates = opts.outputName ? graph.outputs.filter((o) => o.name === opts.outputName) : graph.outputs;
  if (opts.outputName && candidates.length === 0) {
    throw new AppError('INVALID_MODEL', `the graph has no output "${opts.outputName}"; it has ${graph.outputs.map((o) => o.name).join(', ')}`);
  }
  const zipmap = candidates.find((o) => o.kind === 'zipmap');
  if (zipmap) {
    const classes = zipmap.classLabels ?? [];
    return {
      name: zipmap.zipmapSource!,
      source: 'zipmap',
      zipmap_output: zipmap.name,
      positive_index: positiveIndex(classes.length || 2, opts.positiveIndex),
      ...(classes.length ? { class_labels: classes } : {}),
    };
  }
  const floats = candidates.filter((o) => o.kind === 'tensor' && isNumeric(o.type ?? ''));
  const prob = floats.find((o) => /prob/i.test(o.name)) ?? floats[0];
  if (!prob) {
    throw new AppError('INVALID_MODEL', `no probability output: outputs are ${graph.outputs.map((o) => `${o.name} (${o.kind}${o.type ? ` ${o.type}` : ''})`).join(', ')}; modelgate reads a float probability tensor or a ZipMap`);
  }
  const cols = prob.shape && prob.shape.length === 2 ? prob.shape[1] : 1;
  return { name: prob.name, source: 'tensor', positive_index: positiveIndex(cols ?? 2, opts.positiveIndex) };
}

function positiveIndex(columns: number, requested: number | undefined): number {
  if (requested !== undefined) {
    if (requested >= columns) throw new AppError('INVALID_MODEL', `positive class index ${requested} is out of range: the model has ${columns} probability columns`);
    return requested;
  }
  if (columns > 2) {
    throw new AppError('INVALID_MODEL', `the model outputs ${columns} class probabilities; say which one is the score with positive_class in the manifest`);
  }
  return columns === 2 ? 1 : 0;
}
