/**
 * Deployments in the sidebar: a version's (on its page, with Deploy) and every live one (a section of
 * the Services tab). Each shows its id, version, model, status, health with its reason, kernel,
 * address and restarts, with Undeploy while it holds the version. The list re-reads on the event
 * stream's catalog events and every few seconds while the sidebar is visible (a deployment's health
 * follows its heartbeat, which no event carries).
 */

import * as React from 'react';

import type { IMMContext } from '../context';
import { formatShortTime, formatTime } from '../format';
import { debounced } from '../live';
import type { IDeployment } from '../types';
import { deployBlocker, deploymentHealthText, isLive } from '../tryit';
import { StatusBadge } from './common';

export const POLL_MS = 4000;

/** Call `tick` every `ms` while the document is visible and `shown`'s element is laid out (the
 * sidebar open on it), and once when the document becomes visible again. */
export function usePoll(tick: () => void, ms: number, shown: React.RefObject<HTMLElement>, active = true): void {
  const latest = React.useRef(tick);
  latest.current = tick;
  React.useEffect(() => {
    if (!active) {
      return;
    }
    const visible = () => document.visibilityState === 'visible' && !!shown.current?.getClientRects().length;
    const t = setInterval(() => visible() && latest.current(), ms);
    const onVisible = () => visible() && latest.current();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(t);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [ms, active]);
}

/** One deployment: id, status, version and model, health with its reason, kernel; Undeploy. */
export function DeploymentCard(props: {
  ctx: IMMContext;
  dep: IDeployment;
  /** Show which version it serves (a link to its page); off on that version's own page. */
  showVersion?: boolean;
  onChanged: (row: IDeployment) => void;
}): JSX.Element {
  const { ctx, dep } = props;
  const [busy, setBusy] = React.useState(false);
  const [problem, setProblem] = React.useState('');
  const health = deploymentHealthText(dep);
  const undeploy = async () => {
    setBusy(true);
    try {
      props.onChanged(await ctx.api.undeploy(dep.id));
      setProblem('');
    } catch (err: any) {
      setProblem(`Cannot undeploy: ${String(err.message ?? err)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="mm-deployment" data-id={dep.id} data-status={dep.status} data-level={health.level}>
      <div className="mm-deployment-head">
        <span className="mm-deployment-id" title={`created ${formatTime(dep.created_at)}`}>
          {dep.id}
        </span>
        <StatusBadge status={dep.status} />
      </div>
      {props.showVersion ? (
        <div className="mm-sub mm-deployment-of">
          version{' '}
          <button
            className="mm-link mm-version-link"
            data-id={dep.snapshot_id}
            title={`${dep.snapshot_id}: open its page`}
            onClick={() => ctx.openVersion(dep.snapshot_id)}
          >
            {dep.snapshot_name ?? dep.snapshot_id}
          </button>{' '}
          · model {dep.model_name ?? dep.model_id}
        </div>
      ) : null}
      <div className={`mm-service-health mm-deployment-health mm-level-${health.level}`} data-code={dep.health?.code ?? ''}>
        {health.text}
      </div>
      <dl className="mm-facts mm-service-settings mm-deployment-facts">
        <dt>Kernel</dt>
        <dd>{dep.kernel_name}</dd>
        {dep.address ? (
          <>
            <dt>Address</dt>
            <dd>{dep.address}</dd>
          </>
        ) : null}
        <dt>Created</dt>
        <dd title={formatTime(dep.created_at)}>{formatShortTime(dep.created_at)}</dd>
        {dep.restarts ? (
          <>
            <dt>Restarts</dt>
            <dd>{dep.restarts}</dd>
          </>
        ) : null}
      </dl>
      {isLive(dep) ? (
        <div className="mm-service-buttons">
          <button
            className="jp-mod-styled mm-button mm-undeploy"
            disabled={busy || dep.status === 'stopping'}
            title="Stop this deployment: its process and kernel end; the version is shown as trained again"
            onClick={() => void undeploy()}
          >
            {busy ? 'Undeploying…' : 'Undeploy'}
          </button>
        </div>
      ) : null}
      {problem ? (
        <div className="mm-error-line mm-deployment-error" role="alert">
          {problem}
        </div>
      ) : null}
    </div>
  );
}

/** The version page's Deployments section: Deploy (while none holds the version), its deployments. */
export function VersionDeployments(props: {
  ctx: IMMContext;
  versionId: string;
  trained: boolean;
  deployments: IDeployment[];
  /** Re-read the page (its status and deployments) after a change. */
  onChanged: () => void;
}): JSX.Element {
  const { ctx, deployments } = props;
  const [busy, setBusy] = React.useState(false);
  const [problem, setProblem] = React.useState('');
  const [showEnded, setShowEnded] = React.useState(false);
  const blocker = deployBlocker(props.trained, deployments);
  const live = deployments.filter(isLive);
  const ended = deployments.filter(d => !isLive(d));
  const root = React.useRef<HTMLDivElement>(null);
  usePoll(props.onChanged, POLL_MS, root, live.length > 0); // its health follows its heartbeat

  const deploy = async () => {
    setBusy(true);
    setProblem('');
    try {
      await ctx.api.deploy(props.versionId);
    } catch (err: any) {
      setProblem(`Cannot deploy: ${String(err.message ?? err)}`);
    } finally {
      setBusy(false);
      props.onChanged();
    }
  };
  return (
    <div className="mm-version-deployments" ref={root}>
      <div className="mm-deploy-bar">
        <button
          className="jp-mod-styled mm-button mm-deploy"
          disabled={busy || !!blocker}
          title={blocker || 'Serve this version from its own process: predictions answer at once'}
          onClick={() => void deploy()}
        >
          {busy ? 'Deploying…' : 'Deploy'}
        </button>
        {busy ? (
          <span className="mm-sub mm-deploy-busy" role="status">
            <span className="mm-spinner" aria-hidden="true" /> starting its process and kernel…
          </span>
        ) : !live.length ? (
          <span className="mm-sub">{blocker && !props.trained ? blocker : 'not deployed'}</span>
        ) : null}
      </div>
      {problem ? (
        <div className="mm-error-line mm-deploy-error" role="alert">
          {problem}
        </div>
      ) : null}
      {live.map(d => (
        <DeploymentCard key={d.id} ctx={ctx} dep={d} onChanged={props.onChanged} />
      ))}
      {ended.length ? (
        <>
          <button className="mm-link mm-deployments-ended" aria-expanded={showEnded} onClick={() => setShowEnded(s => !s)}>
            {showEnded ? 'Hide' : 'Show'} {ended.length} ended deployment{ended.length === 1 ? '' : 's'}
          </button>
          {showEnded ? ended.map(d => <DeploymentCard key={d.id} ctx={ctx} dep={d} onChanged={props.onChanged} />) : null}
        </>
      ) : null}
    </div>
  );
}

/** The Services tab's Deployments section: every live deployment (or every one), kept current. */
export function DeploymentsSection(props: { ctx: IMMContext }): JSX.Element {
  const { ctx } = props;
  const [items, setItems] = React.useState<IDeployment[] | null>(null);
  const [all, setAll] = React.useState(false);
  const [error, setError] = React.useState('');
  const [reload, setReload] = React.useState(0);

  React.useEffect(() => {
    let cancelled = false;
    ctx.api
      .deployments(all)
      .then(list => {
        if (!cancelled) {
          setItems(list);
          setError('');
        }
      })
      .catch(err => !cancelled && setError(String(err.message ?? err)));
    return () => {
      cancelled = true;
    };
  }, [ctx, all, reload]);

  React.useEffect(() => {
    const { trigger: refetch, cancel } = debounced(() => setReload(n => n + 1), 300);
    ctx.hub.catalogChanged.connect(refetch);
    ctx.hub.invalidated.connect(refetch);
    return () => {
      ctx.hub.catalogChanged.disconnect(refetch);
      ctx.hub.invalidated.disconnect(refetch);
      cancel();
    };
  }, [ctx]);
  const root = React.useRef<HTMLElement>(null);
  usePoll(() => setReload(n => n + 1), POLL_MS, root);

  const replace = (row: IDeployment) => {
    setItems(list => (list ?? []).map(d => (d.id === row.id ? row : d)));
    setReload(n => n + 1);
  };
  return (
    <section className="mm-section mm-deployments" data-section="deployments" ref={root}>
      <h3>Deployments{items ? ` (${items.length})` : ''}</h3>
      <button
        className="mm-link mm-deployments-all"
        aria-pressed={all}
        title="Every deployment, or only those that run (starting, running, stopping)"
        onClick={() => setAll(a => !a)}
      >
        {all ? 'Only running ones' : 'Show stopped and failed ones too'}
      </button>
      {error ? (
        <div className="mm-error-line" role="alert">
          {error}
        </div>
      ) : null}
      {items && !items.length ? (
        <div className="mm-empty mm-no-deployments">
          {all ? 'No deployments yet.' : 'No deployment is running.'} Deploy a version with weights from its page (Versions tab) or with
          mm deploy.
        </div>
      ) : null}
      {(items ?? []).map(d => (
        <DeploymentCard key={d.id} ctx={ctx} dep={d} showVersion onChanged={replace} />
      ))}
    </section>
  );
}
