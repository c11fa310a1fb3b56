/** A train/validation/test subset: tagged items, a saved filter or a folder, with its item count. */

import * as React from 'react';

import type { Api } from '../api';
import { makeSelection, SELECTION_MODES, selectionFilter, splitSelection } from '../forms';
import type { IDatasetDetail, ISelection, SelectionMode } from '../types';
import { useDebounced } from './common';

const CHOOSE = '\u0000choose'; // the "choose…" entry (a folder's value may be "", the top folder)

export function SubsetPicker(props: {
  api: Api;
  role: string;
  label: string;
  dataset: IDatasetDetail | null;
  value: ISelection | null;
  onChange: (sel: ISelection | null) => void;
  onCount: (count: number | null, error: string) => void;
  required?: boolean;
}): JSX.Element {
  const { dataset, value } = props;
  // a mode chosen without a value yet (Saved filter, Folder) stays shown, with "choose…", until one is picked
  const [pendingMode, setPendingMode] = React.useState<SelectionMode | null>(null);
  const split = splitSelection(value);
  const mode = value ? split.mode : (pendingMode ?? split.mode);
  const text = value ? split.value : '';
  const [shown, setShown] = React.useState(false);
  const [count, setCount] = React.useState<number | null>(null);
  const [filter, setFilter] = React.useState<Record<string, unknown> | null>(null);
  const [error, setError] = React.useState('');
  const key = useDebounced(JSON.stringify([dataset?.id ?? '', value]), 200);

  React.useEffect(() => {
    if (!dataset || !value) {
      setCount(null);
      setFilter(selectionFilter(value));
      setError(props.required && dataset ? 'choose a subset' : '');
      props.onCount(null, props.required && dataset ? 'choose a subset' : '');
      return;
    }
    let cancelled = false;
    props.api
      .count(dataset.id, value)
      .then(r => {
        if (!cancelled) {
          setCount(r.count);
          setFilter(r.filter);
          const err = r.count === 0 && props.required ? 'no items in this subset' : '';
          setError(err);
          props.onCount(r.count, err);
        }
      })
      .catch(err => {
        if (!cancelled) {
          setCount(null);
          setError(String(err.message ?? err));
          props.onCount(null, String(err.message ?? err));
        }
      });
    return () => {
      cancelled = true;
    };
  }, [key]);

  const choices: { value: string; label: string }[] = !dataset
    ? []
    : mode === 'tag'
      ? dataset.tags.map(t => ({ value: t.tag, label: `${t.tag} (${t.count})` }))
      : mode === 'filter'
        ? dataset.filters.map(f => ({ value: f.name, label: f.name }))
        : mode === 'dir'
          ? dataset.dirs.map(d => ({ value: d.dir, label: `${d.dir || '(top folder)'} (${d.count})` }))
          : [];
  if (value && mode !== 'query' && !choices.some(c => c.value === text)) {
    choices.unshift({ value: text, label: `${text} (not in this dataset)` });
  }

  return (
    <div className={`mm-subset${error ? ' mm-field-invalid' : ''}`} data-role={props.role}>
      <span className="mm-field-label">{props.label}</span>
      <div className="mm-subset-inputs">
        <select
          className="jp-mod-styled mm-subset-mode"
          aria-label={`${props.label} by`}
          value={mode}
          disabled={!dataset}
          onChange={e => {
            setPendingMode(e.target.value as SelectionMode);
            props.onChange(null);
          }}
        >
          {SELECTION_MODES.map(m => (
            <option key={m.mode} value={m.mode}>
              {m.label}
            </option>
          ))}
          {mode === 'query' ? <option value="query">Query</option> : null}
        </select>
        {mode === 'query' ? (
          <input className="jp-mod-styled mm-subset-value" readOnly value={text} aria-label={`${props.label} query`} />
        ) : (
          <select
            className="jp-mod-styled mm-subset-value"
            aria-label={`${props.label} value`}
            value={value ? text : CHOOSE}
            disabled={!dataset}
            onChange={e => props.onChange(e.target.value === CHOOSE ? null : makeSelection(mode, e.target.value))}
          >
            <option value={CHOOSE}>choose…</option>
            {choices.map(c => (
              <option key={c.value} value={c.value}>
                {c.label}
              </option>
            ))}
          </select>
        )}
        <span className="mm-count" data-count={count ?? ''}>
          {count === null ? '' : `${count} items`}
        </span>
        <button className="mm-link" type="button" onClick={() => setShown(s => !s)}>
          {shown ? 'Hide filter' : 'Show filter'}
        </button>
      </div>
      {error ? (
        <span className="mm-field-error" role="alert">
          {error}
        </span>
      ) : null}
      {shown ? <pre className="mm-filter-json">{filter ? JSON.stringify(filter, null, 2) : '{}  (all items)'}</pre> : null}
    </div>
  );
}
