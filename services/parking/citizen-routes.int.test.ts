import { describe, expect, it, onTestFinished } from 'vitest';
import { alertingMigrations } from '../../alerting/index.ts';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { ManualClock } from '../../core/clock.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openTestStore } from '../../test/helpers/postgres.ts';
import { httpMigrations } from '../http/index.ts';
import { residentsMigrations } from '../residents/index.ts';
import { startResidentsServer } from '../residents/test-helpers.ts';
import { parkingCitizenRoutes } from './citizen-routes.ts';
import { parkingConfigSchema } from './config.ts';
import { createParking, parkingMigrations } from './index.ts';
import { verifyReceiptToken } from './reference.ts';
import { inboundSms, sendSms } from './test-helpers.ts';

/** Tuesday 10 March 2026, 10:00 in Mulhouse: rouge is paid. */
const T0 = Date.parse('2026-03-10T09:00:00.000Z');
const SECRET = 'parking-receipt-secret-for-the-tests-0123456789';
const PUBLIC_URL = 'https://vigie.example';
const DRIVER = '+33611223344';

describe('a driver’s own parking receipts', () => {
  it('lists the sessions paid from the signed-in phone with their links, and nobody else’s', async () => {
    const store = await openTestStore('pglite', [
      alertingMigrations,
      httpMigrations,
      residentsMigrations,
      parkingMigrations,
    ]);
    const clock = new ManualClock(T0);
    const config = parkingConfigSchema.parse({ receiptLinkSecret: SECRET, sweepIntervalMs: 600_000 });
    const bus = createMemoryBus();
    const metrics = new Metrics();
    const parking = createParking({
      store,
      bus,
      logger: silentLogger(),
      metrics,
      clock,
      config,
      publicUrl: PUBLIC_URL,
    });
    onTestFinished(() => parking.close());
    await parking.start();
    await sendSms(bus, inboundSms('PARK rouge AB-123-CD 60', { from: DRIVER }));
    await sendSms(bus, inboundSms('PARK vert 123 ABC 68 30', { from: '+33699887766' }));
    await expect
      .poll(() => metrics.value('parking_inbound_total', { outcome: 'started' }), { timeout: 10_000 })
      .toBe(2);

    const web = await startResidentsServer({
      store,
      clock,
      citizenPlugins: [parkingCitizenRoutes({ store, config, clock, publicUrl: PUBLIC_URL })],
    });
    const driver = await web.signIn(DRIVER);
    const mine = await web.call('GET', '/api/me/parking', { as: driver });
    expect(mine.status).toBe(200);
    const sessions = mine.body.sessions as Array<Record<string, string>>;
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({
      plate: 'AB-123-CD',
      zone: 'rouge',
      startsAt: '2026-03-10T09:00:00.000Z',
      endsAt: '2026-03-10T10:00:00.000Z',
      amountCents: 240,
      status: 'running',
    });
    const { reference, receiptUrl } = sessions[0] as { reference: string; receiptUrl: string };
    const token = new URL(receiptUrl).searchParams.get('k') as string;
    expect(receiptUrl.startsWith(`${PUBLIC_URL}/p/${reference}?k=`)).toBe(true);
    expect(verifyReceiptToken(SECRET, reference, token)).toBe(true);

    // After the end, shown as run out even before the sweep marks it.
    clock.set(T0 + 61 * 60_000);
    expect(
      ((await web.call('GET', '/api/me/parking', { as: driver })).body.sessions as Array<{ status: string }>)[0]
        ?.status,
    ).toBe('expired');
    // Another phone, an email, nobody: none of the driver's.
    const stranger = await web.signIn('+33600000001');
    expect((await web.call('GET', '/api/me/parking', { as: stranger })).body).toEqual({ sessions: [] });
    const byEmail = await web.signIn('driver@example.org');
    expect((await web.call('GET', '/api/me/parking', { as: byEmail })).body).toEqual({ sessions: [] });
    expect((await web.call('GET', '/api/me/parking')).status).toBe(401);
  });
});
