/** One event stream per JupyterLab window, shared by the sidebar's tabs (Lumino signals). */

import { Signal } from '@lumino/signaling';

import type { Api } from './api';
import { LiveStream } from './live';
import type { IExecution, IHealth } from './types';

export class LiveHub {
  /** A changed execution row (status, progress, ...). */
  readonly executionChanged = new Signal<this, IExecution>(this);
  /** Rows appeared/vanished in ways that cannot be patched: re-fetch. Also after (re)connecting. */
  readonly invalidated = new Signal<this, void>(this);
  /** Models or versions were added or removed (from the CLI, Python, another window): re-fetch them. */
  readonly catalogChanged = new Signal<this, void>(this);
  /** Service health by service name. */
  readonly servicesChanged = new Signal<this, Record<string, IHealth>>(this);
  private stream: LiveStream;

  constructor(api: Api) {
    this.stream = new LiveStream({
      url: () => api.streamUrl('stream'),
      handlers: {
        execution: (row: IExecution) => this.executionChanged.emit(row),
        invalidate: () => this.invalidated.emit(undefined),
        catalog: () => this.catalogChanged.emit(undefined),
        services: (health: Record<string, IHealth>) => this.servicesChanged.emit(health)
      },
      onOpen: () => this.invalidated.emit(undefined),
      poll: async () => this.invalidated.emit(undefined),
      pollMs: 3000
    });
  }

  get mode(): string {
    return this.stream.mode;
  }

  start(): void {
    this.stream.start();
  }

  dispose(): void {
    this.stream.dispose();
    Signal.clearData(this);
  }
}
