export { compileGraph, type Program } from './compile.js';
export { Unsupported, type Tensor, type DType } from './tensor.js';
