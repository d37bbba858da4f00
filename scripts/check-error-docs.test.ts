import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { checkErrorDocs, documentedErrorCodes, formatReport, REPO_ROOT } from './check-error-docs.ts';

const run = promisify(execFile);

/** A throwaway repository holding `files` (path → content). */
function fixture(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'vigie-errdocs-'));
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

const TABLE = `# Errors
| code | meaning | what the operator should do | retryable? |
| --- | --- | --- | --- |
| \`ERR_SINK_REJECTED\` | the sink refused a point | read the dead letter | no |
`;

describe('check-error-docs', () => {
  it('finds every error code of the repository in docs/errors.md', () => {
    const report = checkErrorDocs(REPO_ROOT);
    expect(formatReport({ ...report, stale: [] })).toEqual([]);
  });

  it('lists a code with the files using it when docs/errors.md has no row for it', () => {
    const root = fixture({
      'docs/errors.md': TABLE,
      'sinks/influx.ts': "throw new AppError('ERR_SINK_REJECTED', 'x'); throw new AppError('ERR_SINK_AUTH', 'y');",
      'core/a.ts': "const code = 'ERR_SINK_AUTH';",
    });
    const report = checkErrorDocs(root);
    expect(report.missing).toEqual([{ code: 'ERR_SINK_AUTH', files: ['core/a.ts', 'sinks/influx.ts'] }]);
    expect(formatReport(report)[0]).toMatch(
      /^ERR_SINK_AUTH: not in docs\/errors.md \(used in core\/a.ts, sinks\/influx.ts\)/,
    );
  });

  it('ignores tests, dependencies and Node.js codes when scanning', () => {
    const root = fixture({
      'docs/errors.md': TABLE,
      'a.test.ts': "'ERR_ONLY_IN_UNIT_TEST'",
      'a.int.test.ts': "'ERR_ONLY_IN_INT_TEST'",
      'node_modules/x/index.ts': "'ERR_FROM_A_DEPENDENCY'",
      'notes.md': 'ERR_ONLY_IN_PROSE',
      'stream.ts': "if (err.code === 'ERR_STREAM_PREMATURE_CLOSE') return; const re = /^ERR_[A-Z0-9_]+$/;",
    });
    expect(checkErrorDocs(root)).toEqual({ missing: [], stale: ['ERR_SINK_REJECTED'], incomplete: [] });
  });

  it('reports every code missing when there is no docs/errors.md', () => {
    const root = fixture({ 'a.ts': "'ERR_A_B'" });
    expect(checkErrorDocs(root).missing.map((m) => m.code)).toEqual(['ERR_A_B']);
  });

  it('flags a row with an empty cell when the operator would learn nothing from it', () => {
    const root = fixture({
      'docs/errors.md': `${TABLE}| ERR_SINK_AUTH | bad token |  | no |\n`,
      'a.ts': "'ERR_SINK_AUTH' 'ERR_SINK_REJECTED'",
    });
    expect(checkErrorDocs(root).incomplete).toEqual(['ERR_SINK_AUTH']);
  });

  it('reads rows with or without backticks when parsing the table', () => {
    const rows = documentedErrorCodes('| `ERR_A_B` | m | do | yes |\n|ERR_C_D|m|do|no|\n| code | meaning |\n');
    expect([...rows.keys()]).toEqual(['ERR_A_B', 'ERR_C_D']);
    expect(rows.get('ERR_C_D')).toEqual(['m', 'do', 'no']);
  });

  it('exits 1 and names the code when run as a command on a repository missing one', async () => {
    const root = fixture({ 'docs/errors.md': TABLE, 'a.ts': "'ERR_SINK_AUTH'" });
    const script = join(REPO_ROOT, 'scripts', 'check-error-docs.ts');
    const error = await run(process.execPath, ['--import', 'tsx', script, root], { cwd: REPO_ROOT }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(error?.code).toBe(1);
    expect(error?.stderr).toContain('ERR_SINK_AUTH: not in docs/errors.md (used in a.ts)');
  });
});
