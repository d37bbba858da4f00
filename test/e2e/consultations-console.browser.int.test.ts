import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CYCLING, DAY_MS } from '../../services/consultations/test-helpers.ts';
import { DESKTOP, launchBrowser, openPage, screenshot } from '../helpers/browser.ts';
import { startWebStack, type WebStack } from '../helpers/web-stack.ts';

/**
 * Ending a survey early from the operators' console, in real headless Chromium against everything `vigie start` runs
 * (but the simulators): "Clore maintenant" on an open survey, "Annuler" on a scheduled one, each confirmed first,
 * with a reason; a viewer sees neither button.
 */

const POLL = { timeout: 15_000, interval: 100 };

describe('ending a consultation early in the console (headless Chromium)', () => {
  let stack: WebStack;
  let browser: Browser;
  let operator: string;

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };

  beforeAll(async () => {
    [stack, browser] = await Promise.all([startWebStack(), launchBrowser()]);
    operator = await stack.token('operator', 'olga');
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('closes an open survey and cancels a scheduled one after a confirmation when an operator asks, and offers a viewer neither', async () => {
    const now = Date.now();
    const open = await api('POST', '/api/consultations', {
      ...CYCLING,
      title: 'Pistes ouvertes',
      opensAt: new Date(now - DAY_MS).toISOString(),
      closesAt: new Date(now + 14 * DAY_MS).toISOString(),
    });
    const scheduled = await api('POST', '/api/consultations', {
      ...CYCLING,
      title: 'Parcs à venir',
      opensAt: new Date(now + 2 * DAY_MS).toISOString(),
      closesAt: new Date(now + 30 * DAY_MS).toISOString(),
    });

    const signIn = async (token: string) => {
      const t = await openPage(browser, stack.url, DESKTOP);
      await t.page.goto('/console');
      await t.page.getByLabel('Jeton d’accès').fill(token);
      await t.page.getByRole('button', { name: 'Se connecter' }).click();
      await t.page.getByRole('link', { name: 'Consultations' }).click();
      return t;
    };

    // A viewer reads, and may not end anything.
    const reader = await signIn(await stack.token('viewer', 'vera'));
    try {
      await reader.page.getByRole('link', { name: 'Pistes ouvertes' }).click();
      const detail = reader.page.locator('[data-test="survey-detail"]');
      await expect.poll(() => detail.locator('h2').textContent(), POLL).toBe('Pistes ouvertes');
      expect(await detail.locator('[data-test="survey-close"]').count()).toBe(0);
      expect(await detail.getByRole('button', { name: 'Clore maintenant' }).count()).toBe(0);
      expect(reader.problems).toEqual([]);
    } finally {
      await reader.close();
    }

    const t = await signIn(operator);
    try {
      const { page } = t;
      const detail = page.locator('[data-test="survey-detail"]');
      await page.getByRole('link', { name: 'Pistes ouvertes' }).click();
      await detail.getByRole('button', { name: 'Clore maintenant' }).click();
      // Nothing happens before the confirmation; going back leaves it open.
      await detail.getByRole('button', { name: 'Retour' }).click();
      expect((await api('GET', `/api/consultations/${open.id}`)).phase).toBe('open');
      await detail.getByRole('button', { name: 'Clore maintenant' }).click();
      await detail.getByLabel('Motif (facultatif)').fill('Budget voté en conseil');
      await screenshot(page, 'console-consultation-close');
      await detail.getByRole('button', { name: 'Confirmer la clôture' }).click();
      await expect
        .poll(() => detail.locator('[data-test="survey-status"]').textContent(), POLL)
        .toBe('Consultation close : Pistes ouvertes');
      await expect
        .poll(() => detail.locator('[data-test="survey-ended"]').textContent(), POLL)
        .toMatch(/^Close avant terme par olga le .+ \(clôture prévue le .+\) — motif : Budget voté en conseil$/);
      expect(await detail.getByRole('button', { name: 'Clore maintenant' }).count()).toBe(0);
      expect(await api('GET', `/api/consultations/${open.id}`)).toMatchObject({
        phase: 'closed',
        endedEarly: { action: 'closed', by: 'olga', reason: 'Budget voté en conseil' },
      });

      await page.getByRole('link', { name: 'Parcs à venir' }).click();
      await expect.poll(() => detail.locator('h2').textContent(), POLL).toBe('Parcs à venir');
      await detail.getByRole('button', { name: 'Annuler', exact: true }).click();
      await detail.getByRole('button', { name: 'Confirmer l’annulation' }).click();
      await expect
        .poll(() => detail.locator('[data-test="survey-status"]').textContent(), POLL)
        .toBe('Consultation annulée : Parcs à venir');
      const rows = page.locator('[data-test="survey"]');
      await expect
        .poll(async () => (await rows.allTextContents()).sort(), POLL)
        .toEqual(['Parcs à venirAnnulée0', 'Pistes ouvertesTerminée0']);
      expect(await api('GET', `/api/consultations/${scheduled.id}`)).toMatchObject({
        phase: 'cancelled',
        endedEarly: { action: 'cancelled', by: 'olga', reason: null },
      });
      expect(t.problems).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
