import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContextOptions, chromium, type Page } from 'playwright-core';

/**
 * Real headless Chromium for the pages' tests: Debian's `chromium` (never a downloaded browser) driven by
 * playwright-core. Each page records what went wrong in it — console errors (a Content-Security-Policy refusal is
 * one), uncaught exceptions, failed requests — so a test can require a clean page. Screenshots are kept as test
 * artefacts in `test-artifacts/screenshots/` (git-ignored).
 */

/** The browser binary: Debian's chromium (`.ci/run` installs it), or VIGIE_CHROMIUM. */
export const CHROMIUM_PATH = process.env.VIGIE_CHROMIUM ?? '/usr/bin/chromium';

/** Where screenshots go. */
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));

/** A phone: 390 × 844 CSS pixels, touch, French, in Paris. */
export const PHONE: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  locale: 'fr-FR',
  timezoneId: 'Europe/Paris',
};

/** An operator's desktop screen. */
export const DESKTOP: BrowserContextOptions = {
  viewport: { width: 1366, height: 900 },
  locale: 'fr-FR',
  timezoneId: 'Europe/Paris',
};

/** Starts headless Chromium with the flags this machine needs. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** A page in its own context (own cookies and storage), with what went wrong in it. */
export interface TestPage {
  readonly page: Page;
  /** Console errors, uncaught exceptions and failed requests, in order. */
  readonly problems: string[];
  close(): Promise<void>;
}

/** Opens a page in a new context of `browser` for `baseURL`, as `device` (PHONE or DESKTOP). */
export async function openPage(browser: Browser, baseURL: string, device: BrowserContextOptions): Promise<TestPage> {
  const context = await browser.newContext({ ...device, baseURL });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (err) => problems.push(`exception: ${err.message}`));
  page.on('requestfailed', (r) => {
    // A navigation or a poll cut short by leaving the page is not a failure of the page.
    if (!r.failure()?.errorText.endsWith('_ABORTED')) problems.push(`request: ${r.url()} ${r.failure()?.errorText}`);
  });
  return { page, problems, close: () => context.close() };
}

/** Saves a full-page screenshot as `<name>.png` in SCREENSHOT_DIR; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
