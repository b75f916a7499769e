import { onnx, type NodeProto, type Onnx } from '../lib/onnx-proto.js';
import { AppError } from '../lib/errors.js';
import {
  concat,
  fields,
  GRAPH_INITIALIZER,
  GRAPH_INPUT,
  GRAPH_NODE,
  GRAPH_OUTPUT,
  GRAPH_VALUE_INFO,
  lengthDelimited,
  MODEL_GRAPH,
  NODE_INPUT,
  NODE_OP_TYPE,
  NODE_OUTPUT,
  nodeHeader,
  payload,
  stringField,
  TENSOR_NAME,
  VALUE_INFO_NAME,
  type Field,
} from './onnx-wire.js';

type ModelProto = InstanceType<Onnx['ModelProto']>;
type GraphProto = InstanceType<Onnx['GraphProto']>;

/** ONNX TensorProto.DataType values modelgate can feed or read. */
const ELEM_TYPES: Record<number, TensorType> = { 1: 'float', 11: 'double', 7: 'int64', 6: 'int32', 8: 'string', 9: 'bool' };
export type TensorType = 'float' | 'double' | 'int64' | 'int32' | 'string' | 'bool';

export interface GraphInput {
  name: string;
  type: TensorType | `unsupported(${number})`;
  /** Dimension sizes; null where the graph leaves a dimension symbolic (the batch axis). */
  shape: (number | null)[] | null;
}

export interface GraphOutput {
  name: string;
  kind: 'tensor' | 'zipmap' | 'other';
  type?: TensorType | `unsupported(${number})`;
  shape?: (number | null)[] | null;
  /** For a ZipMap output: the tensor it wraps, and its class labels. */
  zipmapSource?: string;
  classLabels?: (string | number)[];
}

export interface GraphInfo {
  irVersion: number;
  opsets: Record<string, number>;
  producer: string;
  inputs: GraphInput[];
  outputs: GraphOutput[];
  /** Categories of the OneHotEncoder fed directly by a graph input, by input name. */
  categories: Record<string, string[]>;
  /** Inputs whose OneHotEncoder fails on any other category (zeros=0) instead of encoding it as all zeros. */
  closedCategories: string[];
  /** The class labels of the graph's classifier node (TreeEnsembleClassifier, LinearClassifier, SVMClassifier), when it has one. */
  classifierLabels?: (string | number)[];
}

const CLASSIFIERS = new Set(['TreeEnsembleClassifier', 'LinearClassifier', 'SVMClassifier']);

/** Labels are UTF-8 bytes in the graph; a label that is not valid UTF-8 cannot be named in a response. */
function utf8Label(bytes: Uint8Array, where: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new AppError('INVALID_MODEL', `${where}: a class label is not valid UTF-8 (bytes ${Buffer.from(bytes).toString('hex').slice(0, 40)}); re-export the model with text labels`);
  }
}

function classLabelsOf(node: NodeProto, where: string): (string | number)[] {
  const ints = attr(node, 'classlabels_int64s')?.ints ?? attr(node, 'classlabels_ints')?.ints ?? [];
  const strs = attr(node, 'classlabels_strings')?.strings ?? [];
  return ints.length ? ints.map((v) => Number(v)) : strs.map((s) => utf8Label(s, where));
}

/** Decoded messages always carry their repeated fields (protobufjs fills empty arrays). */
const graphOf = (m: ModelProto) => m.graph as GraphProto;
const nodesOf = (g: GraphProto) => g.node as NodeProto[];

function decode(bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    model = onnx().ModelProto.decode(bytes);
  } catch (e) {
    throw new AppError('INVALID_MODEL', `not an ONNX model (protobuf decoding failed: ${(e as Error).message}); export it with skl2onnx, onnxmltools or torch.onnx`);
  }
  if (!model.graph || !model.graph.node?.length || !model.graph.input?.length) {
    throw new AppError('INVALID_MODEL', 'not an ONNX model: the file has no graph with inputs and nodes; export it with skl2onnx, onnxmltools or torch.onnx');
  }
  return model;
}

const dims = (shape: { dim?: { dimValue?: unknown; dimParam?: string | null }[] | null } | null | undefined) =>
  shape?.dim ? shape.dim.map((d) => (d.dimValue != null && Number(d.dimValue) > 0 ? Number(d.dimValue) : null)) : null;

const elemType = (t: number | null | undefined): TensorType | `unsupported(${number})` => ELEM_TYPES[t ?? 0] ?? `unsupported(${t ?? 0})`;

function attr(node: NodeProto, name: string) {
  return (node.attribute ?? []).find((a) => a.name === name);
}

/** A string OneHotEncoder that fails on a category it does not list: zeros defaults to 1 (unknown → all zeros); scikit-learn writes 0 for handle_unknown="error". */
function refusesUnknown(n: NodeProto): boolean {
  return n.opType === 'OneHotEncoder' && (attr(n, 'cats_strings')?.strings ?? []).length > 0 && Number(attr(n, 'zeros')?.i ?? 1) === 0;
}

/**
 * The inputs of string OneHotEncoders that refuse unknown categories, read from the wire: only
 * those nodes are decoded, not the rest of the graph (a forest's trees took 0.2 s to decode).
 */
export function closedCategoryInputs(bytes: Uint8Array): Set<string> {
  const out = new Set<string>();
  const graphField = fields(bytes).find((f) => f.no === MODEL_GRAPH && f.data);
  if (!graphField) return out;
  const graph = payload(bytes, graphField);
  for (const f of fields(graph)) {
    if (f.no !== GRAPH_NODE || !f.data) continue;
    const node = payload(graph, f);
    if (stringField(node, NODE_OP_TYPE) !== 'OneHotEncoder') continue;
    const n = onnx().NodeProto.decode(node);
    if (refusesUnknown(n)) out.add(n.input[0]);
  }
  return out;
}

/**
 * The graph input a value is, or is column 0 of: skl2onnx feeds a ColumnTransformer's one-column
 * selection to its OneHotEncoder through an ArrayFeatureExtractor with the index 0 (bank_geography's
 * Gender), and the encoder's categories are still that input's. Undefined for anything else.
 */
function oneColumnSources(g: GraphProto, inputs: GraphInput[]): (value: string) => string | undefined {
  const inputNames = new Set(inputs.map((i) => i.name));
  // Column 0 of a one-column input is all of it; of a wider one it is not.
  const oneColumn = new Set(inputs.filter((i) => i.shape === null || i.shape.length < 2 || i.shape[1] === 1).map((i) => i.name));
  const zeroIndex = new Set(
    g.initializer
      .filter((t) => {
        const values = t.int64Data?.length
          ? t.int64Data.map(Number)
          : t.rawData?.length === 8 && Number(t.dataType) === 7
            ? [Number(new DataView(t.rawData.buffer, t.rawData.byteOffset, 8).getBigInt64(0, true))]
            : [];
        return values.length === 1 && values[0] === 0;
      })
      .map((t) => t.name),
  );
  const extracted = new Map<string, string>();
  for (const n of nodesOf(g)) if (n.opType === 'ArrayFeatureExtractor' && oneColumn.has(n.input[0]) && zeroIndex.has(n.input[1])) extracted.set(n.output[0], n.input[0]);
  return (value) => (inputNames.has(value) ? value : extracted.get(value));
}

export function inspectGraph(bytes: Uint8Array): GraphInfo {
  const model = decode(bytes);
  const g = graphOf(model);
  const initializers = new Set(g.initializer.map((t) => t.name));
  const inputs: GraphInput[] = g.input.filter((i) => !initializers.has(i.name!)).map((i) => ({ name: i.name!, type: elemType(i.type?.tensorType?.elemType), shape: dims(i.type?.tensorType?.shape) }));
  const producers = new Map<string, NodeProto>();
  for (const n of nodesOf(g)) for (const o of n.output) producers.set(o, n);
  const outputs: GraphOutput[] = g.output.map((o) => {
    const producer = producers.get(o.name!);
    if (producer?.opType === 'ZipMap') {
      const classLabels = classLabelsOf(producer, `ZipMap ${o.name}`);
      return { name: o.name!, kind: 'zipmap', zipmapSource: producer.input[0], classLabels };
    }
    if (o.type?.tensorType) {
      return { name: o.name!, kind: 'tensor', type: elemType(o.type.tensorType.elemType), shape: dims(o.type.tensorType.shape) };
    }
    return { name: o.name!, kind: 'other' };
  });
  const categories: Record<string, string[]> = {};
  const closedCategories: string[] = [];
  const source = oneColumnSources(g, inputs);
  for (const n of nodesOf(g)) {
    const input = n.opType === 'OneHotEncoder' ? source(n.input[0]) : undefined;
    if (input !== undefined) {
      const strs = attr(n, 'cats_strings')?.strings ?? [];
      if (strs.length) {
        categories[input] = strs.map((s) => new TextDecoder().decode(s));
        if (refusesUnknown(n)) closedCategories.push(input);
      }
    }
  }
  const classifier = nodesOf(g).find((n) => CLASSIFIERS.has(n.opType ?? ''));
  const classifierLabels = classifier ? classLabelsOf(classifier, `${classifier.opType} ${classifier.name ?? ''}`.trim()) : undefined;
  const opsets: Record<string, number> = {};
  for (const o of model.opsetImport) opsets[o.domain || 'ai.onnx'] = Number(o.version);
  return {
    irVersion: Number(model.irVersion),
    opsets,
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    inputs,
    outputs,
    categories,
    closedCategories,
    ...(classifierLabels ? { classifierLabels } : {}),
  };
}

/**
 * onnxruntime-node cannot return a ZipMap (a sequence of maps: "Non tensor type is temporarily
 * not supported"), so the served graph drops the ZipMap node and exposes the probability
 * tensor it wraps as a graph output. The stored artifact stays byte-for-byte what was
 * registered; this rewrite happens in memory at load.
 */
export function exposeZipMapSource(bytes: Uint8Array, zipmapOutput: string): { bytes: Uint8Array; output: string } {
  // On the wire: only the ZipMap node and the graph output change; every other byte (a tree
  // ensemble's hundreds of thousands of numbers) is copied, not decoded and encoded again.
  const modelFields = fields(bytes);
  const graphField = modelFields.find((f) => f.no === MODEL_GRAPH && f.data);
  if (!graphField) throw new AppError('INVALID_MODEL', 'not an ONNX model: the file has no graph');
  const graph = payload(bytes, graphField);
  const parts = fields(graph);
  let zipmap: { field: Field; source: string } | undefined;
  for (const f of parts) {
    if (f.no !== GRAPH_NODE || !f.data) continue;
    const node = payload(graph, f);
    const nodeFields = fields(node);
    if (stringField(node, NODE_OP_TYPE, nodeFields) !== 'ZipMap' || stringField(node, NODE_OUTPUT, nodeFields) !== zipmapOutput) continue;
    const source = stringField(node, NODE_INPUT, nodeFields);
    if (source !== undefined) zipmap = { field: f, source };
    break;
  }
  if (!zipmap) throw new AppError('INVALID_MODEL', `graph output ${zipmapOutput} is not produced by a ZipMap node`);
  const exposed = lengthDelimited(
    GRAPH_OUTPUT,
    onnx()
      .ValueInfoProto.encode({ name: zipmap.source, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimParam: 'C' }] } } } })
      .finish(),
  );
  const outputField = parts.find((f) => f.no === GRAPH_OUTPUT && f.data && stringField(payload(graph, f), VALUE_INFO_NAME) === zipmapOutput);
  const graphParts = parts.flatMap((f) => (f === zipmap.field ? [] : f === outputField ? [exposed] : [graph.subarray(f.start, f.end)]));
  if (!outputField) graphParts.push(exposed);
  const rewritten = lengthDelimited(MODEL_GRAPH, concat(graphParts));
  return { bytes: concat(modelFields.map((f) => (f === graphField ? rewritten : bytes.subarray(f.start, f.end)))), output: zipmap.source };
}

/** Every name the graph already uses (values, nodes, initializers), so rewrites can add fresh ones. Read from the wire: nothing else is decoded. */
export function graphNames(bytes: Uint8Array): Set<string> {
  const graph = graphOnWire(bytes);
  const names = new Set<string>();
  for (const f of fields(graph)) {
    if (!f.data) continue;
    const part = payload(graph, f);
    if (f.no === GRAPH_NODE) {
      const n = nodeHeader(part);
      if (n.name) names.add(n.name);
      for (const o of n.output) names.add(o);
      for (const i of n.input) names.add(i);
    } else {
      const name =
        f.no === GRAPH_INITIALIZER ? stringField(part, TENSOR_NAME) : f.no === GRAPH_INPUT || f.no === GRAPH_OUTPUT || f.no === GRAPH_VALUE_INFO ? stringField(part, VALUE_INFO_NAME) : undefined;
      if (name) names.add(name);
    }
  }
  return names;
}

/** Each graph input's shape (null where it has none), by name, read from the wire. */
export function inputShapes(bytes: Uint8Array): Map<string, (number | null)[] | null> {
  const graph = graphOnWire(bytes);
  const shapes = new Map<string, (number | null)[] | null>();
  for (const f of fields(graph)) {
    if (f.no !== GRAPH_INPUT || !f.data) continue;
    const i = onnx().ValueInfoProto.decode(payload(graph, f));
    shapes.set(i.name, dims(i.type?.tensorType?.shape));
  }
  return shapes;
}

function graphOnWire(bytes: Uint8Array): Uint8Array {
  const graphField = fields(bytes).find((f) => f.no === MODEL_GRAPH && f.data);
  if (!graphField) throw new AppError('INVALID_MODEL', 'not an ONNX model: the file has no graph');
  return payload(bytes, graphField);
}
