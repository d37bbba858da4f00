/**
 * Fails when an error code used in the code has no row in docs/errors.md (STYLE.md §5: every ERR_<AREA>_<WHAT> gets
 * a row: code | meaning | what the operator should do | retryable?). Run: `npx tsx scripts/check-error-docs.ts [root]`.
 * scripts/check-error-docs.test.ts runs it in `npm test`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root (this file's parent folder). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Where the table lives, relative to the root. */
export const ERRORS_DOC = join('docs', 'errors.md');

/** Folders never scanned: dependencies, build output, scratch space. */
const SKIPPED_DIRS = new Set(['node_modules', '.git', '.tmp', 'data', 'coverage', 'target', 'lib']);

/** Codes that belong to Node.js or a library, which our code may compare against but does not raise. */
const FOREIGN_CODES = new Set([
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
  'ERR_MODULE_NOT_FOUND',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_WRITE_AFTER_END',
  'ERR_UNHANDLED_ERROR',
]);

const CODE = /\bERR_[A-Z0-9_]*[A-Z0-9]\b/g;

/** One error code and the files that use it. */
export interface ErrorCodeUse {
  readonly code: string;
  /** Paths relative to the root, with `/`. */
  readonly files: readonly string[];
}

/** What the check found. */
export interface ErrorDocsReport {
  /** Used in the code, absent from the table: the check fails. */
  readonly missing: readonly ErrorCodeUse[];
  /** In the table, used nowhere any more: reported, not failed (a code may be kept for old dead letters). */
  readonly stale: readonly string[];
  /** Table rows with an empty cell, as `code` (the check fails). */
  readonly incomplete: readonly string[];
}

/** Every `ERR_*` code in the `.ts` files under `root`, test files (`*.test.ts`, `*.int.test.ts`) excluded. */
export function collectErrorCodes(root: string): ErrorCodeUse[] {
  const uses = new Map<string, Set<string>>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) walk(path);
        continue;
      }
      if (!entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
      for (const [code] of readFileSync(path, 'utf8').matchAll(CODE)) {
        if (FOREIGN_CODES.has(code)) continue;
        const files = uses.get(code) ?? new Set<string>();
        files.add(relative(root, path).split(sep).join('/'));
        uses.set(code, files);
      }
    }
  };
  walk(root);
  return [...uses.entries()]
    .map(([code, files]) => ({ code, files: [...files].sort() }))
    .sort((a, b) => a.code.localeCompare(b.code));
}

/** The rows of the table in `markdown`: code → its cells after the code. */
export function documentedErrorCodes(markdown: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of markdown.split('\n')) {
    const match = /^\|\s*`?(ERR_[A-Z0-9_]+)`?\s*\|(.*)\|\s*$/.exec(line.trim());
    if (!match?.[1] || match[2] === undefined) continue;
    rows.set(
      match[1],
      match[2].split('|').map((cell) => cell.trim()),
    );
  }
  return rows;
}

/** Compares the codes used under `root` with the table in `root/docs/errors.md`. */
export function checkErrorDocs(root: string = REPO_ROOT): ErrorDocsReport {
  const used = collectErrorCodes(root);
  let markdown = '';
  try {
    markdown = readFileSync(join(root, ERRORS_DOC), 'utf8');
  } catch {
    // No table at all: every code is missing.
  }
  const documented = documentedErrorCodes(markdown);
  const usedCodes = new Set(used.map((u) => u.code));
  return {
    missing: used.filter((u) => !documented.has(u.code)),
    stale: [...documented.keys()].filter((code) => !usedCodes.has(code)).sort(),
    incomplete: [...documented.entries()]
      .filter(([, cells]) => cells.length < 3 || cells.slice(0, 3).some((cell) => cell === ''))
      .map(([code]) => code),
  };
}

/** Renders a report as the lines the command prints; empty when there is nothing to say. */
export function formatReport(report: ErrorDocsReport): string[] {
  const lines: string[] = [];
  for (const { code, files } of report.missing) {
    lines.push(
      `${code}: not in ${ERRORS_DOC} (used in ${files.join(', ')}); add a row: code | meaning | what the operator should do | retryable?`,
    );
  }
  for (const code of report.incomplete) lines.push(`${code}: its row in ${ERRORS_DOC} has an empty cell`);
  for (const code of report.stale) lines.push(`${code}: in ${ERRORS_DOC} but used nowhere (warning only)`);
  return lines;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = checkErrorDocs(process.argv[2] ?? REPO_ROOT);
  for (const line of formatReport(report)) console.error(line);
  process.exitCode = report.missing.length > 0 || report.incomplete.length > 0 ? 1 : 0;
}
