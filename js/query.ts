/** The executions listing query, its URL form, and whether a live row belongs on the shown page. */

import type { IExecution, Kind, Status } from './types';

export type SortKey = 'created_at' | 'name' | 'status' | 'progress' | 'duration' | 'started_at' | 'model';

export interface IListQuery {
  kind?: Kind;
  status?: Status | '';
  /** Only this service's executions (`mgmt-<kind>-<model id>`); empty for every service. */
  service?: string;
  search?: string;
  limit: number;
  offset: number;
  sort: SortKey;
  order: 'asc' | 'desc';
}

export const PAGE_SIZE = 25;

export function defaultQuery(kind: Kind): IListQuery {
  return { kind, status: '', service: '', search: '', limit: PAGE_SIZE, offset: 0, sort: 'created_at', order: 'desc' };
}

export function listQueryString(q: IListQuery): string {
  const parts: string[] = [];
  const add = (k: string, v: string | number | undefined) => {
    if (v !== undefined && v !== '') {
      parts.push(`${k}=${encodeURIComponent(String(v))}`);
    }
  };
  add('kind', q.kind);
  add('status', q.status);
  add('service', q.service);
  add('search', q.search?.trim());
  add('limit', q.limit);
  add('offset', q.offset);
  if (q.sort !== 'created_at' || q.order !== 'desc') {
    add('sort', q.sort);
    add('order', q.order);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Whether `row` passes the query's filters, by the one search rule of every face (the server's
 * `queries.executions`): a case-insensitive part of the execution's, model's or version's name, the
 * beginning of the execution's, model's or version's id, or one of its version's tags whole (every
 * row carries them, `snapshot_tags`, so a live row is matched here without asking the server). */
export function matches(row: IExecution, q: IListQuery): boolean {
  if (q.kind && row.kind !== q.kind) {
    return false;
  }
  if (q.status && row.status !== q.status) {
    return false;
  }
  if (q.service && row.service !== q.service) {
    return false;
  }
  const search = (q.search ?? '').trim().toLowerCase();
  if (!search) {
    return true;
  }
  const part = (text: string | null | undefined) => (text ?? '').toLowerCase().includes(search);
  const start = (id: string | null | undefined) => (id ?? '').toLowerCase().startsWith(search);
  return (
    part(row.name) ||
    part(row.model_name) ||
    part(row.snapshot_name) ||
    start(row.id) ||
    start(row.model_id) ||
    start(row.snapshot_id) ||
    (row.snapshot_tags ?? []).some(tag => tag.toLowerCase() === search)
  );
}

/**
 * The page after a live update of `row`: replaced in place when shown, dropped when it no longer
 * matches, put on top when new on the first page of the default order; `refetch` when the page
 * cannot be patched locally (another order, a later page).
 */
export function applyUpdate(
  rows: IExecution[],
  row: IExecution,
  q: IListQuery
): { rows: IExecution[]; refetch: boolean } {
  const index = rows.findIndex(r => r.id === row.id);
  const ok = matches(row, q);
  if (index >= 0) {
    if (!ok) {
      return { rows: rows.filter(r => r.id !== row.id), refetch: true };
    }
    const next = rows.slice();
    next[index] = row;
    const reorder = q.sort !== 'created_at' && q.sort !== 'name' && q.sort !== 'model';
    return { rows: next, refetch: reorder };
  }
  if (!ok) {
    return { rows, refetch: false };
  }
  if (q.offset === 0 && q.sort === 'created_at' && q.order === 'desc') {
    const newest = rows.length === 0 || row.created_at >= rows[0].created_at;
    if (newest) {
      return { rows: [row, ...rows].slice(0, q.limit), refetch: false };
    }
  }
  return { rows, refetch: true };
}
