/** The Training / Evaluation tab: the executions table with search, status filter, paging, sort;
 * a checkbox per row to compare 2–5 executions (the Compare button opens the panel). */

import { ellipsesIcon, refreshIcon } from '@jupyterlab/ui-components';
import { Menu } from '@lumino/widgets';
import * as React from 'react';

import { canSelectMore, toggleSelected } from '../compare';
import { CommandIDs, type IMMContext } from '../context';
import { formatDuration, formatShortTime, formatTime, liveDuration } from '../format';
import { debounced } from '../live';
import { applyUpdate, defaultQuery, type IListQuery, type SortKey } from '../query';
import type { IExecution, IHealth, Kind, Status } from '../types';
import { HealthIcon, ProgressBar, StatusBadge, useDebounced, useTicker } from './common';
import { CompareBar } from './CompareView';

const STATUSES: Status[] = ['created', 'pending', 'in-progress', 'success', 'failed', 'aborted', 'terminated', 'rerun'];
const ROW_COMMANDS = [
  CommandIDs.copyModelId,
  CommandIDs.copyExecutionId,
  CommandIDs.abort,
  CommandIDs.remove,
  CommandIDs.rerun,
  CommandIDs.openNotebook,
  CommandIDs.showLogs,
  CommandIDs.showService
];
// A sidebar is narrow: two columns of stacked facts (name over created at [· service when wide];
// status over progress and duration), the full values in the row's tooltip. Each header line sorts.
const COLUMNS: { keys: (SortKey | null)[]; labels: string[]; className: string }[] = [
  { keys: ['name', 'created_at'], labels: ['Name', 'Created'], className: 'mm-col-name' },
  { keys: ['status', 'progress', 'duration'], labels: ['Status', 'Progress', 'Duration'], className: 'mm-col-state' }
];

/** Everything about a row, for its tooltip (the cells show a short form). */
export function rowTitle(row: IExecution): string {
  return [
    row.name,
    `${row.id} · model ${row.model_name ?? row.model_id}`,
    `created ${formatTime(row.created_at)} · ${row.status} · ${Math.round(row.progress)}%`,
    `service ${row.service}`,
    row.error ? `error: ${row.error}` : ''
  ]
    .filter(Boolean)
    .join('\n');
}

export function openRowMenu(ctx: IMMContext, row: IExecution, x: number, y: number): Menu {
  const menu = new Menu({ commands: ctx.commands });
  menu.addClass('mm-row-menu');
  for (const command of ROW_COMMANDS) {
    menu.addItem({
      command,
      args: { id: row.id, modelId: row.model_id, status: row.status, name: row.name, service: row.service }
    });
  }
  menu.aboutToClose.connect(() => setTimeout(() => menu.dispose(), 0));
  menu.open(x, y);
  return menu;
}

export function ExecutionsTab(props: {
  ctx: IMMContext;
  kind: Kind;
  search?: { text: string; nonce: number };
  health: Record<string, IHealth>;
  /** Only this service's executions ('' for all); `onService` changes it (the chip removes it). */
  service: string;
  onService: (name: string) => void;
}): JSX.Element {
  const { ctx, kind } = props;
  const [query, setQuery] = React.useState<IListQuery>({ ...defaultQuery(kind), service: props.service });
  const [searchText, setSearchText] = React.useState('');
  const [rows, setRows] = React.useState<IExecution[]>([]);
  const [hasMore, setHasMore] = React.useState(false);
  const [fetchedAt, setFetchedAt] = React.useState(Date.now());
  const [error, setError] = React.useState('');
  const [loading, setLoading] = React.useState(false);
  const [reload, setReload] = React.useState(0);
  const [selected, setSelected] = React.useState<string[]>([]); // execution ids to compare (kept across pages)
  const search = useDebounced(searchText, 250);
  const queryRef = React.useRef(query);
  queryRef.current = query;
  const received = React.useRef(new Map<string, number>()); // when each row's duration was computed

  React.useEffect(() => {
    if (props.search) {
      setSearchText(props.search.text);
    }
  }, [props.search?.nonce]);

  React.useEffect(() => {
    setQuery(q => (q.search === search ? q : { ...q, search, offset: 0 }));
  }, [search]);

  React.useEffect(() => {
    setQuery(q => (q.service === props.service ? q : { ...q, service: props.service, offset: 0 }));
  }, [props.service]);

  React.useEffect(() => {
    let cancelled = false;
    setLoading(true);
    ctx.api
      .executions(query)
      .then(page => {
        if (!cancelled) {
          const at = Date.now();
          page.items.forEach(r => received.current.set(r.id, at));
          setRows(page.items);
          setHasMore(page.has_more);
          setFetchedAt(at);
          setError('');
        }
      })
      .catch(err => !cancelled && setError(String(err.message ?? err)))
      .finally(() => !cancelled && setLoading(false));
    return () => {
      cancelled = true;
    };
  }, [query, reload]);

  React.useEffect(() => {
    const { trigger: refetch, cancel } = debounced(() => setReload(n => n + 1), 300);
    const onRow = (_: unknown, row: IExecution) => {
      received.current.set(row.id, Date.now());
      setRows(current => {
        const result = applyUpdate(current, row, queryRef.current);
        if (result.refetch) {
          refetch();
        }
        return result.rows;
      });
    };
    ctx.hub.executionChanged.connect(onRow);
    ctx.hub.invalidated.connect(refetch);
    return () => {
      ctx.hub.executionChanged.disconnect(onRow);
      ctx.hub.invalidated.disconnect(refetch);
      cancel();
    };
  }, [ctx]);

  const running = rows.some(r => r.status === 'in-progress');
  const now = useTicker(running);
  const unhealthy = Object.entries(props.health).filter(
    ([name, h]) => h.level !== 'ok' && name.startsWith(`mgmt-${kind}-`)
  );

  const sortBy = (key: SortKey | null) => {
    if (!key) {
      return;
    }
    setQuery(q => ({
      ...q,
      sort: key,
      order: q.sort === key && q.order === 'desc' ? 'asc' : 'desc',
      offset: 0
    }));
  };
  // a service's executions: this tab filtered by it (another kind's service: that kind's tab)
  const showService = (service: string) =>
    service.startsWith(`mgmt-${kind}-`) ? props.onService(service) : ctx.showService(service);

  return (
    <div className="mm-executions" data-kind={kind}>
      <div className="mm-toolbar">
        <input
          className="jp-mod-styled mm-search"
          type="search"
          placeholder="Search name, id or tag"
          aria-label="Search name, id or tag"
          value={searchText}
          onChange={e => setSearchText(e.target.value)}
        />
        <select
          className="jp-mod-styled mm-status-filter"
          aria-label="Filter by status"
          value={query.status ?? ''}
          onChange={e => setQuery(q => ({ ...q, status: e.target.value as Status | '', offset: 0 }))}
        >
          <option value="">All statuses</option>
          {STATUSES.map(s => (
            <option key={s} value={s}>
              {s === 'rerun' ? 'rerun (retry queued)' : s}
            </option>
          ))}
        </select>
        <button className="mm-icon-button" title="Refresh" onClick={() => setReload(n => n + 1)}>
          <refreshIcon.react tag="span" elementSize="small" />
        </button>
      </div>
      <CompareBar
        selected={selected}
        what="executions"
        onCompare={() => ctx.openCompare(selected)}
        onClear={() => setSelected([])}
      />
      {query.service ? (
        <div className="mm-chips mm-filters">
          <span className="mm-chip mm-service-chip" data-service={query.service} title={`Only the executions of ${query.service}`}>
            <span className="mm-chip-text">service {query.service}</span>
            <button
              className="mm-chip-remove"
              aria-label={`Remove the filter by service ${query.service}`}
              title="Show every service's executions"
              onClick={() => props.onService('')}
            >
              ×
            </button>
          </span>
        </div>
      ) : null}
      {unhealthy.map(([name, h]) => (
        <div key={name} className={`mm-banner mm-banner-${h.level}`} data-service={name}>
          <HealthIcon health={h} onClick={() => showService(name)} />
          <span className="mm-banner-text">
            {name}: {h.reason}
          </span>
          <a href="#" onClick={e => (e.preventDefault(), showService(name))}>
            executions
          </a>
          {h.reason.includes('paused') ? (
            <a
              href="#"
              onClick={e => (e.preventDefault(), void ctx.commands.execute(CommandIDs.resumeService, { name }))}
            >
              resume
            </a>
          ) : null}
        </div>
      ))}
      {error ? <div className="mm-error-line" role="alert">{error}</div> : null}
      <table className="mm-table">
        <thead>
          <tr>
            <th className="mm-col-select" />
            {COLUMNS.map(c => (
              <th key={c.className} className={c.className}>
                {c.keys.map((key, i) => (
                  <span
                    key={c.labels[i]}
                    role="button"
                    tabIndex={0}
                    className={`mm-th mm-sortable${i ? ' mm-sub' : ''}${i === 2 ? ' mm-th-inline' : ''}`}
                    data-sort={key ?? undefined}
                    onClick={() => sortBy(key)}
                    onKeyDown={e => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), sortBy(key))}
                    aria-sort={query.sort === key ? (query.order === 'asc' ? 'ascending' : 'descending') : undefined}
                  >
                    {c.labels[i]}
                    {key && query.sort === key ? (query.order === 'asc' ? ' ▲' : ' ▼') : ''}
                  </span>
                ))}
              </th>
            ))}
            <th className="mm-col-menu" />
          </tr>
        </thead>
        <tbody>
          {rows.map(row => (
            <tr
              key={row.id}
              className="mm-row"
              data-id={row.id}
              data-status={row.status}
              title={rowTitle(row)}
              tabIndex={0}
              onClick={() => ctx.openExecution(row.id)}
              onKeyDown={e => {
                if (e.target !== e.currentTarget) {
                  return; // a key on the row's own buttons (the menu, the service) is theirs
                }
                if (e.key === 'Enter') {
                  ctx.openExecution(row.id);
                } else if (e.key === ' ') {
                  e.preventDefault(); // Space on a row ticks its checkbox (one Tab stop a row, not two)
                  setSelected(current => toggleSelected(current, row.id));
                } else if (e.key === 'ContextMenu' || (e.shiftKey && e.key === 'F10')) {
                  e.preventDefault();
                  const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
                  openRowMenu(ctx, row, r.left + 16, r.bottom);
                }
              }}
              onContextMenu={e => {
                e.preventDefault();
                openRowMenu(ctx, row, e.clientX, e.clientY);
              }}
            >
              <td className="mm-col-select" onClick={e => e.stopPropagation()}>
                <input
                  type="checkbox"
                  className="mm-select"
                  tabIndex={-1}
                  aria-label={`Select ${row.name} (${row.id}) to compare`}
                  checked={selected.includes(row.id)}
                  disabled={!selected.includes(row.id) && !canSelectMore(selected)}
                  onChange={() => setSelected(current => toggleSelected(current, row.id))}
                />
              </td>
              <td className="mm-col-name">
                <div className="mm-name">{row.name}</div>
                <div className="mm-sub mm-created">
                  {formatShortTime(row.created_at, now)}
                  <span className="mm-service-wide">
                    {' · '}
                    <button
                      className="mm-link mm-service-link"
                      title={`Show only the executions of ${row.service}`}
                      onClick={e => (e.stopPropagation(), showService(row.service))}
                    >
                      {row.service}
                    </button>
                  </span>
                </div>
              </td>
              <td className="mm-col-state">
                <div className="mm-state-line">
                  <StatusBadge status={row.status} />
                  <HealthIcon health={props.health[row.service]} onClick={() => showService(row.service)} />
                </div>
                <div className="mm-sub mm-progress-line">
                  <ProgressBar value={row.progress} status={row.status} />
                  <span className="mm-duration">
                    {formatDuration(liveDuration(row, received.current.get(row.id) ?? fetchedAt, now))}
                  </span>
                </div>
              </td>
              <td className="mm-col-menu">
                <button
                  className="mm-icon-button mm-row-menu-button"
                  aria-label="Actions"
                  title="Actions"
                  onClick={e => {
                    e.stopPropagation();
                    const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
                    openRowMenu(ctx, row, r.left, r.bottom);
                  }}
                >
                  <ellipsesIcon.react tag="span" elementSize="small" />
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!rows.length && !loading ? (
        <div className="mm-empty">
          No {kind === 'train' ? 'training' : 'evaluation'} executions
          {query.search || query.status || query.service ? ' match' : ' yet'}.
        </div>
      ) : null}
      <div className="mm-pager">
        <button
          className="jp-mod-styled mm-button"
          disabled={query.offset === 0}
          onClick={() => setQuery(q => ({ ...q, offset: Math.max(0, q.offset - q.limit) }))}
        >
          ‹ Prev
        </button>
        <span className="mm-page">Page {Math.floor(query.offset / query.limit) + 1}</span>
        <button
          className="jp-mod-styled mm-button"
          disabled={!hasMore}
          onClick={() => setQuery(q => ({ ...q, offset: q.offset + q.limit }))}
        >
          Next ›
        </button>
      </div>
    </div>
  );
}
