import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { ConfirmButton, warningsOf } from '../components/common.js';

/** "10, 25 50,100" → [10, 25, 50, 100]; the server checks the order and range and says what is wrong. */
export function parseSteps(text: string): number[] {
  const parts = text.split(/[\s,%]+/).filter((p) => p !== '');
  if (parts.length === 0) throw new Error('Steps: give at least one percent, such as 10, 25, 50, 100.');
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isFinite(n)) throw new Error(`Steps: "${p}" is not a percent; give numbers such as 10, 25, 50, 100.`);
    return n;
  });
}

interface CanaryAnswer {
  canary_percent: number;
  changed?: Record<string, unknown>;
}

/**
 * Start a canary of a version against production from the model page. The page's production
 * version goes with the request, so a page older than a promotion is refused (409) rather than
 * starting a canary against a version the operator did not see.
 */
/** An outcome rule that fits the model's task, for the dialog's example. */
const OUTCOME_EXAMPLE: Record<string, string> = { binary: '--max-auc-drop 0.05', multiclass: '--max-accuracy-drop-pp 2', regression: '--max-mae-ratio 1.1' };

export function StartCanaryButton(props: { model: string; version: number; production: number; task: string; note?: string; done: (what: string) => void }) {
  const { model, version, production } = props;
  const [steps, setSteps] = useState('10, 25, 50, 100');
  const [stepInterval, setStepInterval] = useState('');
  const [autoPromote, setAutoPromote] = useState(false);
  return (
    <ConfirmButton
      label="Canary"
      testId={`canary-${version}`}
      title={`Start a canary of ${model} v${version}?`}
      confirm={
        <>
          <p>
            Version {version} answers a share of requests beside production (version {production}), moving up through the steps below while it stays healthy, and is rolled back on its own when it does
            worse: by default on an error rate over 1.5 × production's or a p95 over 1.3 ×. Other rules, such as outcomes from feedback, can be added while it runs:{' '}
            <code>
              modelgate canary start --model {model} --version {version} {OUTCOME_EXAMPLE[props.task] ?? OUTCOME_EXAMPLE.binary}
            </code>
            . Watch, stop or promote it on the Rollout page.
          </p>
          {props.note ? <p class="warn-text">{props.note}</p> : null}
          <div class="fields">
            <label>
              Steps (% of requests)
              <input data-testid="canary-steps" value={steps} onInput={(e) => setSteps(e.currentTarget.value)} />
            </label>
            <label>
              Each step lasts at least
              <input data-testid="canary-interval" value={stepInterval} placeholder="the server's CANARY_STEP_INTERVAL" onInput={(e) => setStepInterval(e.currentTarget.value)} />
            </label>
            <label class="check">
              <input type="checkbox" data-testid="canary-auto" checked={autoPromote} onChange={(e) => setAutoPromote(e.currentTarget.checked)} />
              Promote on its own after the last step
            </label>
          </div>
        </>
      }
      run={() => {
        const body = {
          model,
          canary_version: version,
          production_version: production,
          steps: parseSteps(steps),
          auto_promote: autoPromote,
          ...(stepInterval.trim() ? { step_interval: stepInterval.trim() } : {}),
          // The dialog showed the note (what production's clients meet in this version): starting is accepting it.
          ...(props.note ? { accept_new_inputs: true } : {}),
        };
        return post<CanaryAnswer>('/v1/canary', body);
      }}
      done={(r) =>
        props.done(`A canary of version ${version} of ${model} started at ${(r as CanaryAnswer).canary_percent}% against version ${production}; watch it on the Rollout page.${warningsOf(r)}`)
      }
    />
  );
}

/** Move the running canary to another percent by hand; it stays the canary the page showed (409 otherwise). */
export function SetPercentButton(props: { model: string; canaryVersion: number; target: string; percent: number; done: (what: string) => void }) {
  const { model, canaryVersion, target } = props;
  // Untouched, the field shows the percent the page shows now (the canary steps while the page is open).
  const [typed, setTyped] = useState<string>();
  const percent = typed ?? String(props.percent);
  return (
    <ConfirmButton
      label="Set percent"
      testId="set-percent"
      title={`Set the share of canary v${canaryVersion}?`}
      confirm={
        <>
          <p>
            Canary version {canaryVersion} answers this share of {model}'s requests from now on; the rest go to {target}. The step's clock starts again, and the next step is the first one above the
            percent set. 0 % keeps the canary running with no traffic.
          </p>
          <div class="fields">
            <label>
              Percent of requests
              <input data-testid="percent-input" type="number" min="0" max="100" step="any" value={percent} onInput={(e) => setTyped(e.currentTarget.value)} />
            </label>
          </div>
        </>
      }
      run={() => {
        const p = percent.trim() === '' ? NaN : Number(percent);
        if (!Number.isFinite(p)) return Promise.reject(new Error('Percent: give a number from 0 to 100.'));
        return post<CanaryAnswer>('/v1/canary', { model, canary_version: canaryVersion, target, canary_percent: p });
      }}
      done={(r) => {
        setTyped(undefined);
        const a = r as CanaryAnswer;
        props.done(
          a.changed && Object.keys(a.changed).length === 0
            ? `Canary version ${canaryVersion} of ${model} is at ${a.canary_percent}% already: nothing changed.`
            : `Canary version ${canaryVersion} of ${model} now answers ${a.canary_percent}% of requests.`,
        );
      }}
    />
  );
}
