import { defineConfig } from 'vitest/config';

// Unit tests of the sidebar's pure logic (no browser, no JupyterLab): `npm test`.
export default defineConfig({
  test: {
    include: ['js/tests/**/*.test.ts'],
    environment: 'node'
  }
});
