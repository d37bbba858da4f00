import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigDocs } from './gen-config-docs.ts';

describe('docs/config.md', () => {
  it('matches the configuration schemas when regenerated (run npx tsx scripts/gen-config-docs.ts)', () => {
    const committed = readFileSync(new URL('../docs/config.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderConfigDocs());
  });
});
