import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError, ERROR_STATUS, errorMessage, type ErrorCode } from '../lib/errors.js';
import { redactUrl } from '../lib/redact-url.js';
import { assertInputFile } from '../lib/user-paths.js';

/** What `register` takes, as the flags name it. */
export interface RegisterFlags {
  model: string;
  onnx: string;
  manifest?: string;
  policy?: string;
  featureNames?: string;
  reference?: string;
  target?: string;
  allowSkipped?: boolean;
  missingCategory?: string;
  positiveClass?: string;
  task?: string;
  ifChanged?: boolean;
  promote?: boolean;
}

/** The server's answer: what `register --json` prints, with the server's `notes` on how it read the reference. */
export interface RemoteRegistration extends Record<string, unknown> {
  model: string;
  version: number;
  unchanged?: boolean;
  warnings?: string[];
  notes?: string[];
}

/** Flags that cannot go together, refused before anything is read, wherever the registration is made. */
export function refuseFlagConflicts(o: RegisterFlags): void {
  if (o.onnx === '-' && o.manifest === '-') throw new AppError('BAD_REQUEST', 'only one of --onnx and --manifest can be piped in (-): give the manifest as a file');
  if (o.target && !o.reference) throw new AppError('BAD_REQUEST', '--target names a column of the --reference CSV; give --reference too');
}

/** The server's address from --server: http(s) only, with a trailing slash so paths join under it. */
function serverUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AppError('BAD_REQUEST', `--server ${JSON.stringify(text)} is not a URL: give the server's address, e.g. https://modelgate.internal or http://127.0.0.1:8080`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AppError('BAD_REQUEST', `--server ${text}: expected an http:// or https:// address, not ${url.protocol}`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** The bytes of --onnx or --manifest: a file, or stdin for -. */
type ReadInput = (file: string, what: string, flag: string) => Promise<Buffer>;

/**
 * `register --server URL`: the same registration sent to a running server's
 * `POST /v1/models/:name/versions` as a multipart form, signed in with MODELGATE_TOKEN (an admin
 * key or the admin token), for a deploy job or notebook with no database credentials. The
 * server checks, profiles and stores it as `register` does here; its refusals come back in its
 * words, with the exit code the same refusal has locally.
 */
export async function registerOverHttp(o: RegisterFlags & { server: string }, readInput: ReadInput): Promise<RemoteRegistration> {
  const base = serverUrl(o.server);
  const token = process.env.MODELGATE_TOKEN?.trim();
  if (!token)
    throw new AppError(
      'BAD_REQUEST',
      "--server signs in with MODELGATE_TOKEN: set it to an admin key's token (modelgate keys create --name deploy --scopes admin) or to the server's admin token; it is read from the environment so that it stays out of the shell's history and the process list",
    );
  refuseFlagConflicts(o);
  const form = new FormData();
  form.set('onnx', new Blob([await readInput(o.onnx, 'ONNX file', '--onnx')]), o.onnx === '-' ? 'stdin.onnx' : path.basename(o.onnx));
  if (o.manifest) form.set('manifest', new Blob([await readInput(o.manifest, 'manifest', '--manifest')], { type: 'application/json' }), 'manifest.json');
  if (o.reference) {
    assertInputFile(o.reference, 'give the path of the reference CSV');
    form.set('reference', new Blob([await readFile(o.reference)], { type: 'text/csv' }), path.basename(o.reference));
  }
  const fields: [string, string | boolean | undefined][] = [
    ['policy', o.policy],
    ['task', o.task],
    ['feature_names', o.featureNames],
    ['positive_class', o.positiveClass],
    ['missing_category', o.missingCategory],
    ['target', o.target],
    ['allow_skipped', o.allowSkipped],
    ['if_changed', o.ifChanged],
    ['promote', o.promote],
  ];
  for (const [name, value] of fields) if (value !== undefined && value !== false) form.set(name, value === true ? 'true' : value);

  const where = redactUrl(base.toString()).replace(/\/$/, '');
  const url = new URL(`v1/models/${encodeURIComponent(o.model)}/versions`, base);
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new AppError('UNAVAILABLE', `cannot reach the server at ${where} (${cause?.code ? `${cause.code}: ` : ''}${cause?.message ?? errorMessage(e)}): check --server and that it is running`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const error = (body as { error?: { code?: unknown; message?: unknown; details?: Record<string, unknown> } } | undefined)?.error;
    const code: ErrorCode = typeof error?.code === 'string' && error.code in ERROR_STATUS ? (error.code as ErrorCode) : res.status >= 500 ? 'UNAVAILABLE' : 'BAD_REQUEST';
    const message = typeof error?.message === 'string' ? error.message : `HTTP ${res.status}: ${text.slice(0, 200) || res.statusText} (is ${where} a modelgate server?)`;
    const whose = code === 'UNAUTHORIZED' || code === 'FORBIDDEN' ? ' (sent from MODELGATE_TOKEN)' : '';
    throw new AppError(code, `${where} refused the registration: ${message}${whose}`, error?.details);
  }
  if (!body || typeof (body as RemoteRegistration).version !== 'number')
    throw new AppError('UNAVAILABLE', `${where} answered ${res.status} without a registration (is it a modelgate server?): ${text.slice(0, 200)}`);
  return body as RemoteRegistration;
}
