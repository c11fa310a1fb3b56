/** Small pure formatters shared by the sidebar's tables and panels. */

import type { IExecution, Status } from './types';

export const FINISHED: Status[] = ['success', 'failed', 'aborted', 'terminated'];
export const ACTIVE: Status[] = ['created', 'pending', 'rerun', 'in-progress'];

export function isFinished(status: Status): boolean {
  return FINISHED.includes(status);
}

/** `h:mm:ss` like the CLI (`0:01:24`); `-` for no duration. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds) || seconds < 0) {
    return '-';
  }
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}`;
}

/** `YYYY-MM-DD HH:MM:SS` in local time from epoch seconds; `-` for none. */
export function formatTime(ts: number | null | undefined): string {
  if (!ts) {
    return '-';
  }
  const d = new Date(ts * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
  );
}

/** A creation time as short as its distance from `now` (ms) allows: `14:50:45` today,
 * `Dec 2 14:50` this year, else `2025-12-02`; the full time goes in the tooltip. */
export function formatShortTime(ts: number | null | undefined, now: number = Date.now()): string {
  if (!ts) {
    return '-';
  }
  const d = new Date(ts * 1000);
  const today = new Date(now);
  const p = (n: number) => String(n).padStart(2, '0');
  if (d.toDateString() === today.toDateString()) {
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }
  if (d.getFullYear() === today.getFullYear()) {
    const month = d.toLocaleString('en', { month: 'short' });
    return `${month} ${d.getDate()} ${p(d.getHours())}:${p(d.getMinutes())}`;
  }
  return formatTime(ts).slice(0, 10);
}

/** The duration to show now: a running execution's grows with the time since it was fetched. */
export function liveDuration(row: IExecution, fetchedAtMs: number, nowMs: number): number | null {
  if (row.duration === null || row.duration === undefined) {
    return null;
  }
  if (row.status === 'in-progress') {
    return row.duration + Math.max(0, nowMs - fetchedAtMs) / 1000;
  }
  return row.duration;
}

export function clampProgress(value: number | null | undefined): number {
  if (value === null || value === undefined || !isFinite(value)) {
    return 0;
  }
  return Math.max(0, Math.min(100, value));
}

export function statusClass(status: Status): string {
  return `mm-status mm-status-${status}`;
}

export function formatValue(value: unknown): string {
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  }
  if (value === null || value === undefined) {
    return '-';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}
