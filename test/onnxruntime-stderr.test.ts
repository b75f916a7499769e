import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { onnx } from '../src/lib/onnx-proto.js';
import { model, node, valueInfo } from '../src/training/onnx-builder.js';
import { tempDir } from './helpers/db.js';
import { REPO_ROOT } from './helpers/fixtures.js';

describe("onnxruntime's own log", () => {
  it('prints nothing on stderr for a model it warns about (an opset before 7): the server log stays JSON only', () => {
    const built = model({
      name: 'clip6',
      nodes: [node('Clip', ['x'], ['y'], { min: -1.5, max: 2.5 })],
      inputs: [valueInfo('x', 'float', ['N', 2])],
      outputs: [valueInfo('y', 'float', ['N', 2])],
      initializers: [],
    });
    const m = onnx().ModelProto.decode(built);
    m.opsetImport = m.opsetImport.map((o) => (o.domain ? o : { ...o, version: 6 }));
    const file = path.join(tempDir(), 'clip6.onnx');
    writeFileSync(file, onnx().ModelProto.encode(m).finish());
    // A process of its own: onnxruntime writes to the process's stderr directly, and sets its log level once per process.
    const ort = pathToFileURL(path.join(REPO_ROOT, 'dist/inference/ort.js')).href;
    const script = `
      import { readFileSync } from 'node:fs';
      import { onnxruntime } from ${JSON.stringify(ort)};
      const o = onnxruntime();
      const session = await o.InferenceSession.create(readFileSync(${JSON.stringify(file)}));
      const out = await session.run({ x: new o.Tensor('float32', Float32Array.from([-3, 0.5]), [1, 2]) });
      console.log(JSON.stringify(Array.from(out.y.data)));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.stdout.trim(), run.stderr).toBe('[-1.5,0.5]');
    expect(run.stderr).toBe('');
  });
});
