import { useId, useState } from 'preact/hooks';
import { enc, post } from '../api.js';
import { isSlotName } from '../../../src/registry/alias-name.js';
import { ConfirmButton, Table } from '../components/common.js';

/** Blue/green slots: every alias but production. */
export const slotsOf = (aliases: Record<string, number>): [string, number][] =>
  Object.entries(aliases)
    .filter(([a]) => a !== 'production')
    .sort(([a], [b]) => a.localeCompare(b));

/**
 * Put a version in a slot (new or existing). The slot's version the page shows goes with the
 * request, so a slot filled meanwhile by someone else is refused rather than overwritten.
 */
export function ToSlotButton(props: { model: string; version: number; aliases: Record<string, number>; done: (what: string) => void }) {
  const { model, version, aliases } = props;
  const slots = slotsOf(aliases);
  // The slot that is not serving production is the one a new version usually goes to.
  const suggested = slots.find(([, v]) => v !== aliases.production)?.[0] ?? slots[0]?.[0] ?? 'green';
  const [typed, setTyped] = useState<string>();
  const slot = (typed ?? suggested).trim();
  const listId = `slots-${useId()}`;
  const holds = aliases[slot];
  return (
    <ConfirmButton
      label="To slot"
      testId={`to-slot-${version}`}
      title={`Put ${model} v${version} in a slot?`}
      confirm={
        <>
          <div class="fields">
            <label>
              Slot
              <input data-testid="slot-name" list={listId} value={typed ?? suggested} onInput={(e) => setTyped(e.currentTarget.value)} />
              <datalist id={listId}>
                {slots.map(([s]) => (
                  <option key={s} value={s} />
                ))}
              </datalist>
            </label>
          </div>
          <p data-testid="slot-change">
            {holds === version ? `Slot ${slot} holds version ${version} already.` : `Slot ${slot} ${holds !== undefined ? `moves from version ${holds}` : 'is new: it goes'} to version ${version}.`}{' '}
            Requests with <code>"alias": "{slot}"</code> get version {version}; production does not change until the slot is activated.
          </p>
        </>
      }
      run={() => {
        if (!isSlotName(slot))
          return Promise.reject(
            new Error(
              slot === 'production'
                ? 'Production is not a slot: use Promote to move it.'
                : slot === 'archived' || slot === 'active'
                  ? `"${slot}" marks a version's status, so it cannot name a slot; choose another name, such as blue or green.`
                  : `Slot "${slot}": a name of lowercase letters, digits, - and _ that starts with a letter (at most 32), such as blue or green.`,
            ),
          );
        return post(`/v1/models/${enc(model)}/promote`, { version, target: slot, ...(holds !== undefined ? { from_version: holds } : {}) });
      }}
      done={() => {
        setTyped(undefined);
        props.done(`Slot ${slot} of ${model} holds version ${version}.`);
      }}
    />
  );
}

/** Each slot with its version; admins activate one (production gets its version) or roll it back. */
export function SlotsSection(props: {
  model: string;
  aliases: Record<string, number>;
  rollbackTo: Record<string, number | null>;
  admin: boolean;
  /** What to say before a slot's version answers production's clients (it decides other things). */
  note: (version: number) => string | undefined;
  done: (what: string) => void;
}) {
  const { model, aliases, rollbackTo, admin } = props;
  const slots = slotsOf(aliases);
  const production = aliases.production;
  if (slots.length === 0) return null;
  return (
    <section aria-labelledby="slots-h">
      <h2 id="slots-h">Slots</h2>
      <Table head={['Slot', 'Version', ...(admin ? ['Actions'] : [])]} testId="slots-table">
        {slots.map(([slot, v]) => (
          <tr key={slot} data-slot={slot}>
            <th scope="row">{slot}</th>
            <td>
              v{v}
              {v === production ? ' (production)' : ''}
            </td>
            {admin ? (
              <td class="row-actions">
                {v !== production ? (
                  <ConfirmButton
                    label="Activate"
                    testId={`activate-${slot}`}
                    title={`Activate slot ${slot} of ${model}?`}
                    confirm={
                      <p>
                        Production of <strong>{model}</strong> moves from {production !== undefined ? `version ${production}` : 'nothing'} to <strong>version {v}</strong>, the version in slot {slot}.
                        Every request without a pinned version is answered by it within a reload interval; a rollback of production goes back to{' '}
                        {production !== undefined ? `version ${production}` : 'nothing'}.{props.note(v) ? <strong class="warn-text"> {props.note(v)}</strong> : null}
                      </p>
                    }
                    // The dialog showed the note (what production's clients meet in it): activating is accepting it.
                    run={() =>
                      post(`/v1/models/${enc(model)}/promote`, {
                        target: slot,
                        activate: true,
                        slot_version: v,
                        ...(production !== undefined ? { from_version: production } : {}),
                        ...(props.note(v) ? { accept_new_inputs: true } : {}),
                      })
                    }
                    done={() => props.done(`Slot ${slot} is active: version ${v} of ${model} is production.`)}
                  />
                ) : null}
                {rollbackTo[slot] !== null && rollbackTo[slot] !== undefined ? (
                  <ConfirmButton
                    label="Roll back slot"
                    danger
                    testId={`rollback-${slot}`}
                    title={`Roll back slot ${slot} of ${model}?`}
                    confirm={
                      <p>
                        Slot {slot} goes back from version {v} to <strong>version {rollbackTo[slot]}</strong>.{' '}
                        {v === production ? 'Production stays at version ' + String(v) + ': roll back production for that.' : 'Production does not change.'}
                      </p>
                    }
                    run={() => post(`/v1/models/${enc(model)}/rollback`, { slot, version: v })}
                    done={() => props.done(`Slot ${slot} of ${model} is back to version ${String(rollbackTo[slot])}.`)}
                  />
                ) : null}
              </td>
            ) : null}
          </tr>
        ))}
      </Table>
    </section>
  );
}
