import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeConformance, storeReopenConformance } from '../../test/conformance/store.ts';
import { openStore } from './open.ts';

storeConformance(
  'pglite memory://',
  async () => ({
    open: (components = []) => openStore({ pgliteDir: 'memory://' }, components),
    drop: async () => {},
  }),
  { reopenable: false, concurrentOpens: false },
);

// The data/ directory the default config uses: only what memory:// cannot show (PGlite takes seconds to start).
storeReopenConformance('pglite on a directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigie-pglite-'));
  return {
    open: (components = []) => openStore({ pgliteDir: join(dir, 'store') }, components),
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
