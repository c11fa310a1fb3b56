import { describe, expect, it } from 'vitest';

import { applyUpdate, defaultQuery, listQueryString, matches } from '../query';
import type { IExecution } from '../types';

function exe(over: Partial<IExecution>): IExecution {
  return {
    id: 'e-aaaaaaaaaa', name: 'train det-v1', kind: 'train', status: 'pending', progress: 0, attempts: 0,
    created_at: 100, queued_at: 100, started_at: null, ended_at: null, duration: null,
    service: 'mgmt-train-m-1111111111', model_id: 'm-1111111111', model_name: 'det', snapshot_id: 's-1',
    error: null, rerun_of: null, ...over
  };
}

describe('listQueryString', () => {
  it('sends only set filters and a non-default sort', () => {
    expect(listQueryString(defaultQuery('train'))).toBe('?kind=train&limit=25&offset=0');
    const q = { ...defaultQuery('evaluate'), status: 'failed' as const, search: ' det x ', sort: 'duration' as const, order: 'asc' as const };
    expect(listQueryString(q)).toBe('?kind=evaluate&status=failed&search=det%20x&limit=25&offset=0&sort=duration&order=asc');
  });
});

describe('matches', () => {
  const q = defaultQuery('train');
  it('filters by kind and status', () => {
    expect(matches(exe({}), q)).toBe(true);
    expect(matches(exe({ kind: 'evaluate' }), q)).toBe(false);
    expect(matches(exe({ status: 'success' }), { ...q, status: 'failed' })).toBe(false);
  });
  it("follows the core's one search rule: names by part, ids by their beginning, any case", () => {
    const row = exe({ snapshot_name: 'det-v1', name: 'train det-v1' });
    expect(matches(row, { ...q, search: 'DE' })).toBe(true); // model name
    expect(matches(row, { ...q, search: 'train det' })).toBe(true); // execution name
    expect(matches(exe({ name: 'train x', model_name: 'y', snapshot_name: 'v-7' }), { ...q, search: 'V-7' })).toBe(true);
    expect(matches(row, { ...q, search: 'e-aaa' })).toBe(true); // execution id prefix
    expect(matches(row, { ...q, search: 'm-111' })).toBe(true); // model id prefix
    expect(matches(row, { ...q, search: 's-1' })).toBe(true); // version id prefix
    expect(matches(row, { ...q, search: '11111' })).toBe(false); // inside an id is not its beginning
    expect(matches(row, { ...q, search: 'aaa' })).toBe(false);
    expect(matches(row, { ...q, search: 'zzz' })).toBe(false);
  });
  it("matches a version's tag whole, in any case, never a part of it", () => {
    const row = exe({ snapshot_tags: ['best', 'prod candidate'] });
    expect(matches(row, { ...q, search: 'BEST' })).toBe(true);
    expect(matches(row, { ...q, search: ' prod candidate ' })).toBe(true);
    expect(matches(row, { ...q, search: 'bes' })).toBe(false);
    expect(matches(exe({}), { ...q, search: 'best' })).toBe(false); // a row without tags
  });
  it('filters by service', () => {
    const row = exe({});
    expect(matches(row, { ...q, service: 'mgmt-train-m-1111111111' })).toBe(true);
    expect(matches(row, { ...q, service: 'mgmt-train-m-2222222222' })).toBe(false);
    expect(listQueryString({ ...q, service: 'mgmt-train-m-1' })).toBe('?kind=train&service=mgmt-train-m-1&limit=25&offset=0');
  });
});

describe('applyUpdate', () => {
  const q = defaultQuery('train');
  it('replaces a shown row in place', () => {
    const rows = [exe({ id: 'e-1' }), exe({ id: 'e-2' })];
    const out = applyUpdate(rows, exe({ id: 'e-2', status: 'in-progress', progress: 40 }), q);
    expect(out.refetch).toBe(false);
    expect(out.rows.map(r => [r.id, r.status, r.progress])).toEqual([['e-1', 'pending', 0], ['e-2', 'in-progress', 40]]);
  });
  it('puts a new matching row on top of the first page, keeping the page size', () => {
    const rows = Array.from({ length: 25 }, (_, i) => exe({ id: `e-${i}`, created_at: 100 - i }));
    const out = applyUpdate(rows, exe({ id: 'e-new', created_at: 200 }), q);
    expect(out.rows[0].id).toBe('e-new');
    expect(out.rows).toHaveLength(25);
    expect(out.refetch).toBe(false);
  });
  it('adds a new run of a version tagged with the searched word, drops one of another service', () => {
    const tagged = applyUpdate([], exe({ id: 'e-new', snapshot_tags: ['champion'] }), { ...q, search: 'Champion' });
    expect(tagged.rows.map(r => r.id)).toEqual(['e-new']);
    const shown = [exe({ id: 'e-1' })];
    const other = applyUpdate(shown, exe({ id: 'e-1', service: 'mgmt-train-m-2' }), { ...q, service: 'mgmt-train-m-1111111111' });
    expect(other.rows).toEqual([]);
  });
  it('ignores rows of another tab, refetches when it cannot patch', () => {
    expect(applyUpdate([], exe({ kind: 'evaluate' }), q)).toEqual({ rows: [], refetch: false });
    expect(applyUpdate([], exe({}), { ...q, offset: 25 }).refetch).toBe(true);
    const shown = [exe({ id: 'e-1', status: 'pending' })];
    const out = applyUpdate(shown, exe({ id: 'e-1', status: 'success' }), { ...q, status: 'pending' });
    expect(out.rows).toEqual([]);
    expect(out.refetch).toBe(true);
  });
});
