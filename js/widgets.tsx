/** Lumino widgets hosting the React views: the sidebar, launch forms and execution panels. */

import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { CompareView } from './components/CompareView';
import { EvaluateForm } from './components/EvaluateForm';
import { ExecutionView } from './components/ExecutionView';
import { SidebarView, type ITabRequest } from './components/SidebarView';
import { TrainForm } from './components/TrainForm';
import type { IMMContext, TabName } from './context';
import { modelsIcon } from './icons';

export class ModelsSidebar extends ReactWidget {
  private request: ITabRequest | null = null;
  private nonce = 0;

  constructor(private ctx: IMMContext) {
    super();
    this.id = 'mm-jupyter-sidebar';
    this.title.icon = modelsIcon;
    this.title.caption = 'Models';
    this.addClass('mm-Sidebar');
  }

  showTab(tab: TabName, search?: string): void {
    this.request = { tab, search, nonce: ++this.nonce };
    this.update();
  }

  openVersion(id: string): void {
    this.request = { tab: 'versions', version: id, nonce: ++this.nonce };
    this.update();
  }

  /** The executions of a service (`mgmt-<kind>-<model id>`): its kind's tab, filtered by it. */
  showService(name: string): void {
    const tab: TabName = name.startsWith('mgmt-evaluate-') ? 'evaluation' : 'training';
    this.request = { tab, service: name, nonce: ++this.nonce };
    this.update();
  }

  render(): JSX.Element {
    return <SidebarView ctx={this.ctx} request={this.request} />;
  }
}

class ReactBody extends ReactWidget {
  constructor(private view: () => JSX.Element) {
    super();
  }
  render(): JSX.Element {
    return this.view();
  }
}

/** An execution's panel; `focusLogs` on it scrolls an open panel to its log again. */
export class ExecutionPanel extends MainAreaWidget {
  private focus: { on: 'charts' | 'logs' | undefined; nonce: number };

  constructor(ctx: IMMContext, id: string, focus?: 'charts' | 'logs') {
    const body = new ReactBody(() => (
      <ExecutionView
        ctx={ctx}
        id={id}
        focus={this.focus.on}
        focusNonce={this.focus.nonce}
        onTitle={t => (this.title.label = t)}
      />
    ));
    body.addClass('mm-ExecutionBody');
    super({ content: body });
    this.focus = { on: focus, nonce: 0 };
    this.id = `mm-execution-${id}`;
    this.title.label = id;
    this.title.icon = modelsIcon;
    this.title.closable = true;
    this.addClass('mm-ExecutionPanel');
  }

  focusLogs(): void {
    this.focus = { on: 'logs', nonce: this.focus.nonce + 1 };
    this.content.update();
  }
}

export function formPanel(
  ctx: IMMContext,
  kind: 'train' | 'evaluate',
  modelId: string,
  snapshotId?: string | null
): MainAreaWidget {
  let panel: MainAreaWidget | null = null;
  const done = () => panel?.close();
  const body = new ReactBody(() =>
    kind === 'train' ? (
      <TrainForm ctx={ctx} modelId={modelId} snapshotId={snapshotId} onDone={done} />
    ) : (
      <EvaluateForm ctx={ctx} modelId={modelId} snapshotId={snapshotId} onDone={done} />
    )
  );
  body.addClass('mm-FormBody');
  panel = new MainAreaWidget({ content: body });
  panel.id = `mm-${kind}-form-${modelId}-${snapshotId ?? 'new'}`;
  panel.title.label = kind === 'train' ? 'Train' : 'Evaluate';
  panel.title.icon = modelsIcon;
  panel.title.closable = true;
  panel.addClass('mm-FormPanel');
  return panel;
}

/** The Compare panel of 2–5 versions or executions. */
export function comparePanel(ctx: IMMContext, refs: string[]): MainAreaWidget {
  let panel: MainAreaWidget | null = null;
  const body = new ReactBody(() => (
    <CompareView ctx={ctx} refs={refs} onTitle={t => panel && (panel.title.label = t)} />
  ));
  body.addClass('mm-CompareBody');
  panel = new MainAreaWidget({ content: body });
  panel.id = `mm-compare-${refs.join('-')}`;
  panel.title.label = 'Compare';
  panel.title.caption = `Compare ${refs.join(', ')}`;
  panel.title.icon = modelsIcon;
  panel.title.closable = true;
  panel.addClass('mm-ComparePanel');
  return panel;
}
