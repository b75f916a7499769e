import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../../test/helpers/fixtures.js';
import { onnx } from './onnx-proto.js';

describe('onnx-proto as modelgate decodes it', () => {
  it('gives int64 fields as plain numbers, not Long objects, and writes numbers back the same', () => {
    const model = onnx().ModelProto.decode(readFileSync(path.join(FIXTURES, 'telco_gbdt.onnx')));
    const trees = model.graph!.node!.find((n) => n.opType === 'TreeEnsembleClassifier')!;
    const ids = trees.attribute!.find((a) => a.name === 'nodes_treeids')!.ints!;
    expect(ids.length).toBeGreaterThan(1000);
    expect(ids.every((v) => typeof v === 'number' && Number.isInteger(v))).toBe(true);
    expect(Math.max(...(ids as number[]))).toBe(149); // 150 trees
    expect(typeof model.irVersion).toBe('number');
    // A round trip through the writer keeps the values.
    const again = onnx().ModelProto.decode(onnx().ModelProto.encode(model).finish());
    expect(again.graph!.node!.find((n) => n.opType === 'TreeEnsembleClassifier')!.attribute!.find((a) => a.name === 'nodes_treeids')!.ints).toEqual(ids);
  });
});
