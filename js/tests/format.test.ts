import { describe, expect, it } from 'vitest';

import {
  clampProgress,
  formatDuration,
  formatShortTime,
  formatTime,
  formatValue,
  isFinished,
  liveDuration
} from '../format';
import type { IExecution } from '../types';

describe('format', () => {
  it('formats durations like the CLI', () => {
    expect(formatDuration(84.9)).toBe('0:01:24');
    expect(formatDuration(3600 * 2 + 5)).toBe('2:00:05');
    expect(formatDuration(null)).toBe('-');
    expect(formatDuration(-1)).toBe('-');
    expect(formatDuration(NaN)).toBe('-');
  });
  it('formats local times', () => {
    const ts = new Date(2026, 10, 25, 20, 3, 9).getTime() / 1000;
    expect(formatTime(ts)).toBe('2026-11-25 20:03:09');
    expect(formatTime(null)).toBe('-');
    const at = new Date(2026, 10, 25, 20, 3, 9).getTime();
    expect(formatShortTime(at / 1000, at + 3600_000)).toBe('20:03:09');
    expect(formatShortTime(at / 1000, new Date(2026, 11, 2).getTime())).toBe('Nov 25 20:03');
    expect(formatShortTime(at / 1000, new Date(2027, 0, 2).getTime())).toBe('2026-11-25');
    expect(formatShortTime(null)).toBe('-');
  });
  it('grows a running duration with the time since it was fetched', () => {
    const row = { status: 'in-progress', duration: 10 } as IExecution;
    expect(liveDuration(row, 1000, 4000)).toBe(13);
    expect(liveDuration({ ...row, status: 'success' }, 1000, 4000)).toBe(10);
    expect(liveDuration({ ...row, duration: null }, 1000, 4000)).toBeNull();
  });
  it('clamps progress and knows finished statuses', () => {
    expect(clampProgress(140)).toBe(100);
    expect(clampProgress(-3)).toBe(0);
    expect(clampProgress(null)).toBe(0);
    expect(isFinished('terminated')).toBe(true);
    expect(isFinished('rerun')).toBe(false);
    expect(formatValue(0.123456)).toBe('0.1235');
    expect(formatValue(3)).toBe('3');
  });
});
