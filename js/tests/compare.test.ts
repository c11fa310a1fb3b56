import { describe, expect, it } from 'vitest';

import {
  alignCurve,
  canSelectMore,
  columnTitle,
  compareButton,
  compareTitle,
  configText,
  nextSort,
  sortDeltas,
  toggleSelected
} from '../compare';
import type { ICompareColumn, ICompareSliceRow } from '../types';

function row(name: string, a: number | null, b: number | null, n = 10): ICompareSliceRow {
  const delta = a === null || b === null ? null : b - a;
  return {
    name,
    field: name.split('=')[0],
    n: [n, n],
    metrics: {
      accuracy: { values: [a, b], ci: [null, null], delta, delta_ci: null, significant: false }
    }
  };
}

describe('compare selection', () => {
  it('toggles ids in order and never holds more than five', () => {
    let s: string[] = [];
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      s = toggleSelected(s, id);
    }
    expect(s).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(canSelectMore(s)).toBe(false);
    expect(toggleSelected(s, 'f')).toEqual(s);
    s = toggleSelected(s, 'b');
    expect(s).toEqual(['a', 'c', 'd', 'e']);
    expect(canSelectMore(s)).toBe(true);
    expect(toggleSelected(s, 'b')).toEqual(['a', 'c', 'd', 'e', 'b']);
  });

  it('enables Compare (n) for 2 to 5 and says why not otherwise', () => {
    expect(compareButton(0)).toMatchObject({ label: 'Compare (0)', enabled: false });
    expect(compareButton(1).title).toContain('Select 2 to 5');
    expect(compareButton(2)).toMatchObject({ label: 'Compare (2)', enabled: true });
    expect(compareButton(5).enabled).toBe(true);
    expect(compareButton(6)).toMatchObject({ enabled: false });
    expect(compareButton(6).title).toContain('At most 5');
  });
});

describe('compare panel logic', () => {
  it('aligns lines of different lengths on one increasing x axis, null where a line has no point', () => {
    const aligned = alignCurve({
      x: 'epoch',
      series: [
        { column: 0, points: [[1, 1.0], [2, 0.5]] },
        { column: 2, points: [[3, 0.3], [1, 0.9], [2, 0.6]] }
      ]
    });
    expect(aligned.x).toEqual([1, 2, 3]);
    expect(aligned.ys).toEqual([
      [1.0, 0.5, null],
      [0.9, 0.6, 0.3]
    ]);
    expect(aligned.columns).toEqual([0, 2]);
    expect(alignCurve({ x: 'step', series: [{ column: 0, points: [[1, NaN]] }] }).x).toEqual([]);
  });

  it('shows config values: absent apart from none, objects with sorted keys', () => {
    expect(configText(null, true)).toBe('absent');
    expect(configText(null, false)).toBe('–');
    expect(configText(0.01, false)).toBe('0.01');
    expect(configText({ tag: 'train', a: [1, { z: 1, b: 2 }] }, false)).toBe('{"a":[1,{"b":2,"z":1}],"tag":"train"}');
    expect(configText(false, false)).toBe('false');
  });

  it('sorts slice deltas by any column, undefined values last, ties by name', () => {
    const rows = [row('g=b', 0.5, 0.7), row('g=a', 0.6, 0.5), row('g=c', null, 0.4), row('g=d', 0.5, 0.7)];
    const names = (sorted: ICompareSliceRow[]) => sorted.map(r => r.name);
    expect(names(sortDeltas(rows, 'accuracy', { key: 'delta', descending: true }))).toEqual(['g=b', 'g=d', 'g=a', 'g=c']);
    expect(names(sortDeltas(rows, 'accuracy', { key: 'delta', descending: false }))).toEqual(['g=a', 'g=b', 'g=d', 'g=c']);
    expect(names(sortDeltas(rows, 'accuracy', { key: 'first', descending: false }))).toEqual(['g=b', 'g=d', 'g=a', 'g=c']);
    expect(names(sortDeltas(rows, 'accuracy', { key: 'name', descending: true }))).toEqual(['g=d', 'g=c', 'g=b', 'g=a']);
    expect(names(sortDeltas(rows, 'missing', { key: 'delta', descending: false }))).toEqual(['g=a', 'g=b', 'g=c', 'g=d']);
    expect(rows.map(r => r.name)).toEqual(['g=b', 'g=a', 'g=c', 'g=d']);
  });

  it('flips the direction on the same header, starts a delta with the largest change', () => {
    expect(nextSort({ key: 'name', descending: false }, 'name')).toEqual({ key: 'name', descending: true });
    expect(nextSort({ key: 'name', descending: false }, 'delta')).toEqual({ key: 'delta', descending: true });
    expect(nextSort({ key: 'delta', descending: true }, 'n')).toEqual({ key: 'n', descending: false });
  });

  it('titles columns and the panel', () => {
    const col: ICompareColumn = {
      ref: 's-1', kind: 'version', label: 'v1', execution_kind: null, execution_id: null, model_id: 'm-1',
      model_name: 'toy', adapter: null, version_id: 's-1', version_name: 'v1', train_execution_id: null,
      evaluate_execution_id: null, status: 'trained'
    };
    expect(columnTitle(col)).toBe('v1 (version of toy)');
    expect(columnTitle({ ...col, kind: 'execution', execution_kind: 'evaluate' })).toBe('v1 (evaluate execution)');
    expect(compareTitle(['a', 'b'])).toBe('Compare a · b');
    expect(compareTitle(['a'.repeat(50), 'b']).length).toBe(40);
  });
});
