/** What the sidebar's views share: the API, the live hub, and the app-level actions. */

import type { CommandRegistry } from '@lumino/commands';

import type { Api } from './api';
import type { LiveHub } from './hub';
import type { IMeta } from './types';

export type TabName = 'versions' | 'training' | 'evaluation' | 'services';

export interface IMMContext {
  api: Api;
  hub: LiveHub;
  commands: CommandRegistry;
  /** Statuses, kinds, service defaults and installed kernels (fetched once, refreshed on demand). */
  meta(refresh?: boolean): Promise<IMeta>;
  openExecution(id: string, focus?: 'charts' | 'logs'): void;
  openTrainForm(modelId: string, snapshotId?: string | null): void;
  openEvaluateForm(modelId: string, snapshotId?: string | null): void;
  /** Open an executed notebook (a path under the artifact root) in the read-only viewer. */
  openNotebook(path: string, owner?: { id: string; name?: string | null }): Promise<void>;
  showTab(tab: TabName, search?: string): void;
  /** Show a version's page in the sidebar (its Versions tab). */
  openVersion(id: string): void;
  /** Show a service's executions: its kind's tab, filtered by that service. */
  showService(name: string): void;
  /** Compare 2–5 versions or executions (ids) in a main-area panel. */
  openCompare(refs: string[]): void;
  notifyError(err: unknown, what: string): void;
}

export const CommandIDs = {
  openSidebar: 'mm-jupyter:open-sidebar',
  copyModelId: 'mm-jupyter:copy-model-id',
  copyExecutionId: 'mm-jupyter:copy-execution-id',
  abort: 'mm-jupyter:abort',
  remove: 'mm-jupyter:remove',
  rerun: 'mm-jupyter:rerun',
  openNotebook: 'mm-jupyter:open-notebook',
  showLogs: 'mm-jupyter:show-logs',
  openExecution: 'mm-jupyter:open-execution',
  train: 'mm-jupyter:train',
  evaluate: 'mm-jupyter:evaluate',
  pauseService: 'mm-jupyter:pause-service',
  resumeService: 'mm-jupyter:resume-service',
  showService: 'mm-jupyter:show-service'
} as const;
