import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '../../core/contracts/index.ts';
import { DESKTOP, launchBrowser, openPage, screenshot } from '../helpers/browser.ts';
import { startWebStack, type WebStack } from '../helpers/web-stack.ts';

/**
 * The rejected messages in the operators' console, in real headless Chromium against everything `vigie start` runs
 * (but the simulators): an operator sees what was refused and why, fixes the cause, replays every message of that
 * code with one button; a viewer has no such tab.
 */

const POLL = { timeout: 15_000, interval: 100 };

describe('rejected messages in the console (headless Chromium)', () => {
  let stack: WebStack;
  let browser: Browser;

  beforeAll(async () => {
    [stack, browser] = await Promise.all([startWebStack(), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  const signIn = async (token: string) => {
    const t = await openPage(browser, stack.url, DESKTOP);
    await t.page.goto('/console');
    await t.page.getByLabel('Jeton d’accès').fill(token);
    await t.page.getByRole('button', { name: 'Se connecter' }).click();
    await expect.poll(() => t.page.locator('#who').textContent(), POLL).toContain('(');
    return t;
  };

  it('shows an operator the usage refused for an unknown account, and replays it once the account exists', async () => {
    const usage = (n: number) =>
      JSON.stringify({
        usageId: `bike-ui-${n}`,
        accountId: 'acc-ui-late',
        kind: 'bike-rental',
        startedAt: `2026-11-2${n}T08:00:00+01:00`,
        endedAt: `2026-11-2${n}T08:20:00+01:00`,
        details: {},
      });
    await stack.pipeline.bus.produce(TOPICS.mobilityUsage, [
      { key: 'acc-ui-late', value: usage(1) },
      { key: 'acc-ui-late', value: usage(2) },
    ]);

    const t = await signIn(await stack.token('operator', 'remi'));
    try {
      const { page } = t;
      await page.getByRole('link', { name: 'Rejets' }).click();
      const rows = page.locator('[data-test="dead-letters"] tr[data-dead-letter]');
      await expect.poll(() => rows.count(), POLL).toBe(2);
      expect(await rows.first().textContent()).toContain('ERR_MOBILITY_ACCOUNT_UNKNOWN');
      expect(await rows.first().textContent()).toContain('bus · mobility-usage.v1');
      const codes = page.locator('[data-test="dead-letter-codes"]');
      await expect.poll(() => codes.textContent(), POLL).toContain('ERR_MOBILITY_ACCOUNT_UNKNOWN : 2');
      await screenshot(page, 'console-dead-letters');

      // The cause fixed, then one button for both.
      const admin = await stack.token('admin');
      const created = await fetch(`${stack.url}/api/mobility/accounts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ accountId: 'acc-ui-late', name: 'Rémi Koch', email: 'remi.koch@example.org' }),
      });
      expect(created.status).toBe(201);
      await codes.getByRole('button', { name: 'Tout rejouer' }).click();
      await expect.poll(() => page.getByRole('status').first().textContent(), POLL).toContain('2 rejoué(s)');
      await expect.poll(() => rows.count(), POLL).toBe(0);
      await expect.poll(() => codes.textContent(), POLL).toContain('Aucun message à traiter');
      await expect
        .poll(
          async () =>
            (
              await stack.pipeline.store.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM mobility_usage WHERE account_id = 'acc-ui-late'`,
              )
            ).rows[0]?.n,
          POLL,
        )
        .toBe(2);
      expect(t.problems).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('gives a viewer no rejected-messages tab', async () => {
    const t = await signIn(await stack.token('viewer', 'vic'));
    try {
      await expect.poll(() => t.page.getByRole('link', { name: 'Alertes' }).count(), POLL).toBe(1);
      expect(await t.page.getByRole('link', { name: 'Rejets' }).count()).toBe(0);
    } finally {
      await t.close();
    }
  });
});
