import { describe, expect, it } from 'vitest';

import {
  changedKeys,
  makeSelection,
  newKey,
  parseConfig,
  parseConfigForm,
  parseLabels,
  parseService,
  selectionFilter,
  serviceTexts,
  splitSelection
} from '../forms';
import type { IConfigField } from '../types';

const f = (name: string, type: IConfigField['type'], d: unknown): IConfigField => ({ name, type, default: d });

describe('parseConfigForm bounds', () => {
  it('refuses numbers outside the adapter bounds, naming them', () => {
    const epochs: IConfigField = { name: 'epochs', type: 'integer', default: 3, low: 1, high: 100 };
    expect(parseConfigForm([epochs], { epochs: '0' }).errors).toEqual({ epochs: 'must be from 1 to 100' });
    expect(parseConfigForm([epochs], { epochs: '100' }).values).toEqual({ epochs: 100 });
    const open: IConfigField = { name: 'lr', type: 'number', default: 0.1, low: 0, high: null };
    expect(parseConfigForm([open], { lr: '1e9' }).errors).toEqual({});
  });
});

describe('parseConfig', () => {
  it('checks types like the adapter does', () => {
    expect(parseConfig(f('epochs', 'integer', 3), '5')).toEqual({ ok: true, value: 5 });
    expect(parseConfig(f('epochs', 'integer', 3), '2.5')).toEqual({ ok: false, error: 'must be an integer' });
    expect(parseConfig(f('epochs', 'integer', 3), 'abc').ok).toBe(false);
    expect(parseConfig(f('lr', 'number', 0.1), '1e-3')).toEqual({ ok: true, value: 0.001 });
    expect(parseConfig(f('lr', 'number', 0.1), '').ok).toBe(false);
    expect(parseConfig(f('det', 'boolean', true), false)).toEqual({ ok: true, value: false });
    expect(parseConfig(f('det', 'boolean', true), 'yes').ok).toBe(false);
    expect(parseConfig(f('model', 'string', 'x.yaml'), 'y.yaml')).toEqual({ ok: true, value: 'y.yaml' });
    expect(parseConfig(f('sizes', 'json', [1]), '[1, 2]')).toEqual({ ok: true, value: [1, 2] });
    expect(parseConfig(f('sizes', 'json', [1]), '[1,').ok).toBe(false);
    expect(parseConfig(f('extra', 'any', null), 'text')).toEqual({ ok: true, value: 'text' });
    expect(parseConfig(f('extra', 'any', null), '')).toEqual({ ok: true, value: null });
  });
  it('collects values and errors of a whole form', () => {
    const fields = [f('epochs', 'integer', 3), f('lr', 'number', 0.1), f('deterministic', 'boolean', true)];
    const out = parseConfigForm(fields, { epochs: 'x', lr: '0.5' });
    expect(out.values).toEqual({ lr: 0.5, deterministic: true });
    expect(out.errors).toEqual({ epochs: 'must be an integer' });
    expect(changedKeys({ lr: 0.5, epochs: 3 }, { lr: 0.1, epochs: 3 })).toEqual(['lr']);
  });
});

describe('service settings', () => {
  const defaults = { kernel_name: 'python3', concurrency: 1, execution_timeout: 3600, on_reset: 'fail', max_attempts: 3, drain_time: { train: 300, evaluate: 600 } };
  it('start from the defaults of the kind, or the existing service', () => {
    expect(serviceTexts(defaults, 'train')).toEqual({
      kernel_name: 'python3', concurrency: '1', execution_timeout: '3600', drain_time: '300', on_reset: 'fail', max_attempts: '3'
    });
    expect(serviceTexts(defaults, 'evaluate').drain_time).toBe('600');
    expect(serviceTexts(defaults, 'train', { concurrency: 2 }).concurrency).toBe('2');
  });
  it('refuse bad values field by field', () => {
    const texts = serviceTexts(defaults, 'train');
    expect(parseService(texts, ['python3'], ['fail', 'rerun'])).toEqual({
      values: { kernel_name: 'python3', concurrency: 1, execution_timeout: 3600, drain_time: 300, on_reset: 'fail', max_attempts: 3 },
      errors: {}
    });
    const bad = parseService(
      { ...texts, concurrency: '0', max_attempts: '1.5', execution_timeout: '-1', drain_time: 'x', kernel_name: 'gpu', on_reset: 'retry' },
      ['python3'],
      ['fail', 'rerun']
    );
    expect(Object.keys(bad.errors).sort()).toEqual(['concurrency', 'drain_time', 'execution_timeout', 'kernel_name', 'max_attempts', 'on_reset']);
    expect(bad.errors.kernel_name).toBe('kernel gpu is not installed');
  });
});

describe('selections', () => {
  it('round-trip through the picker inputs', () => {
    expect(splitSelection({ tag: 'train' })).toEqual({ mode: 'tag', value: 'train' });
    expect(splitSelection({ filter: 'det.train' })).toEqual({ mode: 'filter', value: 'det.train' });
    expect(splitSelection({ query: { dir: 'a' } })).toEqual({ mode: 'query', value: '{"dir":"a"}' });
    expect(splitSelection(null)).toEqual({ mode: 'tag', value: '' });
    expect(makeSelection('tag', 'val')).toEqual({ tag: 'val' });
    expect(makeSelection('tag', '')).toBeNull();
    expect(makeSelection('dir', '')).toEqual({ dir: '' });
    expect(makeSelection('query', '{"tags": "x"}')).toEqual({ query: { tags: 'x' } });
    expect(makeSelection('query', '{')).toBeNull();
  });
  it('show the filter a selection stands for', () => {
    expect(selectionFilter({ tag: 'train' })).toEqual({ tags: 'train' });
    expect(selectionFilter({ dir: 'images/val' })).toEqual({ dir: 'images/val' });
    expect(selectionFilter({ filter: 'x' })).toBeNull();
  });
  it('parse labels and make fresh keys', () => {
    expect(parseLabels(' a, b ,, c')).toEqual(['a', 'b', 'c']);
    const k = newKey();
    expect(k.length).toBeGreaterThanOrEqual(8);
    expect(newKey()).not.toBe(k);
  });
});
