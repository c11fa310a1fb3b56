import { Signal } from '@lumino/signaling';
import { describe, expect, it } from 'vitest';

import {
  allowsKernel,
  artifactPath,
  copyName,
  executionIdOf,
  isArtifactPath,
  NO_KERNEL,
  notebookLabel,
  pinWithoutKernel,
  withoutKernel
} from '../nbviewer';

/** A session context's kernel preference and its change signal, like SessionContext's. */
class FakeSession {
  private _pref: any;
  readonly kernelPreferenceChanged = new Signal<any, any>(this);
  sets = 0;
  constructor(pref: any) {
    this._pref = pref;
  }
  get kernelPreference(): any {
    return this._pref;
  }
  set kernelPreference(value: any) {
    if (JSON.stringify(value) !== JSON.stringify(this._pref)) {
      const oldValue = this._pref;
      this._pref = value;
      this.sets++;
      this.kernelPreferenceChanged.emit({ name: 'kernelPreference', oldValue, newValue: value });
    }
  }
}

const PATH = 'mm-artifacts:models/m-1a2b/snapshots/s-3c4d/executions/e-5e6f7a/notebook.ipynb';

describe('executed-notebook viewer', () => {
  it('closes every way to a kernel', () => {
    expect(allowsKernel(undefined)).toBe(true);
    expect(allowsKernel({ shouldStart: false, canStart: true })).toBe(true); // what the sidebar used to pass
    expect(allowsKernel({ ...NO_KERNEL })).toBe(false);
    expect(allowsKernel({ ...NO_KERNEL, autoStartDefault: true })).toBe(true);
    expect(allowsKernel({ ...NO_KERNEL, id: 'k-1' })).toBe(true);
    const pref = withoutKernel({ name: 'python3', language: 'python', id: 'k-1', shouldStart: true, canStart: true });
    expect(pref).toEqual({
      name: 'python3',
      language: 'python',
      shouldStart: false,
      canStart: false,
      shouldReuse: false,
      autoStartDefault: false
    });
    expect(allowsKernel(pref)).toBe(false);
    expect(allowsKernel(withoutKernel(null))).toBe(false);
    expect(() => ((NO_KERNEL as any).canStart = true)).toThrow();
  });

  it('knows artifact paths and their execution', () => {
    expect(artifactPath('models/m-1/x.ipynb')).toBe('mm-artifacts:models/m-1/x.ipynb');
    expect(artifactPath('/models/m-1/x.ipynb')).toBe('mm-artifacts:models/m-1/x.ipynb');
    expect(isArtifactPath(PATH)).toBe(true);
    expect(isArtifactPath('work/notebook.ipynb')).toBe(false);
    expect(isArtifactPath('other:mm-artifacts:x.ipynb')).toBe(false);
    expect(isArtifactPath(undefined)).toBe(false);
    expect(executionIdOf(PATH)).toBe('e-5e6f7a');
    expect(executionIdOf('executions/e-1/notebook.ipynb')).toBe('e-1');
    expect(executionIdOf('mm-artifacts:models/m-1/snapshots/s-1/weights.pt')).toBeNull();
    expect(executionIdOf('mm-artifacts:models/m-1/executions/e-1/sub/notebook.ipynb')).toBeNull();
    expect(executionIdOf('')).toBeNull();
  });

  it('labels a tab by its execution, without changing the path', () => {
    expect(notebookLabel(PATH, { id: 'e-5e6f7a', name: 'train shapes-v1' })).toBe('train shapes-v1 · e-5e6f7a');
    expect(notebookLabel(PATH, { id: 'e-5e6f7a', name: ' train\n v1 ' })).toBe('train v1 · e-5e6f7a');
    expect(notebookLabel(PATH, { id: 'e-5e6f7a', name: 'rerun of e-5e6f7a' })).toBe('rerun of e-5e6f7a');
    expect(notebookLabel(PATH, { id: 'e-5e6f7a', name: null })).toBe('e-5e6f7a · notebook.ipynb');
    expect(notebookLabel(PATH)).toBe('e-5e6f7a · notebook.ipynb');
    expect(notebookLabel('mm-artifacts:models/m-1/other.ipynb')).toBe('other.ipynb');
    expect(notebookLabel('work/a.ipynb', null)).toBe('a.ipynb');
  });

  it('keeps a session context without a kernel, whatever sets its preference later', () => {
    const session = new FakeSession({ name: 'python3', shouldStart: true, canStart: true });
    pinWithoutKernel(session as any);
    expect(allowsKernel(session.kernelPreference)).toBe(false);
    expect(session.kernelPreference.name).toBe('python3');
    // the context's _populate: name and language from the notebook
    session.kernelPreference = { ...session.kernelPreference, name: 'python3', language: 'python' };
    expect(session.kernelPreference).toEqual({ ...NO_KERNEL, name: 'python3', language: 'python' });
    // the kernel picker's "Always start the preferred kernel", or anything else reopening it
    session.kernelPreference = { ...session.kernelPreference, autoStartDefault: true, canStart: true };
    expect(allowsKernel(session.kernelPreference)).toBe(false);
    pinWithoutKernel(session as any); // pinning twice connects once
    const before = session.sets;
    session.kernelPreference = { shouldStart: true };
    expect(session.sets).toBe(before + 2);
    expect(session.kernelPreference).toEqual({ ...NO_KERNEL });
  });

  it('names an editable copy after its execution', () => {
    const owner = { id: 'e-5e6f7a', name: 'train shapes-v1' };
    expect(copyName(PATH, owner)).toBe('train shapes-v1 (e-5e6f7a).ipynb');
    expect(copyName(PATH, owner, 1)).toBe('train shapes-v1 (e-5e6f7a) 2.ipynb');
    expect(copyName(PATH)).toBe('e-5e6f7a notebook.ipynb');
    expect(copyName(PATH, { id: 'e-5e6f7a', name: 'a/b: c?' })).toBe('a-b- c- (e-5e6f7a).ipynb');
    expect(copyName(PATH, { id: 'e-5e6f7a', name: '..hidden' })).toBe('hidden (e-5e6f7a).ipynb');
    expect(copyName('mm-artifacts:x/Other.IPYNB')).toBe('Other.ipynb');
    expect(copyName('mm-artifacts:.ipynb')).toBe('notebook.ipynb');
  });
});
