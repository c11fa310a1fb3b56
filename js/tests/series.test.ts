import { describe, expect, it } from 'vitest';

import { appendPoints, lastValues, thin, type ISeries } from '../series';
import type { IMetricPoint } from '../types';

let nextId = 1;
const pt = (name: string, value: number, step: number | null, epoch: number | null = null): IMetricPoint => ({
  id: nextId++, name, value, step, epoch, ts: 0
});

describe('appendPoints', () => {
  it('groups by name, uses step (else epoch, else order) as x, reports changed names', () => {
    const s = new Map<string, ISeries>();
    const changed = appendPoints(s, [pt('loss', 1, 1), pt('acc', 0.5, null, 1), pt('loss', 0.5, 2), pt('x', 3, null)]);
    expect([...changed].sort()).toEqual(['acc', 'loss', 'x']);
    expect(s.get('loss')).toMatchObject({ x: [1, 2], y: [1, 0.5] });
    expect(s.get('acc')).toMatchObject({ x: [1], y: [0.5] });
    expect(s.get('x')).toMatchObject({ x: [0], y: [3] });
    appendPoints(s, [pt('loss', 0.25, 3), pt('loss', Infinity, 4)]);
    expect(s.get('loss')!.y).toEqual([1, 0.5, 0.25]);
    expect(lastValues(s)).toEqual({ loss: 0.25, acc: 0.5, x: 3 });
  });
  it('labels x as epoch while every point is per epoch, else step', () => {
    const s = new Map<string, ISeries>();
    appendPoints(s, [pt('mAP50', 0.1, 1, 1), pt('mAP50', 0.2, 2, 2), pt('acc', 0.5, null, 1), pt('train/loss', 3, 37, 1)]);
    expect(s.get('mAP50')!.xLabel).toBe('epoch');
    expect(s.get('acc')!.xLabel).toBe('epoch');
    expect(s.get('train/loss')!.xLabel).toBe('step');
    appendPoints(s, [pt('mAP50', 0.3, 300, 3)]);
    expect(s.get('mAP50')!.xLabel).toBe('step');
  });

  it('keeps x sorted when points arrive out of order', () => {
    const s = new Map<string, ISeries>();
    appendPoints(s, [pt('m', 1, 5), pt('m', 2, 3), pt('m', 3, 4)]);
    expect(s.get('m')).toMatchObject({ x: [3, 4, 5], y: [2, 3, 1], sorted: true });
  });
});

describe('thin', () => {
  it('keeps short series whole', () => {
    expect(thin([1, 2], [3, 4], 10)).toEqual([[1, 2], [3, 4]]);
  });
  it('keeps the ends and every extreme within the budget', () => {
    const n = 100_000;
    const x = Array.from({ length: n }, (_, i) => i);
    const y = x.map(i => Math.sin(i / 100));
    y[51_234] = 9;
    y[77_000] = -9;
    const [tx, ty] = thin(x, y, 500);
    expect(tx.length).toBeLessThanOrEqual(500);
    expect(tx[0]).toBe(0);
    expect(tx[tx.length - 1]).toBe(n - 1);
    expect(ty).toContain(9);
    expect(ty).toContain(-9);
    expect(tx.every((v, i) => i === 0 || v > tx[i - 1])).toBe(true);
  });
});

describe('attempts', () => {
  it("replaces a failed attempt's points with the retry's and drops late ones", () => {
    const series = new Map();
    appendPoints(series, [
      { id: 1, name: 'loss', step: 1, epoch: 1, value: 1, ts: 0, attempt: 1 },
      { id: 2, name: 'loss', step: 2, epoch: 2, value: 0.5, ts: 0, attempt: 1 }
    ]);
    const changed = appendPoints(series, [{ id: 3, name: 'loss', step: 1, epoch: 1, value: 0.9, ts: 0, attempt: 2 }]);
    expect(changed.has('loss')).toBe(true);
    expect(series.get('loss').y).toEqual([0.9]);
    appendPoints(series, [{ id: 4, name: 'loss', step: 3, epoch: 3, value: 0.1, ts: 0, attempt: 1 }]);
    expect(series.get('loss').y).toEqual([0.9]);
  });
});

