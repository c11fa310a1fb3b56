/** 2–5 versions or executions side by side in the main area (`GET compare`, the core's one
 * comparison): overlaid metric curves (one line per column, aligned by epoch or step), the final
 * metrics with the best in bold and marked (none on a tie), the config keys that differ, and the
 * per-slice deltas with their intervals (sortable) — or the reason there are none. */

import { refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { MetricChart, OverlayChart } from '../chart';
import {
  alignCurve,
  columnTitle,
  compareButton,
  compareTitle,
  configText,
  nextSort,
  sortDeltas,
  type DeltaSortKey,
  type IDeltaSort
} from '../compare';
import type { IMMContext } from '../context';
import { formatDelta, formatMetric } from '../evaluation';
import type { ICompare, ICompareCurve, ICompareDelta, ICompareSlices, IExecution } from '../types';

export function CompareView(props: { ctx: IMMContext; refs: string[]; onTitle?: (title: string) => void }): JSX.Element {
  const { ctx, refs } = props;
  const [data, setData] = React.useState<ICompare | null>(null);
  const [error, setError] = React.useState('');
  const [reload, setReload] = React.useState(0);

  React.useEffect(() => {
    let cancelled = false;
    ctx.api
      .compare(refs)
      .then(d => {
        if (!cancelled) {
          setData(d);
          setError('');
          props.onTitle?.(compareTitle(d.columns.map(c => c.label)));
        }
      })
      .catch(err => !cancelled && setError(String(err.message ?? err)));
    return () => {
      cancelled = true;
    };
  }, [reload, refs.join('\n')]);

  // a compared execution (or a version's newer run) that ends changes the comparison
  React.useEffect(() => {
    let pending: any = null;
    const onRow = (_: unknown, row: IExecution) => {
      const cols = data?.columns ?? [];
      const concerned = cols.some(c => c.version_id === row.snapshot_id || c.execution_id === row.id);
      if (concerned && pending === null) {
        pending = setTimeout(() => {
          pending = null;
          setReload(n => n + 1);
        }, 1000);
      }
    };
    ctx.hub.executionChanged.connect(onRow);
    return () => {
      ctx.hub.executionChanged.disconnect(onRow);
      if (pending !== null) {
        clearTimeout(pending);
      }
    };
  }, [ctx, data]);

  if (error && !data) {
    return (
      <div className="mm-compare">
        <div className="mm-error-line mm-compare-error" role="alert">
          {error}
        </div>
      </div>
    );
  }
  if (!data) {
    return <div className="mm-compare mm-empty">Loading…</div>;
  }
  const labels = data.columns.map(c => c.label);
  return (
    <div className="mm-compare" data-columns={data.columns.length}>
      <div className="mm-compare-head">
        <h2>Compare</h2>
        <button
          className="mm-icon-button mm-compare-refresh"
          title="Refresh"
          aria-label="Refresh the comparison"
          onClick={() => setReload(n => n + 1)}
        >
          <refreshIcon.react tag="span" elementSize="small" />
        </button>
      </div>
      <ul className="mm-compare-columns">
        {data.columns.map((c, i) => (
          <li key={c.ref} className="mm-compare-column" data-column={i} title={columnTitle(c)}>
            <span className="mm-compare-swatch" style={{ background: MetricChart.color(i) }} />
            <span className="mm-compare-label">{c.label}</span>
            <span className="mm-sub">
              {c.kind === 'version' ? `${c.model_name} version` : `${c.execution_kind} ${c.execution_id}`}
            </span>
          </li>
        ))}
      </ul>
      {error ? <div className="mm-error-line" role="alert">{error}</div> : null}
      {data.notes.map(n => (
        <div key={n} className="mm-compare-note" role="note">
          {n}
        </div>
      ))}
      <section className="mm-compare-section" data-section="curves">
        <h3>Metric curves</h3>
        <Curves curves={data.curves} labels={labels} />
      </section>
      <section className="mm-compare-section" data-section="final">
        <h3>Final metrics</h3>
        <FinalTable data={data} labels={labels} />
      </section>
      <section className="mm-compare-section" data-section="config">
        <h3>Configuration differences</h3>
        <ConfigTable data={data} labels={labels} />
      </section>
      <section className="mm-compare-section" data-section="slices">
        <h3>Per-slice deltas</h3>
        {data.slices ? (
          <SliceDeltas slices={data.slices} labels={labels} />
        ) : (
          <div className="mm-compare-reason" role="note">
            {data.slices_reason}
          </div>
        )}
      </section>
    </div>
  );
}

function Curves(props: { curves: Record<string, ICompareCurve>; labels: string[] }): JSX.Element {
  const names = Object.keys(props.curves);
  if (!names.length) {
    return <div className="mm-empty">No training curves: none of these has a successful training with metrics.</div>;
  }
  return (
    <div className="mm-compare-charts">
      {names.map(name => (
        <OverlayCurve key={name} name={name} curve={props.curves[name]} labels={props.labels} />
      ))}
    </div>
  );
}

function OverlayCurve(props: { name: string; curve: ICompareCurve; labels: string[] }): JSX.Element {
  const slot = React.useRef<HTMLDivElement>(null);
  React.useEffect(() => {
    const el = slot.current;
    if (!el) {
      return;
    }
    const chart = new OverlayChart(el, props.name);
    const { x, ys, columns } = alignCurve(props.curve);
    chart.resize(el.clientWidth || 360);
    chart.update(
      x,
      ys,
      columns.map(c => props.labels[c]),
      columns.map(c => MetricChart.color(c)),
      props.curve.x
    );
    const observer =
      typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(() => chart.resize(el.clientWidth));
    observer?.observe(el);
    return () => {
      observer?.disconnect();
      chart.destroy();
    };
  }, [props.curve, props.labels.join('\n')]);
  return (
    <div className="mm-chart mm-compare-chart" data-metric={props.name}>
      <div className="mm-chart-title">
        {props.name} <span className="mm-sub">by {props.curve.x}</span>
      </div>
      <div className="mm-compare-canvas" ref={slot} role="img" />
    </div>
  );
}

function Head(props: { first: string; labels: string[] }): JSX.Element {
  return (
    <thead>
      <tr>
        <th>{props.first}</th>
        {props.labels.map((l, i) => (
          <th key={i} className="mm-compare-col-head">
            <span className="mm-compare-swatch" style={{ background: MetricChart.color(i) }} />
            {l}
          </th>
        ))}
      </tr>
    </thead>
  );
}

function FinalTable(props: { data: ICompare; labels: string[] }): JSX.Element {
  if (!props.data.final.length) {
    return <div className="mm-empty">No final metrics: none of these has a successful run with metrics.</div>;
  }
  return (
    <div className="mm-compare-scroll">
      <table className="mm-compare-table mm-compare-final">
        <Head first="Metric" labels={props.labels} />
        <tbody>
          {props.data.final.map(row => (
            <tr key={row.metric} data-metric={row.metric}>
              <th scope="row" title={row.ranked ? (row.lower_is_better ? 'lower is better' : 'higher is better') : 'not ranked'}>
                {row.metric}
                {row.ranked ? <span className="mm-sub">{row.lower_is_better ? ' ↓' : ' ↑'}</span> : null}
              </th>
              {row.shown.map((text, i) =>
                i === row.best ? (
                  <td key={i} className="mm-compare-best" data-best="true">
                    <strong>{text}</strong>
                    <span className="mm-compare-best-mark" aria-label="best" title="best">
                      ★
                    </span>
                  </td>
                ) : (
                  <td key={i}>{text || '–'}</td>
                )
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ConfigTable(props: { data: ICompare; labels: string[] }): JSX.Element {
  const rows = props.data.config_diff;
  if (!rows.length) {
    return <div className="mm-empty mm-compare-same">No differences: every compared setting is the same.</div>;
  }
  return (
    <div className="mm-compare-scroll">
      <table className="mm-compare-table mm-compare-config">
        <Head first="Key" labels={props.labels} />
        <tbody>
          {rows.map(row => (
            <tr key={row.key} data-key={row.key}>
              <th scope="row">{row.key}</th>
              {row.values.map((v, i) => (
                <td key={i} className={row.absent[i] ? 'mm-compare-absent' : undefined}>
                  {configText(v, row.absent[i])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function DeltaCells(props: { d: ICompareDelta | undefined }): JSX.Element {
  const d = props.d;
  const ci = d?.delta_ci;
  return (
    <>
      <td>{formatMetric(d?.values[0], 3)}</td>
      <td>{formatMetric(d?.values[1], 3)}</td>
      <td className={d?.significant ? 'mm-compare-significant' : undefined}>
        {formatDelta(d?.delta, 3)}
        {d?.significant ? (
          <span className="mm-compare-sig-mark" title="the interval excludes 0" aria-label="significant">
            {' '}
            ⚑
          </span>
        ) : null}
      </td>
      <td className="mm-eval-ci">{ci ? `[${formatDelta(ci[0], 3)}, ${formatDelta(ci[1], 3)}]` : '–'}</td>
    </>
  );
}

function SliceDeltas(props: { slices: ICompareSlices; labels: string[] }): JSX.Element {
  const { slices } = props;
  const [metric, setMetric] = React.useState(
    slices.metrics.includes(slices.main_metric) ? slices.main_metric : slices.metrics[0]
  );
  const [sort, setSort] = React.useState<IDeltaSort>({ key: 'delta', descending: false });
  const rows = React.useMemo(() => sortDeltas(slices.rows, metric, sort), [slices, metric, sort]);
  const [a, b] = slices.columns.map(i => props.labels[i]);
  const header = (key: DeltaSortKey, text: string) => {
    const active = sort.key === key;
    return (
      <th aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : 'none'}>
        <button className="mm-eval-sort mm-compare-sort" data-sort={key} onClick={() => setSort(s => nextSort(s, key))}>
          {text}
          <span className="mm-eval-sort-mark">{active ? (sort.descending ? ' ▼' : ' ▲') : ''}</span>
        </button>
      </th>
    );
  };
  return (
    <div className="mm-compare-slices">
      <div className="mm-compare-controls">
        <label>
          Metric{' '}
          <select
            className="jp-mod-styled mm-compare-metric"
            aria-label="Slice metric"
            value={metric}
            onChange={e => setMetric(e.target.value)}
          >
            {slices.metrics.map(m => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <span className="mm-sub">
          Δ = {b} − {a}; 95% interval of the difference from both evaluations' intervals
          {slices.intervals ? '' : ' (these evaluations have no intervals)'}
        </span>
      </div>
      <div className="mm-compare-scroll">
        <table className="mm-compare-table mm-compare-deltas">
          <thead>
            <tr>
              {header('name', 'Slice')}
              {header('n', 'n')}
              {header('first', a)}
              {header('second', b)}
              {header('delta', 'Δ')}
              <th>95% CI of Δ</th>
            </tr>
          </thead>
          <tbody>
            <tr className="mm-compare-whole">
              <th scope="row">whole test set</th>
              <td>{slices.whole.n[0] ?? '–'}</td>
              <DeltaCells d={slices.whole.metrics[metric]} />
            </tr>
            {rows.map(r => (
              <tr key={r.name} data-slice={r.name}>
                <th scope="row" className="mm-eval-slice-name">
                  {r.name}
                </th>
                <td>{r.n[0] === r.n[1] ? (r.n[0] ?? '–') : `${r.n[0] ?? '–'} / ${r.n[1] ?? '–'}`}</td>
                <DeltaCells d={r.metrics[metric]} />
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {slices.unmatched ? (
        <div className="mm-sub">{slices.unmatched} slices are in only one of the two evaluations and are left out.</div>
      ) : null}
    </div>
  );
}

/** The sidebar's selection for Compare: "Compare (n)" (enabled for 2–5) and a way to clear it. */
export function CompareBar(props: {
  selected: string[];
  what: string;
  onCompare: () => void;
  onClear: () => void;
}): JSX.Element {
  const button = compareButton(props.selected.length);
  return (
    <div className="mm-compare-bar" data-selected={props.selected.length}>
      <button
        className="jp-mod-styled mm-button mm-small mm-compare-button"
        disabled={!button.enabled}
        title={button.title}
        onClick={props.onCompare}
      >
        {button.label}
      </button>
      <span
        className="mm-sub mm-compare-hint"
        title={`Tick 2–5 ${props.what} (or press Space on a focused row), then Compare`}
      >
        {props.selected.length ? `${props.selected.length} selected` : `select 2–5 ${props.what}`}
      </span>
      {props.selected.length ? (
        <button className="mm-link mm-compare-clear" onClick={props.onClear} aria-label="Clear the selection">
          clear
        </button>
      ) : null}
    </div>
  );
}
