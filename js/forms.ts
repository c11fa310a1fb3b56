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
  'max_attempts',
  'runner',
  'tracking_url'
];

/** A text as Python's `repr` writes it (the core's messages quote values that way). */
export function pyRepr(text: string): string {
  if (text.includes("'") && !text.includes('"')) {
    return `"${text.replace(/\\/g, '\\\\')}"`;
  }
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

interface ISplitUrl {
  scheme: string;
  netloc: string;
  path: string;
  query: string;
  fragment: string;
  credentials: boolean;
  hostname: string;
  /** null: none given; NaN: not a port (Python's `urlsplit(...).port` raises). */
  port: number | null;
}

/** The parts of a URL as Python's `urllib.parse.urlsplit` sees them (what the core checks). */
export function splitUrl(text: string): ISplitUrl {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):([\s\S]*)$/.exec(text);
  const scheme = m ? m[1].toLowerCase() : '';
  let rest = m ? m[2] : text;
  let netloc = '';
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    netloc = end < 0 ? rest.slice(2) : rest.slice(2, 2 + end);
    rest = end < 0 ? '' : rest.slice(2 + end);
  }
  const hash = rest.indexOf('#');
  const fragment = hash < 0 ? '' : rest.slice(hash + 1);
  rest = hash < 0 ? rest : rest.slice(0, hash);
  const q = rest.indexOf('?');
  const query = q < 0 ? '' : rest.slice(q + 1);
  const path = q < 0 ? rest : rest.slice(0, q);
  const at = netloc.lastIndexOf('@');
  const hostport = at < 0 ? netloc : netloc.slice(at + 1);
  let hostname: string;
  let portText: string | null;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    hostname = close < 0 ? '' : hostport.slice(1, close);
    const after = close < 0 ? '' : hostport.slice(close + 1);
    portText = after.startsWith(':') ? after.slice(1) : null;
  } else {
    const colon = hostport.indexOf(':');
    hostname = colon < 0 ? hostport : hostport.slice(0, colon);
    portText = colon < 0 ? null : hostport.slice(colon + 1);
  }
  let port: number | null = null;
  if (portText !== null && portText !== '') {
    port = /^[0-9]+$/.test(portText) && Number(portText) <= 65535 ? Number(portText) : NaN;
  }
  return { scheme, netloc, path, query, fragment, credentials: at >= 0, hostname: hostname.toLowerCase(), port };
}

/** The runner schemes every mm-jupyter registers (the server's `meta.runners` lists any a package adds). */
export const BUILTIN_RUNNERS = ['dask', 'local'];

/**
 * A service's runner setting checked like the core (`registry.runner_class(value).check_address`):
 * `local`, `dask://host:port`, or an address of another registered scheme (its runner checks the rest).
 */
export function checkRunner(text: string, registered: string[] = BUILTIN_RUNNERS): Parsed {
  const scheme = runnerScheme(text);
  if (!registered.includes(scheme)) {
    return {
      ok: false,
      error: `runner must be 'local' or SCHEME://… of a registered runner (registered: ${[...registered].sort().join(', ')}), got ${pyRepr(text)}`
    };
  }
  if (scheme === 'local') {
    return text === 'local' ? { ok: true, value: text } : { ok: false, error: `the local runner's address is 'local', got ${pyRepr(text)}` };
  }
  if (scheme !== 'dask') {
    return { ok: true, value: text };
  }
  const u = splitUrl(text);
  const ok =
    text.startsWith('dask://') &&
    text.length <= 300 &&
    !!u.hostname &&
    !!u.port &&
    !u.path &&
    !u.query &&
    !u.fragment &&
    !u.credentials &&
    !/\s/.test(text);
  return ok ? { ok: true, value: text } : { ok: false, error: `runner must be 'local' or 'dask://host:port', got ${pyRepr(text)}` };
}

export const TRACKING_API_PATH = '/mm-jupyter/runner/v1';

/** A tracking URL checked and normalized like the core (`tracking_url.check_tracking_url`); "" clears it. */
export function checkTrackingUrl(raw: string): Parsed {
  if (raw === '') {
    return { ok: true, value: '' };
  }
  if (!raw.trim()) {
    return { ok: false, error: `tracking URL must be http://host:port (a Jupyter server or \`mm serve\`), got ${pyRepr(raw)}` };
  }
  let text = raw.trim().replace(/\/+$/, '');
  const u = splitUrl(text);
  if ((u.scheme !== 'http' && u.scheme !== 'https') || !u.hostname) {
    return { ok: false, error: `tracking URL must be http://host:port or https://host:port, got ${pyRepr(raw)}` };
  }
  if (u.port !== null && isNaN(u.port)) {
    return { ok: false, error: `tracking URL has a bad port: ${pyRepr(raw)}` };
  }
  if (u.query || u.fragment || u.credentials) {
    return { ok: false, error: `tracking URL takes no query, fragment or credentials: ${pyRepr(raw)}` };
  }
  if (u.path.endsWith(TRACKING_API_PATH)) {
    text = text.slice(0, -TRACKING_API_PATH.length);
  }
  return { ok: true, value: text };
}

/** The scheme of a runner setting, as the core's `registry.runner_scheme`. */
export function runnerScheme(address: string | null | undefined): string {
  if (!address || address === 'local') {
    return 'local';
  }
  const i = address.indexOf('://');
  return i < 0 ? address : address.slice(0, i);
}

/** The core's `services.check_combination` for the settings the forms show: a tracking URL needs a Dask runner. */
export function checkCombination(runner: string, trackingUrl: string): string {
  if (trackingUrl && runnerScheme(runner) === 'local') {
    return 'service setting tracking_url needs a dask://host:port runner (a local run writes to the store directly)';
  }
  return '';
}

/**
 * Service settings from their input texts, with an error per bad field. `runner` and `tracking_url`
 * are in `values` only when they differ from `current` (the texts the form started from: the service's
 * settings), so a plain submit changes neither.
 */
export function parseService(
  texts: Record<keyof ServiceSettings, string>,
  kernels: string[],
  onReset: string[],
  current?: Partial<Record<keyof ServiceSettings, string>> | null,
  runners: string[] = BUILTIN_RUNNERS
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
  const runner = checkRunner((texts.runner ?? '').trim(), runners);
  const tracking = checkTrackingUrl(texts.tracking_url ?? '');
  if (!runner.ok) {
    errors.runner = runner.error;
  }
  if (!tracking.ok) {
    errors.tracking_url = tracking.error;
  } else if (runner.ok) {
    const combination = checkCombination(String(runner.value), String(tracking.value));
    if (combination) {
      errors.tracking_url = combination;
    }
  }
  const was = (key: 'runner' | 'tracking_url', check: (t: string) => Parsed, fallback: string) => {
    const parsed = check((current?.[key] ?? fallback).trim());
    return parsed.ok ? String(parsed.value) : null;
  };
  if (runner.ok && runner.value !== was('runner', t => checkRunner(t, runners), 'local')) {
    values.runner = String(runner.value);
  }
  if (tracking.ok && tracking.value !== was('tracking_url', checkTrackingUrl, '')) {
    values.tracking_url = (texts.tracking_url ?? '').trim(); // as typed: the core normalizes it the same way
  }
  return { values, errors };
}

/** Service setting texts from an existing service, else the defaults for the kind. */
export function serviceTexts(
  defaults: Record<string, any>,
  kind: 'train' | 'evaluate',
  existing?: Partial<Record<keyof ServiceSettings, unknown>> | null
): Record<keyof ServiceSettings, string> {
  const drain = defaults.drain_time && typeof defaults.drain_time === 'object' ? defaults.drain_time[kind] : defaults.drain_time;
  const base: Record<string, unknown> = { ...defaults, drain_time: drain, ...(existing ?? {}) };
  const out = {} as Record<keyof ServiceSettings, string>;
  for (const key of SERVICE_FIELDS) {
    out[key] = base[key] === undefined || base[key] === null ? '' : String(base[key]);
  }
  out.runner = out.runner || 'local'; // a service row without one runs locally (the core's runner_scheme)
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
