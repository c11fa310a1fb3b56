/** The Compare panel's pure logic: the selection in the sidebar's tabs (2–5 rows), the Compare button,
 * a metric's lines on one shared x axis (uPlot's aligned data), config values as text, and sorting
 * of the slice-delta rows. Which value is best, what differs and the deltas' intervals come from the
 * server (`queries/compare.py`, the one rule for every face). */

import type { ICompareColumn, ICompareCurve, ICompareDelta, ICompareSliceRow } from './types';

export const MIN_COMPARE = 2;
export const MAX_COMPARE = 5;

/** `selected` with `id` removed when it is there, else added at the end (nothing past the fifth). */
export function toggleSelected(selected: string[], id: string): string[] {
  if (selected.includes(id)) {
    return selected.filter(s => s !== id);
  }
  return selected.length >= MAX_COMPARE ? selected : [...selected, id];
}

/** Whether a row that is not selected can still be (fewer than five are). */
export function canSelectMore(selected: string[]): boolean {
  return selected.length < MAX_COMPARE;
}

/** The Compare button: its label, whether it can be pressed, and why not. */
export function compareButton(count: number): { label: string; enabled: boolean; title: string } {
  const enabled = count >= MIN_COMPARE && count <= MAX_COMPARE;
  const title = enabled
    ? `Compare the ${count} selected side by side`
    : count < MIN_COMPARE
      ? `Select ${MIN_COMPARE} to ${MAX_COMPARE} rows to compare (${count} selected)`
      : `At most ${MAX_COMPARE} can be compared (${count} selected)`;
  return { label: `Compare (${count})`, enabled, title };
}

/** The lines of one metric on one increasing x axis: each column's value at its own x, null
 * elsewhere (the chart spans the gaps); `columns[i]` is the column of `ys[i]`. */
export function alignCurve(curve: ICompareCurve): { x: number[]; ys: (number | null)[][]; columns: number[] } {
  const xs = new Set<number>();
  const maps = curve.series.map(s => {
    const map = new Map<number, number>();
    for (const [x, y] of s.points) {
      if (Number.isFinite(x) && Number.isFinite(y)) {
        map.set(x, y);
        xs.add(x);
      }
    }
    return map;
  });
  const x = [...xs].sort((a, b) => a - b);
  return {
    x,
    ys: maps.map(map => x.map(v => (map.has(v) ? map.get(v)! : null))),
    columns: curve.series.map(s => s.column)
  };
}

/** A config value as the table shows it: `absent` for a key the column lacks, `–` for none, JSON for
 * lists and objects (keys sorted, so equal values read the same). */
export function configText(value: unknown, absent: boolean): string {
  if (absent) {
    return 'absent';
  }
  if (value === null || value === undefined) {
    return '–';
  }
  if (typeof value === 'object') {
    return JSON.stringify(sortKeys(value));
  }
  return String(value);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(sortKeys);
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map(k => [k, sortKeys((value as Record<string, unknown>)[k])])
    );
  }
  return value;
}

/** A column's header: its label, and what it is (`version` or `train`/`evaluate` execution). */
export function columnTitle(column: ICompareColumn): string {
  const what = column.kind === 'version' ? `version of ${column.model_name}` : `${column.execution_kind} execution`;
  return `${column.label} (${what})`;
}

export type DeltaSortKey = 'name' | 'n' | 'first' | 'second' | 'delta';

export interface IDeltaSort {
  key: DeltaSortKey;
  descending: boolean;
}

function deltaSortValue(row: ICompareSliceRow, metric: string, key: DeltaSortKey): number | string | null {
  if (key === 'name') {
    return row.name;
  }
  if (key === 'n') {
    return row.n[0];
  }
  const d: ICompareDelta | undefined = row.metrics[metric];
  const value = !d ? null : key === 'delta' ? d.delta : d.values[key === 'first' ? 0 : 1];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Slice rows sorted by `sort` on `metric` (undefined values last whatever the direction; ties by name). */
export function sortDeltas(rows: ICompareSliceRow[], metric: string, sort: IDeltaSort): ICompareSliceRow[] {
  const sign = sort.descending ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = deltaSortValue(a, metric, sort.key);
    const y = deltaSortValue(b, metric, sort.key);
    if (x === null || y === null) {
      return x === y ? a.name.localeCompare(b.name) : x === null ? 1 : -1;
    }
    const order = typeof x === 'string' || typeof y === 'string' ? String(x).localeCompare(String(y)) : x - y;
    return order ? sign * order : a.name.localeCompare(b.name);
  });
}

/** The next sort after a click on `key`: the same key flips its direction; another starts ascending
 * (descending for a delta: the largest change first). */
export function nextSort(current: IDeltaSort, key: DeltaSortKey): IDeltaSort {
  if (current.key === key) {
    return { key, descending: !current.descending };
  }
  return { key, descending: key === 'delta' };
}

/** The panel's title: the compared labels, shortened. */
export function compareTitle(labels: string[], max = 40): string {
  const text = `Compare ${labels.join(' · ')}`;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
