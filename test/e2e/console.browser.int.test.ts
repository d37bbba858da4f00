import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '../../core/contracts/index.ts';
import { device, message, rollup, transition } from '../../services/console/test-helpers.ts';
import { jpegWithGps } from '../../services/reports/test-helpers.ts';
import { DESKTOP, launchBrowser, openPage, PHONE, screenshot, type TestPage } from '../helpers/browser.ts';
import { freePort } from '../helpers/free-port.ts';
import { startWebStack, type WebStack } from '../helpers/web-stack.ts';

/**
 * Issue 7's acceptance, in real headless Chromium against everything `vigie start` runs (but the simulators): the
 * operators' console — live map, alerts acknowledged on the console — and a citizen's report followed through the
 * queue to the reporter's SMS. The map's tile server is configured but unreachable (a city network without
 * internet): the map must still show the devices. Screenshots land in test-artifacts/screenshots/.
 */

const HOUR_MS = 3_600_000;
const POLL = { timeout: 15_000, interval: 100 };

describe('the web console (headless Chromium)', () => {
  let stack: WebStack;
  let browser: Browser;
  /** Tiles from a port nothing listens on: every tile request fails, as offline. */
  let tiles: string;
  /** Problems of a page other than the unreachable tiles (those are expected offline). */
  const pageProblems = (t: TestPage) => t.problems.filter((p) => !p.includes(tiles));

  beforeAll(async () => {
    tiles = `http://127.0.0.1:${await freePort()}/`;
    [stack, browser] = await Promise.all([
      startWebStack({ VIGIE_CONSOLE_TILE_URL: `${tiles}{z}/{x}/{y}.png` }),
      launchBrowser(),
    ]);
    const now = Date.now();
    const hourStart = now - (now % HOUR_MS);
    await stack.pipeline.bus.produce(TOPICS.devices, [
      message(device('WM-000001', { district: 'centre', lat: 47.7508, lon: 7.3359 })),
      message(device('WM-000002', { district: 'centre', lat: 47.752, lon: 7.338 })),
      message(device('SL-000001', { kind: 'streetlight', district: 'centre', lat: 47.749, lon: 7.334 })),
    ]);
    // A night of leaking: 4 L every hour for the last 24 hours on WM-000001.
    await stack.pipeline.bus.produce(
      TOPICS.rollups,
      Array.from({ length: 24 }, (_, i) =>
        message(
          rollup('WM-000001', 'hour', new Date(hourStart - (24 - i) * HOUR_MS).toISOString(), { consumptionL: 4 }),
        ),
      ),
    );
    await stack.pipeline.bus.produce(TOPICS.alerts, [
      message(transition('WM-000001', 'open', new Date(now - 2 * HOUR_MS).toISOString())),
    ]);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  }, 90_000);

  it('shows the devices on the map, offline, and an operator acknowledges a leak alert', async () => {
    const token = await stack.token('operator', 'claire');
    const t = await openPage(browser, stack.url, DESKTOP);
    try {
      const { page } = t;
      await page.goto('/console');
      // A wrong token is refused with a message; the right one signs in.
      await page.getByLabel('Jeton d’accès').fill('vigie_nope_nope');
      await page.getByRole('button', { name: 'Se connecter' }).click();
      await expect.poll(() => page.getByRole('alert').first().textContent(), POLL).toContain('Jeton refusé');
      t.problems.length = 0; // the 401 of the refused token is the expected answer, not a page problem
      await page.getByLabel('Jeton d’accès').fill(token);
      await page.getByRole('button', { name: 'Se connecter' }).click();
      await expect.poll(() => page.locator('#who').textContent(), POLL).toContain('claire (opérateur)');

      // The map: three devices placed (no tiles: the server is unreachable), the leaking meter listed in alert.
      await expect.poll(() => page.locator('#map').getAttribute('data-devices'), POLL).toBe('3');
      expect(t.problems.some((p) => p.includes(tiles))).toBe(true); // the tiles were asked for, and failed
      const inAlert = page.locator('[data-test="devices-in-alert"] tr[data-device]');
      await expect.poll(() => inAlert.allTextContents(), POLL).toEqual([expect.stringContaining('WM-000001')]);
      await expect.poll(() => page.locator('[data-test="counters"]').textContent(), POLL).toContain('Critique : 1');
      await screenshot(page, 'console-map');

      // The alerts: acknowledge the leak.
      await page.getByRole('link', { name: 'Alertes' }).click();
      const row = page.locator('tr[data-alert="WM-000001:leak:1"]');
      await expect.poll(() => row.textContent(), POLL).toContain('Fuite');
      await row.getByRole('button', { name: 'Acquitter' }).click();
      await expect
        .poll(() => row.locator('[data-test="alert-state"]').textContent(), POLL)
        .toBe('Prise en charge par claire');
      const alert = await fetch(`${stack.url}/api/alerts/WM-000001:leak:1`, {
        headers: { authorization: `Bearer ${token}` },
      }).then((r) => r.json() as Promise<{ state: string; acknowledgedBy: string }>);
      expect(alert).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'claire' });
      await screenshot(page, 'console-alert-acknowledged');

      // The meter's hourly consumption, from the link in the alert.
      await row.getByRole('link', { name: 'WM-000001' }).click();
      const series = page.locator('[data-test="series"] tr');
      await expect.poll(() => series.count(), POLL).toBe(25); // a header row + 24 hours
      await expect.poll(() => page.locator('[data-test="device-alerts"]').textContent(), POLL).toContain('Fuite');
      await screenshot(page, 'console-meter');
      expect(pageProblems(t)).toEqual([]);
    } finally {
      await t.close();
    }
  }, 90_000);

  it('shows a viewer the alerts without the buttons that act', async () => {
    const token = await stack.token('viewer', 'stagiaire');
    const t = await openPage(browser, stack.url, DESKTOP);
    try {
      const { page } = t;
      await page.goto('/console#alertes');
      await page.getByLabel('Jeton d’accès').fill(token);
      await page.getByRole('button', { name: 'Se connecter' }).click();
      const row = page.locator('tr[data-alert="WM-000001:leak:1"]');
      await expect.poll(() => row.textContent(), POLL).toContain('Lecture seule');
      expect(await row.getByRole('button').count()).toBe(0);
      expect(pageProblems(t)).toEqual([]);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('follows a report from a phone to its resolution: queue, assign, start, resolve, an SMS to the reporter at each step', async () => {
    const reporter = '+33611223344';
    // The citizen, on a phone: a pothole with a photo and an address, and their number to be kept informed.
    const citizen = await openPage(browser, stack.url, PHONE);
    const operator = await openPage(browser, stack.url, DESKTOP);
    try {
      const phone = citizen.page;
      await phone.goto('/signaler');
      await phone.getByRole('radio', { name: 'Voirie' }).check();
      await phone.getByLabel('Description').fill('Nid-de-poule devant le numéro 12, une roue de vélo y est passée.');
      await phone.getByLabel('Adresse').fill('12 rue du Sauvage, Mulhouse');
      await phone.getByLabel('Photo (facultatif)').setInputFiles({
        name: 'nid-de-poule.jpg',
        mimeType: 'image/jpeg',
        buffer: await jpegWithGps({ latitude: 47.7467, longitude: 7.3389 }, { widthPx: 800, heightPx: 600 }),
      });
      await phone.getByLabel('Téléphone ou e-mail').fill('06 11 22 33 44');
      await phone.getByRole('button', { name: 'Envoyer le signalement' }).click();
      const ack = phone.locator('[data-test="acknowledgement"]');
      await expect.poll(() => ack.locator('h1').textContent(), POLL).toBe('Signalement reçu');
      const reference = (await ack.locator('[data-test="reference"]').textContent()) as string;
      expect(await ack.locator('[data-test="ack-status"]').textContent()).toBe('Reçu');
      await screenshot(phone, 'acceptance-1-citizen-acknowledged');
      const smsTo = () => stack.sms().filter((m) => m.to === reporter && m.body.includes(reference));
      await expect.poll(() => smsTo().map((m) => m.body), POLL).toEqual([expect.stringContaining('enregistré')]);

      // The operator: the report waits in the queue with its photo; assign, start, resolve.
      const page = operator.page;
      await page.goto('/console#signalements');
      await page.getByLabel('Jeton d’accès').fill(await stack.token('operator', 'marc'));
      await page.getByRole('button', { name: 'Se connecter' }).click();
      const row = page.locator(`tr[data-report="${reference}"]`);
      await expect.poll(() => row.textContent(), POLL).toContain('Voirie');
      await row.getByRole('link', { name: reference }).click();
      const detail = page.locator('[data-test="report-detail"]');
      const status = detail.locator('[data-test="report-status"]');
      await expect.poll(() => status.textContent(), POLL).toBe('Reçu');
      const photo = detail.getByRole('img', { name: `Photo du signalement ${reference}` });
      await expect
        .poll(() => photo.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), POLL)
        .toBe(800);
      await screenshot(page, 'acceptance-2-operator-queue');
      await detail.getByLabel('Équipe ou personne').fill('Voirie Nord');
      await detail.getByRole('button', { name: 'Assigner' }).click();
      await expect.poll(() => status.textContent(), POLL).toBe('Pris en charge');
      await detail.getByRole('button', { name: 'Démarrer' }).click();
      await expect.poll(() => status.textContent(), POLL).toBe('En cours');
      // Resolving needs a note for the reporter: without one, nothing is sent.
      await detail.getByRole('button', { name: 'Résoudre' }).click();
      await expect
        .poll(() => page.getByRole('alert').allTextContents(), POLL)
        .toContain('Écrivez une note : elle est envoyée à l’habitant.');
      await detail.getByLabel('Note pour l’habitant').fill('Chaussée reprise ce matin.');
      await detail.getByRole('button', { name: 'Résoudre' }).click();
      await expect.poll(() => status.textContent(), POLL).toBe('Résolu');
      expect(await detail.locator('ol li').allTextContents()).toEqual([
        expect.stringContaining('Reçu (habitant)'),
        expect.stringContaining('Pris en charge (marc) → Voirie Nord'),
        expect.stringContaining('En cours (marc)'),
        expect.stringContaining('Résolu (marc)'),
      ]);
      await screenshot(page, 'acceptance-3-operator-resolved');

      // The reporter's outbox: one SMS per step, in order, the note of the resolution included.
      await expect
        .poll(() => smsTo().map((m) => m.body), POLL)
        .toEqual([
          expect.stringContaining('enregistré'),
          expect.stringContaining('confié à une équipe'),
          expect.stringContaining('intervention en cours'),
          expect.stringMatching(/problème résolu.*Chaussée reprise ce matin/),
        ]);
      // The citizen follows it on the phone: resolved.
      await phone.getByRole('button', { name: 'Voir où en est mon signalement' }).click();
      await expect.poll(() => phone.locator('[data-test="follow-status"]').textContent(), POLL).toBe('Résolu');
      await screenshot(phone, 'acceptance-4-citizen-resolved');
      expect(citizen.problems).toEqual([]);
      expect(pageProblems(operator)).toEqual([]);
    } finally {
      await citizen.close();
      await operator.close();
    }
  }, 90_000);
});
