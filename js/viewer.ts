/**
 * The executed-notebook viewer: a document widget factory (`mm-executed-notebook`) that renders a run's
 * notebook from the artifacts drive with JupyterLab's own notebook rendering, but without a session.
 *
 * - The factory says `preferKernel: false`, `canStartKernel: false`, so every way JupyterLab opens it
 *   (the sidebar, `docmanager:open` from the layout restorer, Open Recent) gets a kernel preference
 *   that cannot start a kernel; `createNew` also pins the context's preference to `NO_KERNEL` (no start,
 *   no kernel picker, no joining a session that runs on the same path) and keeps it pinned.
 * - The widget is not the Notebook factory's, so it is not in the notebook tracker: the notebook
 *   commands (Run All, Restart Kernel and Run All, Shift+Enter, Change Kernel) are disabled on it.
 * - Its own widget tracker is registered with the layout restorer (index.ts), so a reload restores it
 *   as a viewer, not as an editable notebook with a kernel.
 *
 * - "Copy to edit" saves the notebook as `<execution name> (<execution id>).ipynb` in the server's root
 *   and opens that copy as an ordinary notebook ("Save As" cannot: it stays in the read-only drive).
 *
 * `guardArtifactDocuments` pins `NO_KERNEL` on any other document widget opened on an `mm-artifacts:`
 * path (a tab restored from an older layout, "Open Path…"), so those never get a kernel either.
 */

import type { DocumentRegistry, IDocumentWidget } from '@jupyterlab/docregistry';
import type { Contents } from '@jupyterlab/services';
import { notebookIcon, ToolbarButton } from '@jupyterlab/ui-components';
import { type ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import {
  copyName,
  executionIdOf,
  type INotebookOwner,
  isArtifactPath,
  notebookLabel,
  pinWithoutKernel,
  VIEWER_FACTORY
} from './nbviewer';

/** The part of JupyterLab's NotebookWidgetFactory the viewer uses (its panel, without its tracker). */
interface INotebookPanelMaker {
  createNewWidget(context: DocumentRegistry.Context, source?: IDocumentWidget): IDocumentWidget;
}

/**
 * Stop a document widget from renaming its file when its title changes (DocumentWidget does, for
 * renaming from the tab), so the tab can carry a label other than the file name. Returns whether it
 * did: when JupyterLab's internals differ, the label is left alone.
 */
function detachRenameOnTitle(widget: IDocumentWidget): boolean {
  const handler = (widget as any)._onTitleChanged;
  return typeof handler === 'function' && widget.title.changed.disconnect(handler, widget);
}

export interface IViewerOptions {
  registry: DocumentRegistry;
  /** The execution of an executed notebook, for the tab label (by the id in the path). */
  execution: (id: string) => Promise<INotebookOwner>;
  openExecution: (id: string) => void;
  /** The app's contents manager: editable copies go to its default drive (the server's root). */
  contents: Contents.IManager;
  /** Open an editable copy (a path in the server's root) as a notebook that can have a kernel. */
  openCopy: (path: string) => void;
  notifyError: (err: unknown, what: string) => void;
}

let count = 0;

/** The document widget factory of the viewer (see the module's comment). */
export class ExecutedNotebookFactory implements DocumentRegistry.IWidgetFactory<IDocumentWidget, DocumentRegistry.IModel> {
  readonly name = VIEWER_FACTORY;
  readonly label = 'Executed Notebook (read-only, no kernel)';
  readonly fileTypes = ['notebook'];
  readonly defaultFor: string[] = [];
  readonly defaultRendered: string[] = [];
  readonly modelName = 'notebook';
  readonly readOnly = true;
  readonly preferKernel = false;
  readonly canStartKernel = false;
  readonly shutdownOnClose = false;
  readonly autoStartDefault = false;
  private readonly _widgetCreated = new Signal<ExecutedNotebookFactory, IDocumentWidget>(this);
  private readonly _owners = new Map<string, INotebookOwner>();
  private _disposed = false;

  constructor(private readonly options: IViewerOptions) {}

  get widgetCreated(): ISignal<ExecutedNotebookFactory, IDocumentWidget> {
    return this._widgetCreated;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (!this._disposed) {
      this._disposed = true;
      this._owners.clear();
      Signal.clearData(this);
    }
  }

  /** Tell the factory whose notebook `path` is (so the tab is labelled without a request). */
  remember(path: string, owner: INotebookOwner): void {
    this._owners.set(path, { id: owner.id, name: owner.name ?? null });
  }

  createNew(context: DocumentRegistry.Context, source?: IDocumentWidget): IDocumentWidget {
    const maker = this.options.registry.getWidgetFactory('Notebook') as unknown as Partial<INotebookPanelMaker> | undefined;
    if (!maker || typeof maker.createNewWidget !== 'function') {
      throw new Error("JupyterLab's Notebook widget factory is not available");
    }
    // before the context initializes its session (the document manager does that on a later tick)
    pinWithoutKernel(context.sessionContext);
    // the panel only (createNew would also add it to the notebook tracker, and its restorer)
    const widget = maker.createNewWidget.call(maker, context, source);
    widget.id = `mm-executed-notebook-${++count}`;
    widget.addClass('mm-ExecutedNotebook');
    widget.title.icon = notebookIcon;
    this._label(widget, context);
    this._toolbar(widget, context);
    void context.ready.then(() => {
      if (!context.isDisposed) {
        context.model.readOnly = true;
      }
    });
    this._widgetCreated.emit(widget);
    return widget;
  }

  /** Save an editable copy of `context`'s notebook in the server's root; returns its path. */
  async copy(context: DocumentRegistry.Context): Promise<string> {
    await context.ready;
    const owner = this._owners.get(context.path) ?? null;
    const content = context.model.toJSON();
    for (let attempt = 0; attempt < 100; attempt++) {
      const name = copyName(context.path, owner, attempt);
      if (await this._exists(name)) {
        continue;
      }
      await this.options.contents.save(name, { type: 'notebook', format: 'json', content });
      return name;
    }
    throw new Error('no free file name for the copy');
  }

  private async _exists(path: string): Promise<boolean> {
    try {
      await this.options.contents.get(path, { content: false });
      return true;
    } catch (err: any) {
      if (err?.response?.status === 404) {
        return false;
      }
      throw err;
    }
  }

  private _label(widget: IDocumentWidget, context: DocumentRegistry.Context): void {
    const path = context.path;
    const id = executionIdOf(path);
    if (!isArtifactPath(path) || !id || !detachRenameOnTitle(widget)) {
      return;
    }
    const show = (owner: INotebookOwner | null) => {
      if (!widget.isDisposed && context.path === path) {
        widget.title.label = notebookLabel(path, owner);
      }
    };
    const known = this._owners.get(path);
    show(known ?? null);
    if (!known) {
      this.options
        .execution(id)
        .then(owner => {
          this._owners.set(path, { id: owner.id, name: owner.name ?? null });
          show(owner);
        })
        .catch(() => undefined); // removed since: the label from the path stays
    }
  }

  private _toolbar(widget: IDocumentWidget, context: DocumentRegistry.Context): void {
    const note = new Widget();
    note.addClass('mm-viewer-note');
    note.node.textContent = 'Executed notebook · no kernel';
    note.node.title = 'A stored run, shown read-only without a kernel: "Copy to edit" makes a copy you can run';
    widget.toolbar.addItem('mm-viewer-note', note);
    if (!isArtifactPath(context.path)) {
      return; // a notebook of the server's root opened with "Open With": nothing to copy or link
    }
    widget.toolbar.addItem(
      'mm-copy-to-edit',
      new ToolbarButton({
        label: 'Copy to edit',
        tooltip: "Save an editable copy in the server's root and open it (a copy can have a kernel)",
        className: 'mm-viewer-copy',
        onClick: () => {
          this.copy(context)
            .then(path => this.options.openCopy(path))
            .catch(err => this.options.notifyError(err, 'Cannot copy the notebook'));
        }
      })
    );
    const id = executionIdOf(context.path);
    if (id) {
      widget.toolbar.addItem(
        'mm-open-execution',
        new ToolbarButton({
          label: 'Execution',
          tooltip: `Open execution ${id} (status, metrics, log)`,
          className: 'mm-viewer-execution',
          onClick: () => this.options.openExecution(id)
        })
      );
    }
  }
}

/**
 * Pin `NO_KERNEL` on every document widget that any other factory opens on an `mm-artifacts:` path,
 * for the factories registered now and later.
 */
export function guardArtifactDocuments(registry: DocumentRegistry): void {
  const guarded = new WeakSet<object>();
  const guard = (factory: DocumentRegistry.WidgetFactory | undefined) => {
    if (!factory || factory.name === VIEWER_FACTORY || guarded.has(factory)) {
      return;
    }
    guarded.add(factory);
    factory.widgetCreated.connect((_, widget) => {
      const context = (widget as IDocumentWidget).context;
      if (context && isArtifactPath(context.path) && context.sessionContext) {
        pinWithoutKernel(context.sessionContext);
      }
    });
  };
  for (const factory of registry.widgetFactories()) {
    guard(factory);
  }
  registry.changed.connect((_, change) => {
    if (change.type === 'widgetFactory' && change.change === 'added' && change.name) {
      guard(registry.getWidgetFactory(change.name));
    }
  });
}
