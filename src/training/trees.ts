import { model, node, valueInfo, floatTensor, int64Tensor } from './onnx-builder.js';
import { seededRandom } from './random.js';

/**
 * Gradient-boosted tree ensembles: the in-memory model, its prediction, and its ONNX export.
 * A split sends x ≤ threshold left; a missing value (NaN) goes the way the split learned
 * (`missingLeft`). Binary: the score is sigmoid(base + Σ leaf values); regression: the value
 * is base + Σ leaf values; multiclass: softmax over each class's base + Σ of its trees (tree t
 * belongs to class t % classes).
 */
export type TreeNode = { leaf: true; value: number } | { leaf: false; feature: number; threshold: number; left: number; right: number; missingLeft: boolean };

export interface TreeEnsemble {
  /** Numeric feature names: the first columns `feature` indexes. */
  features: string[];
  /** Categorical inputs, one-hot encoded after the numeric columns, one column per listed category. */
  categorical?: { name: string; categories: string[] }[];
  /** Log-odds every prediction starts from (binary), or the starting value (regression). */
  base: number;
  trees: TreeNode[][];
  /** binary (default), regression or multiclass. */
  task?: 'binary' | 'regression' | 'multiclass';
  /** Multiclass: the class labels, and each class's starting raw score. */
  classes?: string[];
  bases?: number[];
}

/** Σ leaf values of one tree for an encoded row (thresholds compared in float32). */
function treeValue(tree: TreeNode[], x: ArrayLike<number>): number {
  let i = 0;
  for (;;) {
    const n = tree[i];
    if (n.leaf) return n.value;
    const v = x[n.feature];
    i = Number.isNaN(v) ? (n.missingLeft ? n.left : n.right) : Math.fround(v) <= Math.fround(n.threshold) ? n.left : n.right;
  }
}

/** A regression ensemble's value for an encoded row. */
export function predictValue(m: TreeEnsemble, x: ArrayLike<number>): number {
  let z = m.base;
  for (const tree of m.trees) z += treeValue(tree, x);
  return z;
}

/** A multiclass ensemble's class probabilities for an encoded row. */
export function predictClassProbabilities(m: TreeEnsemble, x: ArrayLike<number>): number[] {
  const K = m.classes!.length;
  const z = [...m.bases!];
  m.trees.forEach((tree, t) => (z[t % K] += treeValue(tree, x)));
  return softmax(z);
}

/** Class probabilities from raw scores (shifted by the maximum, so exp never overflows). */
export function softmax(z: readonly number[]): number[] {
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Thresholds compare in float32, as onnxruntime does, so the two agree on every row. */
export function predictTrees(m: TreeEnsemble, x: ArrayLike<number>): number {
  let z = m.base;
  for (const tree of m.trees) {
    let i = 0;
    for (;;) {
      const n = tree[i];
      if (n.leaf) {
        z += n.value;
        break;
      }
      const v = x[n.feature];
      i = Number.isNaN(v) ? (n.missingLeft ? n.left : n.right) : Math.fround(v) <= Math.fround(n.threshold) ? n.left : n.right;
    }
  }
  return 1 / (1 + Math.exp(-z));
}

/**
 * ONNX graph: one [N,1] input per column (float for numeric, string for categorical, like
 * every other modelgate model); categorical inputs one-hot encoded in the graph (an unlisted
 * category is all zeros, as in training), everything joined and scored by
 * TreeEnsembleRegressor (ai.onnx.ml), then sigmoid; output `probabilities` [N,2].
 */
export function exportTrees(m: TreeEnsemble, name = 'modelgate_gbdt'): Uint8Array {
  const a = {
    nodes_treeids: [] as number[],
    nodes_nodeids: [] as number[],
    nodes_featureids: [] as number[],
    nodes_modes: [] as string[],
    nodes_values: [] as number[],
    nodes_truenodeids: [] as number[],
    nodes_falsenodeids: [] as number[],
    nodes_missing_value_tracks_true: [] as number[],
    target_treeids: [] as number[],
    target_nodeids: [] as number[],
    target_ids: [] as number[],
    target_weights: [] as number[],
  };
  const K = m.task === 'multiclass' ? m.classes!.length : 1;
  m.trees.forEach((tree, t) =>
    tree.forEach((n, id) => {
      a.nodes_treeids.push(t);
      a.nodes_nodeids.push(id);
      if (n.leaf) {
        a.nodes_featureids.push(0);
        a.nodes_modes.push('LEAF');
        a.nodes_values.push(0);
        a.nodes_truenodeids.push(0);
        a.nodes_falsenodeids.push(0);
        a.nodes_missing_value_tracks_true.push(0);
        a.target_treeids.push(t);
        a.target_nodeids.push(id);
        a.target_ids.push(t % K);
        a.target_weights.push(n.value);
      } else {
        a.nodes_featureids.push(n.feature);
        a.nodes_modes.push('BRANCH_LEQ');
        a.nodes_values.push(n.threshold);
        a.nodes_truenodeids.push(n.left);
        a.nodes_falsenodeids.push(n.right);
        a.nodes_missing_value_tracks_true.push(n.missingLeft ? 1 : 0);
      }
    }),
  );
  const cats = (m.categorical ?? []).filter((c) => c.categories.length > 0);
  const blocks = [...m.features];
  const encoders = cats.flatMap((c, i) => {
    blocks.push(`${c.name}_onehot`);
    return [
      node('OneHotEncoder', [c.name], [`${c.name}_onehot_3d`], { cats_strings: c.categories, zeros: 1 }, 'ai.onnx.ml'),
      node('Reshape', [`${c.name}_onehot_3d`, `onehot_shape_${i}`], [`${c.name}_onehot`]),
    ];
  });
  const treeAttrs = {
    nodes_treeids: a.nodes_treeids,
    nodes_nodeids: a.nodes_nodeids,
    nodes_featureids: a.nodes_featureids,
    nodes_modes: a.nodes_modes,
    nodes_values: { floats: a.nodes_values },
    nodes_truenodeids: a.nodes_truenodeids,
    nodes_falsenodeids: a.nodes_falsenodeids,
    nodes_missing_value_tracks_true: a.nodes_missing_value_tracks_true,
  };
  const ensemble =
    m.task === 'multiclass'
      ? [
          node(
            'TreeEnsembleClassifier',
            ['features'],
            ['label', 'probabilities'],
            {
              ...treeAttrs,
              post_transform: 'SOFTMAX',
              base_values: { floats: m.bases! },
              class_treeids: a.target_treeids,
              class_nodeids: a.target_nodeids,
              class_ids: a.target_ids,
              class_weights: { floats: a.target_weights },
              classlabels_strings: m.classes!,
            },
            'ai.onnx.ml',
          ),
        ]
      : [
          node(
            'TreeEnsembleRegressor',
            ['features'],
            [m.task === 'regression' ? 'variable' : 'logit'],
            {
              ...treeAttrs,
              n_targets: 1,
              aggregate_function: 'SUM',
              post_transform: 'NONE',
              base_values: { floats: [m.base] },
              target_treeids: a.target_treeids,
              target_nodeids: a.target_nodeids,
              target_ids: a.target_ids,
              target_weights: { floats: a.target_weights },
            },
            'ai.onnx.ml',
          ),
          ...(m.task === 'regression'
            ? []
            : [node('Sigmoid', ['logit'], ['positive']), node('Sub', ['one', 'positive'], ['negative']), node('Concat', ['negative', 'positive'], ['probabilities'], { axis: 1 })]),
        ];
  const nodes = [...encoders, node('Concat', blocks, ['features'], { axis: 1 }), ...ensemble];
  const outputs =
    m.task === 'multiclass'
      ? [valueInfo('label', 'string', ['N']), valueInfo('probabilities', 'float', ['N', m.classes!.length])]
      : m.task === 'regression'
        ? [valueInfo('variable', 'float', ['N', 1])]
        : [valueInfo('probabilities', 'float', ['N', 2])];
  return model({
    name,
    nodes,
    inputs: [...m.features.map((f) => valueInfo(f, 'float', ['N', 1])), ...(m.categorical ?? []).map((c) => valueInfo(c.name, 'string', ['N', 1]))],
    outputs,
    initializers: [
      ...(m.task === 'regression' || m.task === 'multiclass' ? [] : [floatTensor('one', [1], [1])]),
      ...cats.map((c, i) => int64Tensor(`onehot_shape_${i}`, [2], [-1, c.categories.length])),
    ],
    docString: `gradient-boosted trees (${m.task ?? 'binary'}): ${m.trees.length} trees over ${m.features.length} features`,
  });
}

/**
 * A random ensemble of full trees (thresholds in 0–100, small leaf values): for tests, and for
 * benchmarks that need a model with the inference cost of a production-sized GBDT.
 */
export function syntheticEnsemble(features: string[], trees: number, depth: number, seed = 1): TreeEnsemble {
  const rand = seededRandom(seed);
  const build = (): TreeNode[] => {
    const nodes: TreeNode[] = [];
    const grow = (d: number): number => {
      const id = nodes.length;
      if (d === depth) {
        nodes.push({ leaf: true, value: (rand() - 0.5) * 0.2 });
        return id;
      }
      nodes.push({ leaf: true, value: 0 }); // replaced once the children have ids
      const left = grow(d + 1);
      const right = grow(d + 1);
      nodes[id] = { leaf: false, feature: Math.floor(rand() * features.length), threshold: Math.round(rand() * 1000) / 10, left, right, missingLeft: rand() < 0.5 };
      return id;
    };
    grow(0);
    return nodes;
  };
  return { features, base: -0.3, trees: Array.from({ length: trees }, build) };
}
