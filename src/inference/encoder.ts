import { quoted } from '../lib/quoted.js';
import { AppError } from '../lib/errors.js';
import { cleanCategory, MISSING_TOKENS } from '../lib/missing.js';
import type { Contract, Feature } from './contract.js';
import type { FeedPlan } from './pack-inputs.js';

/** One validated row: values in contract order. */
export type Row = (number | string | bigint | boolean)[];

/** One input tensor for either engine: int64 as BigInt64Array and bool as bytes (onnxruntime's layouts). */
export interface RawFeed {
  type: 'float' | 'double' | 'int64' | 'int32' | 'string' | 'bool';
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | string[];
  dims: number[];
}

export interface EncodedRow {
  row: Row;
  /** Payload fields the model does not use; reported back, never an error. */
  unknown?: string[];
  /** Features (contract indexes) whose category the version does not know: scored as unseen, reported back. */
  unseen?: number[];
  /** Features (contract indexes) the payload left out: scored as missing, reported back (null says missing on purpose). */
  absent?: number[];
  /** Features (contract indexes) sent a number beyond a double's range (1e400 parses to Infinity): a trained version scores it as missing, reported back. */
  overflowed?: number[];
}

type Check = (v: unknown, where: string) => number | string | bigint | boolean;

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function invalid(where: string, f: Feature, expected: string, v: unknown): never {
  // A number that is not the integer asked for is named: "got number" would not say what is wrong with 619.5.
  const got = typeof v === 'number' ? String(v) : typeName(v);
  const hint = typeHint(f, v);
  const field = `${where}.${f.name}`;
  // The log line names the type and the fix, never the value sent (payloads stay out of logs).
  throw new AppError(
    'VALIDATION_FAILED',
    `${field}: expected ${expected}, got ${got}${hint ? `: ${hint.reply}` : ''}`,
    { field, expected, got },
    `${field}: expected ${expected}, got ${typeName(v)}${hint?.log ? `: ${hint.log}` : ''}`,
  );
}

/**
 * What to send instead, when the value is right but its JSON type is not: clients that read a
 * CSV send "619" for 619, and a 400 that says only "got string" leaves them to guess. `log`:
 * the same without the value.
 */
function typeHint(f: Feature, v: unknown): { reply: string; log?: string } | undefined {
  const numeric = f.type === 'float' || f.type === 'double' || f.type === 'int64' || f.type === 'int32';
  if (numeric && typeof v === 'string') {
    const t = v.trim();
    // "", "NA", "?": a CSV's missing value, sent as it was read.
    if (t === '' || MISSING_TOKENS.has(t)) {
      if (f.type !== 'float' && f.type !== 'double') return t === '' ? undefined : { reply: `the string ${quoted(v)}` };
      const missing = 'send null for a missing value';
      return { reply: t === '' ? missing : `the string ${quoted(v)}; ${missing}`, log: `${t === '' ? 'an empty one' : 'a missing-value word'}; ${missing}` };
    }
    const n = Number(t);
    if (Number.isFinite(n)) return { reply: `the string ${quoted(v)}; send it as a JSON number (${n}), without quotes`, log: 'one that reads as a number; send it as a JSON number, without quotes' };
    return { reply: `the string ${quoted(v, 40)}` };
  }
  if (f.type === 'string' && (typeof v === 'number' || typeof v === 'boolean')) return { reply: `send it as a JSON string (${JSON.stringify(String(v))})`, log: 'send it as a JSON string' };
  if (f.type === 'bool' && typeof v === 'string' && /^(true|false)$/i.test(v.trim())) {
    return { reply: `the string ${JSON.stringify(v)}; send it as JSON ${v.trim().toLowerCase()}, without quotes`, log: 'send it as JSON true or false, without quotes' };
  }
  if (f.type === 'bool' && (v === 0 || v === 1)) return { reply: `send it as JSON ${v === 1}`, log: 'send it as JSON true or false' };
  return undefined;
}

function checker(f: Feature, missingCategory: string | undefined, asTrained: boolean): Check {
  switch (f.type) {
    case 'float':
    case 'double':
      // Missing or null becomes NaN: what scikit-learn's imputers expect for a missing value.
      return (v, where) => {
        if (v === undefined || v === null) return NaN;
        // A 1e400 in the body parses to Infinity; modelgate's trainer read such a cell as missing.
        if (typeof v === 'number') return asTrained && !Number.isFinite(v) ? NaN : v;
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
    case 'string': {
      // Unseen categories pass through: the graph's encoder decides (scikit-learn's handle_unknown),
      // unless it fails on them, which is the caller's mistake to hear about, not a failed run.
      const known = f.categories_only && f.categories ? new Set(f.categories) : undefined;
      const closed = (c: string, where: string, missing: boolean): string => {
        if (!known || known.has(c)) return c;
        const list =
          f
            .categories!.slice(0, 20)
            .map((k) => JSON.stringify(k))
            .join(', ') + (f.categories!.length > 20 ? `, … (${f.categories!.length} in all)` : '');
        throw new AppError(
          'VALIDATION_FAILED',
          `${where}.${f.name}: ${missing ? `missing, which this model version reads as ${quoted(c)}:` : `${quoted(c)} is`} not a category this model version knows (its one-hot encoder refuses others); send one of ${list}`,
          { field: `${where}.${f.name}`, expected: 'one of the categories' },
          `${where}.${f.name}: ${missing ? 'missing, which this model version reads as a category it does not know' : 'not a category this model version knows'} (its one-hot encoder refuses others)`,
        );
      };
      return (v, where) => {
        // A trained version reads " tacoma " and "NA" as its trainer read them in the CSV.
        if (typeof v === 'string' && asTrained) v = cleanCategory(v);
        if (typeof v === 'string') return known ? closed(v, where, false) : v;
        if (v === undefined || v === null) {
          // Train, serve and evaluate agree: a missing category is the value the version's manifest names.
          if (missingCategory !== undefined) return known ? closed(missingCategory, where, true) : missingCategory;
          throw new AppError(
            'VALIDATION_FAILED',
            `${where}.${f.name}: ${v === null ? 'null' : 'missing'}, and this model version does not say what a missing category becomes; send a string, or register the model with --missing-category VALUE (the value its pipeline imputes, e.g. missing)`,
            { field: `${where}.${f.name}`, expected: 'a string' },
          );
        }
        return invalid(where, f, 'a string', v);
      };
    }
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
  feeds(rows: Row[]): Record<string, RawFeed>;
  /** A row the graph must accept, for the registration smoke test. */
  sampleRow(): Row;
  /** Rows whose columns all differ (values, categories, missing), to check a rewritten graph against its original. */
  probeRows(): Row[];
}

/** How rows become tensors without packing: the matrix input whole, or one [N,1] input per column. */
export function defaultFeedPlans(contract: Contract): FeedPlan[] {
  const f = contract.features;
  if (contract.layout === 'matrix') {
    const columns = f
      .map((x, i) => ({ col: i, at: x.index ?? i }))
      .sort((a, b) => a.at - b.at)
      .map((x) => x.col);
    return [{ input: f[0].input, type: f[0].type, columns }];
  }
  return f.map((x, i) => ({ input: x.input, type: x.type, columns: [i] }));
}

/** Compiled once per version, so per-request work is one pass over the contract's features. */
export function createEncoder(contract: Contract, plans?: FeedPlan[], seenCategories?: Record<string, string[]>): Encoder {
  const features = contract.features;
  const names = features.map((f) => f.name);
  const known = new Set(names);
  const checks = features.map((f) => checker(f, contract.missing_category, contract.cell_reading === 'train'));
  const n = features.length;
  // Categories of features whose graph takes others too (as unseen, scored like no category it
  // knows): a value outside them is most often a client's typo, which would change scores unheard.
  // A category the version's data had is no typo, even where the graph scores it as unseen.
  const knownCategories = features.map((f) => (f.type === 'string' && f.categories?.length && !f.categories_only ? new Set([...f.categories, ...(seenCategories?.[f.name] ?? [])]) : undefined));
  const missingCategory = contract.missing_category;

  const encode = (payload: unknown, where: string): EncodedRow => {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new AppError('VALIDATION_FAILED', `${where}: expected an object of feature values, got ${typeName(payload)}`, { field: where, expected: 'object' });
    }
    const obj = payload as Record<string, unknown>;
    const row: Row = new Array(n);
    let present = 0;
    let unseen: number[] | undefined;
    let overflowed: number[] | undefined;
    try {
      for (let i = 0; i < n; i++) {
        // Own properties only: an inherited name (constructor, toString) is not a feature value.
        const has = Object.hasOwn(obj, names[i]);
        if (has) present++;
        const v = (row[i] = checks[i](has ? obj[names[i]] : undefined, where));
        // NaN from a sent ±Infinity (not null, absent, or a NaN the Open Inference Protocol's tensors carry as missing): it was beyond a double, read as the trainer read an Infinity cell.
        if (v !== v && has && (obj[names[i]] === Infinity || obj[names[i]] === -Infinity)) (overflowed ??= []).push(i);
        const categories = knownCategories[i];
        if (categories !== undefined && has && typeof v === 'string' && v !== missingCategory && !categories.has(v)) (unseen ??= []).push(i);
      }
    } catch (e) {
      throw refusalOfAll(e, obj, where);
    }
    const keys = Object.keys(obj);
    if (keys.length === present && present === n && !overflowed) return unseen ? { row, unseen } : { row };
    const absent = present < n ? names.flatMap((name, i) => (Object.hasOwn(obj, name) ? [] : [i])) : undefined;
    const unknown = keys.length > present ? keys.filter((k) => !known.has(k)) : undefined;
    return { row, ...(unknown ? { unknown } : {}), ...(unseen ? { unseen } : {}), ...(absent ? { absent } : {}), ...(overflowed ? { overflowed } : {}) };
  };

  /**
   * A client that reads a CSV sends every number quoted, and a 400 naming only the first field
   * had it fix them one request at a time: the refusal names every field refused, the first in
   * full, and details.errors lists each one's message. Runs only once a row has been refused.
   */
  const refusalOfAll = (first: unknown, obj: Record<string, unknown>, where: string): unknown => {
    if (!(first instanceof AppError) || first.code !== 'VALIDATION_FAILED') return first;
    const refused: AppError[] = [];
    for (let i = 0; i < n; i++) {
      try {
        checks[i](Object.hasOwn(obj, names[i]) ? obj[names[i]] : undefined, where);
      } catch (e) {
        if (e instanceof AppError && e.code === 'VALIDATION_FAILED') refused.push(e);
      }
    }
    if (refused.length < 2) return first;
    const [head, ...rest] = refused;
    const field = (e: AppError) => String(e.details?.field ?? '');
    const shown = rest.slice(0, 5);
    // The others briefly, from their log lines (no values sent): what was expected and got, or
    // why; the first one's advice most often holds for them too, and details.errors has each.
    const brief = (e: AppError) => {
      const said = (e.logMessage ?? e.message).slice(field(e).length + 2);
      const got = said.indexOf(', got ');
      const cut = got >= 0 ? said.indexOf(': ', got) : -1;
      return `${field(e)} (${cut >= 0 ? said.slice(0, cut) : said})`;
    };
    const tail = `; ${rest.length} more field${rest.length > 1 ? 's' : ''} refused: ${shown.map(brief).join(', ')}${rest.length > shown.length ? `, and ${rest.length - shown.length} more` : ''} (details.errors has each one's message)`;
    return new AppError('VALIDATION_FAILED', head.message + tail, { ...head.details, errors: refused.map((e) => ({ ...e.details, message: e.message })) }, (head.logMessage ?? head.message) + tail);
  };

  const plan = plans ?? defaultFeedPlans(contract);
  const feeds = (rows: Row[]): Record<string, RawFeed> => {
    const m = rows.length;
    const out: Record<string, RawFeed> = {};
    for (const p of plan) {
      const cols = p.columns;
      const k = cols.length;
      const dims = [m, k];
      switch (p.type) {
        case 'float':
        case 'double': {
          const data = p.type === 'float' ? new Float32Array(m * k) : new Float64Array(m * k);
          for (let r = 0; r < m; r++) {
            const row = rows[r];
            for (let j = 0; j < k; j++) data[r * k + j] = row[cols[j]] as number;
          }
          out[p.input] = { type: p.type, data, dims };
          break;
        }
        case 'int64': {
          const data = new BigInt64Array(m * k);
          for (let r = 0; r < m; r++) for (let j = 0; j < k; j++) data[r * k + j] = rows[r][cols[j]] as bigint;
          out[p.input] = { type: 'int64', data, dims };
          break;
        }
        case 'int32': {
          const data = new Int32Array(m * k);
          for (let r = 0; r < m; r++) for (let j = 0; j < k; j++) data[r * k + j] = rows[r][cols[j]] as number;
          out[p.input] = { type: 'int32', data, dims };
          break;
        }
        case 'string': {
          const data: string[] = new Array(m * k);
          for (let r = 0; r < m; r++) for (let j = 0; j < k; j++) data[r * k + j] = rows[r][cols[j]] as string;
          out[p.input] = { type: 'string', data, dims };
          break;
        }
        case 'bool': {
          const data = new Uint8Array(m * k);
          for (let r = 0; r < m; r++) for (let j = 0; j < k; j++) data[r * k + j] = rows[r][cols[j]] ? 1 : 0;
          out[p.input] = { type: 'bool', data, dims };
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

  const probeRows = (): Row[] =>
    [1, 2, 3].map((k) =>
      features.map((f, i) => {
        const v = k * 7 + i * 3;
        switch (f.type) {
          case 'float':
          case 'double':
            return k === 3 && i % 2 === 0 ? NaN : v / 10;
          case 'int32':
            return v;
          case 'int64':
            return BigInt(v);
          case 'string':
            return f.categories?.length ? f.categories[v % f.categories.length] : `probe-${v}`;
          case 'bool':
            return (k + i) % 2 === 0;
        }
      }),
    );

  return { encode, feeds, sampleRow, probeRows };
}
