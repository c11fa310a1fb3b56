import { describe, expect, it } from 'vitest';

import {
  alignCurves,
  filterSlices,
  formatDelta,
  formatMetric,
  formatWithCI,
  pageLabel,
  shade,
  sliceField,
  sortSlices
} from '../evaluation';
import type { IEvalSlice } from '../types';

function slice(name: string, value: number | null, n: number, worse: string[] = []): IEvalSlice {
  return {
    name,
    field: sliceField(name),
    n,
    values: { 'mAP50-95': value },
    ci: { 'mAP50-95': value === null ? null : [value - 0.1, value + 0.1] },
    delta: { 'mAP50-95': value === null ? null : value - 0.5 },
    delta_ci: { 'mAP50-95': null },
    worse
  };
}

describe('evaluation view logic', () => {
  it('shows values with their intervals as 0.61 [0.55, 0.67]', () => {
    expect(formatWithCI(0.6123, [0.553, 0.6711])).toBe('0.61 [0.55, 0.67]');
    expect(formatWithCI(0.6123, null)).toBe('0.61');
    expect(formatWithCI(null, [0.1, 0.2])).toBe('–');
    expect(formatMetric(NaN)).toBe('–');
    expect(formatMetric(0.12345, 3)).toBe('0.123');
  });

  it('signs differences with a real minus and no sign on zero', () => {
    expect(formatDelta(-0.254)).toBe('−0.25');
    expect(formatDelta(0.14)).toBe('+0.14');
    expect(formatDelta(-0.001)).toBe('0.00');
    expect(formatDelta(null)).toBe('–');
  });

  it('reads the field of plain and crossed slice names', () => {
    expect(sliceField('metadata.lighting=dark')).toBe('metadata.lighting');
    expect(sliceField('dir=images/test')).toBe('dir');
    expect(sliceField('metadata.size=[12.0,30.5)')).toBe('metadata.size');
    expect(sliceField('metadata.lighting=dark&tag=test')).toBe('metadata.lighting*tag');
    expect(sliceField('odd')).toBe('odd');
  });

  it('sorts by metric, count and name with undefined values last both ways', () => {
    const rows = [slice('b=1', 0.3, 5), slice('a=1', null, 9), slice('c=1', 0.7, 2), slice('d=1', 0.3, 7)];
    const names = (key: any, descending: boolean) => sortSlices(rows, { key, descending }).map(r => r.name);
    expect(names('metric:mAP50-95', false)).toEqual(['b=1', 'd=1', 'c=1', 'a=1']);
    expect(names('metric:mAP50-95', true)).toEqual(['c=1', 'b=1', 'd=1', 'a=1']);
    expect(names('delta:mAP50-95', false)).toEqual(['b=1', 'd=1', 'c=1', 'a=1']);
    expect(names('n', true)).toEqual(['a=1', 'd=1', 'b=1', 'c=1']);
    expect(names('name', false)).toEqual(['a=1', 'b=1', 'c=1', 'd=1']);
    expect(rows.map(r => r.name)).toEqual(['b=1', 'a=1', 'c=1', 'd=1']); // not sorted in place
  });

  it('filters by slice field and by the flag', () => {
    const rows = [slice('tag=a', 0.1, 1, ['mAP50-95']), slice('dir=x', 0.2, 1), slice('tag=b', 0.9, 1)];
    expect(filterSlices(rows, 'tag').map(r => r.name)).toEqual(['tag=a', 'tag=b']);
    expect(filterSlices(rows, '', true).map(r => r.name)).toEqual(['tag=a']);
    expect(filterSlices(rows, 'dir', true)).toEqual([]);
    expect(filterSlices(rows, '')).toHaveLength(3);
  });

  it('aligns PR curves of different lengths on one recall axis', () => {
    const aligned = alignCurves({
      cat: { recall: [0, 0.5, 1], precision: [1, 0.8, 0.4] },
      dog: { recall: [0, 0.25, 0.5], precision: [1, 0.9, null] }
    });
    expect(aligned.names).toEqual(['cat', 'dog']);
    expect(aligned.x).toEqual([0, 0.25, 0.5, 1]);
    expect(aligned.ys).toEqual([
      [1, null, 0.8, 0.4],
      [1, 0.9, null, null]
    ]);
  });

  it('shades a cell by its share of the row and labels pages', () => {
    expect(shade(5, 10)).toBe(0.5);
    expect(shade(3, 0)).toBe(0);
    expect(pageLabel(0, 24, 2000)).toBe('1–24 of 2000');
    expect(pageLabel(1992, 8, 2000)).toBe('1993–2000 of 2000');
    expect(pageLabel(0, 0, 0)).toBe('0 items');
  });
});
