/** The Model Configuration and Service Settings steps of the launch forms. */

import * as React from 'react';

import { configText } from '../forms';
import type { IConfigField, ServiceSettings } from '../types';
import { Field } from './common';

export function ConfigFields(props: {
  fields: IConfigField[];
  texts: Record<string, string | boolean>;
  errors: Record<string, string>;
  onChange: (name: string, text: string | boolean) => void;
}): JSX.Element {
  if (!props.fields.length) {
    return <div className="mm-empty">This adapter has no configuration.</div>;
  }
  return (
    <div className="mm-config">
      {props.fields.map(f => {
        const text = props.texts[f.name] ?? configText(f, f.default);
        const hint = `${f.type}, default ${f.default === null ? 'none' : JSON.stringify(f.default)}`;
        return (
          <Field
            key={f.name}
            label={f.name}
            error={props.errors[f.name]}
            hint={hint}
            help={f.help}
            name={`config.${f.name}`}
          >
            {f.type === 'boolean' ? (
              <input
                type="checkbox"
                aria-label={f.name}
                checked={text === true || text === 'true'}
                onChange={e => props.onChange(f.name, e.target.checked)}
              />
            ) : (
              <input
                className="jp-mod-styled"
                aria-label={f.name}
                inputMode={f.type === 'integer' || f.type === 'number' ? 'decimal' : undefined}
                value={String(text)}
                onChange={e => props.onChange(f.name, e.target.value)}
              />
            )}
          </Field>
        );
      })}
    </div>
  );
}

export const TRACKING_URL_HINT =
  'with a dask:// runner: workers that share nothing with this machine report here (a Jupyter server or mm serve); ' +
  'empty: workers open this store';

export function ServiceFields(props: {
  texts: Record<keyof ServiceSettings, string>;
  errors: Partial<Record<keyof ServiceSettings, string>>;
  kernels: string[];
  kernelLabels?: Record<string, string>;
  onReset: string[];
  onChange: (key: keyof ServiceSettings, text: string) => void;
}): JSX.Element {
  const { texts, errors } = props;
  const num = (key: keyof ServiceSettings, label: string, hint: string) => (
    <Field label={label} error={errors[key]} hint={hint} name={`service.${key}`}>
      <input
        className="jp-mod-styled"
        aria-label={label}
        inputMode="decimal"
        value={texts[key]}
        onChange={e => props.onChange(key, e.target.value)}
      />
    </Field>
  );
  const text = (key: 'runner' | 'tracking_url', label: string, hint: string, placeholder: string) => (
    <Field label={label} error={errors[key]} hint={hint} name={`service.${key}`}>
      <input
        className="jp-mod-styled"
        aria-label={label}
        type="text"
        inputMode="url"
        spellCheck={false}
        autoComplete="off"
        placeholder={placeholder}
        value={texts[key]}
        onChange={e => props.onChange(key, e.target.value)}
      />
    </Field>
  );
  return (
    <div className="mm-service-form">
      <Field label="Kernel (machine type)" error={errors.kernel_name} name="service.kernel_name">
        <select
          className="jp-mod-styled"
          aria-label="Kernel"
          value={texts.kernel_name}
          onChange={e => props.onChange('kernel_name', e.target.value)}
        >
          {props.kernels.includes(texts.kernel_name) ? null : <option value={texts.kernel_name}>{texts.kernel_name || 'choose…'}</option>}
          {props.kernels.map(k => (
            <option key={k} value={k}>
              {props.kernelLabels?.[k] ?? k}
            </option>
          ))}
        </select>
      </Field>
      {text('runner', 'Runner', 'local, or dask://host:port (a Dask scheduler)', 'local')}
      {text('tracking_url', 'Tracking URL', TRACKING_URL_HINT, 'http://host:port')}
      {num('concurrency', 'Concurrency', 'executions at a time')}
      {num('execution_timeout', 'Execution timeout (s)', 'a run longer than this fails (retried while attempts allow)')}
      {num('drain_time', 'Drain time (s)', 'grace period for running executions when the service stops')}
      <Field label="On reset" error={errors.on_reset} hint="when the kernel or runner dies" name="service.on_reset">
        <select
          className="jp-mod-styled"
          aria-label="On reset"
          value={texts.on_reset}
          onChange={e => props.onChange('on_reset', e.target.value)}
        >
          {props.onReset.map(o => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      </Field>
      {num('max_attempts', 'Max attempts', 'retries of a failing execution, the first included')}
    </div>
  );
}

export function Steps(props: {
  steps: { title: string; errors: number }[];
  current: number;
  onSelect: (index: number) => void;
}): JSX.Element {
  return (
    <ol className="mm-steps">
      {props.steps.map((s, i) => (
        <li key={s.title}>
          <button
            type="button"
            className={`mm-step${i === props.current ? ' mm-step-active' : ''}${s.errors ? ' mm-step-invalid' : ''}`}
            data-step={i}
            onClick={() => props.onSelect(i)}
          >
            <span className="mm-step-number">{i + 1}</span> {s.title}
            {s.errors ? <span className="mm-step-errors">{s.errors}</span> : null}
          </button>
        </li>
      ))}
    </ol>
  );
}
