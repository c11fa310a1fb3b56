/** mm-jupyter's JupyterLab extension: the "Models" sidebar, launch forms, execution panels. */

import { ILayoutRestorer, type JupyterFrontEnd, type JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, type MainAreaWidget, Notification, WidgetTracker } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import type { IDocumentWidget } from '@jupyterlab/docregistry';

import { Api } from './api';
import { registerCommands } from './commands';
import { CommandIDs, type IMMContext, type TabName } from './context';
import { ArtifactsDrive } from './drive';
import { LiveHub } from './hub';
import { artifactPath, NO_KERNEL, VIEWER_FACTORY, VIEWER_NAMESPACE } from './nbviewer';
import type { IMeta } from './types';
import { ExecutedNotebookFactory, guardArtifactDocuments } from './viewer';
import { comparePanel, ExecutionPanel, formPanel, ModelsSidebar } from './widgets';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'mm-jupyter:plugin',
  description: 'Models sidebar: versions, training and evaluation runs with live metrics.',
  autoStart: true,
  requires: [IDocumentManager],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const api = new Api(app.serviceManager.serverSettings);
    const hub = new LiveHub(api);
    const drive = new ArtifactsDrive(api);
    app.serviceManager.contents.addDrive(drive);
    const panels = new Map<string, MainAreaWidget>();
    let metaCache: Promise<IMeta> | null = null;

    const reveal = (key: string, make: () => MainAreaWidget) => {
      let panel = panels.get(key);
      if (!panel || panel.isDisposed) {
        panel = make();
        panels.set(key, panel);
        panel.disposed.connect(() => panels.delete(key));
        app.shell.add(panel, 'main');
      }
      app.shell.activateById(panel.id);
      return panel;
    };

    const ctx: IMMContext = {
      api,
      hub,
      commands: app.commands,
      meta: (refresh = false) => {
        if (!metaCache || refresh) {
          metaCache = api.meta();
          metaCache.catch(() => (metaCache = null));
        }
        return metaCache;
      },
      openExecution: (id, focus) => {
        const existing = panels.get(`execution:${id}`);
        const panel = reveal(`execution:${id}`, () => new ExecutionPanel(ctx, id, focus));
        if (existing === panel && focus === 'logs' && panel instanceof ExecutionPanel) {
          panel.focusLogs();
        }
      },
      openTrainForm: (modelId, snapshotId) =>
        void reveal(`train:${modelId}:${snapshotId ?? ''}`, () => formPanel(ctx, 'train', modelId, snapshotId)),
      openEvaluateForm: (modelId, snapshotId) =>
        void reveal(`evaluate:${modelId}:${snapshotId ?? ''}`, () => formPanel(ctx, 'evaluate', modelId, snapshotId)),
      openNotebook: async (path, owner) => {
        const full = artifactPath(path);
        if (owner) {
          viewer.remember(full, owner);
        }
        const widget = docManager.openOrReveal(full, VIEWER_FACTORY, undefined, undefined, { ...NO_KERNEL });
        if (!widget) {
          throw new Error(`cannot open ${path}`);
        }
        await widget.context.ready;
      },
      showTab: (tab: TabName, search?: string) => {
        sidebar.showTab(tab, search);
        app.shell.activateById(sidebar.id);
      },
      openVersion: (id: string) => {
        sidebar.openVersion(id);
        app.shell.activateById(sidebar.id);
      },
      showService: (name: string) => {
        sidebar.showService(name);
        app.shell.activateById(sidebar.id);
      },
      openCompare: (refs: string[]) => void reveal(`compare:${refs.join(',')}`, () => comparePanel(ctx, refs)),
      notifyError: (err: unknown, what: string) => {
        const message = err instanceof Error ? err.message : String(err);
        Notification.error(`${what}: ${message}`, { autoClose: 8000 });
      }
    };

    // executed notebooks: a read-only viewer without a session, restored as one after a reload
    const viewer = new ExecutedNotebookFactory({
      registry: app.docRegistry,
      execution: id => api.execution(id),
      openExecution: id => ctx.openExecution(id),
      contents: app.serviceManager.contents,
      openCopy: path => void docManager.openOrReveal(path),
      notifyError: (err, what) => ctx.notifyError(err, what)
    });
    app.docRegistry.addWidgetFactory(viewer);
    guardArtifactDocuments(app.docRegistry);
    const viewers = new WidgetTracker<IDocumentWidget>({ namespace: VIEWER_NAMESPACE });
    viewer.widgetCreated.connect((_, widget) => {
      void viewers.add(widget);
      widget.context.pathChanged.connect(() => void viewers.save(widget));
    });
    void restorer?.restore(viewers, {
      command: 'docmanager:open',
      args: widget => ({ path: widget.context.path, factory: VIEWER_FACTORY, kernelPreference: { ...NO_KERNEL } }),
      name: widget => widget.context.path,
      when: app.serviceManager.ready
    });

    const sidebar = new ModelsSidebar(ctx);
    app.shell.add(sidebar, 'left', { rank: 850 });
    restorer?.add(sidebar, 'mm-jupyter-sidebar');
    registerCommands(app.commands, ctx);
    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'Show Models sidebar',
      execute: () => app.shell.activateById(sidebar.id)
    });
    palette?.addItem({ command: CommandIDs.openSidebar, category: 'Models' });
    hub.start();
  }
};

export default plugin;
