/**
 * A read-only JupyterLab drive over mm-jupyter's artifact root (`mm-artifacts:<path>`), so an
 * executed notebook opens in JupyterLab wherever `MM_HOME` lives (by default the hidden
 * `~/.mm_jupyter`, usually outside the server's root directory). Saving is refused, "Save As" too
 * (JupyterLab saves a copy into the same drive); the executed-notebook viewer's "Copy to edit"
 * (viewer.ts) writes an editable copy into the server's root.
 */

import type { Contents, ServerConnection } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';

import type { Api } from './api';

export const DRIVE_NAME = 'mm-artifacts';

const READ_ONLY =
  'mm-jupyter artifacts are read-only: "Copy to edit" in the executed notebook\'s toolbar makes an editable copy';

export function encodePath(path: string): string {
  return path
    .split('/')
    .filter(p => p.length > 0)
    .map(encodeURIComponent)
    .join('/');
}

export class ArtifactsDrive implements Contents.IDrive {
  readonly name = DRIVE_NAME;
  readonly serverSettings: ServerConnection.ISettings;
  readonly fileChanged = new Signal<this, Contents.IChangedArgs>(this);
  private _disposed = false;

  constructor(private api: Api) {
    this.serverSettings = api.settings;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    this._disposed = true;
    Signal.clearData(this);
  }

  get(localPath: string, options?: Contents.IFetchOptions): Promise<Contents.IModel> {
    const content = options?.content === false ? '?content=0' : '';
    return this.api.request<Contents.IModel>(`artifacts/${encodePath(localPath)}${content}`);
  }

  async getDownloadUrl(localPath: string): Promise<string> {
    return this.api.url(`artifacts/${encodePath(localPath)}`);
  }

  newUntitled(): Promise<Contents.IModel> {
    return Promise.reject(new Error(READ_ONLY));
  }
  delete(): Promise<void> {
    return Promise.reject(new Error(READ_ONLY));
  }
  rename(): Promise<Contents.IModel> {
    return Promise.reject(new Error(READ_ONLY));
  }
  save(): Promise<Contents.IModel> {
    return Promise.reject(new Error(READ_ONLY));
  }
  copy(): Promise<Contents.IModel> {
    return Promise.reject(new Error(READ_ONLY));
  }
  createCheckpoint(): Promise<Contents.ICheckpointModel> {
    return Promise.reject(new Error(READ_ONLY));
  }
  async listCheckpoints(): Promise<Contents.ICheckpointModel[]> {
    return [];
  }
  restoreCheckpoint(): Promise<void> {
    return Promise.reject(new Error(READ_ONLY));
  }
  deleteCheckpoint(): Promise<void> {
    return Promise.reject(new Error(READ_ONLY));
  }
}
