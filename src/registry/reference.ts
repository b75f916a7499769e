import { z } from 'zod';

/** The format tag every stored reference profile carries. */
export const REFERENCE_FORMAT = 'modelgate.reference/v1';

const numericProfile = z.object({
  type: z.literal('numeric'),
  /** Upper bin bounds (quantiles of the reference); one more bin holds values above the last. */
  edges: z.array(z.number()),
  counts: z.array(z.number().int().nonnegative()),
  missing: z.number().int().nonnegative(),
});
const categoricalProfile = z.object({
  type: z.literal('categorical'),
  categories: z.array(z.string()),
  counts: z.array(z.number().int().nonnegative()),
  other: z.number().int().nonnegative(),
  missing: z.number().int().nonnegative(),
  /** Categories counted in `other`, by name, the most frequent first (up to 1,000 and 32,000 characters; since 2026-12-06). */
  more: z.array(z.string()).optional(),
});
/**
 * A version's reference profile: what its training (or reference) data looked like, binned so
 * that live traffic can be binned the same way and compared without keeping any raw rows.
 * Stored with the version (the registry owns the format); monitoring builds and compares it.
 */
export const referenceSchema = z.object({
  format: z.literal(REFERENCE_FORMAT),
  rows: z.number().int().positive(),
  features: z.record(z.string(), z.discriminatedUnion('type', [numericProfile, categoricalProfile])),
  /** Binary: the positive-class probability; multiclass: the probability of the label; regression: the value. */
  score: z.object({ edges: z.array(z.number()), counts: z.array(z.number().int().nonnegative()) }),
  /** Multiclass: how often each class was predicted (the class mix prediction drift compares). */
  classes: z.object({ labels: z.array(z.string()), counts: z.array(z.number().int().nonnegative()) }).optional(),
  positive_rate: z.number().min(0).max(1).nullable(),
  /** The share of the profile's rows its policy acted on; null once another policy was set (`policy set`: since 2026-12-07). */
  action_rate: z.number().min(0).max(1).nullable(),
  /** Holdout metrics when the profile was made (retrain_recommended compares against them). */
  metrics: z.record(z.string(), z.number()).optional(),
  /** The column of the reference CSV that held the real outcome (`register --reference … --target`; since 2026-12-06). */
  target: z.string().optional(),
});
export type ReferenceProfile = z.infer<typeof referenceSchema>;
export type FeatureProfile = ReferenceProfile['features'][string];
