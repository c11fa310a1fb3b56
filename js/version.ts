/** The version page's and services panel's pure logic (unit tested): notes and tag limits as the
 * server checks them, sizes, and the service settings a person may edit. */

import type { IService } from './types';

/** At most this many characters of notes are kept (the server refuses more, saying so). */
export const NOTES_LIMIT = 10_000;
export const TAG_LIMIT = 50;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** What is wrong with a tag before it is sent ('' when nothing): 1-50 characters, no control characters. */
export function tagError(text: string, existing: string[] = []): string {
  const tag = text.trim();
  if (!tag) {
    return 'a tag must not be empty';
  }
  if (tag.length > TAG_LIMIT) {
    return `a tag is at most ${TAG_LIMIT} characters (this one is ${tag.length})`;
  }
  if (CONTROL.test(tag)) {
    return 'a tag cannot hold control characters';
  }
  if (existing.some(t => t.toLowerCase() === tag.toLowerCase())) {
    return `the version is tagged ${tag} already`;
  }
  return '';
}

/** `1,234 / 10,000`, and whether the server would refuse it (line breaks counted as the server does). */
export function notesCounter(text: string): { label: string; over: boolean; length: number } {
  const length = text.replace(/\r\n/g, '\n').length;
  return { label: `${length.toLocaleString('en')} / ${NOTES_LIMIT.toLocaleString('en')}`, over: length > NOTES_LIMIT, length };
}

/** `512 B`, `1.5 KiB`, `12.3 MiB`, `1.02 GiB`. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !isFinite(n) || n < 0) {
    return '-';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) {
    return `${value} B`;
  }
  return `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)} ${units[unit]}`;
}

export type EditableKey =
  | 'kernel_name'
  | 'runner'
  | 'concurrency'
  | 'max_instances'
  | 'queue_size'
  | 'execution_timeout'
  | 'drain_time'
  | 'on_reset'
  | 'max_attempts'
  | 'gpus';

/** The settings the services panel edits, each with its label, kind and a one-line help. */
export const EDITABLE: { key: EditableKey; label: string; kind: 'int' | 'seconds' | 'text' | 'kernel' | 'on_reset'; help: string }[] = [
  { key: 'kernel_name', label: 'Kernel', kind: 'kernel', help: 'the Jupyter kernel executions run on' },
  { key: 'runner', label: 'Runner', kind: 'text', help: 'local, or dask://host:port' },
  { key: 'concurrency', label: 'Max concurrency', kind: 'int', help: 'executions at once per instance' },
  { key: 'max_instances', label: 'Instances', kind: 'int', help: 'slots = concurrency × instances' },
  { key: 'queue_size', label: 'Queue size', kind: 'int', help: 'pending executions at most' },
  { key: 'execution_timeout', label: 'Timeout (s)', kind: 'seconds', help: 'an attempt running longer is failed' },
  { key: 'drain_time', label: 'Drain time (s)', kind: 'seconds', help: 'how long Stop lets running executions finish' },
  { key: 'on_reset', label: 'On reset', kind: 'on_reset', help: 'when a kernel or runner dies: fail, or queue again' },
  { key: 'max_attempts', label: 'Max attempts', kind: 'int', help: 'attempts at most with on reset = rerun' },
  { key: 'gpus', label: 'GPUs', kind: 'int', help: 'GPUs per execution (Dask runners only)' }
];

/** The edit form's texts for a service. */
export function settingTexts(service: IService): Record<EditableKey, string> {
  const out = {} as Record<EditableKey, string>;
  for (const { key } of EDITABLE) {
    const value = (service as any)[key];
    out[key] = value === undefined || value === null ? '' : String(value);
  }
  return out;
}

/**
 * The settings that changed, typed; an error per field whose text is not of its kind. Bounds and
 * kernels are the server's to check (its one-line message is shown): this only keeps text out of a
 * number.
 */
export function changedSettings(
  service: IService,
  texts: Record<EditableKey, string>
): { values: Record<string, unknown>; errors: Partial<Record<EditableKey, string>> } {
  const values: Record<string, unknown> = {};
  const errors: Partial<Record<EditableKey, string>> = {};
  const before = settingTexts(service);
  for (const { key, kind } of EDITABLE) {
    const raw = (texts[key] ?? '').trim();
    if (raw === before[key]) {
      continue;
    }
    if (kind === 'int') {
      if (!/^\d+$/.test(raw)) {
        errors[key] = 'must be a whole number';
        continue;
      }
      values[key] = Number(raw);
    } else if (kind === 'seconds') {
      const n = raw === '' ? NaN : Number(raw);
      if (!isFinite(n)) {
        errors[key] = 'must be a number of seconds';
        continue;
      }
      values[key] = n;
    } else {
      values[key] = raw;
    }
  }
  return { values, errors };
}
