import { readFileSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { compileGraph } from './compile.js';
import type { IrNode } from './graph.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const turn = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('what a compiled program keeps alive', () => {
  // A kernel beside a closure that read its compile context kept that context, and with it the
  // node's decoded attributes and the graph's constants (the Concat nodes of these graphs did).
  it.each(['telco_churn', 'telco_gbdt', 'telco_forest'])('no decoded node of %s outlives compilation', async (name) => {
    const refs: [string, WeakRef<IrNode>][] = [];
    const program = compileGraph(readFileSync(path.resolve('test/fixtures', `${name}.onnx`)), 'probabilities', {
      onCompiled: (node) => refs.push([`${node.op} ${node.name}`, new WeakRef(node)]),
    });
    expect(refs.length).toBeGreaterThan(1);
    // WeakRefs made in this turn hold their targets until it ends; on a loaded machine (three test
    // workers on two cores) a collection now and then left one node for the next, so a few turns
    // are given. What is still held after them is held by the program.
    const alive = () => refs.filter(([, r]) => r.deref() !== undefined).map(([n]) => n);
    for (let i = 0; i < 5; i++) {
      await turn();
      gc();
      await turn();
      // deref() itself keeps a target until the turn ends: ask only after a collection.
      if (alive().length === 0) break;
    }
    expect(alive()).toEqual([]);
    // The program still runs after the context is gone.
    expect(typeof program.run).toBe('function');
  });
});
