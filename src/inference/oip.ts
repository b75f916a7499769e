import { AppError } from '../lib/errors.js';
import { isNumberType, type Contract, type Feature } from './contract.js';
import type { PresentedOutcome } from './outcome.js';
import type { Servable, ServableSpec } from './servable.js';
import { FEEDBACK_ADVICE, leftOutReason } from './training-columns.js';

/**
 * The Open Inference Protocol v2 (KServe, Triton, MLServer) in modelgate's terms: a request's
 * tensors become the payloads /v1 takes, and outcomes become output tensors. Transport-free,
 * so the route only wires it to HTTP.
 */

export const OIP_DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
export type OipDatatype = (typeof OIP_DATATYPES)[number];

export interface OipTensor {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data: unknown;
}

export interface OipRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: OipTensor[];
  outputs?: { name: string; parameters?: Record<string, unknown> }[];
}

/** The datatypes a feature of each contract type takes (the closest first: that is what metadata advertises). */
const ACCEPTS: Record<Feature['type'], OipDatatype[]> = {
  float: ['FP32', 'FP64', 'INT64', 'INT32', 'FP16'],
  double: ['FP64', 'FP32', 'INT64', 'INT32', 'FP16'],
  int64: ['INT64', 'INT32', 'INT16', 'INT8', 'UINT32', 'UINT16', 'UINT8'],
  int32: ['INT32', 'INT16', 'INT8', 'UINT16', 'UINT8', 'INT64'],
  string: ['BYTES'],
  bool: ['BOOL'],
};

/** A [N,F] feature matrix's datatypes: each feature's own check then says whether a value fits it (an integer feature refuses 1.5). */
const MATRIX_TYPES: OipDatatype[] = ['FP32', 'FP64', 'INT64', 'INT32'];

const bad = (message: string): never => {
  throw new AppError('VALIDATION_FAILED', message);
};

const isNumericFeature = (f: Feature) => isNumberType(f.type);

/** Model metadata: one input per feature (or the [N,F] matrix), and the outputs of the model's task. */
export function oipMetadata(s: Servable, versions: number[]) {
  const { contract, output } = s.spec;
  const matrix = contract.layout === 'matrix';
  const inputs = matrix
    ? [{ name: contract.features[0].input, datatype: ACCEPTS[contract.features[0].type][0], shape: [-1, contract.features.length] }]
    : contract.features.map((f) => ({ name: f.name, datatype: ACCEPTS[f.type][0], shape: [-1] }));
  return {
    name: s.spec.model,
    versions: versions.map(String),
    platform: 'onnxruntime_onnx',
    inputs,
    outputs: outputTensors(s).map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    parameters: {
      task: s.task,
      version: String(s.spec.version),
      ...(matrix ? { feature_names: contract.features.map((f) => f.name) } : {}),
      ...(s.task === 'multiclass' ? { classes: output.class_labels } : {}),
    },
  };
}

/** The output tensors of a task, with their shapes for one row (-1: the batch). */
function outputTensors(s: Servable): { name: string; datatype: OipDatatype; shape: number[] }[] {
  const classes = s.spec.output.class_labels ?? [];
  const intLabels = classes.length > 0 && classes.every((c) => typeof c === 'number');
  return [
    ...(s.task === 'multiclass'
      ? [
          { name: 'label', datatype: (intLabels ? 'INT64' : 'BYTES') as OipDatatype, shape: [-1] },
          { name: 'probabilities', datatype: 'FP64' as OipDatatype, shape: [-1, classes.length] },
        ]
      : []),
    ...(s.task === 'regression' ? [{ name: 'value', datatype: 'FP64' as OipDatatype, shape: [-1] }] : []),
    { name: 'score', datatype: 'FP64', shape: [-1] },
    { name: 'decision', datatype: 'BYTES', shape: [-1] },
    { name: 'prediction_id', datatype: 'BYTES', shape: [-1] },
  ];
}

function flatten(data: unknown, where: string): unknown[] {
  if (!Array.isArray(data)) return bad(`${where}.data: expected an array of values (or, with the binary data extension, parameters.binary_data_size)`);
  return data.some(Array.isArray) ? (data as unknown[]).flat(Infinity) : data;
}

/** A tensor's shape and datatype checked; the number of values its shape holds. */
export function checkShape(t: OipTensor, where: string): number {
  if (!Array.isArray(t.shape) || t.shape.length === 0 || t.shape.some((d) => !Number.isInteger(d) || d < 0))
    bad(`${where}.shape: expected a list of non-negative integers, got ${JSON.stringify(t.shape)}`);
  if (!(OIP_DATATYPES as readonly string[]).includes(t.datatype)) bad(`${where}.datatype: unknown datatype ${JSON.stringify(t.datatype)}; the protocol's datatypes are ${OIP_DATATYPES.join(', ')}`);
  return t.shape.reduce((a, b) => a * b, 1);
}

/** A value of a tensor as a /v1 payload value: numbers stay numbers (null = missing), BYTES strings, BOOL booleans. */
function value(v: unknown, datatype: string, where: string): unknown {
  if (v === null) return null;
  if (datatype === 'BYTES') return typeof v === 'string' ? v : bad(`${where}: a BYTES value is a string, got ${JSON.stringify(v)}`);
  if (datatype === 'BOOL') return typeof v === 'boolean' ? v : bad(`${where}: a BOOL value is true or false, got ${JSON.stringify(v)}`);
  if (typeof v !== 'number') return bad(`${where}: a ${datatype} value is a number, got ${JSON.stringify(v)}`);
  if (datatype.includes('INT') && !Number.isInteger(v)) bad(`${where}: a ${datatype} value is an integer, got ${v}`);
  return v;
}

/** Why a name that is no input was left out of the version's features, when its training data had that column. */
function leftOutHint(name: string, spec: Pick<ServableSpec, 'leftOut' | 'target'>): string {
  if (name === spec.target) return `: it is the outcome this version predicts; ${FEEDBACK_ADVICE}`;
  const why = leftOutReason(spec, name);
  return why !== undefined ? `: the version was trained without it (${why}); leave it out` : '';
}

/**
 * The rows of an infer request as payloads (feature → value), in the order of the batch. Either
 * one tensor per feature ([N] or [N,1]), or one [N,F] numeric tensor with the features in
 * contract order.
 */
export function oipPayloads(req: OipRequest, spec: Pick<ServableSpec, 'contract' | 'leftOut' | 'target'>): Record<string, unknown>[] {
  const { contract } = spec;
  const features = contract.features;
  if (!Array.isArray(req.inputs) || req.inputs.length === 0) bad('inputs: expected at least one input tensor');
  const names = new Set(features.map((f) => f.name));
  const single = req.inputs.length === 1 ? req.inputs[0] : undefined;
  if (single && !names.has(single.name) && Array.isArray(single.shape) && single.shape.length === 2 && features.length > 1) {
    return matrixPayloads(single, contract);
  }
  const matrixName = contract.layout === 'matrix' ? features[0].input : undefined;
  if (matrixName !== undefined && req.inputs.some((t) => t?.name === matrixName)) {
    bad(
      `inputs: this model takes one [N,${features.length}] tensor ${matrixName} (${MATRIX_TYPES.join(', ')}) or one tensor per feature (${features.map((f) => f.name).join(', ')}); got ${req.inputs.map((t) => t?.name).join(', ')}`,
    );
  }
  let rows: number | undefined;
  const byName = new Map<string, { tensor: OipTensor; values: unknown[]; where: string }>();
  req.inputs.forEach((t, i) => {
    const where = `inputs[${i}]`;
    if (!t || typeof t !== 'object' || typeof t.name !== 'string') bad(`${where}: expected a tensor with name, shape, datatype and data`);
    if (!names.has(t.name))
      bad(
        `${where}: ${JSON.stringify(t.name)} is not an input of this model${leftOutHint(t.name, spec)}; its inputs are ${[...names].join(', ')}${contract.layout === 'matrix' || features.every(isNumericFeature) ? `, or one [N,${features.length}] numeric tensor` : ''}`,
      );
    if (byName.has(t.name)) bad(`${where}: input ${t.name} is given twice`);
    const size = checkShape(t, where);
    if (t.shape.length > 2 || (t.shape.length === 2 && t.shape[1] !== 1)) bad(`${where}.shape: input ${t.name} is one feature: [N] or [N,1], got [${t.shape.join(',')}]`);
    const f = features.find((x) => x.name === t.name)!;
    if (!ACCEPTS[f.type].includes(t.datatype as OipDatatype)) bad(`${where}.datatype: input ${t.name} is ${f.type}: send ${ACCEPTS[f.type].join(' or ')}, not ${t.datatype}`);
    const values = flatten(t.data, where);
    if (values.length !== size) bad(`${where}: shape [${t.shape.join(',')}] holds ${size} values but data has ${values.length}`);
    if (rows !== undefined && t.shape[0] !== rows) bad(`${where}.shape: input ${t.name} has ${t.shape[0]} rows, the inputs before it ${rows}`);
    rows = t.shape[0];
    byName.set(t.name, { tensor: t, values, where });
  });
  const absent = features.filter((f) => !byName.has(f.name)).map((f) => f.name);
  if (absent.length) bad(`inputs: missing input${absent.length > 1 ? 's' : ''} ${absent.join(', ')} (one tensor per model feature)`);
  const out: Record<string, unknown>[] = new Array(rows!);
  for (let r = 0; r < rows!; r++) {
    const payload: Record<string, unknown> = {};
    for (const [name, { tensor, values, where }] of byName) payload[name] = value(values[r], tensor.datatype, `${where}.data[${r}]`);
    out[r] = payload;
  }
  return out;
}

function matrixPayloads(t: OipTensor, contract: Contract): Record<string, unknown>[] {
  const features = contract.features;
  const where = 'inputs[0]';
  const size = checkShape(t, where);
  if (!features.every(isNumericFeature)) bad(`${where}: a [N,F] tensor needs a model whose features are all numbers; send one tensor per feature (${features.map((f) => f.name).join(', ')})`);
  if (t.shape[1] !== features.length) bad(`${where}.shape: [${t.shape.join(',')}] has ${t.shape[1]} columns; the model has ${features.length} features (${features.map((f) => f.name).join(', ')})`);
  if (!MATRIX_TYPES.includes(t.datatype as OipDatatype)) bad(`${where}.datatype: a feature matrix is ${MATRIX_TYPES.join(', ')}, not ${t.datatype}`);
  const values = flatten(t.data, where);
  if (values.length !== size) bad(`${where}: shape [${t.shape.join(',')}] holds ${size} values but data has ${values.length}`);
  const rows = t.shape[0];
  const out: Record<string, unknown>[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    const payload: Record<string, unknown> = {};
    features.forEach((f, j) => (payload[f.name] = value(values[r * features.length + j], t.datatype, `${where}.data[${r * features.length + j}]`)));
    out[r] = payload;
  }
  return out;
}

/** The response's output tensors for the scored rows (only those named in `requested`, when given). */
export function oipOutputs(s: Servable, rows: { id: string; presented: PresentedOutcome }[], requested?: { name: string }[]): OipTensor[] {
  const all = outputTensors(s);
  let wanted = all;
  if (requested?.length) {
    const names = new Set(all.map((o) => o.name));
    const unknown = requested.map((o) => o?.name).filter((n) => !names.has(n));
    if (unknown.length) bad(`outputs: ${unknown.map((n) => JSON.stringify(n)).join(', ')} is not an output of this model; its outputs are ${[...names].join(', ')}`);
    const asked = new Set(requested.map((o) => o.name));
    wanted = all.filter((o) => asked.has(o.name));
  }
  const n = rows.length;
  const classes = (s.spec.output.class_labels ?? []).map(String);
  return wanted.map((o) => {
    switch (o.name) {
      case 'label':
        return { name: o.name, datatype: o.datatype, shape: [n], data: rows.map((r) => r.presented.label) };
      case 'probabilities':
        return {
          name: o.name,
          datatype: o.datatype,
          shape: [n, classes.length],
          data: rows.flatMap((r) => classes.map((c) => r.presented.probabilities?.[c] ?? 0)),
          parameters: { classes: s.spec.output.class_labels },
        };
      case 'value':
        return { name: o.name, datatype: o.datatype, shape: [n], data: rows.map((r) => r.presented.value) };
      case 'score':
        return { name: o.name, datatype: o.datatype, shape: [n], data: rows.map((r) => r.presented.score) };
      case 'decision':
        return { name: o.name, datatype: o.datatype, shape: [n], data: rows.map((r) => r.presented.decision) };
      default:
        return { name: o.name, datatype: o.datatype, shape: [n], data: rows.map((r) => r.id) };
    }
  });
}
