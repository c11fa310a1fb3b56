/** The evaluation view's pure logic: number and interval text, slice fields, sorting and filtering of
 * the per-slice rows, PR curves aligned for one chart, heatmap shades, page labels. */

import type { IEvalSlice, IInterval } from './types';

/** A metric value as the view shows it (two decimals; '–' when undefined). */
export function formatMetric(value: number | null | undefined, digits = 2): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** `0.61 [0.55, 0.67]`, or the value alone without an interval. */
export function formatWithCI(value: number | null | undefined, ci: IInterval | undefined, digits = 2): string {
  const base = formatMetric(value, digits);
  return ci && base !== '–' ? `${base} [${formatMetric(ci[0], digits)}, ${formatMetric(ci[1], digits)}]` : base;
}

/** A signed difference: `+0.14`, `−0.25` (a real minus sign), `0.00`. */
export function formatDelta(value: number | null | undefined, digits = 2): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return '–';
  }
  const text = Math.abs(value).toFixed(digits);
  if (Number(text) === 0) {
    return text;
  }
  return `${value < 0 ? '−' : '+'}${text}`;
}

/** The field of a slice name, as `slice_by` spells it: `metadata.lighting=dark` → `metadata.lighting`;
 * crossed `metadata.lighting=dark&tag=test` → `metadata.lighting*tag`. */
export function sliceField(name: string): string {
  const fields = name
    .split('&')
    .filter(part => part.includes('='))
    .map(part => part.slice(0, part.indexOf('=')));
  return fields.length ? fields.join('*') : name;
}

export type SliceSortKey = 'name' | 'n' | `metric:${string}` | `delta:${string}`;

export interface ISliceSort {
  key: SliceSortKey;
  descending: boolean;
}

function sortValue(row: IEvalSlice, key: SliceSortKey): number | string | null {
  if (key === 'name') {
    return row.name;
  }
  if (key === 'n') {
    return row.n;
  }
  const metric = key.slice(key.indexOf(':') + 1);
  const value = key.startsWith('delta:') ? row.delta[metric] : row.values[metric];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Rows sorted by `sort` (undefined values last whatever the direction; ties by name). */
export function sortSlices(rows: IEvalSlice[], sort: ISliceSort): IEvalSlice[] {
  const sign = sort.descending ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = sortValue(a, sort.key);
    const y = sortValue(b, sort.key);
    if (x === null || y === null) {
      return x === y ? a.name.localeCompare(b.name) : x === null ? 1 : -1;
    }
    const order = typeof x === 'string' || typeof y === 'string' ? String(x).localeCompare(String(y)) : x - y;
    return order ? sign * order : a.name.localeCompare(b.name);
  });
}

/** Rows of one slice field (`''`: every field), optionally only those flagged worse. */
export function filterSlices(rows: IEvalSlice[], field: string, flaggedOnly = false): IEvalSlice[] {
  return rows.filter(r => (!field || r.field === field) && (!flaggedOnly || r.worse.length > 0));
}

/** Several PR curves on one shared, increasing recall axis (uPlot's aligned data): each curve's
 * precision at its own recall points, null elsewhere (the chart spans the gaps). */
export function alignCurves(curves: Record<string, { recall: (number | null)[]; precision: (number | null)[] }>): {
  names: string[];
  x: number[];
  ys: (number | null)[][];
} {
  const names = Object.keys(curves);
  const xs = new Set<number>();
  const points = names.map(name => {
    const { recall, precision } = curves[name];
    const map = new Map<number, number>();
    recall.forEach((r, i) => {
      const p = precision[i];
      if (typeof r === 'number' && Number.isFinite(r) && typeof p === 'number' && Number.isFinite(p)) {
        map.set(r, p);
        xs.add(r);
      }
    });
    return map;
  });
  const x = [...xs].sort((a, b) => a - b);
  return { names, x, ys: points.map(map => x.map(r => (map.has(r) ? map.get(r)! : null))) };
}

/** A heatmap cell's shade (0..1): its count over its row's total (a row is one true label). */
export function shade(count: number, rowTotal: number): number {
  return rowTotal > 0 ? Math.max(0, Math.min(1, count / rowTotal)) : 0;
}

/** `1–24 of 2000` (`0 items` for none). */
export function pageLabel(offset: number, shown: number, total: number): string {
  if (!total) {
    return '0 items';
  }
  return `${offset + 1}–${offset + shown} of ${total}`;
}
