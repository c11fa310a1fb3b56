/** An execution in the main area: header with live status and progress, metric charts, log tail. */

import { Clipboard } from '@jupyterlab/apputils';
import * as React from 'react';

import { MetricChart } from '../chart';
import { appliesTo } from '../commands';
import { CommandIDs, type IMMContext } from '../context';
import { formatDuration, formatTime, formatValue, isFinished, liveDuration } from '../format';
import { LiveStream } from '../live';
import { appendPoints, lastValues, type ISeries } from '../series';
import type { IExecutionDetail, IExecutionEvent, ILogChunk, IMetricPoint } from '../types';
import { ProgressBar, StatusBadge, useTicker } from './common';
import { EvaluationView } from './EvaluationView';

const LOG_KEEP = 200_000; // characters of log kept in the panel

export function ExecutionView(props: {
  ctx: IMMContext;
  id: string;
  focus?: 'charts' | 'logs';
  /** Bumped by "Show logs" on an open panel: scroll to the log again. */
  focusNonce?: number;
  onTitle?: (title: string) => void;
}): JSX.Element {
  const { ctx, id } = props;
  const [row, setRow] = React.useState<IExecutionDetail | null>(null);
  const [fetchedAt, setFetchedAt] = React.useState(Date.now());
  const [error, setError] = React.useState('');
  const [events, setEvents] = React.useState<IExecutionEvent[]>([]);
  const [log, setLog] = React.useState('');
  const [version, setVersion] = React.useState(0);
  const series = React.useRef(new Map<string, ISeries>());
  const lastMetric = React.useRef(0);
  const logOffset = React.useRef(0);
  const logRef = React.useRef<HTMLPreElement>(null);
  const rootRef = React.useRef<HTMLDivElement>(null);
  // "Show logs": keep the log in view while charts and lines arrive above it, until the user scrolls
  const pinLog = React.useRef(props.focus === 'logs');
  const showLog = () => logRef.current?.scrollIntoView({ block: 'start' });

  const addPoints = (points: IMetricPoint[]) => {
    const fresh = points.filter(p => p.id > lastMetric.current);
    if (fresh.length) {
      lastMetric.current = fresh[fresh.length - 1].id;
      appendPoints(series.current, fresh);
      setVersion(v => v + 1);
    }
  };
  const addLog = (chunk: ILogChunk) => {
    if (chunk.offset !== logOffset.current || !chunk.text) {
      return;
    }
    logOffset.current = chunk.next_offset;
    setLog(current => {
      const text = current + chunk.text;
      return text.length > LOG_KEEP ? text.slice(text.length - LOG_KEEP) : text;
    });
  };
  const updateRow = (r: Partial<IExecutionDetail>) => {
    setRow(current => (current ? { ...current, ...r } : (r as IExecutionDetail)));
    setFetchedAt(Date.now());
  };

  React.useEffect(() => {
    let stream: LiveStream | null = null;
    let stopTimer: any = null;
    let cancelled = false;
    const poll = async () => {
      const [detail, metrics, chunk] = await Promise.all([
        ctx.api.execution(id),
        ctx.api.metrics(id, lastMetric.current),
        ctx.api.logs(id, logOffset.current)
      ]);
      updateRow(detail);
      setEvents(detail.events ?? []);
      addPoints(metrics.points);
      addLog(chunk);
    };
    (async () => {
      try {
        const detail = await ctx.api.execution(id);
        if (cancelled) {
          return;
        }
        updateRow(detail);
        setEvents(detail.events ?? []);
        props.onTitle?.(detail.name);
        let more = true;
        while (more && !cancelled) {
          const page = await ctx.api.metrics(id, lastMetric.current);
          addPoints(page.points);
          more = page.has_more;
        }
        const tail = await ctx.api.logs(id);
        logOffset.current = tail.offset;
        addLog(tail);
      } catch (err: any) {
        setError(String(err.message ?? err));
        return;
      }
      if (cancelled) {
        return;
      }
      stream = new LiveStream({
        url: () => ctx.api.streamUrl(`executions/${encodeURIComponent(id)}/stream`, {
          after: lastMetric.current,
          log_offset: logOffset.current
        }),
        handlers: {
          execution: (r: IExecutionDetail) => {
            updateRow(r);
            if (isFinished(r.status) && stopTimer === null) {
              // the last metric flush and log lines follow the status by a moment
              stopTimer = setTimeout(() => stream?.dispose(), 5000);
            }
          },
          metrics: (m: { points: IMetricPoint[] }) => addPoints(m.points),
          log: (chunk: ILogChunk) => addLog(chunk),
          event: (e: IExecutionEvent) => setEvents(list => [...list, e])
        },
        poll,
        pollMs: 2000
      });
      stream.start();
    })();
    return () => {
      cancelled = true;
      stream?.dispose();
      if (stopTimer !== null) {
        clearTimeout(stopTimer);
      }
    };
  }, [id]);

  React.useLayoutEffect(() => {
    const el = logRef.current;
    if (el && (props.focus === 'logs' || el.scrollHeight - el.scrollTop - el.clientHeight < 80)) {
      el.scrollTop = el.scrollHeight;
    }
  }, [log]);

  React.useEffect(() => {
    if (props.focus === 'logs') {
      pinLog.current = true;
      showLog();
    }
  }, [props.focus, props.focusNonce]);

  React.useLayoutEffect(() => {
    if (pinLog.current) {
      showLog();
    }
  });

  React.useEffect(() => {
    const el = rootRef.current;
    if (!el) {
      return;
    }
    const unpin = () => (pinLog.current = false);
    const observer = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(() => {
      if (pinLog.current) {
        showLog();
      }
    });
    observer?.observe(el);
    el.addEventListener('wheel', unpin, { passive: true });
    el.addEventListener('touchmove', unpin, { passive: true });
    el.addEventListener('keydown', unpin);
    return () => {
      observer?.disconnect();
      el.removeEventListener('wheel', unpin);
      el.removeEventListener('touchmove', unpin);
      el.removeEventListener('keydown', unpin);
    };
  }, [row !== null]);

  const now = useTicker(row?.status === 'in-progress');
  if (error) {
    return <div className="mm-execution mm-error-line" role="alert">{error}</div>;
  }
  if (!row) {
    return <div className="mm-execution mm-empty">Loading…</div>;
  }
  const last = lastValues(series.current);
  const args = { id: row.id, modelId: row.model_id, status: row.status, name: row.name };
  const run = (command: string) => void ctx.commands.execute(command, args);
  return (
    <div className="mm-execution" data-id={row.id} data-status={row.status} ref={rootRef}>
      <div className="mm-execution-head">
        <h2>{row.name}</h2>
        <StatusBadge status={row.status} />
        <ProgressBar value={row.progress} status={row.status} />
        <span className="mm-spacer" />
        {appliesTo(CommandIDs.abort, args) ? (
          <button className="jp-mod-styled mm-button mm-abort" onClick={() => run(CommandIDs.abort)}>
            Abort…
          </button>
        ) : null}
        {appliesTo(CommandIDs.rerun, args) ? (
          <button
            className="jp-mod-styled mm-button mm-rerun"
            onClick={() => run(CommandIDs.rerun)}
            title="A new execution with the same parameters"
          >
            Run again
          </button>
        ) : null}
        <button className="jp-mod-styled mm-button mm-open-notebook" onClick={() => run(CommandIDs.openNotebook)}>
          Open notebook
        </button>
        <button className="jp-mod-styled mm-button" onClick={() => Clipboard.copyToSystem(row.id)}>Copy ID</button>
      </div>
      <dl className="mm-facts">
        <dt>Execution</dt>
        <dd>{row.id}</dd>
        <dt>Model</dt>
        <dd>
          {row.model_name} <span className="mm-sub">{row.model_id}</span>
        </dd>
        <dt>Version</dt>
        <dd>
          <button
            className="mm-link mm-version-link"
            title="Open the version's page"
            onClick={() => ctx.openVersion(row.snapshot_id)}
          >
            {row.snapshot_name ?? row.snapshot_id}
          </button>{' '}
          <span className="mm-sub">{row.snapshot_id}</span>
        </dd>
        <dt>Service</dt>
        <dd>
          <button
            className="mm-link mm-service-link"
            title="Show this service's executions"
            onClick={() => ctx.showService(row.service)}
          >
            {row.service}
          </button>
        </dd>
        <dt>Created</dt>
        <dd>{formatTime(row.created_at)}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(liveDuration(row, fetchedAt, now))}</dd>
        <dt>Attempts</dt>
        <dd>{row.attempts}</dd>
        {row.error ? (
          <>
            <dt>Error</dt>
            <dd className="mm-error-text">{row.error}</dd>
          </>
        ) : null}
      </dl>
      {row.kind === 'evaluate' ? <EvaluationView ctx={ctx} id={row.id} status={row.status} /> : null}
      {row.kind === 'evaluate' && row.status === 'success' ? null : (
        <>
          <h3>Metrics</h3>
          <Charts series={series.current} version={version} />
          {Object.keys(last).length ? (
            <div className="mm-last-values">
              {Object.entries(last).map(([k, v]) => (
                <span key={k} className="mm-last-value">
                  {k} <b>{formatValue(v)}</b>
                </span>
              ))}
            </div>
          ) : null}
        </>
      )}
      <h3>Log</h3>
      <pre className="mm-log" ref={logRef}>
        {log || '(no output yet)'}
      </pre>
      <h3>Events</h3>
      <ul className="mm-events">
        {events.slice(-50).map(e => (
          <li key={e.id} className={`mm-event mm-event-${e.level}`}>
            <span className="mm-sub">{formatTime(e.ts)}</span> {e.message}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** One uPlot chart per metric name, created as names appear and fed as points arrive. */
function Charts(props: { series: Map<string, ISeries>; version: number }): JSX.Element {
  const box = React.useRef<HTMLDivElement>(null);
  const charts = React.useRef(new Map<string, MetricChart>());
  const names = [...props.series.keys()];

  React.useEffect(() => {
    const el = box.current;
    if (!el) {
      return;
    }
    names.forEach((name, index) => {
      const slot = el.querySelector<HTMLElement>(`[data-metric="${CSS.escape(name)}"] .mm-chart-canvas`);
      if (!slot) {
        return;
      }
      let chart = charts.current.get(name);
      if (!chart) {
        chart = new MetricChart(slot, name, MetricChart.color(index));
        chart.resize(slot.clientWidth || 320);
        charts.current.set(name, chart);
      }
      chart.update(props.series.get(name)!);
    });
  }, [props.version]);

  React.useEffect(() => {
    const el = box.current;
    if (!el || typeof ResizeObserver === 'undefined') {
      return;
    }
    const observer = new ResizeObserver(() => {
      for (const [name, chart] of charts.current) {
        const slot = el.querySelector<HTMLElement>(`[data-metric="${CSS.escape(name)}"] .mm-chart-canvas`);
        if (slot) {
          chart.resize(slot.clientWidth);
        }
      }
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      charts.current.forEach(c => c.destroy());
      charts.current.clear();
    };
  }, []);

  return (
    <div className="mm-charts" ref={box} data-series={names.length}>
      {!names.length ? <div className="mm-empty">No metric points yet.</div> : null}
      {names.map(name => (
        <div key={name} className="mm-chart" data-metric={name}>
          <div className="mm-chart-title">{name}</div>
          <div className="mm-chart-canvas" />
        </div>
      ))}
    </div>
  );
}
