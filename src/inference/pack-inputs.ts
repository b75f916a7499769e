import { onnx, type NodeProto } from '../lib/onnx-proto.js';
import type { TensorType } from './onnx-graph.js';
import {
  concat,
  fields,
  GRAPH_INPUT,
  GRAPH_NODE,
  GRAPH_OUTPUT,
  lengthDelimited,
  MODEL_GRAPH,
  MODEL_OPSET_IMPORT,
  nodeHeader,
  OPSET_DOMAIN,
  stringField,
  VALUE_INFO_NAME,
  type Field,
  type NodeHeader,
} from './onnx-wire.js';

/**
 * Input packing. onnxruntime-node pays about 1.5 µs per graph input on every run (a tensor
 * handed across the native boundary), and scikit-learn's converter writes one [N,1] input per
 * column, so a 20-column pipeline spends more time feeding inputs than computing. Packing
 * rewrites the graph in memory so that all [N,1] inputs of one element type arrive as a single
 * [N,k] input, split back into the original names by Gather nodes (nearly free), and the rest
 * of the graph is untouched. Fewer, cheaper runs matter most when several versions of a model
 * serve at once (a canary), since each version pays its own runs.
 *
 * Converters usually concatenate the numeric columns straight back (a Concat on axis 1 whose
 * inputs are all [N,1] graph inputs), so splitting them only to join them again would cost a
 * node per column. Such a Concat is replaced by one Gather of its columns from the packed
 * tensor, and a column's own Gather is written only when some other node still reads it.
 *
 * The edit works on the protobuf wire format: the model's bytes are copied as they are, except
 * that the packed entries of graph.input are dropped and new nodes and inputs are appended.
 * Fields newer than onnx-proto's schema (ONNX 1.10) therefore survive untouched.
 */

/** One tensor fed to the graph: which row columns go into it, in order. */
export interface FeedPlan {
  input: string;
  type: TensorType;
  columns: number[];
}

export interface PackedGraph {
  bytes: Uint8Array;
  feeds: FeedPlan[];
}

const ELEM: Record<TensorType, number> = { float: 1, double: 11, int64: 7, int32: 6, string: 8, bool: 9 };

/** The default-domain opset the model imports, if any (Gather and Constant live there). */
function importsDefaultDomain(model: Uint8Array, modelFields: Field[]): boolean {
  return modelFields.some((f) => {
    if (f.no !== MODEL_OPSET_IMPORT || !f.data) return false;
    const domain = stringField(model.subarray(f.data[0], f.data[1]), OPSET_DOMAIN) ?? '';
    return domain === '' || domain === 'ai.onnx';
  });
}

interface NodeInfo {
  field: Field;
  node: NodeHeader;
  /** The whole node, decoded only where its attributes matter (Concat's axis, subgraphs); a tree ensemble's are never decoded. */
  full?: NodeProto;
}

/** Operators whose attributes the rewrite reads: Concat's axis, and the ones that carry subgraphs. */
const READ_WHOLE = new Set(['Concat', 'If', 'Loop', 'Scan', 'SequenceMap']);

const isDefaultDomain = (d: string | null | undefined) => !d || d === 'ai.onnx';

/** A Concat on the column axis of rank-2 tensors (axis 1, or -1). */
function concatsColumns(n: NodeProto): boolean {
  if (n.opType !== 'Concat' || !isDefaultDomain(n.domain) || n.output.length !== 1) return false;
  const axis = n.attribute.find((a) => a.name === 'axis');
  return axis !== undefined && (Number(axis.i) === 1 || Number(axis.i) === -1);
}

/** A node carrying subgraphs (If, Loop, Scan) may read any outer name, which this rewrite cannot follow. */
const hasSubgraph = (n: NodeProto) => n.attribute.some((a) => a.g || (a.graphs && a.graphs.length > 0));

function int64Constant(name: string, values: number[]): NodeProto {
  return onnx().NodeProto.create({
    opType: 'Constant',
    name,
    output: [name],
    attribute: [{ name: 'value', type: 4, t: { dims: [values.length], dataType: ELEM.int64, int64Data: values } }],
  });
}

/**
 * Rewrite a columns-layout graph so each element type with two or more [N,1] inputs is fed
 * as one [N,k] tensor. `columns[i]` describes row column i: its graph input and type, and
 * whether the graph declares it [N,1]. Returns undefined when nothing would be gained or the
 * graph cannot take the extra nodes (no default-domain opset); the caller then feeds inputs
 * one by one.
 */
export function packInputs(model: Uint8Array, columns: { input: string; type: TensorType; rank2: boolean }[], taken: Set<string>): PackedGraph | undefined {
  const groups = new Map<TensorType, number[]>();
  columns.forEach((c, i) => {
    if (!c.rank2) return;
    const g = groups.get(c.type) ?? [];
    g.push(i);
    groups.set(c.type, g);
  });
  const packed = [...groups].filter(([, cols]) => cols.length >= 2);
  if (packed.length === 0) return undefined;

  const modelFields = fields(model);
  const graphFields = modelFields.filter((f) => f.no === MODEL_GRAPH);
  if (graphFields.length !== 1 || !importsDefaultDomain(model, modelFields)) return undefined;
  const graphField = graphFields[0];
  const graph = model.subarray(graphField.data![0], graphField.data![1]);

  const unique = (base: string) => {
    let name = base;
    for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
  const graphParts = fields(graph);
  const nodes: NodeInfo[] = graphParts
    .filter((f) => f.no === GRAPH_NODE && f.data)
    .map((f) => {
      const bytes = graph.subarray(f.data![0], f.data![1]);
      const node = nodeHeader(bytes);
      // Other domains' operators may carry subgraphs too (contrib control flow): read them whole.
      const whole = READ_WHOLE.has(node.opType) || !(isDefaultDomain(node.domain) || node.domain === 'ai.onnx.ml');
      return { field: f, node, ...(whole ? { full: onnx().NodeProto.decode(bytes) } : {}) };
    });
  const subgraphs = nodes.some((n) => n.full !== undefined && hasSubgraph(n.full));
  const graphOutputs = new Set(graphParts.filter((f) => f.no === GRAPH_OUTPUT && f.data).map((f) => stringField(graph.subarray(f.data![0], f.data![1]), VALUE_INFO_NAME)));

  const dropped = new Set<string>();
  const feeds: FeedPlan[] = [];
  const added: Uint8Array[] = [];
  const inPacked = new Set<number>();
  const node = (n: NodeProto) => added.push(lengthDelimited(GRAPH_NODE, onnx().NodeProto.encode(n).finish()));
  /** Original input name → packed input and column position. */
  const where = new Map<string, { input: string; j: number }>();
  for (const [type, cols] of packed) {
    const input = unique(`modelgate_packed_${type}`);
    feeds.push({ input, type, columns: cols });
    added.push(
      lengthDelimited(
        GRAPH_INPUT,
        onnx()
          .ValueInfoProto.encode({ name: input, type: { tensorType: { elemType: ELEM[type], shape: { dim: [{ dimParam: 'N' }, { dimValue: cols.length }] } } } })
          .finish(),
      ),
    );
    cols.forEach((col, j) => {
      dropped.add(columns[col].input);
      inPacked.add(col);
      where.set(columns[col].input, { input, j });
    });
  }

  // Concats of packed columns (all from one packed tensor) become a single Gather.
  const replaced = new Set<Field>();
  if (!subgraphs) {
    for (const { field, node: n, full } of nodes) {
      if (!full || !concatsColumns(full) || n.input.length < 2) continue;
      const at = n.input.map((name) => where.get(name));
      if (at.some((w) => !w || w.input !== at[0]!.input)) continue;
      replaced.add(field);
      const index = unique(`${at[0]!.input}_concat_index`);
      node(
        int64Constant(
          index,
          at.map((w) => w!.j),
        ),
      );
      node(onnx().NodeProto.create({ opType: 'Gather', name: unique(`${at[0]!.input}_concat`), input: [at[0]!.input, index], output: [n.output[0]], attribute: [{ name: 'axis', type: 2, i: 1 }] }));
    }
  }
  const stillRead = new Set<string>([...graphOutputs].filter((n): n is string => n !== undefined));
  for (const { field, node: n } of nodes) if (!replaced.has(field)) for (const name of n.input) stillRead.add(name);

  for (const [original, { input, j }] of where) {
    if (!subgraphs && !stillRead.has(original)) continue;
    // Indices of shape [1] keep the column axis: Gather gives [N,1], exactly the input it replaces.
    const index = unique(`${input}_index_${j}`);
    node(int64Constant(index, [j]));
    node(onnx().NodeProto.create({ opType: 'Gather', name: unique(`${input}_gather_${j}`), input: [input, index], output: [original], attribute: [{ name: 'axis', type: 2, i: 1 }] }));
  }
  columns.forEach((c, i) => {
    if (!inPacked.has(i)) feeds.push({ input: c.input, type: c.type, columns: [i] });
  });

  // New nodes go first: onnxruntime sorts nodes itself, and readers that expect topological order see producers before consumers.
  const kept = graphParts
    .filter((f) => !replaced.has(f) && !(f.no === GRAPH_INPUT && f.data && dropped.has(stringField(graph.subarray(f.data[0], f.data[1]), VALUE_INFO_NAME) ?? '')))
    .map((f) => graph.subarray(f.start, f.end));
  const newGraph = concat([...added, ...kept]);
  const bytes = concat([model.subarray(0, graphField.start), lengthDelimited(MODEL_GRAPH, newGraph), model.subarray(graphField.end)]);
  return { bytes, feeds };
}
