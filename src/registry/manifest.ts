import { z } from 'zod';
import { contractSchema, outputSchema, policySchema, taskSchema } from '../inference/index.js';
import { referenceSchema } from './reference.js';

export const MANIFEST_FORMAT = 'modelgate.manifest/v1';

/** The manifest stored beside every version's ONNX graph (content-addressed, immutable). */
export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  model: z.string(),
  version: z.number().int().positive(),
  onnx_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  onnx_bytes: z.number().int().nonnegative(),
  contract: contractSchema,
  output: outputSchema,
  policy: policySchema,
  graph: z.object({ producer: z.string(), ir_version: z.number(), opsets: z.record(z.string(), z.number()) }),
  description: z.string().optional(),
  metrics: z.record(z.string(), z.number()).optional(),
  training: z.record(z.string(), z.unknown()).optional(),
  dataset_sha256: z.string().optional(),
  run_id: z.string().optional(),
  /** Reference profile for drift monitoring; null when none was supplied. */
  reference: z.unknown().nullable().optional(),
  created_at: z.string(),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** What a user may supply with --manifest FILE (or the trainer writes); the rest is derived. */
export const manifestInputSchema = z
  .object({
    description: z.string().max(2000).optional(),
    feature_names: z.array(z.string().min(1)).min(1).optional(),
    policy: policySchema.optional(),
    /** Graph output to read when the graph has several. */
    output: z.string().optional(),
    /** Which class's probability is the score of a binary model: its label, or its column as a number (default column 1 of two). */
    positive_class: z.union([z.number().int().min(0), z.string().min(1)]).optional(),
    /** A binary model's two classes in column order (negative, positive) when its graph does not name them; `train --positive` writes them. */
    class_labels: z.tuple([z.string().min(1), z.string().min(1)]).optional(),
    /** binary, multiclass or regression; default: read from the graph's outputs. */
    task: taskSchema.optional(),
    metrics: z.record(z.string(), z.number()).optional(),
    training: z.record(z.string(), z.unknown()).optional(),
    dataset_sha256: z.string().optional(),
    run_id: z.string().optional(),
    /** What a missing (null or absent) string feature becomes: the trainer writes ''; imported pipelines name their imputed constant. */
    missing_category: z.string().max(200).optional(),
    /** 'train': values are read as the trainer read its CSV (strings trimmed, missing-value tokens missing; non-numbers in a CSV's numeric column missing); the trainer writes it. */
    cell_reading: z.enum(['train']).optional(),
    /** Drift reference (modelgate.reference/v1); `register --reference CSV` computes one. */
    reference: referenceSchema.optional(),
  })
  .strict();
export type ManifestInput = z.infer<typeof manifestInputSchema>;

/** Canonical bytes of a manifest: stable key order, so its sha256 is reproducible. */
export { canonicalJson } from '../lib/canonical-json.js';
