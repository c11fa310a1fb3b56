/**
 * The Services tab: each service (a model's queue of trainings or evaluations) with its settings,
 * health and its reason, how many executions wait and run; Pause / Resume, Stop (no new work, the
 * running ones get the drain time to finish) and Edit (an inline form; the core's service checks
 * judge it and their one line is shown). The name shows the service's executions. Live: it re-reads
 * on the stream's `services` event (health or settings changed) and when executions change. Below
 * them, the deployments (`DeploymentsSection`).
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { IMMContext } from '../context';
import { formatDuration } from '../format';
import { debounced } from '../live';
import type { IExecution, IMeta, IService } from '../types';
import { changedSettings, EDITABLE, type EditableKey, settingTexts } from '../version';
import { DeploymentsSection } from './Deployments';

export function ServicesTab(props: { ctx: IMMContext }): JSX.Element {
  const { ctx } = props;
  const [services, setServices] = React.useState<IService[]>([]);
  const [models, setModels] = React.useState<Record<string, string>>({});
  const [meta, setMeta] = React.useState<IMeta | null>(null);
  const [error, setError] = React.useState('');
  const [loaded, setLoaded] = React.useState(false);
  const [reload, setReload] = React.useState(0);

  React.useEffect(() => {
    let cancelled = false;
    Promise.all([ctx.api.services(), ctx.api.models()])
      .then(([items, ms]) => {
        if (!cancelled) {
          setServices(items);
          setModels(Object.fromEntries(ms.map(m => [m.id, m.name])));
          setError('');
          setLoaded(true);
        }
      })
      .catch(err => !cancelled && setError(String(err.message ?? err)));
    return () => {
      cancelled = true;
    };
  }, [reload]);

  React.useEffect(() => {
    void ctx
      .meta()
      .then(setMeta)
      .catch(() => undefined);
  }, [ctx]);

  React.useEffect(() => {
    const { trigger: refetch, cancel } = debounced(() => setReload(n => n + 1), 300);
    const seen = new Map<string, string>(); // execution id → status: counts change with statuses
    const onRow = (_: unknown, row: IExecution) => {
      if (seen.get(row.id) !== row.status) {
        seen.set(row.id, row.status);
        refetch();
      }
    };
    ctx.hub.servicesChanged.connect(refetch);
    ctx.hub.invalidated.connect(refetch);
    ctx.hub.catalogChanged.connect(refetch);
    ctx.hub.executionChanged.connect(onRow);
    return () => {
      ctx.hub.servicesChanged.disconnect(refetch);
      ctx.hub.invalidated.disconnect(refetch);
      ctx.hub.catalogChanged.disconnect(refetch);
      ctx.hub.executionChanged.disconnect(onRow);
      cancel();
    };
  }, [ctx]);

  const replace = (row: IService) => setServices(list => list.map(s => (s.name === row.name ? row : s)));

  return (
    <div className="mm-services">
      <div className="mm-toolbar">
        <span className="mm-toolbar-title">Services</span>
        <button className="mm-icon-button" title="Refresh" aria-label="Refresh" onClick={() => setReload(n => n + 1)}>
          <refreshIcon.react tag="span" elementSize="small" />
        </button>
      </div>
      {error ? (
        <div className="mm-error-line" role="alert">
          {error}
        </div>
      ) : null}
      {loaded && !services.length ? (
        <div className="mm-empty">
          No services yet: a model's training and evaluation services appear with its first execution.
        </div>
      ) : null}
      {services.map(s => (
        <ServiceCard key={s.name} ctx={ctx} service={s} model={models[s.model_id]} meta={meta} onChanged={replace} />
      ))}
      <DeploymentsSection ctx={ctx} />
    </div>
  );
}

function ServiceCard(props: {
  ctx: IMMContext;
  service: IService;
  model?: string;
  meta: IMeta | null;
  onChanged: (row: IService) => void;
}): JSX.Element {
  const { ctx, service: s } = props;
  const [busy, setBusy] = React.useState(false);
  const [problem, setProblem] = React.useState('');
  const [texts, setTexts] = React.useState<Record<EditableKey, string> | null>(null); // null: not editing
  const stopping = !!s.draining_until;
  const level = s.health?.level ?? 'ok';

  const act = async (what: string, call: () => Promise<IService>) => {
    setBusy(true);
    try {
      props.onChanged(await call());
      setProblem('');
      return true;
    } catch (err: any) {
      setProblem(`Cannot ${what}: ${String(err.message ?? err)}`);
      return false;
    } finally {
      setBusy(false);
    }
  };
  const stop = async () => {
    const answer = await showDialog({
      title: 'Stop service',
      body:
        `Stop ${s.name}? It takes no new executions (they wait, pending); its ${s.running ?? 0} running ` +
        `execution(s) get ${formatDuration(s.drain_time)} to finish, then are ended (on reset: ${s.on_reset}). ` +
        'Resume starts it again.',
      buttons: [Dialog.cancelButton({ label: 'Keep running' }), Dialog.warnButton({ label: 'Stop' })]
    });
    if (answer.button.accept) {
      await act('stop', () => ctx.api.stopService(s.name));
    }
  };
  const edit = texts ? changedSettings(s, texts) : null;
  const editErrors = edit ? Object.keys(edit.errors).length : 0;
  const save = async () => {
    if (!edit || editErrors) {
      return;
    }
    if (!Object.keys(edit.values).length) {
      setTexts(null);
      return;
    }
    if (await act('save the settings', () => ctx.api.configureService(s.name, edit.values))) {
      setTexts(null);
    }
  };
  const kernels = props.meta?.kernels ?? [];
  const onReset = props.meta?.on_reset ?? ['fail', 'rerun'];

  return (
    <div className="mm-service" data-service={s.name} data-paused={s.paused ? '1' : '0'} data-level={level}>
      <div className="mm-service-head">
        <button
          className="mm-link mm-service-name"
          title={`Show the executions of ${s.name}`}
          onClick={() => ctx.showService(s.name)}
        >
          {s.name}
        </button>
      </div>
      <div className="mm-sub mm-service-of">
        {s.kind === 'train' ? 'training' : 'evaluation'} · model {props.model ?? s.model_id}
      </div>
      <div className={`mm-service-health mm-level-${level}`} data-code={s.health?.code ?? ''}>
        <span className="mm-health-level">{stopping ? 'stopping' : s.paused ? 'paused' : level}</span>
        {s.health?.reason ? <span className="mm-health-reason"> {s.health.reason}</span> : null}
      </div>
      <div className="mm-service-counts">
        <span className="mm-count-pending" data-count={s.pending ?? 0}>
          {s.pending ?? 0} pending
        </span>
        {' · '}
        <span className="mm-count-running" data-count={s.running ?? 0}>
          {s.running ?? 0} running
        </span>
      </div>
      <dl className="mm-facts mm-service-settings">
        <dt>Kernel</dt>
        <dd>{s.kernel_name}</dd>
        <dt>Runner</dt>
        <dd>{s.runner ?? 'local'}</dd>
        {s.tracking_url ? (
          <>
            <dt>Tracking URL</dt>
            <dd className="mm-service-tracking-url">{s.tracking_url}</dd>
          </>
        ) : null}
        <dt>Concurrency</dt>
        <dd>
          {s.concurrency} × {s.max_instances ?? 1} instance{(s.max_instances ?? 1) === 1 ? '' : 's'}
        </dd>
        <dt>Queue size</dt>
        <dd>{s.queue_size ?? '-'}</dd>
        <dt>Timeout</dt>
        <dd>{formatDuration(s.execution_timeout)}</dd>
        <dt>Drain time</dt>
        <dd>{formatDuration(s.drain_time)}</dd>
        <dt>On reset</dt>
        <dd>{s.on_reset}</dd>
        <dt>Max attempts</dt>
        <dd>{s.max_attempts}</dd>
        {s.gpus ? (
          <>
            <dt>GPUs</dt>
            <dd>{s.gpus}</dd>
          </>
        ) : null}
      </dl>
      <div className="mm-service-buttons">
        {s.paused ? (
          <button
            className="jp-mod-styled mm-button mm-resume"
            disabled={busy}
            title={stopping ? 'Cancel the stop and start taking work again' : 'Start what waits'}
            onClick={() => void act('resume', () => ctx.api.setPaused(s.name, false))}
          >
            Resume
          </button>
        ) : (
          <button
            className="jp-mod-styled mm-button mm-pause"
            disabled={busy}
            title="New executions wait (pending); running ones go on"
            onClick={() => void act('pause', () => ctx.api.setPaused(s.name, true))}
          >
            Pause
          </button>
        )}
        <button
          className="jp-mod-styled mm-button mm-stop"
          disabled={busy || stopping}
          title="Take no new work; let the running executions finish within the drain time"
          onClick={() => void stop()}
        >
          Stop…
        </button>
        <button
          className="jp-mod-styled mm-button mm-edit"
          disabled={busy}
          aria-expanded={texts !== null}
          onClick={() => (setTexts(texts ? null : settingTexts(s)), setProblem(''))}
        >
          {texts ? 'Close' : 'Edit'}
        </button>
      </div>
      {problem ? (
        <div className="mm-error-line mm-service-error" role="alert">
          {problem}
        </div>
      ) : null}
      {texts && edit ? (
        <div className="mm-service-form" role="group" aria-label={`Settings of ${s.name}`}>
          {EDITABLE.map(f => (
            <label key={f.key} className="mm-setting" data-setting={f.key} title={f.help}>
              <span className="mm-setting-label">{f.label}</span>
              {f.kind === 'kernel' || f.kind === 'on_reset' ? (
                <select
                  className="jp-mod-styled"
                  aria-label={f.label}
                  value={texts[f.key]}
                  onChange={e => setTexts({ ...texts, [f.key]: e.target.value })}
                >
                  {[...new Set([texts[f.key], ...(f.kind === 'kernel' ? kernels : onReset)])].map(v => (
                    <option key={v} value={v}>
                      {v}
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  className="jp-mod-styled"
                  aria-label={f.label}
                  inputMode={f.kind === 'text' ? undefined : 'decimal'}
                  value={texts[f.key]}
                  onChange={e => setTexts({ ...texts, [f.key]: e.target.value })}
                  onKeyDown={e => e.key === 'Enter' && void save()}
                />
              )}
              {edit.errors[f.key] ? <span className="mm-field-error">{edit.errors[f.key]}</span> : null}
            </label>
          ))}
          <div className="mm-form-buttons">
            <button className="jp-mod-styled mm-button mm-save-settings" disabled={busy || editErrors > 0} onClick={() => void save()}>
              Save
            </button>
            <button className="jp-mod-styled mm-button" onClick={() => (setTexts(null), setProblem(''))}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
    </div>
  );
}
