import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateHotelBookings, trainLogisticRegression } from '../../src/training/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The ONNX exports the tests need, in the repository (test/fixtures/README.md says how they were made). */
export const FIXTURES = path.resolve(root, 'test/fixtures');
export const REPO_ROOT = root;
/** The `modelgate` command as the package installs it (built by test/global-setup.ts when stale). */
export const CLI_MAIN = path.join(root, 'dist/bin/modelgate.js');

export interface Expected {
  rows: Record<string, number | string | null>[];
  proba: number[];
  labels: number[];
  feature_names?: string[];
}

export function fixture(name: 'telco_churn' | 'telco_numeric'): { onnx: Buffer; expected: Expected } {
  return {
    onnx: readFileSync(path.join(FIXTURES, `${name}.onnx`)),
    expected: JSON.parse(readFileSync(path.join(FIXTURES, `${name}.expected.json`), 'utf8')) as Expected,
  };
}

/** bank_geography: multinomial LogisticRegression (classes in `classes`), with Python's and onnxruntime's probabilities. */
export interface MulticlassExpected {
  rows: Record<string, number | string | null>[];
  classes: string[];
  proba_by_class: number[][];
  label: string[];
  onnxruntime: number[][];
}

/** telco_charges: HistGradientBoostingRegressor, with Python's and onnxruntime's values. */
export interface RegressionExpected {
  rows: Record<string, number | string | null>[];
  value: number[];
  onnxruntime: number[];
}

export function kindFixture(name: 'bank_geography'): { onnx: Buffer; expected: MulticlassExpected };
export function kindFixture(name: 'telco_charges'): { onnx: Buffer; expected: RegressionExpected };
export function kindFixture(name: string): { onnx: Buffer; expected: unknown } {
  return {
    onnx: readFileSync(path.join(FIXTURES, `${name}.onnx`)),
    expected: JSON.parse(readFileSync(path.join(FIXTURES, `${name}.expected.json`), 'utf8')),
  };
}

let demo: ReturnType<typeof trainLogisticRegression> | undefined;
/** A small model trained by the built-in trainer (cached per test file). */
export function demoModel() {
  demo ??= trainLogisticRegression(generateHotelBookings(3000, 7));
  return demo;
}

/** A binary policy of three bands (allow, review, block): one that decides other things than a threshold's none and act. */
export const THREE_BANDS = {
  type: 'bands' as const,
  bands: [
    { decision: 'allow', below: 0.3 },
    { decision: 'review', below: 0.7 },
    { decision: 'block', below: null },
  ],
};
