export { compileGraph, type Program } from './compile.js';
export { Scratch, Unsupported, type Tensor, type DType } from './tensor.js';
