/**
 * A version's page in the sidebar: name, model, status, lineage (parent and children, each opens its
 * page), tags (chips with remove, an input to add), notes (a textarea with a counter and Save; the
 * server's message when it refuses), weights (size, files and a download link, or why there are
 * none), its executions (each opens its panel; its service shows that service's executions), config,
 * labels, and the reproducibility record with whether the dataset changed since the training; for a
 * version with weights, Try it (predict an uploaded image or a dataset item) and its deployments
 * (Deploy, Undeploy, status and health). It re-reads on the event stream's `catalog` event, on its
 * executions' changes and after reconnecting (and every few seconds while a deployment holds it).
 */

import { Clipboard } from '@jupyterlab/apputils';
import { refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { IMMContext } from '../context';
import { formatShortTime, formatTime } from '../format';
import { debounced } from '../live';
import type { IExecution, IVersionBrief, IVersionPage } from '../types';
import { formatBytes, notesCounter, tagError } from '../version';
import { StatusBadge } from './common';
import { VersionDeployments } from './Deployments';
import { TryIt } from './TryIt';

function short(hash: string | null | undefined, n = 12): string {
  return hash ? `${hash.slice(0, n)}…` : '-';
}

function valueText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function VersionPage(props: {
  ctx: IMMContext;
  id: string;
  /** Open another version's page (a parent or a child). */
  onOpen: (id: string) => void;
  onBack: () => void;
}): JSX.Element {
  const { ctx, id } = props;
  const [page, setPage] = React.useState<IVersionPage | null>(null);
  const [error, setError] = React.useState('');
  const [reload, setReload] = React.useState(0);
  const [draft, setDraft] = React.useState<string | null>(null); // null: the notes as saved
  const [notesError, setNotesError] = React.useState('');
  const [saving, setSaving] = React.useState(false);
  const [tagText, setTagText] = React.useState('');
  const [tagProblem, setTagProblem] = React.useState('');

  React.useEffect(() => {
    let cancelled = false;
    ctx.api
      .versionPage(id)
      .then(p => {
        if (!cancelled) {
          setPage(p);
          setError('');
        }
      })
      .catch(err => !cancelled && setError(String(err.message ?? err)));
    return () => {
      cancelled = true;
    };
  }, [id, reload]);

  React.useEffect(() => {
    const { trigger: refetch, cancel } = debounced(() => setReload(n => n + 1), 300);
    const onRow = (_: unknown, row: IExecution) => row.snapshot_id === id && refetch();
    ctx.hub.catalogChanged.connect(refetch);
    ctx.hub.invalidated.connect(refetch);
    ctx.hub.executionChanged.connect(onRow);
    return () => {
      ctx.hub.catalogChanged.disconnect(refetch);
      ctx.hub.invalidated.disconnect(refetch);
      ctx.hub.executionChanged.disconnect(onRow);
      cancel();
    };
  }, [ctx, id]);

  const toolbar = (
    <div className="mm-toolbar">
      <button className="jp-mod-styled mm-button mm-back" onClick={props.onBack} title="Back to every model's versions">
        ‹ Versions
      </button>
      <span className="mm-spacer" />
      <button className="mm-icon-button" title="Refresh" aria-label="Refresh" onClick={() => setReload(n => n + 1)}>
        <refreshIcon.react tag="span" elementSize="small" />
      </button>
    </div>
  );
  if (!page) {
    return (
      <div className="mm-version-page" data-id={id}>
        {toolbar}
        {error ? (
          <div className="mm-error-line" role="alert">
            {error}
          </div>
        ) : (
          <div className="mm-empty">Loading…</div>
        )}
      </div>
    );
  }

  const saved = page.notes.text;
  const text = draft ?? saved;
  const counter = notesCounter(text);
  const dirty = draft !== null && draft !== saved;

  const saveNotes = async () => {
    setSaving(true);
    try {
      const notes = await ctx.api.setNotes(page.id, text);
      setPage(p => (p ? { ...p, notes } : p));
      setDraft(null);
      setNotesError('');
    } catch (err: any) {
      setNotesError(String(err.message ?? err));
    } finally {
      setSaving(false);
    }
  };
  const changeTags = async (change: { add?: string[]; remove?: string[] }) => {
    try {
      const result = await ctx.api.changeTags(page.id, change);
      setPage(p => (p ? { ...p, tags: result.tags } : p));
      setTagProblem('');
      return true;
    } catch (err: any) {
      setTagProblem(String(err.message ?? err));
      return false;
    }
  };
  const addTag = async () => {
    const problem = tagError(tagText, page.tags);
    if (problem) {
      setTagProblem(problem);
      return;
    }
    if (await changeTags({ add: [tagText.trim()] })) {
      setTagText('');
    }
  };
  const versionLink = (v: IVersionBrief) =>
    v.name === null ? (
      <span className="mm-sub">{v.id} (removed)</span>
    ) : (
      <button
        key={v.id}
        className="mm-link mm-version-link"
        data-id={v.id}
        title={`${v.id} · ${v.status} — open its page`}
        onClick={() => props.onOpen(v.id)}
      >
        {v.name}
      </button>
    );
  const ds = page.dataset;
  const repro = page.repro ?? {};

  return (
    <div className="mm-version-page" data-id={page.id}>
      {toolbar}
      <div className="mm-version-head">
        <h2 className="mm-version-name" title={page.id}>
          {page.name}
        </h2>
        <StatusBadge status={page.status} />
      </div>
      <div className="mm-version-actions">
        <button
          className="jp-mod-styled mm-button mm-small"
          disabled={!page.adapter}
          onClick={() => ctx.openTrainForm(page.model_id, page.id)}
        >
          Train…
        </button>
        <button
          className="jp-mod-styled mm-button mm-small"
          disabled={!page.trained}
          title={page.trained ? 'Evaluate this version' : 'train it first'}
          onClick={() => ctx.openEvaluateForm(page.model_id, page.id)}
        >
          Evaluate…
        </button>
        <button className="jp-mod-styled mm-button mm-small" onClick={() => Clipboard.copyToSystem(page.id)}>
          Copy ID
        </button>
      </div>
      <dl className="mm-facts mm-version-facts">
        <dt>Model</dt>
        <dd>
          {page.model_name ?? page.model_id} <span className="mm-sub">{page.model_id}</span>
        </dd>
        <dt>ID</dt>
        <dd>{page.id}</dd>
        <dt>Created</dt>
        <dd>{formatTime(page.created_at)}</dd>
        <dt>Parent</dt>
        <dd className="mm-parent">{page.parent ? versionLink(page.parent) : <span className="mm-sub">none</span>}</dd>
        <dt>Children</dt>
        <dd className="mm-children">
          {page.children.length ? page.children.map(versionLink) : <span className="mm-sub">none</span>}
        </dd>
        <dt>Dataset</dt>
        <dd>{ds ? ds.name : <span className="mm-sub">none</span>}</dd>
      </dl>
      {ds?.changed ? (
        <div className="mm-banner mm-banner-warning mm-dataset-changed" role="status">
          <span className="mm-banner-text-wrap">
            Dataset changed since training: content hash {short(ds.trained_hash)} then, {short(ds.current_hash)} now
          </span>
        </div>
      ) : null}

      <section className="mm-section" data-section="tags">
        <h3>Tags</h3>
        <div className="mm-chips mm-tags">
          {page.tags.map(t => (
            <span key={t} className="mm-chip" data-tag={t}>
              <span className="mm-chip-text">{t}</span>
              <button
                className="mm-chip-remove"
                aria-label={`Remove tag ${t}`}
                title={`Remove tag ${t}`}
                onClick={() => void changeTags({ remove: [t] })}
              >
                ×
              </button>
            </span>
          ))}
          {!page.tags.length ? <span className="mm-sub">No tags: a tag finds this version's runs in every search.</span> : null}
        </div>
        <div className="mm-inline-form">
          <input
            className="jp-mod-styled mm-tag-input"
            aria-label="New tag"
            placeholder="Add a tag"
            value={tagText}
            onChange={e => (setTagText(e.target.value), setTagProblem(''))}
            onKeyDown={e => e.key === 'Enter' && (e.preventDefault(), void addTag())}
          />
          <button className="jp-mod-styled mm-button mm-add-tag" onClick={() => void addTag()} disabled={!tagText.trim()}>
            Add
          </button>
        </div>
        {tagProblem ? (
          <div className="mm-error-line mm-tag-error" role="alert">
            {tagProblem}
          </div>
        ) : null}
      </section>

      <section className="mm-section" data-section="notes">
        <h3>Notes</h3>
        <textarea
          className="jp-mod-styled mm-notes"
          aria-label="Notes"
          placeholder="What this version is for, what you learned from it…"
          rows={5}
          value={text}
          onChange={e => (setDraft(e.target.value), setNotesError(''))}
        />
        <div className="mm-notes-bar">
          <span className={`mm-notes-counter${counter.over ? ' mm-over' : ''}`} data-length={counter.length}>
            {counter.label}
          </span>
          <span className="mm-spacer" />
          {dirty ? (
            <button className="jp-mod-styled mm-button mm-small mm-notes-revert" onClick={() => (setDraft(null), setNotesError(''))}>
              Revert
            </button>
          ) : null}
          <button className="jp-mod-styled mm-button mm-notes-save" disabled={!dirty || saving} onClick={() => void saveNotes()}>
            {saving ? 'Saving…' : 'Save'}
          </button>
        </div>
        <div className="mm-sub mm-notes-state">
          {page.notes.edits
            ? `saved ${formatTime(page.notes.edited_at)} · ${page.notes.edits} edit${page.notes.edits === 1 ? '' : 's'} kept`
            : 'no notes saved yet'}
          {dirty ? ' · unsaved changes' : ''}
        </div>
        {notesError ? (
          <div className="mm-error-line mm-notes-error" role="alert">
            {notesError}
          </div>
        ) : null}
      </section>

      <section className="mm-section" data-section="weights">
        <h3>Weights</h3>
        {page.weights.available ? (
          <>
            <div className="mm-weights-size">
              {formatBytes(page.weights.size)} in {page.weights.files.length} file{page.weights.files.length === 1 ? '' : 's'}
              {page.weights.hash ? <span className="mm-sub"> · sha256 {short(page.weights.hash)}</span> : null}
            </div>
            <ul className="mm-weights-files">
              {page.weights.files.map(f => (
                <li key={f.name}>
                  <a
                    className="mm-download"
                    href={ctx.api.weightsUrl(page.id, f.name)}
                    download
                    data-file={f.name}
                    title={`Download ${f.name}`}
                  >
                    {f.name}
                  </a>
                  <span className="mm-sub"> {formatBytes(f.size)}</span>
                </li>
              ))}
            </ul>
            {page.weights.files.length > 1 ? (
              <a className="mm-download mm-download-all" href={ctx.api.weightsUrl(page.id)} download>
                Download all (.zip)
              </a>
            ) : null}
          </>
        ) : (
          <div className="mm-empty mm-no-weights">{page.weights.message}</div>
        )}
      </section>

      <section className="mm-section" data-section="tryit">
        <h3>Try it</h3>
        {page.trained ? (
          <TryIt ctx={ctx} versionId={page.id} datasetId={page.dataset_id} />
        ) : (
          <div className="mm-empty mm-tryit-none">Predictions need weights: train this version first.</div>
        )}
      </section>

      <section className="mm-section" data-section="deployments">
        <h3>Deployments</h3>
        <VersionDeployments
          ctx={ctx}
          versionId={page.id}
          trained={page.trained}
          deployments={page.deployments ?? []}
          onChanged={() => setReload(n => n + 1)}
        />
      </section>

      <section className="mm-section" data-section="executions">
        <h3>Executions ({page.executions_total})</h3>
        {!page.executions.length ? <div className="mm-empty">No executions yet.</div> : null}
        <ul className="mm-version-executions">
          {page.executions.map(e => (
            <li
              key={e.id}
              className="mm-version-exe"
              data-id={e.id}
              tabIndex={0}
              title={`${e.id} · created ${formatTime(e.created_at)}${e.error ? `\nerror: ${e.error}` : ''}\nopen its panel`}
              onClick={() => ctx.openExecution(e.id)}
              onKeyDown={ev => ev.target === ev.currentTarget && ev.key === 'Enter' && ctx.openExecution(e.id)}
            >
              <div className="mm-snapshot-line">
                <span className="mm-name">{e.name}</span>
                <StatusBadge status={e.status} />
              </div>
              <div className="mm-sub">
                {formatShortTime(e.created_at)} ·{' '}
                <button
                  className="mm-link mm-service-link"
                  title={`Show the executions of ${e.service}`}
                  onClick={ev => (ev.stopPropagation(), ctx.showService(e.service))}
                >
                  {e.service}
                </button>
              </div>
            </li>
          ))}
        </ul>
      </section>

      <section className="mm-section" data-section="config">
        <h3>Config</h3>
        {Object.keys(page.config).length ? (
          <table className="mm-kv">
            <tbody>
              {Object.entries(page.config)
                .sort(([a], [b]) => a.localeCompare(b))
                .map(([k, v]) => (
                  <tr key={k}>
                    <th>{k}</th>
                    <td>{valueText(v)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        ) : (
          <div className="mm-empty">No config.</div>
        )}
      </section>

      <section className="mm-section" data-section="labels">
        <h3>Labels</h3>
        <div className="mm-chips">
          {page.labels.map(l => (
            <span key={l} className="mm-chip mm-chip-small">
              {l}
            </span>
          ))}
          {!page.labels.length ? <span className="mm-sub">none</span> : null}
        </div>
      </section>

      <section className="mm-section" data-section="record">
        <h3>Reproducibility record</h3>
        {page.recorded ? (
          <table className="mm-kv">
            <tbody>
              <tr>
                <th>Dataset</th>
                <td>
                  {ds ? `${ds.name}: ` : ''}
                  {ds?.changed === true
                    ? 'changed since training'
                    : ds?.changed === false
                      ? `unchanged since training (checked ${formatTime(ds.checked_at)})`
                      : 'not compared'}
                </td>
              </tr>
              <tr>
                <th>Dataset hash</th>
                <td title={repro.dataset_hash ?? ''}>{short(repro.dataset_hash)}</td>
              </tr>
              {Object.entries((repro.resolved_filters ?? {}) as Record<string, unknown>).map(([role, sel]) => (
                <tr key={role}>
                  <th>{role} subset</th>
                  <td>{valueText(sel)}</td>
                </tr>
              ))}
              <tr>
                <th>Adapter</th>
                <td>{repro.adapter || '-'}</td>
              </tr>
              <tr>
                <th>Adapter source</th>
                <td title={repro.adapter_source_hash ?? ''}>{short(repro.adapter_source_hash)}</td>
              </tr>
              <tr>
                <th>Seed</th>
                <td>{valueText(repro.seed ?? '-')}</td>
              </tr>
              <tr>
                <th>Python</th>
                <td>{repro.python ?? '-'}</td>
              </tr>
              <tr>
                <th>Git revision</th>
                <td title={repro.git_revision ?? ''}>{short(repro.git_revision)}</td>
              </tr>
              {Object.entries((repro.packages ?? {}) as Record<string, string | null>)
                .filter(([, v]) => v)
                .map(([name, v]) => (
                  <tr key={name}>
                    <th>{name}</th>
                    <td>{v}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        ) : (
          <div className="mm-empty">Recorded when the version is trained.</div>
        )}
      </section>
    </div>
  );
}
