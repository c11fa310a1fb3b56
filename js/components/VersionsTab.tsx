/** The Versions tab: every model with its snapshots (versions), their status, and launch buttons;
 * a search by the one rule (name, id beginning, tag whole); a version's page on click or Enter;
 * a checkbox per version to compare 2–5 of them (the Compare button opens the panel). */

import { caretDownIcon, caretRightIcon, refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { canSelectMore, toggleSelected } from '../compare';
import type { IMMContext } from '../context';
import { formatTime, isFinished } from '../format';
import { debounced } from '../live';
import type { IExecution, IHealth, IModel, ISnapshot } from '../types';
import { HealthIcon, StatusBadge, useDebounced } from './common';
import { CompareBar } from './CompareView';
import { VersionPage } from './VersionPage';

export function VersionsTab(props: {
  ctx: IMMContext;
  health: Record<string, IHealth>;
  /** The version whose page is shown instead of the list (null: the list). */
  version: string | null;
  onVersion: (id: string | null) => void;
}): JSX.Element {
  const [selected, setSelected] = React.useState<string[]>([]); // kept while a version's page is shown
  if (props.version) {
    return (
      <VersionPage
        key={props.version}
        ctx={props.ctx}
        id={props.version}
        onOpen={props.onVersion}
        onBack={() => props.onVersion(null)}
      />
    );
  }
  return <VersionsList {...props} selected={selected} onSelected={setSelected} />;
}

function VersionsList(props: {
  ctx: IMMContext;
  health: Record<string, IHealth>;
  onVersion: (id: string | null) => void;
  selected: string[];
  onSelected: (update: (current: string[]) => string[]) => void;
}): JSX.Element {
  const { ctx } = props;
  const [models, setModels] = React.useState<IModel[]>([]);
  const [snapshots, setSnapshots] = React.useState<ISnapshot[]>([]);
  const [open, setOpen] = React.useState<Record<string, boolean>>({});
  const [error, setError] = React.useState('');
  const [reload, setReload] = React.useState(0);
  const [searchText, setSearchText] = React.useState('');
  const search = useDebounced(searchText.trim(), 250);

  React.useEffect(() => {
    let cancelled = false;
    Promise.all([ctx.api.models(), ctx.api.snapshots(undefined, search)])
      .then(([m, s]) => {
        if (!cancelled) {
          setModels(m);
          setSnapshots(s);
          setError('');
        }
      })
      .catch(err => !cancelled && setError(String(err.message ?? err)));
    return () => {
      cancelled = true;
    };
  }, [reload, search]);

  React.useEffect(() => {
    const { trigger: refetch, cancel } = debounced(() => setReload(n => n + 1), 500);
    const onRow = (_: unknown, row: IExecution) => {
      if (isFinished(row.status) || row.status === 'pending') {
        refetch();
      }
    };
    ctx.hub.executionChanged.connect(onRow);
    ctx.hub.invalidated.connect(refetch);
    ctx.hub.catalogChanged.connect(refetch);
    return () => {
      ctx.hub.executionChanged.disconnect(onRow);
      ctx.hub.invalidated.disconnect(refetch);
      ctx.hub.catalogChanged.disconnect(refetch);
      cancel();
    };
  }, [ctx]);

  const byModel = new Map<string, ISnapshot[]>();
  for (const s of snapshots) {
    byModel.set(s.model_id, [...(byModel.get(s.model_id) ?? []), s]);
  }
  const isOpen = (id: string) => open[id] ?? true;
  const shown = search ? models.filter(m => byModel.has(m.id)) : models;

  return (
    <div className="mm-versions">
      <div className="mm-toolbar">
        <input
          className="jp-mod-styled mm-search mm-version-search"
          type="search"
          placeholder="Name, id or tag"
          aria-label="Search versions by name, id or tag"
          value={searchText}
          onChange={e => setSearchText(e.target.value)}
        />
        <button className="mm-icon-button" title="Refresh" aria-label="Refresh" onClick={() => setReload(n => n + 1)}>
          <refreshIcon.react tag="span" elementSize="small" />
        </button>
      </div>
      <CompareBar
        selected={props.selected}
        what="versions"
        onCompare={() => ctx.openCompare(props.selected)}
        onClear={() => props.onSelected(() => [])}
      />
      {error ? <div className="mm-error-line" role="alert">{error}</div> : null}
      {search && !shown.length && !error ? (
        <div className="mm-empty">No version matches “{search}” (a part of a name, the beginning of an id, or a tag).</div>
      ) : null}
      {!models.length && !error ? (
        <div className="mm-empty">
          No models yet: register one with <code>mm models add NAME --adapter yolo</code> or
          <code> mm.register_model(...)</code>.
        </div>
      ) : null}
      {shown.map(m => {
        const versions = byModel.get(m.id) ?? [];
        const Caret = isOpen(m.id) ? caretDownIcon : caretRightIcon;
        return (
          <div key={m.id} className="mm-model" data-model={m.name}>
            <div className="mm-model-head" onClick={() => setOpen(o => ({ ...o, [m.id]: !isOpen(m.id) }))}>
              <Caret.react tag="span" elementSize="small" />
              <span className="mm-model-name" title={m.id}>
                {m.name}
              </span>
              <span className="mm-sub">{m.adapter || 'no adapter'}</span>
              <HealthIcon
                health={props.health[`mgmt-train-${m.id}`]}
                onClick={() => ctx.showService(`mgmt-train-${m.id}`)}
              />
              <HealthIcon
                health={props.health[`mgmt-evaluate-${m.id}`]}
                onClick={() => ctx.showService(`mgmt-evaluate-${m.id}`)}
              />
              <span className="mm-spacer" />
              <button
                className="jp-mod-styled mm-button mm-train-button"
                disabled={!m.adapter}
                title={m.adapter ? 'Train a version of this model' : 'this model has no adapter'}
                onClick={e => (e.stopPropagation(), ctx.openTrainForm(m.id))}
              >
                Train…
              </button>
            </div>
            {isOpen(m.id) ? (
              <table className="mm-table mm-snapshots">
                <tbody>
                  {versions.map(s => (
                    <tr
                      key={s.id}
                      className="mm-snapshot"
                      data-id={s.id}
                      tabIndex={0}
                      aria-label={`Version ${s.name}: Enter opens its page, Space selects it to compare`}
                      onClick={() => props.onVersion(s.id)}
                      onKeyDown={e => {
                        if (e.target === e.currentTarget && e.key === 'Enter') {
                          props.onVersion(s.id);
                        } else if (e.target === e.currentTarget && e.key === ' ') {
                          e.preventDefault(); // Space on a row ticks its checkbox
                          props.onSelected(current => toggleSelected(current, s.id));
                        }
                      }}
                    >
                      <td className="mm-col-select" onClick={e => e.stopPropagation()}>
                        <input
                          type="checkbox"
                          className="mm-select"
                          tabIndex={-1}
                          aria-label={`Select version ${s.name} to compare`}
                          checked={props.selected.includes(s.id)}
                          disabled={!props.selected.includes(s.id) && !canSelectMore(props.selected)}
                          onChange={() => props.onSelected(current => toggleSelected(current, s.id))}
                        />
                      </td>
                      <td className="mm-col-name" title={`${s.id}\ncreated ${formatTime(s.created_at)}\nopen its page`}>
                        <div className="mm-snapshot-line">
                          <span className="mm-name">{s.name}</span>
                          <StatusBadge status={s.status} />
                        </div>
                        <div className="mm-sub">
                          {formatTime(s.created_at)}
                          {s.dataset_name ? ` · ${s.dataset_name}` : ''}
                          {s.last_train_status && s.last_train_status !== 'success' ? ` · last run ${s.last_train_status}` : ''}
                        </div>
                        {s.tags?.length ? (
                          <div className="mm-chips mm-row-tags">
                            {s.tags.map(t => (
                              <span key={t} className="mm-chip mm-chip-small">
                                {t}
                              </span>
                            ))}
                          </div>
                        ) : null}
                      </td>
                      <td className="mm-col-actions">
                        <button
                          className="jp-mod-styled mm-button mm-small"
                          disabled={!m.adapter}
                          onClick={e => (e.stopPropagation(), ctx.openTrainForm(m.id, s.id))}
                        >
                          Train…
                        </button>
                        <button
                          className="jp-mod-styled mm-button mm-small"
                          disabled={!s.trained}
                          title={s.trained ? 'Evaluate this version' : 'train it first'}
                          onClick={e => (e.stopPropagation(), ctx.openEvaluateForm(m.id, s.id))}
                        >
                          Evaluate…
                        </button>
                      </td>
                    </tr>
                  ))}
                  {!versions.length ? (
                    <tr>
                      <td className="mm-empty" colSpan={3}>
                        No versions yet.
                      </td>
                    </tr>
                  ) : null}
                </tbody>
              </table>
            ) : null}
          </div>
        );
      })}
    </div>
  );
}
