/**
 * Live updates from the server's event stream (server-sent events), with a polling fallback when
 * the stream cannot be opened (a proxy that buffers, a browser without EventSource).
 */

import type { IDisposable } from '@lumino/disposable';

export interface IEventSourceLike {
  onopen: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  readyState: number;
  addEventListener(type: string, listener: (ev: { data: string }) => void): void;
  close(): void;
}

export type Handlers = Record<string, (data: any) => void>;

export interface ILiveOptions {
  /** The stream's URL (called again on every (re)connection made by this class). */
  url: () => string;
  handlers: Handlers;
  /** Called when the stream opens (also after a re-connection): re-fetch what may have been missed. */
  onOpen?: () => void;
  /** One polling round, used instead of the stream after `maxErrors` failed connections. */
  poll?: () => Promise<void>;
  pollMs?: number;
  maxErrors?: number;
  factory?: (url: string) => IEventSourceLike;
  timers?: { set: (fn: () => void, ms: number) => any; clear: (id: any) => void };
}

export const CLOSED = 2;

export class LiveStream implements IDisposable {
  private source: IEventSourceLike | null = null;
  private errors = 0;
  private timer: any = null;
  private _mode: 'idle' | 'stream' | 'poll' = 'idle';
  private _disposed = false;

  constructor(private options: ILiveOptions) {}

  get mode(): 'idle' | 'stream' | 'poll' {
    return this._mode;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  start(): void {
    if (this._disposed || this._mode !== 'idle') {
      return;
    }
    const factory = this.options.factory ?? (typeof EventSource === 'undefined' ? null : (u: string) => new EventSource(u));
    if (!factory) {
      this.startPolling();
      return;
    }
    this._mode = 'stream';
    const source = factory(this.options.url());
    this.source = source;
    source.onopen = () => {
      this.errors = 0;
      this.options.onOpen?.();
    };
    source.onerror = () => {
      this.errors += 1;
      const limit = this.options.maxErrors ?? 3;
      if (this.errors >= limit || source.readyState === CLOSED) {
        source.close();
        this.source = null;
        this._mode = 'idle';
        if (this.errors >= limit) {
          this.startPolling();
        } else {
          // closed for good (an error status): try a fresh connection in a second
          const timers = this.options.timers ?? { set: setTimeout, clear: clearTimeout };
          this.timer = timers.set(() => this.start(), 1000);
        }
      }
    };
    for (const [name, handler] of Object.entries(this.options.handlers)) {
      source.addEventListener(name, ev => {
        let data: unknown;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        handler(data);
      });
    }
  }

  private startPolling(): void {
    if (!this.options.poll) {
      this._mode = 'idle';
      return;
    }
    this._mode = 'poll';
    const timers = this.options.timers ?? { set: setTimeout, clear: clearTimeout };
    const round = async () => {
      if (this._disposed) {
        return;
      }
      try {
        await this.options.poll!();
      } catch {
        // the next round tries again
      }
      if (!this._disposed) {
        this.timer = timers.set(round, this.options.pollMs ?? 3000);
      }
    };
    this.timer = timers.set(round, 0);
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.source?.close();
    this.source = null;
    if (this.timer !== null) {
      (this.options.timers ?? { clear: clearTimeout }).clear(this.timer);
    }
    this._mode = 'idle';
  }
}

/**
 * A trigger that calls `fire` once, `delay` ms after the first of a burst of calls (live events
 * come in bursts: one refetch per burst), and `cancel` for the component's clean-up.
 */
export function debounced(fire: () => void, delay: number): { trigger: () => void; cancel: () => void } {
  let pending: ReturnType<typeof setTimeout> | null = null;
  return {
    trigger: () => {
      if (pending === null) {
        pending = setTimeout(() => {
          pending = null;
          fire();
        }, delay);
      }
    },
    cancel: () => {
      if (pending !== null) {
        clearTimeout(pending);
        pending = null;
      }
    }
  };
}
