import type { LogRegModel } from './logreg.js';
import { floatTensor, int64Tensor, model, node, valueInfo } from './onnx-builder.js';
import type { Preprocessor } from './preprocess.js';

/**
 * The fitted pipeline as one ONNX graph with one [N,1] input per column, as scikit-learn's
 * converter writes it: numeric columns are concatenated, missing values replaced by the
 * training median, standardised; each categorical column is one-hot encoded (unseen → zeros);
 * then the linear model and a sigmoid. Output `probabilities` is [N,2] (negative, positive).
 */
export function exportLogisticRegression(pre: Preprocessor, m: LogRegModel, name = 'modelgate_logreg'): Uint8Array {
  const { nodes, inits, inputs } = preprocessingGraph(pre);
  inits.push(floatTensor('coef', [pre.width, 1], m.weights));
  inits.push(floatTensor('intercept', [1], [m.intercept]));
  inits.push(floatTensor('one', [1], [1]));
  nodes.push(node('MatMul', ['features', 'coef'], ['linear']));
  nodes.push(node('Add', ['linear', 'intercept'], ['logit']));
  nodes.push(node('Sigmoid', ['logit'], ['positive']));
  nodes.push(node('Sub', ['one', 'positive'], ['negative']));
  nodes.push(node('Concat', ['negative', 'positive'], ['probabilities'], { axis: 1 }));
  return model({
    name,
    nodes,
    initializers: inits,
    inputs,
    outputs: [valueInfo('probabilities', 'float', ['N', 2])],
    docString: 'L2 logistic regression with median imputation, standardisation and one-hot encoding, trained by modelgate',
  });
}

/** Ridge regression on the same preprocessing: output `variable` [N,1], as scikit-learn's converter names a regressor's. */
export function exportRidge(pre: Preprocessor, weights: ArrayLike<number>, intercept: number, name = 'modelgate_ridge'): Uint8Array {
  const { nodes, inits, inputs } = preprocessingGraph(pre);
  inits.push(floatTensor('coef', [pre.width, 1], weights));
  inits.push(floatTensor('intercept', [1], [intercept]));
  nodes.push(node('MatMul', ['features', 'coef'], ['linear']));
  nodes.push(node('Add', ['linear', 'intercept'], ['variable']));
  return model({
    name,
    nodes,
    initializers: inits,
    inputs,
    outputs: [valueInfo('variable', 'float', ['N', 1])],
    docString: 'ridge regression with median imputation, standardisation and one-hot encoding, trained by modelgate',
  });
}

/**
 * Multinomial logistic regression on the same preprocessing: a LinearClassifier with the class
 * labels and a softmax, so the graph names its classes; outputs `label` and `probabilities` [N,K].
 */
export function exportMultinomial(pre: Preprocessor, coef: ArrayLike<number>, intercepts: ArrayLike<number>, classes: string[], name = 'modelgate_multinomial'): Uint8Array {
  const { nodes, inits, inputs } = preprocessingGraph(pre);
  nodes.push(
    node(
      'LinearClassifier',
      ['features'],
      ['label', 'probabilities'],
      { coefficients: { floats: Array.from(coef) }, intercepts: { floats: Array.from(intercepts) }, classlabels_strings: classes, multi_class: 0, post_transform: 'SOFTMAX' },
      'ai.onnx.ml',
    ),
  );
  return model({
    name,
    nodes,
    initializers: inits,
    inputs,
    outputs: [valueInfo('label', 'string', ['N']), valueInfo('probabilities', 'float', ['N', classes.length])],
    docString: 'multinomial logistic regression with median imputation, standardisation and one-hot encoding, trained by modelgate',
  });
}

/** Median imputation and standardisation of the numbers, one-hot of the categories, joined as `features`. */
function preprocessingGraph(pre: Preprocessor) {
  const nodes: ReturnType<typeof node>[] = [];
  const inits: ReturnType<typeof floatTensor>[] = [];
  const blocks: string[] = [];
  const k = pre.numeric.length;
  if (k > 0) {
    nodes.push(
      node(
        'Concat',
        pre.numeric.map((s) => s.name),
        ['num_raw'],
        { axis: 1 },
      ),
    );
    inits.push(
      floatTensor(
        'num_median',
        [k],
        pre.numeric.map((s) => s.median),
      ),
    );
    inits.push(
      floatTensor(
        'num_mean',
        [k],
        pre.numeric.map((s) => s.mean),
      ),
    );
    inits.push(
      floatTensor(
        'num_scale',
        [k],
        pre.numeric.map((s) => s.scale),
      ),
    );
    nodes.push(node('IsNaN', ['num_raw'], ['num_missing']));
    nodes.push(node('Where', ['num_missing', 'num_median', 'num_raw'], ['num_imputed']));
    nodes.push(node('Sub', ['num_imputed', 'num_mean'], ['num_centered']));
    nodes.push(node('Div', ['num_centered', 'num_scale'], ['num_scaled']));
    blocks.push('num_scaled');
  }
  for (const c of pre.categorical) {
    const out = `${c.name}_onehot`;
    nodes.push(node('OneHotEncoder', [c.name], [`${out}_3d`], { cats_strings: c.categories, zeros: 1 }, 'ai.onnx.ml'));
    inits.push(int64Tensor(`${out}_shape`, [2], [-1, c.categories.length]));
    nodes.push(node('Reshape', [`${out}_3d`, `${out}_shape`], [out]));
    blocks.push(out);
  }
  nodes.push(node('Concat', blocks, ['features'], { axis: 1 }));
  const inputs = [...pre.numeric.map((s) => valueInfo(s.name, 'float', ['N', 1])), ...pre.categorical.map((c) => valueInfo(c.name, 'string', ['N', 1]))];
  return { nodes, inits, inputs };
}
