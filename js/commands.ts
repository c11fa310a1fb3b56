/** The sidebar's commands (row menu, panel buttons, palette), each reporting errors as notifications. */

import { Clipboard, Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import type { CommandRegistry } from '@lumino/commands';

import { CommandIDs, type IMMContext } from './context';
import { isFinished } from './format';
import type { Status } from './types';

function arg(args: any, name: string): string {
  const value = args?.[name];
  return typeof value === 'string' ? value : '';
}

/** Whether a row-menu command applies to the execution in `args` (its `status`, when given):
 * abort only what has not ended, remove and run again only what has. */
export function appliesTo(command: string, args: any): boolean {
  const status = arg(args, 'status');
  if (!status) {
    return true;
  }
  const ended = isFinished(status as Status);
  if (command === CommandIDs.abort) {
    return !ended;
  }
  if (command === CommandIDs.remove || command === CommandIDs.rerun) {
    return ended;
  }
  return true;
}

export function registerCommands(commands: CommandRegistry, ctx: IMMContext): void {
  commands.addCommand(CommandIDs.copyModelId, {
    label: 'Copy Model ID',
    execute: args => {
      Clipboard.copyToSystem(arg(args, 'modelId'));
      Notification.info(`Copied model id ${arg(args, 'modelId')}`, { autoClose: 2000 });
    }
  });
  commands.addCommand(CommandIDs.copyExecutionId, {
    label: 'Copy Execution ID',
    execute: args => {
      Clipboard.copyToSystem(arg(args, 'id'));
      Notification.info(`Copied execution id ${arg(args, 'id')}`, { autoClose: 2000 });
    }
  });
  commands.addCommand(CommandIDs.abort, {
    label: 'Abort…',
    isVisible: args => appliesTo(CommandIDs.abort, args),
    execute: async args => {
      const id = arg(args, 'id');
      const answer = await showDialog({
        title: 'Abort execution',
        body: `Stop ${arg(args, 'name') || id} now? Its kernel is shut down and it ends as terminated; what it has logged is kept.`,
        buttons: [Dialog.cancelButton({ label: 'Keep running' }), Dialog.warnButton({ label: 'Abort' })]
      });
      if (!answer.button.accept) {
        return;
      }
      try {
        const row = await ctx.api.abort(id);
        Notification.success(`Execution ${row.id} aborted (${row.status})`, { autoClose: 4000 });
      } catch (err) {
        ctx.notifyError(err, `Cannot abort ${id}`);
      }
    }
  });
  commands.addCommand(CommandIDs.remove, {
    label: 'Remove',
    isVisible: args => appliesTo(CommandIDs.remove, args),
    execute: async args => {
      const id = arg(args, 'id');
      const answer = await showDialog({
        title: 'Remove execution',
        body: `Remove ${id}, its metrics, log and executed notebook? The version's weights are kept.`,
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
      });
      if (!answer.button.accept) {
        return;
      }
      try {
        await ctx.api.remove(id);
        Notification.success(`Execution ${id} removed`, { autoClose: 3000 });
        ctx.hub.invalidated.emit(undefined);
      } catch (err) {
        ctx.notifyError(err, `Cannot remove ${id}`);
      }
    }
  });
  commands.addCommand(CommandIDs.rerun, {
    label: 'Run again (new execution)',
    isVisible: args => appliesTo(CommandIDs.rerun, args),
    execute: async args => {
      const id = arg(args, 'id');
      try {
        const row = await ctx.api.rerun(id);
        Notification.success(`${id} runs again as ${row.id}`, { autoClose: 4000 });
      } catch (err) {
        ctx.notifyError(err, `Cannot rerun ${id}`);
      }
    }
  });
  commands.addCommand(CommandIDs.openNotebook, {
    label: 'Open executed notebook in JupyterLab',
    execute: async args => {
      const id = arg(args, 'id');
      try {
        const row = await ctx.api.execution(id);
        if (!row.notebook_path) {
          Notification.warning(`Execution ${row.id} has no executed notebook yet`, { autoClose: 4000 });
          return;
        }
        await ctx.openNotebook(row.notebook_path, { id: row.id, name: row.name });
      } catch (err) {
        ctx.notifyError(err, `Cannot open the notebook of ${id}`);
      }
    }
  });
  commands.addCommand(CommandIDs.showLogs, {
    label: 'Show logs',
    execute: args => ctx.openExecution(arg(args, 'id'), 'logs')
  });
  commands.addCommand(CommandIDs.showService, {
    label: args => (arg(args, 'service') ? `Show executions of ${arg(args, 'service')}` : "Show a service's executions"),
    isVisible: args => !!arg(args, 'service'),
    execute: args => ctx.showService(arg(args, 'service'))
  });
  commands.addCommand(CommandIDs.openExecution, {
    label: 'Open execution',
    execute: args => ctx.openExecution(arg(args, 'id'))
  });
  commands.addCommand(CommandIDs.train, {
    label: 'Train a model…',
    execute: args => ctx.openTrainForm(arg(args, 'modelId'), arg(args, 'snapshotId') || null)
  });
  commands.addCommand(CommandIDs.evaluate, {
    label: 'Evaluate a model version…',
    execute: args => ctx.openEvaluateForm(arg(args, 'modelId'), arg(args, 'snapshotId') || null)
  });
  for (const [command, paused] of [
    [CommandIDs.pauseService, true],
    [CommandIDs.resumeService, false]
  ] as const) {
    commands.addCommand(command, {
      label: paused ? 'Pause service' : 'Resume service',
      execute: async args => {
        const name = arg(args, 'name');
        try {
          await ctx.api.setPaused(name, paused);
          Notification.success(`Service ${name} ${paused ? 'paused' : 'resumed'}`, { autoClose: 3000 });
        } catch (err) {
          ctx.notifyError(err, `Cannot ${paused ? 'pause' : 'resume'} ${name}`);
        }
      }
    });
  }
}
