export { compileGraph, compileGraphYielding, type Program } from './compile.js';
export { Scratch, Unsupported, type Tensor, type DType, type NumData } from './tensor.js';
