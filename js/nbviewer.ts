/**
 * The pure rules of the executed-notebook viewer (no JupyterLab runtime here, so they are unit-tested
 * in node): which paths are artifacts, the kernel preference that can never start or join a kernel,
 * and the tab label of an executed notebook.
 */

import type { ISessionContext } from '@jupyterlab/apputils';

import { DRIVE_NAME } from './drive';

/** The document widget factory of the viewer (`docmanager:open` with `factory` this name). */
export const VIEWER_FACTORY = 'mm-executed-notebook';
/** The layout restorer's namespace of the viewer's widget tracker. */
export const VIEWER_NAMESPACE = 'mm-executed-notebook';

/**
 * A kernel preference that never starts a kernel (`canStart: false` also empties the kernel picker),
 * never joins a running session on the same path (`shouldReuse: false`) and never auto-starts the
 * default kernel (`autoStartDefault: false`).
 */
export const NO_KERNEL: Readonly<ISessionContext.IKernelPreference> = Object.freeze({
  shouldStart: false,
  canStart: false,
  shouldReuse: false,
  autoStartDefault: false
});

/** `preference` with every way to a kernel switched off (name and language kept for display). */
export function withoutKernel(
  preference: ISessionContext.IKernelPreference | undefined | null
): ISessionContext.IKernelPreference {
  const { id: _id, ...rest } = preference ?? {};
  return { ...rest, ...NO_KERNEL };
}

/** Whether a kernel preference leaves any way to a kernel open (what `withoutKernel` closes). */
export function allowsKernel(preference: ISessionContext.IKernelPreference | undefined | null): boolean {
  return (
    !preference ||
    preference.canStart !== false ||
    preference.shouldStart !== false ||
    preference.shouldReuse !== false ||
    preference.autoStartDefault !== false ||
    preference.id !== undefined
  );
}

const pinned = new WeakSet<object>();

/** Switch off every way to a kernel on `session`, and switch it off again whenever it is changed. */
export function pinWithoutKernel(
  session: Pick<ISessionContext, 'kernelPreference' | 'kernelPreferenceChanged'>
): void {
  if (allowsKernel(session.kernelPreference)) {
    session.kernelPreference = withoutKernel(session.kernelPreference);
  }
  if (pinned.has(session)) {
    return;
  }
  pinned.add(session);
  session.kernelPreferenceChanged.connect((_, change) => {
    if (allowsKernel(change.newValue)) {
      session.kernelPreference = withoutKernel(change.newValue);
    }
  });
}

/** The drive path (`mm-artifacts:<path>`) of a path under the artifact root. */
export function artifactPath(path: string): string {
  return `${DRIVE_NAME}:${path.replace(/^\/+/, '')}`;
}

/** Whether a JupyterLab path is in the artifacts drive. */
export function isArtifactPath(path: string | null | undefined): boolean {
  return typeof path === 'string' && path.startsWith(`${DRIVE_NAME}:`);
}

/** The execution id of an executed notebook's path (`…/executions/<id>/<name>.ipynb`), else null. */
export function executionIdOf(path: string | null | undefined): string | null {
  if (!path) {
    return null;
  }
  const local = path.startsWith(`${DRIVE_NAME}:`) ? path.slice(DRIVE_NAME.length + 1) : path;
  const match = /(?:^|\/)executions\/([^/]+)\/[^/]+\.ipynb$/.exec(local);
  return match ? match[1] : null;
}

function basename(path: string): string {
  const local = path.includes(':') ? path.slice(path.indexOf(':') + 1) : path;
  const parts = local.split('/').filter(p => p.length > 0);
  return parts.length ? parts[parts.length - 1] : local;
}

/** What a viewer tab is labelled with (a tab label, never a path: the drive path is unchanged). */
export interface INotebookOwner {
  id: string;
  name?: string | null;
}

/**
 * The tab label of an executed notebook: `<execution name> · <execution id>` when the execution is
 * known, `<execution id> · <file name>` when only the path names it, else the file name.
 */
export function notebookLabel(path: string, owner?: INotebookOwner | null): string {
  const file = basename(path);
  const id = owner?.id || executionIdOf(path);
  if (!id) {
    return file;
  }
  const name = (owner?.name ?? '').replace(/\s+/g, ' ').trim();
  if (!name) {
    return `${id} · ${file}`;
  }
  return name.includes(id) ? name : `${name} · ${id}`;
}

/**
 * The file name of an editable copy of an executed notebook (in the server's root):
 * `<execution name> (<execution id>).ipynb`, ` 2`, ` 3`… before the extension for later copies
 * (`attempt` 0, 1, …); characters a path cannot hold in a name are replaced.
 */
export function copyName(path: string, owner?: INotebookOwner | null, attempt = 0): string {
  const file = basename(path).replace(/\.ipynb$/i, '');
  const id = owner?.id || executionIdOf(path);
  const name = (owner?.name ?? '').replace(/\s+/g, ' ').trim();
  let stem = id ? (name && !name.includes(id) ? `${name} (${id})` : name || `${id} ${file}`) : file;
  stem = stem.replace(/[/\\:*?"<>|]+/g, '-').replace(/^[.\s]+/, '').trim() || 'notebook';
  return attempt > 0 ? `${stem} ${attempt + 1}.ipynb` : `${stem}.ipynb`;
}
