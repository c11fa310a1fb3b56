/** Metric points grouped into per-name series for charts, appended live and thinned for drawing. */

import type { IMetricPoint } from './types';

export interface ISeries {
  name: string;
  x: number[];
  y: number[];
  /** Whether `x` is in ascending order. */
  sorted: boolean;
  /** What `x` counts: `epoch` while every point's step is its epoch (or it has only an epoch), else `step`. */
  xLabel?: 'epoch' | 'step';
}

/** Whether a point's x is its epoch. */
function byEpoch(p: IMetricPoint): boolean {
  const hasEpoch = p.epoch !== null && p.epoch !== undefined;
  return hasEpoch && (p.step === null || p.step === undefined || p.step === p.epoch);
}

export const MAX_DRAWN = 2000;

function xOf(p: IMetricPoint, fallback: number): number {
  if (p.step !== null && p.step !== undefined) {
    return p.step;
  }
  if (p.epoch !== null && p.epoch !== undefined) {
    return p.epoch;
  }
  return fallback;
}

/** The attempt whose points each series map holds (a retry's points replace the failed attempt's). */
const ATTEMPTS = new WeakMap<Map<string, ISeries>, number>();

/** Append points (in id order) to `series` by metric name; returns the names that changed. Points
 * of a later attempt (a retry) replace those of the attempt before; points of an earlier one are
 * dropped. */
export function appendPoints(series: Map<string, ISeries>, points: IMetricPoint[]): Set<string> {
  const changed = new Set<string>();
  for (const p of points) {
    if (!isFinite(p.value)) {
      continue;
    }
    if (typeof p.attempt === 'number') {
      const current = ATTEMPTS.get(series);
      if (current !== undefined && p.attempt < current) {
        continue;
      }
      if (current !== undefined && p.attempt > current) {
        for (const s of series.values()) {
          s.x = [];
          s.y = [];
          s.sorted = true;
          changed.add(s.name);
        }
      }
      ATTEMPTS.set(series, p.attempt);
    }
    let s = series.get(p.name);
    if (!s) {
      s = { name: p.name, x: [], y: [], sorted: true };
      series.set(p.name, s);
    }
    s.xLabel = byEpoch(p) && s.xLabel !== 'step' ? 'epoch' : 'step';
    const x = xOf(p, s.x.length);
    if (s.x.length && x < s.x[s.x.length - 1]) {
      s.sorted = false;
    }
    s.x.push(x);
    s.y.push(p.value);
    changed.add(p.name);
  }
  for (const name of changed) {
    const s = series.get(name)!;
    if (!s.sorted) {
      sortSeries(s);
    }
  }
  return changed;
}

function sortSeries(s: ISeries): void {
  const order = s.x.map((_, i) => i).sort((a, b) => s.x[a] - s.x[b] || a - b);
  s.x = order.map(i => s.x[i]);
  s.y = order.map(i => s.y[i]);
  s.sorted = true;
}

/** At most `max` points to draw: the first, the last, and each bucket's minimum and maximum. */
export function thin(x: number[], y: number[], max = MAX_DRAWN): [number[], number[]] {
  const n = x.length;
  if (n <= max) {
    return [x, y];
  }
  const buckets = Math.max(1, Math.floor((max - 2) / 2));
  const width = (n - 2) / buckets;
  const keep: number[] = [0];
  for (let b = 0; b < buckets; b++) {
    const start = 1 + Math.floor(b * width);
    const end = Math.min(n - 1, 1 + Math.floor((b + 1) * width));
    if (end <= start) {
      continue;
    }
    let lo = start;
    let hi = start;
    for (let i = start; i < end; i++) {
      if (y[i] < y[lo]) {
        lo = i;
      }
      if (y[i] > y[hi]) {
        hi = i;
      }
    }
    keep.push(Math.min(lo, hi));
    if (hi !== lo) {
      keep.push(Math.max(lo, hi));
    }
  }
  keep.push(n - 1);
  return [keep.map(i => x[i]), keep.map(i => y[i])];
}

/** The latest value of every series (what the panel's header shows). */
export function lastValues(series: Map<string, ISeries>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of series) {
    if (s.y.length) {
      out[name] = s.y[s.y.length - 1];
    }
  }
  return out;
}
