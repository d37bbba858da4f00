import twilio from 'twilio';
import { describe, expect, it, onTestFinished } from 'vitest';
import { alertingHttpPlugins } from '../../alerting/http.ts';
import { alertingConfigSchema } from '../../alerting/index.ts';
import { ALL_MIGRATIONS } from '../../cli/pipeline.ts';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import { httpConfigSchema, startHttp } from '../../services/http/index.ts';
import { createReports } from '../../services/reports/index.ts';
import { jpegWithGps } from '../../services/reports/test-helpers.ts';
import { startTwilioMedia } from '../helpers/twilio-media.ts';

/**
 * Issue 7's acceptance: an MMS to the city's number, through the Twilio webhook with a valid signature, becomes a
 * problem report with its photo — the alerting stage's webhook publishes it on inbound-sms.v1, the reports service
 * fetches the photo from Twilio's media URL (a local stand-in, basic auth), places the report by the photo's EXIF
 * GPS and stores the photo without its EXIF.
 */

const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const TOKEN = 'e2e-twilio-auth-token';
const PUBLIC_URL = 'https://vigie.example.org';
const PLACE = { latitude: 47.7508, longitude: 7.3359 }; // Mulhouse, place de la Réunion

describe('MMS to a problem report (webhook → inbound-sms.v1 → reports)', () => {
  it('creates a report with its photo, placed by the photo, when a signed MMS arrives', async () => {
    const store = await openStore({ pgliteDir: 'memory://' }, ALL_MIGRATIONS);
    const bus = createMemoryBus();
    const metrics = new Metrics();
    const logger = silentLogger();
    const media = await startTwilioMedia(
      { accountSid: SID, authToken: TOKEN },
      {
        '/Media/ME1': { type: 'image/jpeg', body: await jpegWithGps(PLACE) },
      },
    );
    const reports = createReports({
      store,
      bus,
      logger,
      metrics,
      twilio: { accountSid: SID, authToken: TOKEN },
      mediaHosts: [media.host],
    });
    await reports.start();
    const alerting = alertingConfigSchema.parse({
      twilio: { accountSid: SID, authToken: TOKEN, fromNumber: '+33700000001' },
    });
    const http = httpConfigSchema.parse({ host: '127.0.0.1', port: 0, publicUrl: PUBLIC_URL });
    const server = await startHttp({
      config: http,
      store,
      logger,
      metrics,
      plugins: await alertingHttpPlugins({ store, config: alerting, http, metrics, logger, bus }),
    });
    onTestFinished(async () => {
      await server.close();
      await reports.close();
      await bus.close();
      await store.close();
    });

    const params = {
      AccountSid: SID,
      MessageSid: `MM${'e'.repeat(32)}`,
      From: '+33611223344',
      To: '36000',
      Body: 'Nid de poule devant le 12 rue du Sauvage',
      NumMedia: '1',
      MediaUrl0: media.url('/Media/ME1'),
      MediaContentType0: 'image/jpeg',
    };
    const post = (signature: string) =>
      fetch(`${server.url}/webhooks/twilio/sms`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        body: new URLSearchParams(params).toString(),
      });
    // A forged request first: refused, nothing reported.
    expect((await post('bm90IGEgc2lnbmF0dXJl')).status).toBe(403);
    const signature = twilio.getExpectedTwilioSignature(TOKEN, `${PUBLIC_URL}/webhooks/twilio/sms`, params);
    const answer = await post(signature);
    expect(answer.status).toBe(200);
    expect(await answer.text()).not.toContain('<Message>'); // the report service answers by notification

    const reportStore = reports.reports;
    await expect.poll(() => reportStore.getBySourceRef('sms', params.MessageSid), { timeout: 15_000 }).toBeDefined();
    const report = await reportStore.getBySourceRef('sms', params.MessageSid);
    expect(report).toMatchObject({ category: 'roads', source: 'sms', hasPhoto: true, locationSource: 'photo' });
    expect(report?.latitude).toBeCloseTo(PLACE.latitude, 4);
    expect(report?.longitude).toBeCloseTo(PLACE.longitude, 4);
    expect(media.requests).toEqual([{ path: '/Media/ME1', authorized: true }]);
    const photo = await reportStore.photo(report?.id ?? 0);
    expect(photo?.contentType).toBe('image/jpeg');
    // Stored without EXIF: no APP1 "Exif" segment, no GPS, not the camera owner's name.
    expect(photo?.bytes.includes(Buffer.from('Exif\0\0'))).toBe(false);
    expect(photo?.bytes.includes(Buffer.from('Jean Dupont'))).toBe(false);
  });
});
