import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { createMobility, mobilityConfigSchema } from '../../services/mobility/index.ts';
import { DESKTOP, launchBrowser, openPage, PHONE, screenshot } from '../helpers/browser.ts';
import { startWebStack, type WebStack } from '../helpers/web-stack.ts';

/**
 * Issue 8's citizen account in real headless Chromium, against everything `vigie start` runs (but the simulators):
 * on a phone, a citizen signs in to "Mon compte" with an SMS code, keeps a profile, reads last month's mobility
 * invoice, answers the city's consultation (a missing answer is pointed out first), and deletes the account; on a
 * desktop, an operator sees the consultation's results in the console and downloads them as CSV.
 */

const POLL = { timeout: 15_000, interval: 100 };
const PHONE_NUMBER = '+33611220099';
const DAY_MS = 86_400_000;
/** A tiny PDF (the vault checks the type from the bytes). */
const TAX_NOTICE = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');

/** The cycling consultation: four kinds of questions. */
function cyclingSurvey(nowMs: number) {
  return {
    title: 'Itinéraires cyclables 2027',
    description: 'Aidez-nous à choisir les prochains aménagements.',
    opensAt: new Date(nowMs - DAY_MS).toISOString(),
    closesAt: new Date(nowMs + 14 * DAY_MS).toISOString(),
    questions: [
      {
        id: 'frequence',
        text: 'À quelle fréquence roulez-vous à vélo ?',
        type: 'single-choice',
        required: true,
        choices: [
          { id: 'jamais', label: 'Jamais' },
          { id: 'parfois', label: 'Parfois' },
          { id: 'chaque-jour', label: 'Chaque jour' },
        ],
      },
      {
        id: 'axes',
        text: 'Quels axes aménager en priorité ?',
        type: 'multiple-choice',
        maxPicks: 2,
        choices: [
          { id: 'centre-gare', label: 'Centre – Gare' },
          { id: 'dornach', label: 'Dornach' },
          { id: 'rebberg', label: 'Rebberg' },
        ],
      },
      { id: 'securite', text: 'Vous sentez-vous en sécurité ?', type: 'scale', minLabel: 'pas du tout' },
      { id: 'idees', text: 'Une idée ?', type: 'free-text' },
    ],
  };
}

describe('the citizen account (headless Chromium)', () => {
  let stack: WebStack;
  let browser: Browser;
  let surveyId: number;

  beforeAll(async () => {
    [stack, browser] = await Promise.all([
      startWebStack({ VIGIE_VAULT_MASTER_KEYS: `k1:${randomBytes(32).toString('base64')}` }),
      launchBrowser(),
    ]);
    const api = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(`${stack.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as Record<string, unknown>;
    };
    // A mobility account with the citizen's phone, open since September, with two rides in October, billed.
    await api('POST', '/api/mobility/accounts', await stack.token('admin'), {
      accountId: 'acc-camille',
      name: 'Camille Meyer',
      email: 'camille@example.org',
      phone: PHONE_NUMBER,
    });
    await stack.pipeline.store.query(
      "UPDATE mobility_accounts SET created_at = '2026-09-01T00:00:00Z' WHERE account_id = 'acc-camille'",
    );
    const ride = (usageId: string, startedAt: string) => ({
      key: 'acc-camille',
      value: JSON.stringify({
        usageId,
        accountId: 'acc-camille',
        kind: 'transit-validation',
        startedAt,
        details: { line: 'Tram 1' },
      }),
    });
    await stack.pipeline.bus.produce(TOPICS.mobilityUsage, [
      ride('r-1', '2026-10-05T07:30:00+02:00'),
      ride('r-2', '2026-10-05T18:10:00+02:00'),
    ]);
    // The stack's usage consumer stores them (expect.poll is for tests, not hooks).
    for (let waited = 0; (await stack.pipeline.store.query('SELECT 1 FROM mobility_usage')).rows.length < 2; waited++) {
      if (waited > 150) throw new Error('the two rides were not stored within 15 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const billing = createMobility({
      store: stack.pipeline.store,
      bus: stack.pipeline.bus,
      logger: silentLogger(),
      metrics: new Metrics(),
      timeZone: stack.config.tz,
      config: mobilityConfigSchema.parse({ billingEnabled: false }),
    });
    expect((await billing.runBilling('2026-10')).outcome).toBe('ran');
    await billing.close();
    // A parking session paid by SMS from the citizen's phone (the inbound topic, as the Twilio webhook feeds it).
    await stack.pipeline.bus.produce(TOPICS.inboundSms, [
      {
        key: PHONE_NUMBER,
        value: JSON.stringify({
          messageSid: `SM${'7'.repeat(32)}`,
          from: PHONE_NUMBER,
          to: '36000',
          body: 'PARK vert AB-123-CD 30',
          media: [],
          receivedAt: new Date().toISOString(),
        }),
      },
    ]);
    surveyId = (await api('POST', '/api/consultations', await stack.token('operator'), cyclingSurvey(Date.now())))
      .id as number;
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  }, 90_000);

  it('keeps a profile and documents, shows the invoice, takes one answer to the consultation and deletes the account', async () => {
    const t = await openPage(browser, stack.url, PHONE);
    try {
      const { page } = t;
      await page.goto('/mon-compte');
      await page.getByLabel('Téléphone ou e-mail').fill('06 11 22 00 99');
      await expect.poll(() => t.problems, POLL).toEqual([expect.stringMatching(/status of 401 .*\/api\/me\)$/)]);
      t.problems.length = 0;
      const sent = stack.sms().length;
      await page.getByRole('button', { name: 'Recevoir un code' }).click();
      await page.getByLabel('Code à 6 chiffres').fill(await stack.signInCode(PHONE_NUMBER, sent));
      await page.getByRole('button', { name: 'Se connecter' }).click();
      await expect.poll(() => page.locator('h1').textContent(), POLL).toBe('Mon compte');

      // The profile, saved and read back after a reload.
      const profile = page.locator('[data-test="profile"]');
      await profile.getByLabel('Nom (facultatif)').fill('Camille Meyer');
      await profile.getByLabel('Adresse postale (facultatif)').fill('12 rue du Sauvage, 68100 Mulhouse');
      await profile.getByRole('button', { name: 'Enregistrer' }).click();
      await expect.poll(() => profile.locator('[role="status"]').textContent(), POLL).toBe('Profil enregistré.');

      // The vault: a tax notice in, downloaded back byte for byte, shared with a city service that opens it.
      const vault = page.locator('[data-test="documents"]');
      await expect.poll(() => vault.locator('[data-test="no-document"]').count(), POLL).toBe(1);
      await vault.getByLabel('Type de document').selectOption('tax-notice');
      await vault.getByLabel('Fichier (PDF, JPEG ou PNG)').setInputFiles({
        name: 'avis-2026.pdf',
        mimeType: 'application/pdf',
        buffer: TAX_NOTICE,
      });
      await vault.getByRole('button', { name: 'Ajouter au coffre-fort' }).click();
      await expect
        .poll(() => vault.locator('[role="status"]').first().textContent(), POLL)
        .toBe('« avis-2026.pdf » est dans votre coffre-fort.');
      const document = vault.locator('[data-test="document"]');
      expect(await document.locator('strong').textContent()).toBe('Avis d’imposition');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        document.getByRole('link', { name: 'Télécharger' }).click(),
      ]);
      expect(download.suggestedFilename()).toBe('avis-2026.pdf');
      expect(readFileSync((await download.path()) as string).equals(TAX_NOTICE)).toBe(true);
      await document.getByLabel('Service pour avis-2026.pdf').selectOption('etat-civil');
      await document.getByRole('button', { name: 'Partager 24 h' }).click();
      await expect.poll(() => document.locator('[data-test="share-url"]').count(), POLL).toBe(1);
      const link = new URL(await document.locator('[data-test="share-url"]').inputValue());
      const opened = await fetch(`${stack.url}${link.pathname}`);
      expect(opened.status).toBe(200);
      expect(Buffer.from(await opened.arrayBuffer()).equals(TAX_NOTICE)).toBe(true);

      // October's invoice: two tram rides, and its lines on demand.
      const mobility = page.locator('[data-test="mobility"]');
      await expect
        .poll(() => mobility.locator('[data-test="invoice"] td').first().textContent(), POLL)
        .toBe('octobre 2026');
      await mobility.getByRole('button', { name: 'Détail' }).click();
      await expect
        .poll(() => mobility.locator('[data-test="invoice-lines"] tbody tr').count(), POLL)
        .toBeGreaterThanOrEqual(2);

      // The parking receipt, with its verification link.
      const parking = page.locator('[data-test="parking"]');
      await expect
        .poll(() => parking.locator('[data-test="parking-receipt"] td').nth(1).textContent(), POLL)
        .toMatch(/^vert, AB-123-CD \((en cours|échu)\)$/);
      const receipt = new URL(
        (await parking.locator('[data-test="parking-receipt"] a').getAttribute('href')) as string,
      );
      expect((await fetch(`${stack.url}${receipt.pathname}${receipt.search}`)).status).toBe(200);

      // The consultation: the required question left out is pointed out, then the answer is taken once.
      const survey = page.locator('[data-test="consultations"] [data-test="survey"]');
      await expect.poll(() => survey.locator('h3').textContent(), POLL).toBe('Itinéraires cyclables 2027');
      await survey.getByLabel('Dornach').check();
      await survey.getByLabel('Rebberg').check();
      await survey.getByRole('button', { name: 'Envoyer mes réponses' }).click();
      await expect
        .poll(() => survey.locator('[data-question="frequence"] [role="alert"]').textContent(), POLL)
        .toBe('Cette question demande une réponse.');
      expect(t.problems).toEqual([expect.stringMatching(/status of 400 .*\/responses\)$/)]);
      t.problems.length = 0;
      await survey.getByLabel('Chaque jour').check();
      await survey.getByLabel('4').check();
      await survey.getByLabel('Une idée ?').fill('Des arceaux devant la gare.');
      await survey.getByRole('button', { name: 'Envoyer mes réponses' }).click();
      await expect
        .poll(() => survey.locator('[role="status"]').textContent(), POLL)
        .toBe('Merci ! Votre réponse est enregistrée.');
      await screenshot(page, 'citizen-account');

      await page.reload();
      await expect.poll(() => page.getByLabel('Nom (facultatif)').inputValue(), POLL).toBe('Camille Meyer');
      // Every access is in the log, the city service's opening included.
      await page.getByText('Qui a accédé à mes documents ?').click();
      const log = await page.locator('[data-test="audit-event"]').allTextContents();
      expect(log.some((line) => line.includes('Ouverture par un service (service État civil)'))).toBe(true);
      expect(log.some((line) => line.includes('Téléchargement (vous)'))).toBe(true);
      await expect.poll(() => survey.locator('[role="status"]').textContent(), POLL).toMatch(/^Vous avez répondu le /);

      // Deleting the account: the box must be ticked; then it is gone, and the session with it.
      const remove = page.locator('[data-test="delete"]');
      await remove.getByRole('button', { name: 'Supprimer mon compte' }).click();
      await expect
        .poll(() => remove.locator('[role="alert"]').textContent(), POLL)
        .toBe('Cochez la case pour confirmer.');
      await remove.getByLabel('Je veux supprimer mon compte et mes documents').check();
      await remove.getByRole('button', { name: 'Supprimer mon compte' }).click();
      await expect.poll(() => page.locator('h1').textContent(), POLL).toBe('Compte supprimé');
      expect(t.problems).toEqual([]);
      const me = await page.evaluate<number>("fetch('/api/me').then((r) => r.status)");
      expect(me).toBe(401);
      // The vault went with it: the service's link opens nothing any more.
      expect((await fetch(`${stack.url}${link.pathname}`)).status).toBe(404);
    } finally {
      await t.close();
    }
  });

  it('shows the consultation’s results to an operator in the console and downloads them as CSV', async () => {
    const t = await openPage(browser, stack.url, DESKTOP);
    try {
      const { page } = t;
      await page.goto('/console');
      await page.getByLabel('Jeton d’accès').fill(await stack.token('viewer', 'elu'));
      await page.getByRole('button', { name: 'Se connecter' }).click();
      await page.getByRole('link', { name: 'Consultations' }).click();
      const row = page.locator('[data-test="survey"]').first();
      await expect.poll(() => row.locator('[data-test="survey-respondents"]').textContent(), POLL).toBe('1');
      await row.getByRole('link', { name: 'Itinéraires cyclables 2027' }).click();
      const detail = page.locator('[data-test="survey-detail"]');
      await expect.poll(() => detail.locator('[data-test="respondents"]').textContent(), POLL).toBe('1 participant');
      const bars = detail.locator('[data-test="result"]').first().locator('[data-test="result-bar"]');
      expect(await bars.allTextContents()).toEqual(['Jamais0 · 0 %', 'Parfois0 · 0 %', 'Chaque jour1 · 100 %']);
      await screenshot(page, 'console-consultation');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        detail.getByRole('button', { name: 'Télécharger les résultats (CSV)' }).click(),
      ]);
      expect(download.suggestedFilename()).toBe(`consultation-${surveyId}.csv`);
      const csv = readFileSync((await download.path()) as string, 'utf8');
      expect(csv).toContain('Chaque jour');
      expect(t.problems).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
