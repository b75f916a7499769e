import type ort from 'onnxruntime-node';
import { lazyRequire } from '../lib/lazy-require.js';

/**
 * onnxruntime, loaded with the first session: commands that never open one skip its native
 * library. Its own warnings (a model of an old opset, say) would go to stderr as bare lines,
 * which a log collector files as errors beside the JSON log; a model it cannot load or run
 * fails with the reason, in that log.
 */
export const onnxruntime = lazyRequire<typeof ort>('onnxruntime-node', (m) => {
  m.env.logLevel = 'error';
});
