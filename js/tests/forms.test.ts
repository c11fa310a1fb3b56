import { describe, expect, it } from 'vitest';

import {
  changedKeys,
  checkCombination,
  checkRunner,
  checkTrackingUrl,
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
  const defaults = {
    kernel_name: 'python3', concurrency: 1, execution_timeout: 3600, on_reset: 'fail', max_attempts: 3,
    drain_time: { train: 300, evaluate: 600 }, runner: 'local', tracking_url: null
  };
  it('start from the defaults of the kind, or the existing service', () => {
    expect(serviceTexts(defaults, 'train')).toEqual({
      kernel_name: 'python3', concurrency: '1', execution_timeout: '3600', drain_time: '300', on_reset: 'fail', max_attempts: '3',
      runner: 'local', tracking_url: ''
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
      { ...texts, concurrency: '0', max_attempts: '1.5', execution_timeout: '-1', drain_time: 'x', kernel_name: 'gpu', on_reset: 'retry', runner: 'dask:/x', tracking_url: 'ftp://h' },
      ['python3'],
      ['fail', 'rerun']
    );
    expect(Object.keys(bad.errors).sort()).toEqual([
      'concurrency', 'drain_time', 'execution_timeout', 'kernel_name', 'max_attempts', 'on_reset', 'runner', 'tracking_url'
    ]);
    expect(bad.errors.kernel_name).toBe('kernel gpu is not installed');
    expect(bad.errors.runner).toBe("runner must be 'local' or SCHEME://… of a registered runner (registered: dask, local), got 'dask:/x'");
    expect(bad.errors.tracking_url).toBe("tracking URL must be http://host:port or https://host:port, got 'ftp://h'");
  });
  it('send runner and tracking URL only when changed from the service', () => {
    const texts = serviceTexts(defaults, 'train');
    const plain = parseService(texts, ['python3'], ['fail', 'rerun'], texts);
    expect(plain.errors).toEqual({});
    expect('runner' in plain.values || 'tracking_url' in plain.values).toBe(false);
    const remote = parseService(
      { ...texts, runner: ' dask://10.0.0.5:8786 ', tracking_url: 'http://lab.example:8888/' },
      ['python3'], ['fail', 'rerun'], texts
    );
    expect(remote.errors).toEqual({});
    expect(remote.values.runner).toBe('dask://10.0.0.5:8786');
    expect(remote.values.tracking_url).toBe('http://lab.example:8888/');
    // a Dask service with a tracking URL: unchanged (even written differently) sends neither; "" clears
    const current = serviceTexts(defaults, 'train', { runner: 'dask://s:8786', tracking_url: 'http://lab:8888' });
    expect(current.tracking_url).toBe('http://lab:8888');
    const same = parseService({ ...current, tracking_url: 'http://lab:8888/mm-jupyter/runner/v1' }, ['python3'], ['fail', 'rerun'], current);
    expect(same.values).not.toHaveProperty('runner');
    expect(same.values).not.toHaveProperty('tracking_url');
    const cleared = parseService({ ...current, tracking_url: '' }, ['python3'], ['fail', 'rerun'], current);
    expect(cleared.values.tracking_url).toBe('');
    // a tracking URL with the local runner: the core's combination message, on the tracking URL
    const local = parseService({ ...current, runner: 'local' }, ['python3'], ['fail', 'rerun'], current);
    expect(local.errors).toEqual({
      tracking_url: 'service setting tracking_url needs a dask://host:port runner (a local run writes to the store directly)'
    });
  });
  it('check runners and tracking URLs with the core messages', () => {
    expect(checkRunner('local')).toEqual({ ok: true, value: 'local' });
    expect(checkRunner('dask://127.0.0.1:8786')).toEqual({ ok: true, value: 'dask://127.0.0.1:8786' });
    expect(checkRunner('dask://[::1]:8786').ok).toBe(true);
    expect(checkRunner('k8s://cluster', ['dask', 'k8s', 'local']).ok).toBe(true); // a package's runner checks the rest
    for (const bad of ['dask://host', 'dask://host:0', 'dask://host:70000', 'dask://host:1/x', 'dask://u@h:1', 'dask://:1']) {
      expect(checkRunner(bad), bad).toEqual({ ok: false, error: `runner must be 'local' or 'dask://host:port', got '${bad}'` });
    }
    for (const bad of ['remote', 'k8s://cluster', 'dask:/x']) {
      expect(checkRunner(bad), bad).toEqual({
        ok: false, error: `runner must be 'local' or SCHEME://… of a registered runner (registered: dask, local), got '${bad}'`
      });
    }
    expect(checkRunner('')).toEqual({ ok: false, error: "the local runner's address is 'local', got ''" });
    expect(checkRunner('local://x')).toEqual({ ok: false, error: "the local runner's address is 'local', got 'local://x'" });
    expect(checkTrackingUrl('')).toEqual({ ok: true, value: '' });
    expect(checkTrackingUrl(' https://Lab:443/base/ ')).toEqual({ ok: true, value: 'https://Lab:443/base' });
    expect(checkTrackingUrl('http://h:8888/mm-jupyter/runner/v1')).toEqual({ ok: true, value: 'http://h:8888' });
    expect(checkTrackingUrl('http://h:port')).toEqual({ ok: false, error: "tracking URL has a bad port: 'http://h:port'" });
    expect(checkTrackingUrl('http://h:99999')).toEqual({ ok: false, error: "tracking URL has a bad port: 'http://h:99999'" });
    expect(checkTrackingUrl('http://u:p@h:1')).toEqual({ ok: false, error: "tracking URL takes no query, fragment or credentials: 'http://u:p@h:1'" });
    expect(checkTrackingUrl('http://h:1/?a=1').ok).toBe(false);
    expect(checkTrackingUrl('lab:8888')).toEqual({ ok: false, error: "tracking URL must be http://host:port or https://host:port, got 'lab:8888'" });
    expect(checkTrackingUrl('   ')).toEqual({
      ok: false, error: "tracking URL must be http://host:port (a Jupyter server or `mm serve`), got '   '"
    });
    expect(checkCombination('dask://s:1', 'http://h:1')).toBe('');
    expect(checkCombination('local', '')).toBe('');
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
