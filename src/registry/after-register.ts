import { contractChange, decisionsDiffer, describeContractChange, policyFlag, takesNone } from '../inference/index.js';
import { AppError, isAppError } from '../lib/errors.js';
import { actionRateChange } from './action-rate.js';
import type { Manifest } from './manifest.js';
import type { RegistryService } from './service.js';

/** A new version as `register --json` and `POST /v1/models/:name/versions` describe it (promotion's result comes on top). */
export function registrationSummary(
  r: { model: string; version: number; onnx_sha256: string; manifest_sha256: string; manifest: Manifest; same_as?: number; repaired_artifact?: boolean },
  profiled: { rows: number; skipped: number; reference: { metrics?: Record<string, number> } } | undefined,
) {
  return {
    model: r.model,
    version: r.version,
    onnx_sha256: r.onnx_sha256,
    manifest_sha256: r.manifest_sha256,
    contract: r.manifest.contract,
    output: r.manifest.output,
    policy: r.manifest.policy,
    reference: profiled ? { rows: profiled.rows, skipped: profiled.skipped, ...(profiled.reference.metrics ? { metrics: profiled.reference.metrics } : {}) } : null,
    same_as: r.same_as ?? null,
    repaired_artifact: r.repaired_artifact ?? false,
  };
}

/**
 * A new version of a model whose production takes other inputs (said first), or decides other things (production has bands; this
 * one the default policy): a canary of it would answer its share of clients with decisions
 * they were never given. Said now, while it is only registered.
 */
export async function unlikeProduction(registry: Pick<RegistryService, 'getModel' | 'getVersion'>, model: string, version: number): Promise<string[]> {
  const production = (await registry.getModel(model)).aliases.production;
  if (production === undefined || production === version) return [];
  const [mine, theirs] = await Promise.all([registry.getVersion(model, version), registry.getVersion(model, production)]);
  // Other inputs than production's: a graph registered under the wrong --model, or a retrain on other columns.
  const inputs = contractChange(mine.manifest.contract, theirs.manifest.contract);
  const said: string[] = [];
  if (inputs)
    said.push(
      `version ${version} ${describeContractChange(inputs, `production (version ${production})`)}${takesNone(inputs) ? `; is ${model} the model you meant? (promoting it, or a canary of it, needs --accept-new-inputs)` : ''}`,
    );
  const differ = decisionsDiffer(mine.manifest.policy, theirs.manifest.policy, mine.manifest.output.class_labels, theirs.manifest.output.class_labels);
  if (!differ) {
    const rate = actionRateChange(mine, { ...theirs, version: production }, `production (version ${production})`);
    if (rate) said.push(`${rate}; check its policy before a canary (modelgate models ${model} shows each version's)`);
    return said;
  }
  const flag = policyFlag(theirs.manifest.policy);
  const clients = differ.added.length
    ? 'a canary of it would answer its share of clients with decisions production never gives'
    : `a canary of it would never give its share of clients ${differ.missing.join(', ')}, which production gives`;
  said.push(
    `version ${version} decides ${differ.mine.join(', ')} and production (version ${production}) ${differ.theirs.join(', ')}: ${clients}${
      flag ? `; a version of it that decides like production: modelgate policy set --model ${model} --version ${version} --policy ${flag}` : ''
    }`,
  );
  return said;
}

/**
 * Promote a version just registered (register, train or an upload with promote), returning what
 * promote warns of (production now decides other things). A promotion refused (a canary running)
 * must not hide that the version was registered: the error names it and `alone`, the step that
 * finishes the job (with the acceptance of new inputs when that is what was missing).
 */
export async function promoteRegistered(
  registry: Pick<RegistryService, 'promote'>,
  o: { model: string; version: number; actor: string; alone: (acceptNewInputs: boolean) => string },
): Promise<string[]> {
  const moved = await registry.promote({ model: o.model, target: 'production', version: o.version, actor: o.actor }).catch((e: unknown) => {
    // Refused for taking none of production's inputs: the promotion alone needs the acceptance.
    const accepting = isAppError(e) && e.details?.field === 'accept_new_inputs';
    throw isAppError(e)
      ? new AppError(e.code, `${o.model} version ${o.version} is registered, but not production: ${e.message} The promotion alone, when ready: ${o.alone(accepting)}`, {
          ...e.details,
          version: o.version,
        })
      : e;
  });
  return 'warnings' in moved ? (moved.warnings ?? []) : [];
}
