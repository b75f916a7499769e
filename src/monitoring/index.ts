export { psi, histogramQuantile } from './statistics.js';
