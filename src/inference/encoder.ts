import ort from 'onnxruntime-node';
import { AppError } from '../lib/errors.js';
import type { Contract, Feature } from './contract.js';

/** One validated row: values in contract order. */
export type Row = (number | string | bigint | boolean)[];

export interface EncodedRow {
  row: Row;
  /** Payload fields the model does not use; reported back, never an error. */
  unknown?: string[];
}

type Check = (v: unknown, where: string) => number | string | bigint | boolean;

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function invalid(where: string, f: Feature, expected: string, v: unknown): never {
  throw new AppError('VALIDATION_FAILED', `${where}.${f.name}: expected ${expected}, got ${typeName(v)}`, {
    field: `${where}.${f.name}`,
    expected,
    got: typeName(v),
  });
}

function checker(f: Feature): Check {
  switch (f.type) {
    case 'float':
    case 'double':
      // Missing or null becomes NaN: what scikit-learn's imputers expect for a missing value.
      return (v, where) => {
        if (v === undefined || v === null) return NaN;
        if (typeof v === 'number') return v;
        return invalid(where, f, 'a number or null', v);
      };
    case 'int64':
    case 'int32':
      return (v, where) => {
        if (typeof v === 'number' && Number.isInteger(v)) {
          if (f.type === 'int32' && (v > 2147483647 || v < -2147483648)) return invalid(where, f, 'a 32-bit integer', v);
          return f.type === 'int64' ? BigInt(v) : v;
        }
        if (v === undefined) throw new AppError('VALIDATION_FAILED', `${where}.${f.name}: missing required feature (an integer)`, { field: `${where}.${f.name}`, expected: 'an integer' });
        return invalid(where, f, 'an integer', v);
      };
    case 'string':
      // Unseen categories pass through: the graph's encoder decides (scikit-learn's handle_unknown).
      return (v, where) => {
        if (typeof v === 'string') return v;
        if (v === undefined) throw new AppError('VALIDATION_FAILED', `${where}.${f.name}: missing required feature (a string)`, { field: `${where}.${f.name}`, expected: 'a string' });
        return invalid(where, f, 'a string', v);
      };
    case 'bool':
      return (v, where) => {
        if (typeof v === 'boolean') return v;
        if (v === undefined) throw new AppError('VALIDATION_FAILED', `${where}.${f.name}: missing required feature (true or false)`, { field: `${where}.${f.name}`, expected: 'true or false' });
        return invalid(where, f, 'true or false', v);
      };
  }
}

export interface Encoder {
  /** Validate one payload; throws VALIDATION_FAILED naming the field. `where` prefixes field paths. */
  encode(payload: unknown, where: string): EncodedRow;
  /** Build the graph's input tensors for a batch of validated rows. */
  feeds(rows: Row[]): Record<string, ort.Tensor>;
  /** A row the graph must accept, for the registration smoke test. */
  sampleRow(): Row;
}

/** Compiled once per version, so per-request work is one pass over the contract's features. */
export function createEncoder(contract: Contract): Encoder {
  const features = contract.features;
  const names = features.map((f) => f.name);
  const known = new Set(names);
  const checks = features.map(checker);
  const n = features.length;

  const encode = (payload: unknown, where: string): EncodedRow => {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new AppError('VALIDATION_FAILED', `${where}: expected an object of feature values, got ${typeName(payload)}`, { field: where, expected: 'object' });
    }
    const obj = payload as Record<string, unknown>;
    const row: Row = new Array(n);
    let present = 0;
    for (let i = 0; i < n; i++) {
      // Own properties only: an inherited name (constructor, toString) is not a feature value.
      const has = Object.hasOwn(obj, names[i]);
      if (has) present++;
      row[i] = checks[i](has ? obj[names[i]] : undefined, where);
    }
    const keys = Object.keys(obj);
    if (keys.length === present) return { row };
    return { row, unknown: keys.filter((k) => !known.has(k)) };
  };

  const feeds = (rows: Row[]): Record<string, ort.Tensor> => {
    const m = rows.length;
    if (contract.layout === 'matrix') {
      const f = features[0];
      const data = f.type === 'double' ? new Float64Array(m * n) : new Float32Array(m * n);
      for (let r = 0; r < m; r++) {
        const row = rows[r];
        for (let c = 0; c < n; c++) data[r * n + c] = row[c] as number;
      }
      return { [f.input]: new ort.Tensor(f.type === 'double' ? 'float64' : 'float32', data, [m, n]) };
    }
    const out: Record<string, ort.Tensor> = {};
    for (let c = 0; c < n; c++) {
      const f = features[c];
      const dims = [m, 1];
      switch (f.type) {
        case 'float':
        case 'double': {
          const data = f.type === 'float' ? new Float32Array(m) : new Float64Array(m);
          for (let r = 0; r < m; r++) data[r] = rows[r][c] as number;
          out[f.input] = new ort.Tensor(f.type === 'float' ? 'float32' : 'float64', data, dims);
          break;
        }
        case 'int64': {
          const data = new BigInt64Array(m);
          for (let r = 0; r < m; r++) data[r] = rows[r][c] as bigint;
          out[f.input] = new ort.Tensor('int64', data, dims);
          break;
        }
        case 'int32': {
          const data = new Int32Array(m);
          for (let r = 0; r < m; r++) data[r] = rows[r][c] as number;
          out[f.input] = new ort.Tensor('int32', data, dims);
          break;
        }
        case 'string': {
          const data: string[] = new Array(m);
          for (let r = 0; r < m; r++) data[r] = rows[r][c] as string;
          out[f.input] = new ort.Tensor('string', data, dims);
          break;
        }
        case 'bool': {
          const data = new Uint8Array(m);
          for (let r = 0; r < m; r++) data[r] = rows[r][c] ? 1 : 0;
          out[f.input] = new ort.Tensor('bool', data, dims);
          break;
        }
      }
    }
    return out;
  };

  const sampleRow = (): Row =>
    features.map((f) => {
      switch (f.type) {
        case 'float':
        case 'double':
        case 'int32':
          return 0;
        case 'int64':
          return 0n;
        case 'string':
          return f.categories?.[0] ?? '';
        case 'bool':
          return false;
      }
    });

  return { encode, feeds, sampleRow };
}
