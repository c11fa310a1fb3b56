/**
 * Launch-form logic (pure, unit tested): typed config fields, service settings, subset selections.
 * The server checks everything again; these checks only keep a bad value from being submitted.
 */

import type { IConfigField, ISelection, SelectionMode, ServiceSettings } from './types';

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

/** The text an input shows for a config value. */
export function configText(field: IConfigField, value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (field.type === 'json' || field.type === 'any') {
    return typeof value === 'string' && field.type === 'any' ? JSON.stringify(value) : JSON.stringify(value);
  }
  return String(value);
}

/** Parse an input's text as the field's type (like the adapter's `check_config` on the server). */
export function parseConfig(field: IConfigField, text: string | boolean): Parsed {
  if (field.type === 'boolean') {
    if (typeof text === 'boolean') {
      return { ok: true, value: text };
    }
    if (text === 'true' || text === 'false') {
      return { ok: true, value: text === 'true' };
    }
    return { ok: false, error: 'must be true or false' };
  }
  const raw = String(text).trim();
  if (field.type === 'integer') {
    if (!/^[-+]?\d+$/.test(raw)) {
      return { ok: false, error: 'must be an integer' };
    }
    const n = Number(raw);
    return Number.isSafeInteger(n) ? { ok: true, value: n } : { ok: false, error: 'integer out of range' };
  }
  if (field.type === 'number') {
    const n = raw === '' ? NaN : Number(raw);
    return isFinite(n) ? { ok: true, value: n } : { ok: false, error: 'must be a number' };
  }
  if (field.type === 'string') {
    return { ok: true, value: String(text) };
  }
  if (raw === '') {
    return { ok: true, value: null };
  }
  try {
    const value = JSON.parse(raw);
    if (field.type === 'json' && field.default !== null && typeof value !== typeof field.default) {
      return { ok: false, error: `must be JSON ${Array.isArray(field.default) ? 'list' : 'object'}` };
    }
    return { ok: true, value };
  } catch {
    if (field.type === 'any') {
      return { ok: true, value: raw };
    }
    return { ok: false, error: 'must be valid JSON' };
  }
}

/** A parsed number outside the field's inclusive bounds becomes an error naming them. */
export function withinBounds(field: IConfigField, parsed: Parsed): Parsed {
  if (!parsed.ok || typeof parsed.value !== 'number') {
    return parsed;
  }
  const low = field.low ?? null;
  const high = field.high ?? null;
  if ((low !== null && parsed.value < low) || (high !== null && parsed.value > high)) {
    return { ok: false, error: `must be from ${low ?? '-∞'} to ${high ?? '∞'}` };
  }
  return parsed;
}

/** Every field's parsed value and error; `values` holds only the valid ones. */
export function parseConfigForm(
  fields: IConfigField[],
  texts: Record<string, string | boolean>
): { values: Record<string, unknown>; errors: Record<string, string> } {
  const values: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const text = texts[field.name] ?? configText(field, field.default);
    const parsed = withinBounds(field, parseConfig(field, text));
    if (parsed.ok) {
      values[field.name] = parsed.value;
    } else {
      errors[field.name] = parsed.error;
    }
  }
  return { values, errors };
}

/** The keys whose value differs from `base` (what "Create & Train" would change). */
export function changedKeys(values: Record<string, unknown>, base: Record<string, unknown>): string[] {
  return Object.keys(values).filter(k => JSON.stringify(values[k]) !== JSON.stringify(base[k]));
}

export const SERVICE_FIELDS: (keyof ServiceSettings)[] = [
  'kernel_name',
  'concurrency',
  'execution_timeout',
  'drain_time',
  'on_reset',
  'max_attempts'
];

/** Service settings from their input texts, with an error per bad field. */
export function parseService(
  texts: Record<keyof ServiceSettings, string>,
  kernels: string[],
  onReset: string[]
): { values: Partial<ServiceSettings>; errors: Partial<Record<keyof ServiceSettings, string>> } {
  const values: Partial<ServiceSettings> = {};
  const errors: Partial<Record<keyof ServiceSettings, string>> = {};
  const positiveInt = (key: 'concurrency' | 'max_attempts') => {
    const raw = (texts[key] ?? '').trim();
    if (!/^\d+$/.test(raw) || Number(raw) < 1) {
      errors[key] = 'must be a whole number of at least 1';
    } else {
      values[key] = Number(raw);
    }
  };
  const seconds = (key: 'execution_timeout' | 'drain_time') => {
    const raw = (texts[key] ?? '').trim();
    const n = raw === '' ? NaN : Number(raw);
    if (!isFinite(n) || n <= 0) {
      errors[key] = 'must be a positive number of seconds';
    } else {
      values[key] = n;
    }
  };
  positiveInt('concurrency');
  positiveInt('max_attempts');
  seconds('execution_timeout');
  seconds('drain_time');
  if (!kernels.includes(texts.kernel_name)) {
    errors.kernel_name = texts.kernel_name
      ? `kernel ${texts.kernel_name} is not installed`
      : 'choose a kernel';
  } else {
    values.kernel_name = texts.kernel_name;
  }
  if (!onReset.includes(texts.on_reset)) {
    errors.on_reset = `must be one of ${onReset.join(', ')}`;
  } else {
    values.on_reset = texts.on_reset;
  }
  return { values, errors };
}

/** Service setting texts from an existing service, else the defaults for the kind. */
export function serviceTexts(
  defaults: Record<string, any>,
  kind: 'train' | 'evaluate',
  existing?: Partial<ServiceSettings> | null
): Record<keyof ServiceSettings, string> {
  const drain = defaults.drain_time && typeof defaults.drain_time === 'object' ? defaults.drain_time[kind] : defaults.drain_time;
  const base: Record<string, unknown> = { ...defaults, drain_time: drain, ...(existing ?? {}) };
  const out = {} as Record<keyof ServiceSettings, string>;
  for (const key of SERVICE_FIELDS) {
    out[key] = base[key] === undefined || base[key] === null ? '' : String(base[key]);
  }
  return out;
}

export const SELECTION_MODES: { mode: SelectionMode; label: string }[] = [
  { mode: 'tag', label: 'Tagged items' },
  { mode: 'filter', label: 'Saved filter' },
  { mode: 'dir', label: 'Folder' }
];

/** A selection's mode and value, for the picker's two inputs. */
export function splitSelection(sel: ISelection | null | undefined): { mode: SelectionMode; value: string } {
  if (!sel) {
    return { mode: 'tag', value: '' };
  }
  for (const mode of ['tag', 'filter', 'dir', 'query'] as SelectionMode[]) {
    if (sel[mode] !== undefined) {
      const v = sel[mode];
      return { mode, value: typeof v === 'string' ? v : JSON.stringify(v) };
    }
  }
  return { mode: 'tag', value: '' };
}

export function makeSelection(mode: SelectionMode, value: string): ISelection | null {
  if (mode === 'dir') {
    return { dir: value };
  }
  if (!value) {
    return null;
  }
  if (mode === 'query') {
    try {
      return { query: JSON.parse(value) };
    } catch {
      return null;
    }
  }
  return { [mode]: value };
}

/** The DQL filter a selection stands for when the server is not asked (what "Show filter" shows). */
export function selectionFilter(sel: ISelection | null): Record<string, unknown> | null {
  if (!sel) {
    return null;
  }
  if (sel.tag !== undefined) {
    return { tags: sel.tag };
  }
  if (sel.dir !== undefined) {
    return { dir: sel.dir };
  }
  if (sel.query !== undefined) {
    return sel.query;
  }
  return null;
}

export function parseLabels(text: string): string[] {
  return text
    .split(',')
    .map(s => s.trim())
    .filter(s => s.length > 0);
}

/** A fresh idempotency key for one submission of a form (kept across retries of that submission). */
export function newKey(): string {
  const rand = () => Math.random().toString(36).slice(2, 10);
  return `ui-${Date.now().toString(36)}-${rand()}${rand()}`;
}
