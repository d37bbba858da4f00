import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriptions } from '../../alerting/index.ts';
import { meterCode } from '../../alerting/meter-code.ts';
import { unsubscribeSecret } from '../../alerting/webhooks/unsubscribe-token.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import { message, rollup, transition } from '../../services/console/test-helpers.ts';
import { jpegWithGps } from '../../services/reports/test-helpers.ts';
import { dateMinusDays, localDateOf, localMidnightMs } from '../../services/residents/consumption.ts';
import { launchBrowser, openPage, PHONE, screenshot } from '../helpers/browser.ts';
import { startWebStack, type WebStack } from '../helpers/web-stack.ts';

/**
 * Issue 7's citizen pages in real headless Chromium on a 390 px phone, against everything `vigie start` runs (but
 * the simulators): "Mon compteur" (sign-in by SMS code, a meter's consumption and leak history, its alerts) and
 * "Signaler un problème" (checks before sending, a photo too large refused on the phone, a photo-only report placed
 * by its GPS and followed by its reference). Screenshots land in test-artifacts/screenshots/.
 */

const HOUR_MS = 3_600_000;
const POLL = { timeout: 15_000, interval: 100 };
const METER = 'WM-000777';
const PHONE_NUMBER = '+33612345678';
/** The meter's last 7 complete days, oldest first, in litres. */
const DAYS_L = [180, 210, 150, 240, 190, 170, 200];
/** Litres of this hour, the only data of today so far (a partial day). */
const TODAY_L = 15;
/** The photo limit of this stack: the smallest allowed, so a "too large" photo stays small. */
const PHOTO_MAX_BYTES = 65_536;

/** The text of every element matching `selector`, trimmed. */
function texts(page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).evaluateAll((els) => els.map((e) => (e.textContent ?? '').trim()));
}

/** Whether the page is wider than the phone (something overflows sideways). */
function overflowsSideways(page: Page): Promise<boolean> {
  // A string: this file is type-checked without the DOM library.
  return page.evaluate<boolean>('document.documentElement.scrollWidth > window.innerWidth');
}

describe('the citizen pages (headless Chromium, phone)', () => {
  let stack: WebStack;
  let browser: Browser;
  let today: string;

  beforeAll(async () => {
    [stack, browser] = await Promise.all([
      startWebStack({ VIGIE_REPORTS_PHOTO_MAX_BYTES: String(PHOTO_MAX_BYTES) }),
      launchBrowser(),
    ]);
    const tz = stack.config.tz;
    const now = Date.now();
    today = localDateOf(now, tz);
    // The resident's phone has a confirmed subscription to the meter: the meter is theirs.
    await createSubscriptions(stack.pipeline.store).add({
      deviceId: METER,
      channel: 'sms',
      address: PHONE_NUMBER,
      locale: 'fr',
      consent: 'operator',
    });
    const days = DAYS_L.map((consumptionL, i) => {
      const date = dateMinusDays(today, DAYS_L.length - i);
      return message(rollup(METER, 'day', new Date(localMidnightMs(date, tz)).toISOString(), { consumptionL }));
    });
    const hour = message(
      rollup(METER, 'hour', new Date(now - (now % HOUR_MS)).toISOString(), { consumptionL: TODAY_L }),
    );
    await stack.pipeline.bus.produce(TOPICS.rollups, [...days, hour]);
    await stack.pipeline.bus.produce(TOPICS.alerts, [
      message(transition(METER, 'open', new Date(now - 3 * HOUR_MS).toISOString())),
    ]);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  }, 90_000);

  it('shows a resident their meter, its consumption and its leak when they sign in with the SMS code', async () => {
    const t = await openPage(browser, stack.url, PHONE);
    try {
      const { page } = t;
      await page.goto('/mon-compteur');
      await page.getByLabel('Téléphone ou e-mail').fill('06 12 34 56 78');
      // Signed out: GET /api/me answered 401, which is how the page knows (not a page problem).
      await expect.poll(() => t.problems, POLL).toEqual([expect.stringMatching(/status of 401 .*\/api\/me\)$/)]);
      t.problems.length = 0;
      const sent = stack.sms().length;
      await page.getByRole('button', { name: 'Recevoir un code' }).click();
      await expect.poll(() => page.locator('[data-test="code-form"]').textContent(), POLL).toContain('+336•••••78');
      const code = await stack.signInCode(PHONE_NUMBER, sent);
      expect(await page.getByLabel('Code à 6 chiffres').getAttribute('autocomplete')).toBe('one-time-code');
      expect(await page.getByLabel('Code à 6 chiffres').getAttribute('inputmode')).toBe('numeric');

      // A wrong code first: the tries left.
      const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
      await page.getByLabel('Code à 6 chiffres').fill(wrong);
      await page.getByRole('button', { name: 'Se connecter' }).click();
      await expect.poll(() => page.getByRole('alert').textContent(), POLL).toBe('Code incorrect : encore 4 essais.');
      // The API's answer to a wrong code, as the browser logs it.
      await expect
        .poll(() => t.problems, POLL)
        .toEqual([expect.stringMatching(/status of 400 .*\/api\/me\/verify\)$/)]);
      t.problems.length = 0;
      await screenshot(page, 'citizen-meter-wrong-code');

      await page.getByLabel('Code à 6 chiffres').fill(code);
      await page.getByRole('button', { name: 'Se connecter' }).click();
      const meter = page.locator(`[data-test="meter"][data-device="${METER}"]`);
      await expect.poll(() => meter.locator('h2').textContent(), POLL).toBe(`Compteur ${METER}`);
      await expect.poll(() => page.locator('#who [data-test="who"]').textContent(), POLL).toBe('+336•••••78');

      // The chart's data (its table): 7 complete days and today, partial.
      const rows = meter.locator('[data-test="consumption"] tbody tr');
      await expect.poll(() => rows.count(), POLL).toBe(DAYS_L.length + 1);
      const values = await texts(page, `[data-device="${METER}"] [data-test="consumption"] tbody td:nth-child(2)`);
      expect(values).toEqual([...DAYS_L.map((l) => `${l} L`), `${TODAY_L} L (en cours)`]);
      expect(await rows.last().getAttribute('data-date')).toBe(today);
      expect(await meter.locator('[data-test="partial"]').textContent()).toContain(
        `Aujourd’hui : ${TODAY_L} L jusqu’ici`,
      );
      const total = DAYS_L.reduce((a, b) => a + b, TODAY_L);
      const totals = meter.locator('[data-test="totals"]');
      expect(await totals.locator('[data-test="total-30"]').textContent()).toBe(
        `${new Intl.NumberFormat('fr-FR').format(total)} L`,
      );
      expect(await totals.locator('[data-test="average"]').textContent()).toBe(
        `${Math.round(DAYS_L.reduce((a, b) => a + b) / DAYS_L.length)} L`,
      );
      expect(await meter.locator('.chart canvas').count()).toBeGreaterThan(0);

      // The leak, still open, in the history; the alerts go to this phone.
      await expect
        .poll(
          () =>
            texts(
              page,
              `[data-device="${METER}"] [data-test="leak"] strong, [data-device="${METER}"] [data-test="leak"] .badge`,
            ),
          POLL,
        )
        .toEqual(['Fuite', 'en cours']);
      expect(await meter.locator('[data-test="subscription"] p').first().textContent()).toBe(
        'Alertes de fuite par SMS au +336•••••78.',
      );
      expect(await overflowsSideways(page)).toBe(false);
      await screenshot(page, 'citizen-meter-days');

      // Months: one or two (the 7 days may straddle a month's end), the current one partial.
      await meter.getByRole('button', { name: 'Mois' }).click();
      await expect
        .poll(() => meter.locator('[data-test="consumption"] caption').textContent(), POLL)
        .toBe('Consommation par mois');
      const months = await texts(page, `[data-device="${METER}"] [data-test="consumption"] tbody td:nth-child(2)`);
      expect(months.length).toBeGreaterThanOrEqual(1);
      expect(months.at(-1)).toContain('(en cours)');
      expect(await meter.getByRole('button', { name: 'Mois' }).getAttribute('aria-pressed')).toBe('true');
      await screenshot(page, 'citizen-meter-months');

      // A reload keeps the session (GET /api/me gives the CSRF token back).
      await page.reload();
      await expect.poll(() => page.locator('#who [data-test="who"]').textContent(), POLL).toBe('+336•••••78');
      expect(t.problems).toEqual([]);
    } finally {
      await t.close();
    }
  }, 90_000);

  it('lets a resident stop the alerts, link the meter back with the bill’s codes and turn them on again', async () => {
    const t = await openPage(browser, stack.url, PHONE);
    try {
      const { page } = t;
      await page.goto('/mon-compteur');
      await page.getByLabel('Téléphone ou e-mail').fill('+33612345678');
      await expect.poll(() => t.problems, POLL).toEqual([expect.stringMatching(/status of 401 .*\/api\/me\)$/)]); // signed out
      t.problems.length = 0;
      const sent = stack.sms().length;
      await page.getByRole('button', { name: 'Recevoir un code' }).click();
      const code = await stack.signInCode(PHONE_NUMBER, sent);
      await page.getByLabel('Code à 6 chiffres').fill(code);
      await page.getByRole('button', { name: 'Se connecter' }).click();
      const meter = page.locator(`[data-test="meter"][data-device="${METER}"]`);

      // Stopping the alerts of a meter that is theirs only by them takes it off the page.
      await meter.getByRole('button', { name: 'Ne plus recevoir ces alertes' }).click();
      await expect.poll(() => page.locator('[data-test="no-meter"]').count(), POLL).toBe(1);
      expect(await page.locator('[data-test="meter"]').count()).toBe(0);

      // A wrong subscriber code is refused; the one printed on the bill links it back.
      await page.getByLabel('Numéro du compteur').fill(METER);
      await page.getByLabel('Code abonné').fill('AAAA-AAAA');
      await page.getByRole('button', { name: 'Relier ce compteur' }).click();
      await expect.poll(() => page.getByRole('alert').textContent(), POLL).toContain('ne correspond pas');
      await expect
        .poll(() => t.problems, POLL)
        .toEqual([expect.stringMatching(/status of 403 .*\/api\/me\/meters\)$/)]);
      t.problems.length = 0;
      const secret = await unsubscribeSecret(stack.pipeline.store, stack.config.alerting.unsubscribeSecret);
      await page.getByLabel('Code abonné').fill(meterCode(secret, METER));
      await page.getByRole('button', { name: 'Relier ce compteur' }).click();
      await expect.poll(() => meter.count(), POLL).toBe(1);
      await expect.poll(() => page.getByRole('status').first().textContent(), POLL).toContain('est relié');

      await meter.getByRole('button', { name: 'Recevoir les alertes de fuite' }).click();
      await expect
        .poll(() => meter.locator('[data-test="subscription"] p').first().textContent(), POLL)
        .toBe('Alertes de fuite par SMS au +336•••••78.');
      const subs = await createSubscriptions(stack.pipeline.store).forDevice(METER);
      expect(subs.map((s) => [s.address, s.status])).toEqual([[PHONE_NUMBER, 'confirmed']]);
      await screenshot(page, 'citizen-meter-alerts-on');

      await page.getByRole('button', { name: 'Se déconnecter' }).click();
      await expect.poll(() => page.getByRole('status').first().textContent(), POLL).toBe('Vous êtes déconnecté.');
      expect(await page.locator('#who').textContent()).toBe('');
      expect(t.problems).toEqual([]);
    } finally {
      await t.close();
    }
  }, 90_000);

  it('says in French what is missing and sends nothing when the report form is incomplete', async () => {
    const t = await openPage(browser, stack.url, PHONE);
    try {
      const { page } = t;
      const posts: string[] = [];
      page.on('request', (r) => {
        if (r.method() === 'POST') posts.push(r.url());
      });
      await page.context().grantPermissions(['geolocation'], { origin: stack.url });
      await page.context().setGeolocation({ latitude: 47.7508, longitude: 7.3359, accuracy: 12 });
      await page.goto('/signaler');
      const submit = page.getByRole('button', { name: 'Envoyer le signalement' });
      await submit.click();
      await expect
        .poll(() => texts(page, '[data-test="errors"] li'), POLL)
        .toEqual([
          'Choisissez une catégorie.',
          'Décrivez le problème en quelques mots.',
          'Indiquez le lieu : utilisez votre position, saisissez une adresse, ou joignez une photo prise sur place.',
        ]);
      expect(await page.locator('[data-test="errors"]').getAttribute('role')).toBe('alert');
      await screenshot(page, 'citizen-report-missing');

      await page.getByRole('radio', { name: 'Éclairage public' }).check();
      await page.getByLabel('Description').fill('Lampadaire éteint depuis trois jours devant le numéro 12.');
      await page.getByLabel('Téléphone ou e-mail').fill('12');
      await submit.click();
      await expect
        .poll(() => texts(page, '[data-test="errors"] li'), POLL)
        .toEqual([
          'Indiquez le lieu : utilisez votre position, saisissez une adresse, ou joignez une photo prise sur place.',
          'Le contact doit être un numéro de téléphone (06 12 34 56 78) ou une adresse e-mail.',
        ]);
      expect(await page.getByLabel('Adresse ou repère').getAttribute('aria-invalid')).toBe('true');

      // A photo over the limit is refused as soon as it is chosen: no preview, nothing kept to send.
      await page.getByLabel('Photo (facultatif)').setInputFiles({
        name: 'grande.jpg',
        mimeType: 'image/jpeg',
        buffer: Buffer.concat([await jpegWithGps(), Buffer.alloc(PHOTO_MAX_BYTES)]),
      });
      await expect.poll(() => page.locator('[data-test="photo-error"]').textContent(), POLL).toContain('au plus 64 Ko');
      expect(await page.locator('[data-test="photo-preview"] img').count()).toBe(0);
      expect(await page.getByLabel('Photo (facultatif)').inputValue()).toBe('');

      // The phone's position places it; it can be taken back.
      await page.getByRole('button', { name: 'Utiliser ma position' }).click();
      await expect
        .poll(() => page.locator('[data-test="position-text"]').textContent(), POLL)
        .toBe('Position : 47,75080, 7,33590 (à 12 m près)');
      await page.getByLabel('Téléphone ou e-mail').fill('');
      await screenshot(page, 'citizen-report-position');
      await page.getByRole('button', { name: 'Retirer la position' }).click();
      expect(await page.locator('[data-test="position-text"]').count()).toBe(0);
      await submit.click();
      await expect
        .poll(() => texts(page, '[data-test="errors"]'), POLL)
        .toEqual([
          'Indiquez le lieu : utilisez votre position, saisissez une adresse, ou joignez une photo prise sur place.',
        ]);
      expect(posts).toEqual([]);
      expect(await overflowsSideways(page)).toBe(false);
      expect(t.problems).toEqual([]);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('acknowledges a photo-only report placed by its GPS and finds it again by its reference', async () => {
    const t = await openPage(browser, stack.url, PHONE);
    try {
      const { page } = t;
      await page.goto('/signaler');
      await page.getByRole('radio', { name: 'Voirie' }).check();
      await page.getByLabel('Description').fill('Nid-de-poule profond au milieu de la chaussée.');
      await page.getByLabel('Photo (facultatif)').setInputFiles({
        name: 'trou.jpg',
        mimeType: 'image/jpeg',
        buffer: await jpegWithGps({ latitude: 47.7467, longitude: 7.3389 }, { widthPx: 640, heightPx: 480 }),
      });
      await expect.poll(() => page.locator('[data-test="photo-preview"] img').count(), POLL).toBe(1);
      await page.getByLabel('Téléphone ou e-mail').fill('06 98 76 54 32');
      await page.getByRole('button', { name: 'Envoyer le signalement' }).click();

      const ack = page.locator('[data-test="acknowledgement"]');
      await expect.poll(() => ack.locator('h1').textContent(), POLL).toBe('Signalement reçu');
      const reference = (await ack.locator('[data-test="reference"]').textContent()) as string;
      expect(reference).toMatch(/^R-\d{4}-\d{6,}$/);
      expect(await ack.locator('[data-test="reference"]').getAttribute('class')).toBe('reference');
      expect(await ack.locator('[data-test="ack-status"]').textContent()).toBe('Reçu');
      expect(await ack.locator('[data-test="ack-place"]').textContent()).toContain('pris dans la position');
      expect(await ack.textContent()).toContain('Vous recevez un SMS à chaque étape');
      expect(await page.evaluate<string | null>("document.activeElement.getAttribute('data-test')")).toBe('ack-title');
      await screenshot(page, 'citizen-report-acknowledged');

      // Suivre: pre-filled with the reference and the phone's last 4 digits.
      expect(await page.getByLabel('Référence', { exact: true }).inputValue()).toBe(reference);
      expect(await page.getByLabel('Contrôle').inputValue()).toBe('5432');
      await page.getByRole('button', { name: 'Voir où en est mon signalement' }).click();
      await expect.poll(() => page.locator('[data-test="follow-status"]').textContent(), POLL).toBe('Reçu');
      expect(await page.locator('[data-test="follow-history"] li').first().textContent()).toContain('Reçu');

      // The report as the operators see it: placed by the photo.
      const token = await stack.token('viewer');
      const list = (await fetch(`${stack.url}/api/reports?category=roads`, {
        headers: { authorization: `Bearer ${token}` },
      }).then((r) => r.json())) as { reports: Array<{ reference: string; locationSource: string; hasPhoto: boolean }> };
      expect(list.reports.find((r) => r.reference === reference)).toMatchObject({
        locationSource: 'photo',
        hasPhoto: true,
      });
      await screenshot(page, 'citizen-report-followed');

      await page.getByRole('button', { name: 'Faire un autre signalement' }).click();
      await expect.poll(() => page.getByLabel('Description').inputValue(), POLL).toBe('');
      expect(await overflowsSideways(page)).toBe(false);
      expect(t.problems).toEqual([]);
    } finally {
      await t.close();
    }
  }, 60_000);
});
