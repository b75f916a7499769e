import { useState } from 'preact/hooks';
import { enc, postForm } from '../api.js';
import { ConfirmButton, warningsOf } from '../components/common.js';

interface Registered {
  model: string;
  version: number;
  unchanged?: boolean;
  promoted: boolean;
  reference: { rows: number; skipped: number } | null;
  warnings: string[];
  notes?: string[];
}

/** What the upload came to, in a sentence (with what production's clients would meet). */
export function registeredNote(r: Registered): string {
  if (r.unchanged) return `${r.model}: unchanged; version ${r.version} is this graph with these settings, nothing registered.${warningsOf(r)}`;
  const reference = r.reference
    ? ` Its reference: ${r.reference.rows} rows profiled${r.reference.skipped ? `, ${r.reference.skipped} skipped` : ''}.`
    : ' No reference data: drift monitoring needs one.';
  const notes = (r.notes ?? []).map((n) => ` ${n}.`).join('');
  return `Registered ${r.model} version ${r.version}${r.promoted ? ', now production' : ''}.${reference}${notes}${warningsOf(r)}`;
}

/**
 * Register an ONNX graph from this browser (POST /v1/models/:name/versions, as `modelgate
 * register` does): the graph, optionally a reference CSV profiled for drift monitoring, a
 * policy, and whether it goes to production at once. On the Models page the model is named
 * here; on a model's page it is that model.
 */
export function RegisterVersionButton(props: { model?: string; done: (what: string, model: string) => void }) {
  const [name, setName] = useState(props.model ?? '');
  const [onnx, setOnnx] = useState<File>();
  const [reference, setReference] = useState<File>();
  const [target, setTarget] = useState('');
  const [policy, setPolicy] = useState('');
  const [promote, setPromote] = useState(false);
  const model = (props.model ?? name).trim();
  return (
    <ConfirmButton
      label={props.model ? 'Register a version' : 'Register a model'}
      testId="register-version"
      title={props.model ? `Register a new version of ${props.model}` : 'Register an ONNX model'}
      confirm={
        <>
          <p>
            The graph is checked and scored once on this server, then stored as the next version{props.model ? ` of ${props.model}` : ''}, as <code>modelgate register</code> does. Nothing serves it
            until it is promoted (below, or later).
          </p>
          <div class="fields">
            {props.model ? null : (
              <label>
                Model name
                <input data-testid="register-name" value={name} placeholder="churn" onInput={(e) => setName(e.currentTarget.value)} />
              </label>
            )}
            <label>
              ONNX graph (scikit-learn, XGBoost, LightGBM export)
              <input type="file" accept=".onnx" data-testid="register-onnx" onChange={(e) => setOnnx(e.currentTarget.files?.[0])} />
            </label>
            <label>
              Reference data, CSV (optional: e.g. the training set, profiled for drift monitoring)
              <input type="file" accept=".csv,text/csv" data-testid="register-reference" onChange={(e) => setReference(e.currentTarget.files?.[0])} />
            </label>
            <label>
              Its label column (optional: adds the outcomes monitoring compares with)
              <input data-testid="register-target" value={target} placeholder="Churn" onInput={(e) => setTarget(e.currentTarget.value)} />
            </label>
            <label>
              Decision policy (optional; default: act at a score of 0.5)
              <input data-testid="register-policy" value={policy} placeholder="threshold=0.4 or bands=allow:0.3,review:0.7,block" onInput={(e) => setPolicy(e.currentTarget.value)} />
            </label>
            <label class="check">
              <input type="checkbox" data-testid="register-promote" checked={promote} onChange={(e) => setPromote(e.currentTarget.checked)} />
              Make it production at once
            </label>
          </div>
        </>
      }
      run={async () => {
        if (!model) throw new Error('Model name: give the name of the model (a new one, or one that exists)');
        if (!onnx) throw new Error('ONNX graph: choose the .onnx file to register');
        const form = new FormData();
        form.append('onnx', onnx, onnx.name);
        if (reference) form.append('reference', reference, reference.name);
        if (target.trim()) form.append('target', target.trim());
        if (policy.trim()) form.append('policy', policy.trim());
        if (promote) form.append('promote', 'true');
        return postForm<Registered>(`/v1/models/${enc(model)}/versions`, form);
      }}
      done={(r) => props.done(registeredNote(r as Registered), model)}
    />
  );
}
