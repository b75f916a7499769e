/**
 * Why a retrain run failed, was gated out or trained nothing, in a few words (the CLI's runs
 * list and the console's); empty for a run that registered its candidate. Pure: the console
 * bundles it.
 */
export function runWhy(detail: unknown): string {
  const d = (detail ?? {}) as { error?: string; reason?: string; warnings?: string[]; gates?: { gate: string; metric: string; passed: boolean; short_by: number | null }[] };
  if (d.error) return d.error;
  if (d.reason) return d.reason;
  const failed = d.gates?.filter((g) => !g.passed) ?? [];
  // What the run warned of goes with it: a gate failed against a flattered score says so.
  return [failed.map((g) => `${g.gate} (${g.metric} short by ${g.short_by?.toFixed(4) ?? '—'})`).join(', '), ...(d.warnings ?? []).map((w) => `warning: ${w}`)].filter(Boolean).join('; ');
}

/** Who started a run by hand (the CLI's user or the API key), as its detail records it; undefined for a run from before that was recorded. */
export const runActor = (detail: unknown): string | undefined => (detail as { actor?: string } | null)?.actor;
