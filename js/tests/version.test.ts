import { describe, expect, it } from 'vitest';

import type { IService } from '../types';
import { changedSettings, formatBytes, NOTES_LIMIT, notesCounter, settingTexts, tagError } from '../version';

const service: IService = {
  name: 'mgmt-train-m-1', model_id: 'm-1', kind: 'train', kernel_name: 'python3', concurrency: 1, max_instances: 1,
  queue_size: 1000, execution_timeout: 3600, drain_time: 300, on_reset: 'fail', max_attempts: 3, runner: 'local',
  gpus: 0, paused: 0, health: { level: 'ok', reason: '' }
};

describe('tagError', () => {
  it('checks a tag as the server does: 1-50 characters, no control characters, not there already', () => {
    expect(tagError('best')).toBe('');
    expect(tagError('  ')).toMatch(/empty/);
    expect(tagError('x'.repeat(50))).toBe('');
    expect(tagError('x'.repeat(51))).toMatch(/at most 50/);
    expect(tagError('a\tb')).toMatch(/control/);
    expect(tagError('BEST', ['best'])).toMatch(/already/);
  });
});

describe('notesCounter', () => {
  it('counts what the server keeps and says when it is over the limit', () => {
    expect(notesCounter('ab\r\ncd')).toEqual({ label: '5 / 10,000', over: false, length: 5 });
    expect(notesCounter('x'.repeat(NOTES_LIMIT)).over).toBe(false);
    expect(notesCounter('x'.repeat(NOTES_LIMIT + 1))).toMatchObject({ label: '10,001 / 10,000', over: true });
  });
});

describe('formatBytes', () => {
  it('is short and exact enough', () => {
    expect(formatBytes(15)).toBe('15 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(52_428_800)).toBe('50.0 MiB');
    expect(formatBytes(null)).toBe('-');
  });
});

describe('changedSettings', () => {
  it('sends only what changed, typed; text in a number is an error', () => {
    const texts = settingTexts(service);
    expect(texts.drain_time).toBe('300');
    expect(changedSettings(service, texts)).toEqual({ values: {}, errors: {} });
    const out = changedSettings(service, { ...texts, concurrency: '2', drain_time: '60.5', on_reset: 'rerun' });
    expect(out).toEqual({ values: { concurrency: 2, drain_time: 60.5, on_reset: 'rerun' }, errors: {} });
    const bad = changedSettings(service, { ...texts, concurrency: 'two', execution_timeout: 'soon' });
    expect(Object.keys(bad.errors).sort()).toEqual(['concurrency', 'execution_timeout']);
  });
});
