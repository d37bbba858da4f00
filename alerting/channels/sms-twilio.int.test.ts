import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { AppError } from '../../core/errors.ts';
import { channelConformance } from '../../test/conformance/channel.ts';
import { startTwilioServer } from '../../test/helpers/twilio-server.ts';
import type { SmsMessage } from './channel.ts';
import { createOutboxHttpClient, type OutboxSmsLine } from './outbox-http-client.ts';
import { configSchema, create } from './sms-twilio.ts';

const TIMEOUT_MS = 1_000;

channelConformance<SmsMessage>('sms-twilio', async () => {
  const server = await startTwilioServer();
  const channel = create(
    configSchema.parse({
      accountSid: server.accountSid,
      authToken: server.authToken,
      fromNumber: '+33700000001',
      apiBaseUrl: server.url,
      timeoutMs: TIMEOUT_MS,
    }),
  );
  return {
    channel,
    timeoutMs: TIMEOUT_MS,
    secrets: [server.authToken, Buffer.from(`${server.accountSid}:${server.authToken}`).toString('base64')],
    message: () => ({ to: '+33612345678', body: 'Vigie : test' }),
    rejectedMessage: () => ({ to: '+15005550001', body: 'Vigie : test' }),
    failNextTransient: () => server.failNext({ status: 500 }),
    throttleNext: (s) => server.failNext({ status: 429, retryAfterSeconds: s }),
    delayNext: (ms) => server.delayNext(ms),
    acceptedCount: () => server.accepted().length,
    openConnections: () => server.openConnections(),
    close: () => server.close(),
  };
});

describe('sms-twilio', () => {
  async function setup(overrides: Record<string, unknown> = {}) {
    const server = await startTwilioServer();
    const channel = create(
      configSchema.parse({
        accountSid: server.accountSid,
        authToken: server.authToken,
        fromNumber: '+33700000001',
        apiBaseUrl: server.url,
        timeoutMs: 2_000,
        ...overrides,
      }),
    );
    onTestFinished(async () => {
      await channel.close();
      await server.close();
    });
    return { server, channel };
  }

  it('posts To, From and Body form-encoded with Basic auth when sending', async () => {
    const { server, channel } = await setup();
    const result = await channel.send({ to: '+33612345678', body: 'Fuite : 4,2 L/h, 13,12 €' }, 'k1');
    expect(result.status).toBe('delivered');
    const [req] = server.accepted();
    expect(req?.form).toMatchObject({ To: '+33612345678', From: '+33700000001', Body: 'Fuite : 4,2 L/h, 13,12 €' });
    expect(req?.headers['content-type']).toContain('application/x-www-form-urlencoded');
    if (result.status === 'delivered') expect(result.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
  });

  it('uses the messaging service when one is configured instead of a number', async () => {
    const sid = `MG${'a'.repeat(32)}`;
    const { server, channel } = await setup({ fromNumber: undefined, messagingServiceSid: sid });
    await channel.send({ to: '+33612345678', body: 'x' }, 'k1');
    expect(server.accepted()[0]?.form.MessagingServiceSid).toBe(sid);
  });

  it('throws a non-retryable auth error naming no secret when the token is wrong', async () => {
    const { server, channel } = await setup({ authToken: 'wrong-token-0123456789' });
    const err = await channel.send({ to: '+33612345678', body: 'x' }, 'k1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('ERR_CHANNEL_AUTH');
    expect((err as AppError).retryable).toBe(false);
    expect(String((err as AppError).message)).not.toContain('wrong-token');
    expect(server.accepted()).toHaveLength(0);
  });

  it('throws a retryable error when the server is unreachable', async () => {
    const { server, channel } = await setup();
    await server.close();
    const err = await channel.send({ to: '+33612345678', body: 'x' }, 'k1').catch((e: unknown) => e);
    expect((err as AppError).code).toBe('ERR_CHANNEL_UNREACHABLE');
    expect((err as AppError).retryable).toBe(true);
  });

  it('rejects a config without a sender when parsed', () => {
    const result = configSchema.safeParse({ accountSid: `AC${'0'.repeat(32)}`, authToken: 't' });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain('fromNumber');
  });
});

describe('sms-twilio outbox', () => {
  async function setup() {
    const dir = await mkdtemp(join(tmpdir(), 'vigie-outbox-'));
    const httpClient = createOutboxHttpClient({ outboxDir: dir });
    const channel = create(
      configSchema.parse({ accountSid: `AC${'0'.repeat(32)}`, authToken: 'outbox', fromNumber: '+33700000001' }),
      { httpClient, mode: 'outbox' },
    );
    onTestFinished(async () => {
      await channel.close();
      await rm(dir, { recursive: true, force: true });
    });
    return { dir, channel, file: httpClient.file };
  }

  it('appends one parseable NDJSON line per SMS when no credentials are configured', async () => {
    const { channel, file } = await setup();
    const a = await channel.send({ to: '+33612345678', body: 'Premier' }, 'alert-1:open:sms:+33612345678');
    const b = await channel.send({ to: '+33698765432', body: 'Second' }, 'alert-2:open:sms:+33698765432');
    expect(channel.mode).toBe('outbox');
    const lines = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as OutboxSmsLine);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      to: '+33612345678',
      from: '+33700000001',
      body: 'Premier',
      idempotencyKey: 'alert-1:open:sms:+33612345678',
    });
    expect(Date.parse(lines[0]?.time ?? '')).not.toBeNaN();
    if (a.status === 'delivered') expect(lines[0]?.sid).toBe(a.providerMessageId);
    if (b.status === 'delivered') expect(lines[1]?.sid).toBe(b.providerMessageId);
  });

  it('rejects a number that is not E.164 like Twilio would when sending to the outbox', async () => {
    const { channel } = await setup();
    const result = await channel.send({ to: '0612345678', body: 'x' }, 'k');
    expect(result.status).toBe('rejected');
    if (result.status === 'rejected') expect(result.reason).toContain('21211');
  });
});
