import { describe, expect, it } from 'vitest';

import { encodePath } from '../drive';

describe('encodePath', () => {
  it('encodes each segment and drops empty ones', () => {
    expect(encodePath('models/m-1/snapshots/s 1/notebook.ipynb')).toBe('models/m-1/snapshots/s%201/notebook.ipynb');
    expect(encodePath('/a//b/')).toBe('a/b');
    expect(encodePath('../x?y#z')).toBe('../x%3Fy%23z');
  });
});
