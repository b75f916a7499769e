import type ort from 'onnxruntime-node';
import { lazyRequire } from '../lib/lazy-require.js';

/** onnxruntime, loaded with the first session: commands that never open one skip its native library. */
export const onnxruntime = lazyRequire<typeof ort>('onnxruntime-node');
