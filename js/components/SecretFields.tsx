/** The secrets of a launch (in the Service Settings step): names to attach, and "Add secret…". */

import * as React from 'react';

import type { Api } from '../api';
import type { ISecret } from '../types';

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export function SecretFields(props: {
  api: Api;
  selected: string[];
  /** Names the service itself attaches to every run (shown ticked and fixed). */
  fromService: string[];
  onChange: (names: string[]) => void;
}): JSX.Element {
  const [secrets, setSecrets] = React.useState<ISecret[] | null>(null);
  const [adding, setAdding] = React.useState(false);
  const [name, setName] = React.useState('');
  const [value, setValue] = React.useState('');
  const [error, setError] = React.useState('');
  const [busy, setBusy] = React.useState(false);

  const load = React.useCallback(() => {
    props.api
      .secrets()
      .then(setSecrets)
      .catch(err => setError(String(err.message ?? err)));
  }, [props.api]);
  React.useEffect(load, [load]);

  const toggle = (n: string, on: boolean) =>
    props.onChange(on ? [...props.selected.filter(s => s !== n), n] : props.selected.filter(s => s !== n));

  const nameError =
    name && !NAME_RE.test(name)
      ? 'letters, digits and _, not starting with a digit'
      : /^mm_/i.test(name)
        ? 'MM_* names are mm-jupyter’s own'
        : '';

  const add = async () => {
    if (!name || !value || nameError || busy) {
      return;
    }
    setBusy(true);
    setError('');
    try {
      await props.api.setSecret(name, value);
      setValue('');
      setAdding(false);
      toggle(name, true);
      setName('');
      load();
    } catch (err: any) {
      setError(String(err.message ?? err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <fieldset className="mm-secrets" aria-label="Secrets">
      <legend>Secrets (in the kernel’s environment; values never shown or stored with the run)</legend>
      {secrets === null ? (
        <div className="mm-empty">Loading secrets…</div>
      ) : secrets.length === 0 ? (
        <div className="mm-empty">No secrets yet.</div>
      ) : (
        <ul className="mm-secret-list">
          {secrets.map(s => {
            const fixed = props.fromService.includes(s.name);
            return (
              <li key={s.name}>
                <label title={fixed ? 'attached by the service to every run' : undefined}>
                  <input
                    type="checkbox"
                    data-secret={s.name}
                    checked={fixed || props.selected.includes(s.name)}
                    disabled={fixed}
                    onChange={e => toggle(s.name, e.target.checked)}
                  />{' '}
                  {s.name}
                  {fixed ? <span className="mm-hint"> (service)</span> : null}
                </label>
              </li>
            );
          })}
        </ul>
      )}
      {adding ? (
        <div className="mm-secret-add">
          <input
            className="jp-mod-styled"
            aria-label="Secret name"
            placeholder="NAME"
            value={name}
            onChange={e => setName(e.target.value.trim())}
          />
          <input
            className="jp-mod-styled"
            type="password"
            autoComplete="off"
            aria-label="Secret value"
            placeholder="value"
            value={value}
            onChange={e => setValue(e.target.value)}
          />
          <button type="button" className="jp-mod-styled mm-button" disabled={!name || !value || !!nameError || busy} onClick={add}>
            Save
          </button>
          <button type="button" className="jp-mod-styled mm-button" onClick={() => setAdding(false)}>
            Cancel
          </button>
          {nameError ? <div className="mm-error-line">{nameError}</div> : null}
        </div>
      ) : (
        <button type="button" className="jp-mod-styled mm-button mm-secret-add-button" onClick={() => setAdding(true)}>
          Add secret…
        </button>
      )}
      {error ? (
        <div className="mm-error-line" role="alert">
          {error}
        </div>
      ) : null}
    </fieldset>
  );
}
