import { describe, expect, it } from 'vitest';

import type { IPredictedBox } from '../types';
import {
  boxesSummary,
  boxPixels,
  boxPlace,
  deployBlocker,
  deploymentHealthText,
  formatScore,
  isLive,
  labelAbove,
  MAX_UPLOAD_BYTES,
  uploadProblem,
  visibleBoxes
} from '../tryit';

describe('boxPlace', () => {
  it('places a pixel box in percent of its image, so it scales with the displayed size', () => {
    expect(boxPlace([10, 20, 50, 60], 200, 100)).toEqual({ left: 5, top: 20, width: 20, height: 40 });
    expect(boxPlace([0, 0, 200, 100], 200, 100)).toEqual({ left: 0, top: 0, width: 100, height: 100 });
  });
  it('takes corners in either order and clamps the box to the image', () => {
    expect(boxPlace([50, 60, 10, 20], 200, 100)).toEqual(boxPlace([10, 20, 50, 60], 200, 100));
    expect(boxPlace([-20, -5, 250, 130], 200, 100)).toEqual({ left: 0, top: 0, width: 100, height: 100 });
    expect(boxPlace([300, 10, 400, 20], 200, 100)).toEqual({ left: 100, top: 10, width: 0, height: 10 });
  });
  it('gives nothing without an image size or with a corner that is not a number', () => {
    expect(boxPlace([1, 2, 3, 4], 0, 100)).toBeNull();
    expect(boxPlace([1, 2, 3, NaN], 10, 10)).toBeNull();
    expect(boxPlace([1, 2, 3], 10, 10)).toBeNull();
  });
});

describe('boxPixels', () => {
  it('scales a box of the original image to the image as shown', () => {
    // a 640x480 image shown 320 px wide: everything halves
    expect(boxPixels([64, 48, 320, 240], 640, 480, 320, 240)).toEqual({ left: 32, top: 24, width: 128, height: 96 });
    // a 16 px image shown 300 px wide
    const p = boxPixels([4, 4, 12, 8], 16, 16, 300, 300)!;
    expect([p.left, p.top, p.width, p.height]).toEqual([75, 75, 150, 75]);
  });
});

describe('labelAbove', () => {
  it('puts the label above a box with room, inside one at the top edge', () => {
    expect(labelAbove({ left: 0, top: 30, width: 10, height: 10 })).toBe(true);
    expect(labelAbove({ left: 0, top: 2, width: 10, height: 10 })).toBe(false);
  });
});

describe('visibleBoxes', () => {
  const boxes: IPredictedBox[] = [
    { label: 'a', score: 0.3, box: [0, 0, 1, 1] },
    { label: 'b', score: 0.9, box: [0, 0, 1, 1] },
    { label: 'c', score: 0.1, box: [0, 0, 1, 1] }
  ];
  it('keeps the boxes at or over the threshold, best first', () => {
    expect(visibleBoxes(boxes, 0).map(b => b.label)).toEqual(['b', 'a', 'c']);
    expect(visibleBoxes(boxes, 0.3).map(b => b.label)).toEqual(['b', 'a']);
    expect(visibleBoxes(boxes, 0.95)).toEqual([]);
    expect(boxes.map(b => b.label)).toEqual(['a', 'b', 'c']); // not sorted in place
  });
  it('says how many are shown', () => {
    expect(boxesSummary(3, 3, 0.25)).toBe('3 boxes');
    expect(boxesSummary(1, 1, 0.25)).toBe('1 box');
    expect(boxesSummary(2, 3, 0.5)).toBe('2 of 3 boxes at score ≥ 0.50');
  });
});

describe('formatScore', () => {
  it('shows two decimals, a dash for none', () => {
    expect(formatScore(0.9349)).toBe('0.93');
    expect(formatScore(1)).toBe('1.00');
    expect(formatScore(null)).toBe('–');
    expect(formatScore(NaN)).toBe('–');
  });
});

describe('uploadProblem', () => {
  it('refuses an empty or too large file before sending it; the server checks the rest', () => {
    expect(uploadProblem({ name: 'a.png', size: 10 })).toBe('');
    expect(uploadProblem({ name: 'a.png', size: 0 })).toBe('a.png is empty, not an image');
    expect(uploadProblem({ name: 'big.tif', size: MAX_UPLOAD_BYTES + 1 })).toMatch(/^big\.tif is 33,554,433 bytes/);
  });
});

describe('deployments', () => {
  it('a version can be deployed once it has weights and nothing holds it', () => {
    expect(deployBlocker(false, [])).toMatch(/no weights/);
    expect(deployBlocker(true, [])).toBe('');
    expect(deployBlocker(true, [{ id: 'dp-1', status: 'stopped' }, { id: 'dp-0', status: 'failed' }])).toBe('');
    expect(deployBlocker(true, [{ id: 'dp-2', status: 'running' }])).toBe('already deployed as dp-2 (running)');
    expect(isLive({ status: 'stopping' })).toBe(true);
    expect(isLive({ status: 'stopped' })).toBe(false);
  });
  it('health reads like a service: level and reason; none once stopped', () => {
    expect(deploymentHealthText({ status: 'running', health: { level: 'ok', code: 'ok', reason: '' }, error: null })).toEqual({
      level: 'ok',
      text: 'ok'
    });
    expect(
      deploymentHealthText({
        status: 'running',
        health: { level: 'error', code: 'no-heartbeat', reason: 'no heartbeat for 20 s: its process is gone' },
        error: null
      })
    ).toEqual({ level: 'error', text: 'error: no heartbeat for 20 s: its process is gone' });
    expect(deploymentHealthText({ status: 'stopped', health: null, error: null })).toEqual({ level: 'none', text: 'stopped' });
  });
});
