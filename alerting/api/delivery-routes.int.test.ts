import { beforeAll, describe, expect, it } from 'vitest';
import { enqueueMessages } from '../delivery-log.ts';
import { deliveryRoutes } from './delivery-routes.ts';
import { type ApiTestServer, startApiTestServer } from './test-server.ts';

let api: ApiTestServer;

beforeAll(async () => {
  api = await startApiTestServer({ routes: (store) => [deliveryRoutes({ store })] });
  return api.close;
});

describe('delivery log API', () => {
  it('lists the messages about an alert with their provider statuses, recipients masked, and refuses without a token', async () => {
    const phone = '+33612345678';
    await enqueueMessages(api.store, [
      {
        key: `digest:2026-11-26:sms:${phone}`,
        subject: 'WM-1:leak:1',
        purpose: 'escalation',
        locale: 'fr',
        message: { kind: 'sms', to: phone, body: 'Vigie ESCALADE 1' },
        notBeforeMs: Date.parse('2026-11-26T10:00:00Z'),
      },
      {
        key: 'digest:2026-11-26:email:ops@example.org',
        subject: 'digest:2026-11-26',
        purpose: 'digest',
        locale: 'fr',
        message: { kind: 'email', to: 'ops@example.org', subject: 'Synthèse', text: '…' },
        notBeforeMs: Date.parse('2026-11-26T06:00:00Z'),
      },
    ]);
    const sid = `SM${'c'.repeat(32)}`;
    await api.store.query(
      `UPDATE alerting_deliveries SET status = 'sent', attempts = 1, provider_message_id = $2 WHERE recipient = $1`,
      [phone, sid],
    );
    await api.store.query(
      `INSERT INTO alerting_delivery_status (provider_message_id, status, received_at)
       VALUES ($1, 'sent', '2026-11-26T10:00:01Z'), ($1, 'delivered', '2026-11-26T10:00:04Z')`,
      [sid],
    );

    expect((await api.request('GET', '/api/deliveries')).status).toBe(401);
    const res = await api.request('GET', '/api/deliveries?about=WM-1:leak:1', { token: 'viewer' });
    expect(res.status).toBe(200);
    const { deliveries } = res.body as { deliveries: Array<Record<string, unknown>> };
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]).toMatchObject({
      key: 'digest:2026-11-26:sms:+336•••••78',
      about: 'WM-1:leak:1',
      purpose: 'escalation',
      channel: 'sms',
      recipient: '+336•••••78',
      status: 'sent',
      attempts: 1,
      providerMessageId: sid,
      providerStatuses: [
        { status: 'sent', errorCode: null, at: '2026-11-26T10:00:01.000Z' },
        { status: 'delivered', errorCode: null, at: '2026-11-26T10:00:04.000Z' },
      ],
    });
    expect(JSON.stringify(deliveries)).not.toContain(phone);
    const scheduled = (await api.request('GET', '/api/deliveries?status=scheduled&purpose=digest', { token: 'viewer' }))
      .body as { deliveries: Array<{ about: string; notBefore: string }> };
    expect(scheduled.deliveries.map((d) => [d.about, d.notBefore])).toEqual([
      ['digest:2026-11-26', '2026-11-26T06:00:00.000Z'],
    ]);
    expect((await api.request('GET', '/api/deliveries?status=lost', { token: 'viewer' })).status).toBe(400);
  });
});
