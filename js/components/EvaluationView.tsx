/** An evaluation's results in its execution panel (TFMA-style): headline metrics with their confidence
 * intervals, the per-slice table (sortable, filtered by slice field, slices significantly worse than
 * the whole set flagged), per-class numbers, PR curves per class (uPlot: legend toggles, hover values),
 * the confusion matrix as a heatmap (a cell lists its items), and a gallery of the items, worst first,
 * with their ground truth and predictions drawn over the image (filterable by slice, class or cell). */

import * as React from 'react';
import uPlot from 'uplot';

import { axisStyle, MetricChart } from '../chart';
import type { IMMContext } from '../context';
import {
  alignCurves,
  filterSlices,
  formatDelta,
  formatMetric,
  formatWithCI,
  pageLabel,
  shade,
  sortSlices,
  type ISliceSort
} from '../evaluation';
import type {
  IEvalBox,
  IEvalItem,
  IEvalItemsPage,
  IEvalItemsQuery,
  IEvalSlice,
  IEvaluation,
  IInterval,
  Status
} from '../types';

const PAGE_SIZE = 24;
const SLICE_ROWS = 100; // slice rows drawn before "Show all"

type Api = IMMContext['api'];

export function EvaluationView(props: { ctx: IMMContext; id: string; status: Status }): JSX.Element {
  const { ctx, id, status } = props;
  const [summary, setSummary] = React.useState<IEvaluation | null>(null);
  const [firstPage, setFirstPage] = React.useState<IEvalItemsPage | string | null>(null);
  const [error, setError] = React.useState('');
  const arrived = React.useRef<number | null>(null);
  const root = React.useRef<HTMLDivElement>(null);

  React.useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const [s, page] = await Promise.all([
          ctx.api.evaluation(id),
          status === 'success'
            ? ctx.api.evaluationItems(id, { limit: PAGE_SIZE }).catch((err: Error) => String(err.message ?? err))
            : Promise.resolve(null)
        ]);
        if (!cancelled) {
          arrived.current = performance.now();
          setSummary(s);
          setFirstPage(page);
          setError('');
        }
      } catch (err: any) {
        if (!cancelled) {
          setError(String(err.message ?? err));
        }
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [id, status]);

  // the time from the data's arrival to the view drawn (the browser test reads it)
  React.useLayoutEffect(() => {
    const start = arrived.current;
    const el = root.current;
    if (start === null || !el) {
      return;
    }
    arrived.current = null;
    el.dataset.commitMs = (performance.now() - start).toFixed(1);
    requestAnimationFrame(() => setTimeout(() => (el.dataset.renderMs = (performance.now() - start).toFixed(1)), 0));
  }, [summary]);

  if (error) {
    return (
      <div className="mm-eval" ref={root} data-state="error">
        <div className="mm-eval-message mm-error-line" role="alert">
          Cannot show this evaluation: {error}
        </div>
      </div>
    );
  }
  if (!summary) {
    return (
      <div className="mm-eval" ref={root} data-state="loading">
        <div className="mm-empty">Loading the evaluation…</div>
      </div>
    );
  }
  if (summary.state !== 'ready') {
    return (
      <div className="mm-eval" ref={root} data-state={summary.state}>
        <div className="mm-eval-message" role="status">
          {summary.message}
        </div>
      </div>
    );
  }
  return (
    <div className="mm-eval" ref={root} data-state="ready" data-task={summary.task}>
      <Ready api={ctx.api} id={id} summary={summary} firstPage={firstPage} />
    </div>
  );
}

function Ready(props: { api: Api; id: string; summary: IEvaluation; firstPage: IEvalItemsPage | string | null }) {
  const { summary } = props;
  const [filter, setFilter] = React.useState<IEvalItemsQuery>({});
  const gallery = React.useRef<HTMLElement>(null);
  const show = (f: IEvalItemsQuery) => {
    setFilter({ ...f, offset: undefined });
    gallery.current?.scrollIntoView({ block: 'start', behavior: 'smooth' });
  };
  return (
    <>
      <Headline summary={summary} />
      {summary.messages?.length ? (
        <ul className="mm-eval-notes">
          {summary.messages.map(m => (
            <li key={m} className="mm-eval-note">
              {m}
            </li>
          ))}
        </ul>
      ) : null}
      {summary.slices?.length ? (
        <SliceTable summary={summary} onShow={name => show({ ...filter, slice: name })} />
      ) : null}
      {Object.keys(summary.per_class ?? {}).length ? (
        <PerClass summary={summary} onShow={cls => show({ ...filter, cls, true: undefined, pred: undefined })} />
      ) : null}
      {summary.task === 'detect' && Object.keys(summary.pr_curves ?? {}).length ? (
        <section className="mm-eval-section mm-eval-pr">
          <h3>Precision–recall curves</h3>
          <p className="mm-sub">At IoU 0.5, one line per class: click a class in the legend to hide or show it.</p>
          <PrChart curves={summary.pr_curves!} />
        </section>
      ) : null}
      {summary.confusion ? (
        <Confusion
          confusion={summary.confusion}
          active={filter}
          onShow={(t, p) => show({ slice: filter.slice, true: t, pred: p })}
        />
      ) : null}
      <section className="mm-eval-section mm-eval-gallery" ref={gallery}>
        <Gallery
          api={props.api}
          id={props.id}
          summary={summary}
          filter={filter}
          setFilter={setFilter}
          firstPage={props.firstPage}
        />
      </section>
    </>
  );
}

// --- headline ------------------------------------------------------------------------------------

function Headline(props: { summary: IEvaluation }) {
  const { summary } = props;
  const boot = summary.bootstrap;
  const level = boot ? `${Math.round(boot.level * 100)}%` : '';
  return (
    <section className="mm-eval-section mm-eval-headline">
      <h3>Evaluation</h3>
      <div className="mm-eval-cards">
        {(summary.metrics ?? []).map(m => (
          <div key={m.name} className="mm-eval-card" data-metric={m.name} title={m.value === null ? '' : String(m.value)}>
            <div className="mm-eval-card-name">{m.name}</div>
            <div className="mm-eval-card-value">{formatMetric(m.value, 3)}</div>
            <div className="mm-eval-card-ci">
              {m.ci ? `${level} CI [${formatMetric(m.ci[0], 3)}, ${formatMetric(m.ci[1], 3)}]` : 'no interval'}
            </div>
          </div>
        ))}
      </div>
      <p className="mm-sub mm-eval-facts">
        {summary.n_items} items
        {boot ? ` · ${level} bootstrap intervals (${boot.replicates} replicates, seed ${boot.seed})` : ''}
        {typeof summary.conf_threshold === 'number'
          ? ` · predictions shown at confidence ≥ ${formatMetric(summary.conf_threshold)}`
          : ''}
      </p>
    </section>
  );
}

// --- slices -------------------------------------------------------------------------------------

function SliceTable(props: { summary: IEvaluation; onShow: (slice: string) => void }) {
  const { summary } = props;
  const metrics = summary.slice_metrics ?? [];
  const main = summary.main_metric && metrics.includes(summary.main_metric) ? summary.main_metric : metrics[0];
  const [field, setField] = React.useState('');
  const [flagged, setFlagged] = React.useState(false);
  const [deltaOf, setDeltaOf] = React.useState(main);
  const [sort, setSort] = React.useState<ISliceSort>({ key: `metric:${main}`, descending: false });
  const [all, setAll] = React.useState(false);
  const whole = Object.fromEntries((summary.metrics ?? []).map(m => [m.name, m]));
  const rows = React.useMemo(
    () => sortSlices(filterSlices(summary.slices ?? [], field, flagged), sort),
    [summary, field, flagged, sort]
  );
  const nFlagged = (summary.slices ?? []).filter(s => s.worse.length).length;
  const shown = all ? rows : rows.slice(0, SLICE_ROWS);
  const header = (key: ISliceSort['key'], label: string, title: string) => {
    const active = sort.key === key;
    return (
      <th aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : 'none'}>
        <button
          className="mm-eval-sort"
          data-key={key}
          title={title}
          onClick={() => setSort({ key, descending: active ? !sort.descending : false })}
        >
          {label}
          <span className="mm-eval-sort-mark">{active ? (sort.descending ? ' ▼' : ' ▲') : ''}</span>
        </button>
      </th>
    );
  };
  return (
    <section className="mm-eval-section mm-eval-slices">
      <h3>Slices</h3>
      <div className="mm-eval-controls">
        <label>
          Field{' '}
          <select className="mm-eval-slice-field" value={field} onChange={e => setField(e.target.value)}>
            <option value="">all fields</option>
            {(summary.slice_fields ?? []).map(f => (
              <option key={f} value={f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        <label>
          Δ of{' '}
          <select className="mm-eval-delta-of" value={deltaOf} onChange={e => setDeltaOf(e.target.value)}>
            {metrics.map(m => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <label className="mm-eval-flagged-only" title="Slices whose difference from the whole set lies below 0 (its interval)">
          <input type="checkbox" checked={flagged} onChange={e => setFlagged(e.target.checked)} /> flagged only (
          {nFlagged})
        </label>
        <span className="mm-sub mm-eval-count">
          {rows.length} of {summary.slices?.length} slices
        </span>
      </div>
      <div className="mm-eval-scroll">
        <table className="mm-eval-table mm-eval-slice-table">
          <thead>
            <tr>
              {header('name', 'Slice', 'Sort by slice name')}
              {header('n', 'Items', 'Sort by the number of items')}
              {metrics.map(m => header(`metric:${m}`, m, `Sort by ${m}`))}
              {header(`delta:${deltaOf}`, `Δ ${deltaOf}`, `Sort by the difference of ${deltaOf} from the whole set`)}
            </tr>
          </thead>
          <tbody>
            <tr className="mm-eval-whole">
              <td>whole set</td>
              <td className="mm-num">{summary.n_items}</td>
              {metrics.map(m => (
                <MetricCell key={m} value={whole[m]?.value ?? null} ci={whole[m]?.ci ?? null} />
              ))}
              <td />
            </tr>
            {shown.map(row => (
              <SliceRow key={row.name} row={row} metrics={metrics} deltaOf={deltaOf} onShow={props.onShow} />
            ))}
          </tbody>
        </table>
      </div>
      {rows.length > shown.length ? (
        <button className="jp-mod-styled mm-button mm-eval-more" onClick={() => setAll(true)}>
          Show all {rows.length} slices
        </button>
      ) : null}
      {!rows.length ? <div className="mm-empty">No slice matches.</div> : null}
    </section>
  );
}

function MetricCell(props: { value: number | null; ci: IInterval | undefined; worse?: boolean; delta?: string }) {
  const { value, ci } = props;
  return (
    <td className={`mm-num mm-eval-metric${props.worse ? ' mm-eval-worse-cell' : ''}`} title={props.delta}>
      <span className="mm-eval-value">{formatMetric(value)}</span>
      {ci && value !== null ? (
        <span className="mm-eval-ci">
          {' '}[{formatMetric(ci[0])}, {formatMetric(ci[1])}]
        </span>
      ) : null}
    </td>
  );
}

function SliceRow(props: { row: IEvalSlice; metrics: string[]; deltaOf: string; onShow: (s: string) => void }) {
  const { row, metrics, deltaOf } = props;
  const worse = row.worse.length > 0;
  const delta = row.delta[deltaOf];
  const deltaCi = row.delta_ci[deltaOf];
  return (
    <tr className={`mm-eval-slice-row${worse ? ' mm-eval-worse' : ''}`} data-slice={row.name}>
      <td className="mm-eval-slice-name">
        <button className="mm-eval-link" title={`Show the items of ${row.name}`} onClick={() => props.onShow(row.name)}>
          {row.name}
        </button>
        {worse ? (
          <span
            className="mm-eval-flag"
            title={`Significantly worse than the whole set on ${row.worse.join(', ')} (the interval of the difference lies below 0)`}
          >
            ▼ worse
          </span>
        ) : null}
      </td>
      <td className="mm-num">{row.n ?? '–'}</td>
      {metrics.map(m => (
        <MetricCell
          key={m}
          value={row.values[m]}
          ci={row.ci[m]}
          worse={row.worse.includes(m)}
          delta={`${m}: ${formatWithCI(row.values[m], row.ci[m], 4)}; Δ vs whole set ${formatDelta(row.delta[m], 4)}`}
        />
      ))}
      <td
        className={`mm-num mm-eval-delta${typeof delta === 'number' && delta < 0 ? ' mm-eval-negative' : ''}${
          row.worse.includes(deltaOf) ? ' mm-eval-worse-cell' : ''
        }`}
      >
        {formatDelta(delta)}
        {deltaCi ? (
          <span className="mm-eval-ci">
            {' '}[{formatDelta(deltaCi[0])}, {formatDelta(deltaCi[1])}]
          </span>
        ) : null}
      </td>
    </tr>
  );
}

// --- per class, PR curves, confusion --------------------------------------------------------------

function PerClass(props: { summary: IEvaluation; onShow: (cls: string) => void }) {
  const perClass = props.summary.per_class ?? {};
  const names = Object.keys(perClass);
  const columns = [...new Set(names.flatMap(n => Object.keys(perClass[n] ?? {})))];
  return (
    <section className="mm-eval-section mm-eval-per-class">
      <h3>Per class</h3>
      <div className="mm-eval-scroll">
        <table className="mm-eval-table">
          <thead>
            <tr>
              <th>Class</th>
              {columns.map(c => (
                <th key={c}>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {names.map(n => (
              <tr key={n} data-class={n}>
                <td>
                  <button className="mm-eval-link" title={`Show the items with ${n}`} onClick={() => props.onShow(n)}>
                    {n}
                  </button>
                </td>
                {columns.map(c => {
                  const v = perClass[n]?.[c];
                  return (
                    <td key={c} className="mm-num">
                      {typeof v === 'number' ? (Number.isInteger(v) ? v : formatMetric(v, 3)) : '–'}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function PrChart(props: { curves: NonNullable<IEvaluation['pr_curves']> }) {
  const box = React.useRef<HTMLDivElement>(null);
  React.useLayoutEffect(() => {
    const el = box.current;
    if (!el) {
      return;
    }
    const { names, x, ys } = alignCurves(props.curves);
    const axis = axisStyle();
    const fmt = (_: uPlot, v: number | null) => (v === null || v === undefined ? '–' : v.toFixed(3));
    const plot = new uPlot(
      {
        width: Math.max(220, Math.floor(el.clientWidth || 400)),
        height: 240,
        scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1.02] } },
        axes: [
          { ...axis, size: 36, label: 'recall' },
          { ...axis, size: 44, label: 'precision' }
        ],
        cursor: { drag: { x: false, y: false } },
        legend: { show: true, live: true },
        series: [
          { label: 'recall', value: fmt },
          ...names.map((name, i) => ({
            label: name,
            stroke: MetricChart.color(i),
            width: 2,
            spanGaps: true,
            points: { show: false },
            value: fmt
          }))
        ]
      },
      [x, ...ys] as uPlot.AlignedData,
      el
    );
    el.dataset.series = String(names.length);
    const observer =
      typeof ResizeObserver === 'undefined'
        ? null
        : new ResizeObserver(() => plot.setSize({ width: Math.max(220, Math.floor(el.clientWidth)), height: 240 }));
    observer?.observe(el);
    return () => {
      observer?.disconnect();
      plot.destroy();
    };
  }, [props.curves]);
  return <div className="mm-eval-pr-chart" ref={box} role="img" aria-label="precision by recall, per class" />;
}

function Confusion(props: {
  confusion: NonNullable<IEvaluation['confusion']>;
  active: IEvalItemsQuery;
  onShow: (t: string, p: string) => void;
}) {
  const { labels, matrix } = props.confusion;
  const unit = props.confusion.unit ?? 'items';
  const note =
    unit === 'boxes'
      ? 'Boxes at the confidence threshold, matched at IoU ≥ 0.5 whatever their class; unmatched ones on the background row or column. Click a cell to list the images holding such a box.'
      : 'Click a cell to list its items.';
  return (
    <section className="mm-eval-section mm-eval-confusion">
      <h3>Confusion matrix</h3>
      <p className="mm-sub">Rows: true label; columns: predicted. Shade: the share of the row. {note}</p>
      <div className="mm-eval-scroll">
        <table className="mm-eval-cm">
          <thead>
            <tr>
              <th className="mm-eval-cm-corner">true \ pred</th>
              {labels.map(l => (
                <th key={l} className="mm-eval-cm-pred" title={`predicted ${l}`}>
                  {l}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {matrix.map((row, i) => {
              const total = row.reduce((a, b) => a + (b || 0), 0);
              return (
                <tr key={labels[i]}>
                  <th className="mm-eval-cm-true" title={`true ${labels[i]}`}>
                    {labels[i]}
                  </th>
                  {row.map((count, j) => {
                    const s = shade(count, total);
                    const active = props.active.true === labels[i] && props.active.pred === labels[j];
                    return (
                      <td key={labels[j]}>
                        <button
                          className={`mm-eval-cm-cell${i === j ? ' mm-eval-cm-diag' : ''}${active ? ' mm-active' : ''}`}
                          data-true={labels[i]}
                          data-pred={labels[j]}
                          style={{
                            background: `rgba(${i === j ? '46, 125, 50' : '198, 40, 40'}, ${(0.08 + 0.85 * s).toFixed(3)})`,
                            color: s > 0.55 ? '#fff' : undefined
                          }}
                          title={`true ${labels[i]}, predicted ${labels[j]}: ${count} ${unit} (${(100 * s).toFixed(0)}% of ${labels[i]})`}
                          disabled={!count}
                          onClick={() => props.onShow(labels[i], labels[j])}
                        >
                          {count}
                        </button>
                      </td>
                    );
                  })}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

// --- the gallery ----------------------------------------------------------------------------------

function Gallery(props: {
  api: Api;
  id: string;
  summary: IEvaluation;
  filter: IEvalItemsQuery;
  setFilter: (f: IEvalItemsQuery) => void;
  firstPage: IEvalItemsPage | string | null;
}) {
  const { api, id, summary, filter, setFilter } = props;
  const offset = filter.offset ?? 0;
  const [page, setPage] = React.useState<IEvalItemsPage | null>(
    typeof props.firstPage === 'object' ? props.firstPage : null
  );
  const [error, setError] = React.useState(typeof props.firstPage === 'string' ? props.firstPage : '');
  const [loading, setLoading] = React.useState(false);
  const [open, setOpen] = React.useState<IEvalItem | null>(null);
  const first = React.useRef(true);

  React.useEffect(() => {
    if (first.current) {
      first.current = false; // the first page came with the summary
      return;
    }
    let cancelled = false;
    setLoading(true);
    api
      .evaluationItems(id, { ...filter, limit: PAGE_SIZE })
      .then(p => {
        if (!cancelled) {
          setPage(p);
          setError('');
        }
      })
      .catch((err: any) => !cancelled && setError(String(err.message ?? err)))
      .finally(() => !cancelled && setLoading(false));
    return () => {
      cancelled = true;
    };
  }, [filter]);

  const change = (f: IEvalItemsQuery) => setFilter({ ...f, offset: undefined });
  const setOffset = (o: number) => setFilter({ ...filter, offset: o });
  const slices = React.useMemo(() => (summary.slices ?? []).map(s => s.name).sort(), [summary]);
  const cell = filter.true !== undefined || filter.pred !== undefined;
  const items = page?.items ?? [];
  return (
    <>
      <h3>Items, worst first</h3>
      <div className="mm-eval-controls">
        <label>
          Slice{' '}
          <select
            className="mm-eval-gallery-slice"
            value={filter.slice ?? ''}
            disabled={!slices.length}
            title={slices.length ? '' : 'this evaluation has no slices'}
            onChange={e => change({ ...filter, slice: e.target.value || undefined })}
          >
            <option value="">all items</option>
            {slices.map(s => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Class{' '}
          <select
            className="mm-eval-gallery-class"
            value={filter.cls ?? ''}
            onChange={e => change({ ...filter, cls: e.target.value || undefined })}
          >
            <option value="">all classes</option>
            {(summary.labels ?? []).map(l => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
        {cell ? (
          <span className="mm-eval-chip mm-eval-gallery-cell">
            true {filter.true} → predicted {filter.pred}
            <button
              className="mm-eval-chip-clear"
              title="Show every cell"
              onClick={() => change({ ...filter, true: undefined, pred: undefined })}
            >
              ×
            </button>
          </span>
        ) : null}
        <span className="mm-spacer" />
        <span className="mm-eval-pager">
          <button
            className="jp-mod-styled mm-button mm-eval-prev"
            disabled={!page || offset === 0 || loading}
            onClick={() => setOffset(Math.max(0, offset - PAGE_SIZE))}
          >
            ‹ Prev
          </button>
          <span className="mm-sub mm-eval-page">{page ? pageLabel(page.offset, items.length, page.total) : '–'}</span>
          <button
            className="jp-mod-styled mm-button mm-eval-next"
            disabled={!page || offset + PAGE_SIZE >= page.total || loading}
            onClick={() => setOffset(offset + PAGE_SIZE)}
          >
            Next ›
          </button>
        </span>
      </div>
      <Legend task={summary.task} />
      {error ? (
        <div className="mm-error-line" role="alert">
          {error}
        </div>
      ) : null}
      <div className="mm-eval-grid" data-loading={loading ? '1' : '0'} data-total={page?.total ?? ''}>
        {items.map(item => (
          <Thumb key={item.item_id} api={api} item={item} onOpen={() => setOpen(item)} />
        ))}
      </div>
      {page && !items.length ? <div className="mm-empty">No item matches these filters.</div> : null}
      {open ? <LargeView api={api} item={open} onClose={() => setOpen(null)} /> : null}
    </>
  );
}

function Legend(props: { task?: string }) {
  if (props.task !== 'detect') {
    return null;
  }
  return (
    <div className="mm-eval-legend mm-sub">
      <span className="mm-eval-swatch mm-eval-swatch-gt" /> ground truth
      <span className="mm-eval-swatch mm-eval-swatch-pred" /> prediction (label, score)
    </div>
  );
}

function caption(item: IEvalItem): JSX.Element {
  if (item.true !== undefined) {
    const conf = typeof item.confidence === 'number' ? ` (${item.confidence.toFixed(2)})` : '';
    return (
      <span className={item.correct ? 'mm-eval-right' : 'mm-eval-wrong'}>
        {item.correct ? '✓' : '✗'} true {item.true} → {item.pred}
        {conf}
      </span>
    );
  }
  return (
    <span className={(item.fp ?? 0) + (item.fn ?? 0) ? 'mm-eval-wrong' : 'mm-eval-right'}>
      tp {item.tp ?? 0} · fp {item.fp ?? 0} · fn {item.fn ?? 0}
    </span>
  );
}

function Thumb(props: { api: Api; item: IEvalItem; onOpen: () => void }) {
  const { item } = props;
  return (
    <button
      className="mm-eval-thumb"
      data-item={item.item_id}
      data-image={item.image.ok ? 'ok' : 'missing'}
      title={`${item.dir ? item.dir + '/' : ''}${item.name} (item ${item.item_id}): click for a larger view`}
      onClick={props.onOpen}
    >
      <Frame api={props.api} item={item} />
      <span className="mm-eval-caption">
        <span className="mm-eval-name">{item.name}</span>
        {caption(item)}
      </span>
    </button>
  );
}

/** The image with an SVG overlay of its boxes (image pixels as the view box), or why it is missing. */
function Frame(props: { api: Api; item: IEvalItem; large?: boolean }) {
  const { item } = props;
  const [natural, setNatural] = React.useState<[number, number] | null>(null);
  const [failed, setFailed] = React.useState(false);
  const w = item.width ?? natural?.[0] ?? null;
  const h = item.height ?? natural?.[1] ?? null;
  const problem = !item.image.ok ? item.image.problem : failed ? 'its image could not be loaded' : null;
  const label = item.true !== undefined ? `true ${item.true}, predicted ${item.pred}` : '';
  return (
    <span
      className={`mm-eval-frame${props.large ? ' mm-eval-frame-large' : ''}`}
      style={w && h ? { aspectRatio: `${w} / ${h}` } : undefined}
    >
      {problem ? (
        <span className="mm-eval-missing" role="note">
          {problem}
        </span>
      ) : (
        <img
          src={props.api.evaluationImageUrl(item.image_url)}
          alt={`${item.name} ${label}`}
          loading="lazy"
          onLoad={e => setNatural([e.currentTarget.naturalWidth, e.currentTarget.naturalHeight])}
          onError={() => setFailed(true)}
        />
      )}
      {!problem && w && h ? <Boxes w={w} h={h} gt={item.gt_boxes ?? []} pred={item.pred_boxes ?? []} /> : null}
    </span>
  );
}

function Boxes(props: { w: number; h: number; gt: IEvalBox[]; pred: IEvalBox[] }) {
  const { w, h } = props;
  const font = Math.max(w, h) * 0.055;
  const rect = (b: IEvalBox, kind: 'gt' | 'pred', i: number) => {
    const [x1, y1, x2, y2] = b.box;
    const text = kind === 'pred' && typeof b.score === 'number' ? `${b.label} ${b.score.toFixed(2)}` : b.label;
    return (
      <g key={`${kind}${i}`} className={`mm-eval-${kind}`}>
        <rect x={x1} y={y1} width={Math.max(0, x2 - x1)} height={Math.max(0, y2 - y1)} vectorEffect="non-scaling-stroke" />
        <text x={x1 + font * 0.15} y={kind === 'gt' ? y1 + font : y2 - font * 0.25} fontSize={font}>
          {text}
        </text>
      </g>
    );
  };
  return (
    <svg className="mm-eval-boxes" viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="xMidYMid meet" aria-hidden="true">
      {props.gt.map((b, i) => rect(b, 'gt', i))}
      {props.pred.map((b, i) => rect(b, 'pred', i))}
    </svg>
  );
}

function LargeView(props: { api: Api; item: IEvalItem; onClose: () => void }) {
  const { item } = props;
  const close = React.useRef<HTMLButtonElement>(null);
  React.useEffect(() => {
    close.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        props.onClose();
      }
    };
    document.addEventListener('keydown', onKey, true);
    return () => document.removeEventListener('keydown', onKey, true);
  }, [item.item_id]);
  const boxes = [
    ...(item.gt_boxes ?? []).map(b => ({ ...b, kind: 'ground truth' })),
    ...(item.pred_boxes ?? []).map(b => ({ ...b, kind: 'prediction' }))
  ];
  return (
    <div className="mm-eval-large" role="dialog" aria-label={`item ${item.name}`} onClick={props.onClose}>
      <div className="mm-eval-large-box" onClick={e => e.stopPropagation()}>
        <div className="mm-eval-large-head">
          <b>{item.name}</b>
          <span className="mm-sub">
            {item.dir} · item {item.item_id}
          </span>
          <span className="mm-spacer" />
          <button ref={close} className="jp-mod-styled mm-button mm-eval-close" onClick={props.onClose}>
            Close
          </button>
        </div>
        <Frame api={props.api} item={item} large />
        <div className="mm-eval-large-facts">{caption(item)}</div>
        {boxes.length ? (
          <table className="mm-eval-table mm-eval-box-table">
            <thead>
              <tr>
                <th>box</th>
                <th>label</th>
                <th>score</th>
                <th>x1, y1, x2, y2 (px)</th>
              </tr>
            </thead>
            <tbody>
              {boxes.map((b, i) => (
                <tr key={i}>
                  <td>{b.kind}</td>
                  <td>{b.label}</td>
                  <td className="mm-num">{typeof b.score === 'number' ? b.score.toFixed(3) : ''}</td>
                  <td className="mm-num">{b.box.map(v => Math.round(v)).join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </div>
    </div>
  );
}
