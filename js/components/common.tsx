/** Small shared pieces: progress bar, status badge, service health icon, labelled fields. */

import * as React from 'react';

import { clampProgress, statusClass } from '../format';
import { failIcon, warningIcon } from '../icons';
import type { IHealth, Status } from '../types';

export function ProgressBar(props: { value: number; status?: Status }): JSX.Element {
  const value = clampProgress(props.value);
  return (
    <div
      className={`mm-progress mm-progress-${props.status ?? 'none'}`}
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(value)}
      title={`${value.toFixed(0)}%`}
    >
      <div className="mm-progress-fill" style={{ width: `${value}%` }} />
      <span className="mm-progress-text">{value.toFixed(0)}%</span>
    </div>
  );
}

export function StatusBadge(props: { status: Status | string }): JSX.Element {
  return <span className={statusClass(props.status as Status)}>{props.status}</span>;
}

/** An error (cannot start) or warning (paused) icon for a service; nothing when it is fine. */
export function HealthIcon(props: { health?: IHealth | null; onClick?: () => void }): JSX.Element | null {
  const h = props.health;
  if (!h || h.level === 'ok') {
    return null;
  }
  const icon = h.level === 'error' ? failIcon : warningIcon;
  return (
    <button
      className={`mm-health mm-health-${h.level}`}
      title={`${h.reason} — show its executions`}
      aria-label={`service ${h.level}: ${h.reason}`}
      onClick={e => {
        e.stopPropagation();
        props.onClick?.();
      }}
    >
      <icon.react tag="span" elementSize="small" />
    </button>
  );
}

export function Field(props: {
  label: string;
  error?: string;
  hint?: string;
  help?: string;
  children: React.ReactNode;
  name?: string;
}): JSX.Element {
  return (
    <label className={`mm-field${props.error ? ' mm-field-invalid' : ''}`} data-field={props.name}>
      <span className="mm-field-label" title={props.help || undefined}>
        {props.label}
      </span>
      <span className="mm-field-input">{props.children}</span>
      {props.error ? (
        <span className="mm-field-error" role="alert">
          {props.error}
        </span>
      ) : props.hint ? (
        <span className="mm-field-hint">{props.hint}</span>
      ) : null}
      {props.help ? <span className="mm-field-help">{props.help}</span> : null}
    </label>
  );
}

/** `value` once it has not changed for `ms` milliseconds. */
export function useDebounced<T>(value: T, ms: number): T {
  const [current, setCurrent] = React.useState(value);
  React.useEffect(() => {
    const t = setTimeout(() => setCurrent(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return current;
}

/** Re-render every `ms` while `active`. */
export function useTicker(active: boolean, ms = 1000): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    if (!active) {
      return;
    }
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [active, ms]);
  return now;
}
