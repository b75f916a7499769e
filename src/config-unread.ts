import { distance } from 'fastest-levenshtein';

/**
 * Environment variables that look meant for modelgate but that it does not read: a typo such
 * as DATABSE_URL or ARTIFACT_DIR otherwise leaves the default in force without a word (the CLI
 * then acts on an empty SQLite store in ./.modelgate).
 */

/** Name prefixes only modelgate's own variables use; names without an underscore stand alone. */
const OWN_PREFIXES = [
  'MODELGATE_',
  'ARTIFACT_',
  'AUDIT_',
  'CACHE_',
  'JWT_',
  'BATCH_',
  'CANARY_',
  'MONITOR_',
  'WEBHOOK_',
  'SHADOW_',
  'SHUTDOWN_',
  'RATE_LIMIT_',
  'INFERENCE_',
  'PREDICT_',
  'PREDICTION_',
  'RELOAD_',
  'ANALYSIS_',
  'STATS_',
  'REPLICA_',
  'ONNX_',
  'S3_',
];

/** Read outside the server's configuration: by the CLI (who acted; the token `register --server` signs in with). */
const READ_ELSEWHERE = new Set(['MODELGATE_ACTOR', 'MODELGATE_TOKEN']);

/**
 * Kubernetes (and Docker links) set these for every service in a namespace: a Service named
 * modelgate gives each pod MODELGATE_PORT, MODELGATE_SERVICE_HOST, MODELGATE_PORT_8080_TCP….
 */
const SERVICE_LINK = /_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$/;

/** A name this close to one modelgate reads is its misspelling: one edit off a short name (PGPORT is not PORT), two off a longer one. */
const typoDistance = (known: string) => (known.length < 8 ? 1 : 2);

export function unreadVariableWarnings(env: NodeJS.ProcessEnv, known: readonly string[]): string[] {
  const knownSet = new Set(known);
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (knownSet.has(name) || READ_ELSEWHERE.has(name) || SERVICE_LINK.test(name)) continue;
    const prefix = OWN_PREFIXES.find((p) => name.startsWith(p));
    // Outside the prefixes only a typo counts, and no name differing by more edits than its length
    // differs can be one: most of a shell's variables are never compared (6 ms of every start).
    const family = prefix ? known.filter((k) => k.startsWith(prefix)) : known.filter((k) => Math.abs(k.length - name.length) <= typoDistance(k));
    const nearest = nearestOf(name, family);
    const typo = nearest !== undefined && nearest.distance <= typoDistance(nearest.name);
    if (!prefix && !typo) continue;
    // In its family, a name is meant as the nearest when the family has one name, or when what
    // follows the prefix is at most half rewritten (AUDIT_FLUSH for AUDIT_FLUSH_MS, not MODELGATE_URL for MODELGATE_AUTH).
    const rest = nearest && prefix ? nearest.name.length - prefix.length : 0;
    const likely = nearest !== undefined && (typo || family.length === 1 || nearest.distance <= rest / 2);
    const hint = likely ? `did you mean ${nearest.name}? ` : '';
    warnings.push(`${name} is set, but modelgate reads no variable of that name and ignores it: ${hint}the README's Configuration section lists every variable`);
  }
  return warnings;
}

function nearestOf(name: string, candidates: readonly string[]): { name: string; distance: number } | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const c of candidates) {
    const d = distance(name, c);
    if (!best || d < best.distance) best = { name: c, distance: d };
  }
  return best;
}
