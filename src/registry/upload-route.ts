import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, errorMessage, isAppError } from '../lib/errors.js';
import { errorReplies } from '../lib/schemas.js';
import { parsePolicyFlag, taskOf, TASKS, type Task } from '../inference/index.js';
import type { ReferenceProfile } from './reference.js';
import type { RegistryService } from './service.js';
import { promoteRegistered, registrationSummary, unlikeProduction } from './after-register.js';

/** A reference CSV profiled for the version being registered (monitoring's, passed in: monitoring depends on the registry). */
export type ProfileReference = (
  prep: ReturnType<RegistryService['prepare']>,
  onnx: Uint8Array,
  model: string,
  file: string,
  o: { target?: string; allowSkipped: boolean; subject: string },
) => Promise<{ reference: ReferenceProfile; rows: number; skipped: number; notes: string[] }>;

export interface UploadRouteDeps {
  registry: RegistryService;
  onChange: () => Promise<void>;
  actorOf: (request: FastifyRequest) => string;
  /** MAX_MODEL_BYTES: the largest ONNX part taken (refused as it streams in beyond it). */
  maxModelBytes: number;
  /** UPLOAD_MAX_BYTES: the largest file part of any kind (the graph in memory, the reference on disk). */
  uploadMaxBytes: number;
  profileReference: ProfileReference;
  /** Where a reference part is written while it is profiled (the system's temporary directory unless given). */
  tmpDir?: string;
}

/** The form's text fields, as the CLI's register flags name them with underscores. */
const FIELDS = ['task', 'policy', 'feature_names', 'positive_class', 'missing_category', 'target', 'allow_skipped', 'if_changed', 'promote'] as const;
type Field = (typeof FIELDS)[number];
const FILES = ['onnx', 'manifest', 'reference'] as const;
/** A manifest is a small JSON document. */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

const EXAMPLE = 'curl -H "Authorization: Bearer $TOKEN" -F onnx=@churn.onnx -F policy=threshold=0.4 -F reference=@train.csv -F target=Churn $MG/v1/models/churn/versions';

/** The form's parts as /docs shows them (documentation only: the handler reads and checks the parts itself). */
export const UPLOAD_FORM = {
  type: 'object',
  required: ['onnx'],
  properties: {
    onnx: { type: 'string', format: 'binary', description: 'the ONNX graph (scikit-learn, XGBoost, LightGBM export); at most MAX_MODEL_BYTES' },
    manifest: { type: 'string', format: 'binary', description: 'JSON with feature_names, policy, metrics, description, positive_class, class_labels, output, task' },
    reference: { type: 'string', format: 'binary', description: 'reference data (e.g. the training set) as CSV: profiled and scored through the graph, for drift monitoring' },
    task: { type: 'string', enum: TASKS, description: 'default: read from the graph' },
    policy: { type: 'string', description: 'as register --policy: threshold=0.4, bands=allow:0.3,review:0.7,block, value, label, …' },
    feature_names: { type: 'string', description: 'comma-separated column names for a single [N,F] input' },
    positive_class: { type: 'string', description: 'binary: the class whose probability is the score, by its label' },
    missing_category: { type: 'string', description: 'what a missing string feature becomes' },
    target: { type: 'string', description: 'label column of the reference CSV: adds positive rate and AUC to the profile' },
    allow_skipped: { type: 'boolean', description: 'profile the reference rows that can be scored even when some cannot' },
    if_changed: { type: 'boolean', description: 'register only if the graph or its settings differ from the latest version' },
    promote: { type: 'boolean', description: 'then make it production' },
  },
} as const;

const nameParam = { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name'] } as const;
const anyObject = { type: 'object', additionalProperties: true } as const;

function flag(fields: Partial<Record<Field, string>>, name: Field): boolean {
  const v = fields[name]?.trim().toLowerCase();
  if (v === undefined || v === '' || v === 'false' || v === '0' || v === 'off') return false;
  if (v === 'true' || v === '1' || v === 'on') return true;
  throw new AppError('BAD_REQUEST', `${name}: ${JSON.stringify(fields[name])} is not true or false`, { field: name });
}

/** A file part cut at UPLOAD_MAX_BYTES (busboy stops there and marks the stream truncated). */
function overUploadLimit(part: string, uploadMaxBytes: number): AppError {
  return new AppError(
    'PAYLOAD_TOO_LARGE',
    `the ${part} part is over UPLOAD_MAX_BYTES (${uploadMaxBytes} bytes); ${part === 'reference' ? 'send a sample of it (its profile needs no more than some 100,000 rows), ' : ''}register it with the CLI where the file is, or raise UPLOAD_MAX_BYTES on the server together with the size of its temporary directory (the pod's /tmp)`,
    { field: part },
  );
}

/** What went wrong reading the form, as the caller (or, for the server's own disk, the operator) can act on it. */
function unreadable(e: unknown, part: string | undefined, uploadMaxBytes: number): unknown {
  if (isAppError(e)) return e;
  const err = e as { code?: string; statusCode?: number; message?: string };
  if (err.code === 'ENOSPC' || err.code === 'EDQUOT' || err.code === 'EACCES' || err.code === 'EROFS')
    return new AppError('UNAVAILABLE', `the reference part could not be written to the server's temporary directory (${err.code}); free space there or send the upload to another replica`);
  if (err.code === 'FST_PARTS_LIMIT' || err.code === 'FST_FILES_LIMIT' || err.code === 'FST_FIELDS_LIMIT')
    return new AppError('BAD_REQUEST', `more parts than the form has: the files are ${FILES.join(', ')} and the fields ${FIELDS.join(', ')}, each at most once`);
  if (err.code === 'FST_REQ_FILE_TOO_LARGE') return overUploadLimit(part ?? 'file', uploadMaxBytes);
  if (err.statusCode !== undefined && err.statusCode >= 500) return e;
  return new AppError('BAD_REQUEST', `the multipart body could not be read (${err.message ?? String(e)}); send it as curl -F or a browser's FormData does`);
}

/** register's flags, as this form names them. */
const FORM_WORDS: Record<string, string> = {
  'feature-names': 'feature_names',
  'missing-category': 'missing_category',
  'positive-class': 'positive_class',
  task: 'task',
  policy: 'policy',
  reference: 'reference',
  manifest: 'manifest',
  target: 'target',
  'allow-skipped': 'allow_skipped=true',
  'if-changed': 'if_changed=true',
};

/** Text the registry and the CSV reader word for the CLI, in the form's words: fields, not flags; the reference part, not the temporary file it was written to. */
function inFormWords(text: string, referenceFile: string | undefined, referenceName: string): string {
  const words = text.replace(/--(feature-names|missing-category|positive-class|task|policy|reference|manifest|target|allow-skipped|if-changed)\b/g, (_m, flag: string) => FORM_WORDS[flag]);
  return referenceFile ? words.split(referenceFile).join(`the reference part (${referenceName})`) : words;
}

/** A part's bytes, refused with what to do as soon as they pass `max`. */
async function readPart(stream: Readable, max: number, what: string, limit: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > max) {
      stream.resume();
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `the ${what} part is over ${limit} (${max} bytes); ${what === 'onnx' ? 'raise MAX_MODEL_BYTES on the server if the graph is meant to be this large' : 'send a smaller one'}`,
        { field: what },
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The form's parts: the graph and manifest in memory, the reference written into `dir`, the fields as text. Each refused with what to do. */
async function readForm(request: FastifyRequest, dir: string, deps: Pick<UploadRouteDeps, 'maxModelBytes' | 'uploadMaxBytes'>) {
  let onnx: Buffer | undefined;
  let at: string | undefined;
  let manifestText: string | undefined;
  let referenceFile: string | undefined;
  let referenceName = 'reference.csv';
  const fields: Partial<Record<Field, string>> = {};
  const seen = new Set<string>();
  try {
    for await (const part of request.parts()) {
      const name = part.fieldname;
      at = name;
      if (seen.has(name)) {
        if (part.type === 'file') part.file.resume();
        throw new AppError('BAD_REQUEST', `${name} is given twice: send each part once`, { field: name });
      }
      seen.add(name);
      if (part.type === 'file') {
        if (name === 'onnx') onnx = await readPart(part.file, deps.maxModelBytes, 'onnx', 'MAX_MODEL_BYTES');
        else if (name === 'manifest') manifestText = (await readPart(part.file, MAX_MANIFEST_BYTES, 'manifest', '16 MiB')).toString('utf8');
        else if (name === 'reference') {
          referenceFile = path.join(dir, 'reference.csv');
          referenceName = (part.filename || referenceName).slice(0, 200);
          await pipeline(part.file, createWriteStream(referenceFile));
        } else {
          part.file.resume();
          throw new AppError('BAD_REQUEST', `unknown file part ${JSON.stringify(name)}: the files are ${FILES.join(', ')}`, { field: name });
        }
        if (part.file.truncated) throw overUploadLimit(name, deps.uploadMaxBytes);
      } else if (part.valueTruncated)
        // busboy cuts a field at fieldSize and says so only here: a cut list of feature names would register the wrong contract.
        throw new AppError(
          'PAYLOAD_TOO_LARGE',
          `field ${name} is over 64 KiB${name === 'manifest' ? ': send the manifest as a file part (-F manifest=@manifest.json), which may hold up to 16 MiB' : ''}`,
          { field: name },
        );
      else if (name === 'manifest') manifestText = String(part.value);
      else if ((FIELDS as readonly string[]).includes(name)) fields[name as Field] = String(part.value);
      else throw new AppError('BAD_REQUEST', `unknown field ${JSON.stringify(name)}: the fields are ${FIELDS.join(', ')}, and the files ${FILES.join(', ')}`, { field: name });
    }
  } catch (e) {
    throw unreadable(e, at, deps.uploadMaxBytes);
  }
  return { onnx, manifestText, referenceFile, referenceName, fields };
}

/**
 * `POST /v1/models/:name/versions`: `modelgate register` over HTTP, for a deploy job or a
 * notebook with an admin key and no database credentials. A multipart form: the ONNX file as
 * `onnx`, optionally a `manifest` (JSON) and a `reference` CSV (profiled through the graph for
 * drift monitoring, as `--reference` does), and the register flags as fields. Refusals are the
 * CLI's, with the fields' names.
 */
export async function uploadRoute(fastify: FastifyInstance, deps: UploadRouteDeps): Promise<void> {
  const { registry } = deps;
  // Multipart is parsed on this route only: every other route takes JSON.
  await fastify.register(multipart, {
    limits: { files: FILES.length, fields: FIELDS.length + 1, fieldSize: 64 * 1024, parts: FILES.length + FIELDS.length + 1, fileSize: deps.uploadMaxBytes },
    throwFileSizeLimit: true,
  });
  let uploading: string | undefined;
  // Anything but multipart or JSON (a raw graph as application/octet-stream, say) is refused with what to send; JSON reaches the handler, which says the same.
  fastify.addContentTypeParser('*', (_request, _payload, done) => done(new AppError('UNSUPPORTED_MEDIA_TYPE', `send the graph as multipart/form-data with the file part onnx: ${EXAMPLE}`), undefined));
  fastify.post(
    '/v1/models/:name/versions',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['lifecycle'],
        summary: 'Register an ONNX graph as the next version of a model (modelgate register over HTTP)',
        description: `A multipart/form-data upload: the graph as the file part \`onnx\`; optionally \`manifest\` (JSON: feature_names, policy, metrics, description, …) and \`reference\` (a CSV, e.g. the training set, scored through the graph and profiled for drift monitoring); and the fields ${FIELDS.map((f) => `\`${f}\``).join(', ')}, as \`modelgate register\`'s flags (booleans as true or false). Example: ${EXAMPLE}. 200 with the version (\`unchanged: true\` when if_changed found it registered already); 400 when the graph or a field is refused, saying why; 413 when a part is too large; 415 when the body is not multipart.`,
        consumes: ['multipart/form-data'],
        params: nameParam,
        response: {
          200: {
            type: 'object',
            properties: {
              model: { type: 'string' },
              version: { type: 'integer' },
              unchanged: { type: 'boolean', description: 'if_changed: this graph with these settings is the version named; nothing was registered' },
              onnx_sha256: { type: 'string' },
              manifest_sha256: { type: 'string' },
              contract: anyObject,
              output: anyObject,
              policy: anyObject,
              reference: {
                type: ['object', 'null'],
                properties: { rows: { type: 'integer' }, skipped: { type: 'integer' }, metrics: { type: 'object', additionalProperties: { type: 'number' } } },
                description: 'the reference part as profiled; null without one',
              },
              same_as: { type: ['integer', 'null'], description: 'an earlier version with the same graph and settings (registered again: if_changed keeps that one instead)' },
              repaired_artifact: { type: 'boolean' },
              promoted: { type: 'boolean' },
              warnings: {
                type: 'array',
                items: { type: 'string' },
                description: "what production's clients would meet in this version (other inputs, other decisions), or what its promotion changed",
              },
              notes: { type: 'array', items: { type: 'string' }, description: 'how the reference was read: skipped rows, cells that were not numbers, unseen categories' },
            },
          },
          ...errorReplies(400, 401, 403, 409, 413, 415, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const model = (request.params as { name: string }).name;
      if (!request.isMultipart())
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', `send the graph as multipart/form-data with the file part onnx, not ${request.headers['content-type'] ?? 'no content type'}: ${EXAMPLE}`);
      const actor = deps.actorOf(request);
      // One at a time: each holds a graph in memory and a reference on the temporary disk, both bounded by UPLOAD_MAX_BYTES for one upload, not for several.
      if (uploading) {
        void reply.header('retry-after', '5');
        throw new AppError('UNAVAILABLE', `another upload (${uploading}) is being registered on this server: send this one again when it is done, or to another replica`, { uploading });
      }
      uploading = `${model}, by ${actor}`;
      let dir: string | undefined;
      try {
        dir = await mkdtemp(path.join(deps.tmpDir ?? os.tmpdir(), 'modelgate-upload-'));
        const { onnx, manifestText, referenceFile, referenceName, fields } = await readForm(request, dir, deps);
        if (!onnx) throw new AppError('BAD_REQUEST', `no onnx part: send the graph as the file part onnx, e.g. ${EXAMPLE}`, { field: 'onnx' });
        let manifest: unknown;
        if (manifestText !== undefined) {
          try {
            manifest = JSON.parse(manifestText);
          } catch (e) {
            throw new AppError('BAD_REQUEST', `manifest is not valid JSON: ${errorMessage(e)}`, { field: 'manifest' });
          }
        }
        if (fields.target && !referenceFile) throw new AppError('BAD_REQUEST', 'target names a column of the reference CSV; send the reference part too', { field: 'target' });
        const task = fields.task === undefined || fields.task === '' ? undefined : fields.task;
        if (task !== undefined && !(TASKS as readonly string[]).includes(task))
          throw new AppError('BAD_REQUEST', `task ${JSON.stringify(task)}: expected one of ${TASKS.join(', ')}`, { field: 'task' });
        let policy;
        try {
          policy = fields.policy ? parsePolicyFlag(fields.policy) : undefined;
        } catch (e) {
          throw isAppError(e) ? new AppError(e.code, e.message.replace(/^--policy /, 'policy: '), { field: 'policy' }) : e;
        }
        const ifChanged = flag(fields, 'if_changed');
        const promote = flag(fields, 'promote');
        const allowSkipped = flag(fields, 'allow_skipped');
        const input = {
          model,
          onnx,
          manifest,
          policy,
          featureNames: fields.feature_names
            ?.split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          missingCategory: fields.missing_category,
          positiveClass: fields.positive_class,
          task: task as Task | undefined,
        };
        let profiled: Awaited<ReturnType<ProfileReference>> | undefined;
        const registered = async () => {
          if (referenceFile) {
            const prepared = registry.prepare(input);
            await registry.checkTask(model, taskOf(prepared.contract));
            profiled = await deps.profileReference(prepared, onnx, model, referenceFile, { target: fields.target, allowSkipped, subject: `the reference part (${referenceName})` });
            profiled = { ...profiled, notes: profiled.notes.map((n) => inFormWords(n, referenceFile, referenceName)) };
            input.manifest = { ...((manifest as Record<string, unknown> | undefined) ?? {}), reference: profiled.reference };
          }
          return registry.register({ ...input, ifChanged, actor });
        };
        const r = await registered().catch((e: unknown) => {
          throw isAppError(e) ? new AppError(e.code, inFormWords(e.message, referenceFile, referenceName), e.details) : e;
        });
        const promoted = async (version: number) => {
          if (!promote) return { promoted: false, warnings: await unlikeProduction(registry, r.model, version) };
          const warnings = await promoteRegistered(registry, {
            model: r.model,
            version,
            actor,
            alone: (accept) => `POST /v1/models/${r.model}/promote {"version": ${version}${accept ? ', "accept_new_inputs": true' : ''}}`,
          });
          await deps.onChange();
          return { promoted: true, warnings };
        };
        if ('unchanged' in r) return { model: r.model, version: r.version, unchanged: true, onnx_sha256: r.onnx_sha256, manifest_sha256: r.manifest_sha256, ...(await promoted(r.version)) };
        return { ...registrationSummary(r, profiled), unchanged: false, ...(await promoted(r.version)), notes: profiled?.notes ?? [] };
      } finally {
        uploading = undefined;
        if (dir) await rm(dir, { recursive: true, force: true });
      }
    },
  );
}
