import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { AppError } from '../../core/errors.ts';
import { channelConformance } from '../../test/conformance/channel.ts';
import { startTwilioServer } from '../../test/helpers/twilio-server.ts';
import type { SmsMessage } from './channel.ts';
import { createOutboxHttpClient, type OutboxSmsLine } from './outbox-http-client.ts';
import { configSchema, create, FIND_CLOCK_SKEW_MS } from './sms-twilio.ts';

const TIMEOUT_MS = 1_000;

channelConformance<SmsMessage>(
  'sms-twilio',
  async () => {
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
  },
  { retryAfter: true, find: true },
);

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

  it('asks Twilio to post delivery statuses to the status webhook when a callback URL is configured', async () => {
    const url = 'https://vigie.example.org/webhooks/twilio/status';
    const { server, channel } = await setup({ statusCallbackUrl: url });
    await channel.send({ to: '+33612345678', body: 'x' }, 'k1');
    expect(server.accepted()[0]?.form.StatusCallback).toBe(url);
    const plain = await setup();
    await plain.channel.send({ to: '+33612345678', body: 'x' }, 'k2');
    expect(plain.server.accepted()[0]?.form).not.toHaveProperty('StatusCallback');
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

  it('reports rejected and opted out when Twilio answers 21610 for a number that replied STOP', async () => {
    const { server, channel } = await setup();
    // Twilio's answer, as documented (https://www.twilio.com/docs/api/errors/21610).
    server.failNext({ status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' });
    const result = await channel.send({ to: '+33612345678', body: 'Vigie : test' }, 'k1');
    expect(result).toMatchObject({ status: 'rejected', optedOut: true });
    if (result.status === 'rejected') {
      expect(result.reason).toContain('21610');
      expect(result.reason).not.toContain('+33612345678');
    }
    expect(server.requests.map((r) => r.statusCode)).toEqual([400]);
    // Any other refusal is not an opt-out.
    const invalid = await channel.send({ to: '+15005550001', body: 'x' }, 'k2');
    expect(invalid).toMatchObject({ status: 'rejected' });
    expect(invalid).not.toHaveProperty('optedOut');
  });

  it('throws a retryable error when the server is unreachable', async () => {
    const { server, channel } = await setup();
    await server.close();
    const err = await channel.send({ to: '+33612345678', body: 'x' }, 'k1').catch((e: unknown) => e);
    expect((err as AppError).code).toBe('ERR_CHANNEL_UNREACHABLE');
    expect((err as AppError).retryable).toBe(true);
  });

  it('finds the sid of a message Twilio accepted and nothing for one it never got when asked', async () => {
    const { server, channel } = await setup();
    const sinceMs = Date.now();
    const sent = await channel.send({ to: '+33612345678', body: 'Fuite : 4,2 L/h' }, 'k1');
    await channel.send({ to: '+33698765432', body: 'Autre' }, 'k2');
    expect(sent.status).toBe('delivered');
    const sid = sent.status === 'delivered' ? sent.providerMessageId : '';
    expect(await channel.find?.({ to: '+33612345678', body: 'Fuite : 4,2 L/h' }, 'k1', sinceMs)).toBe(sid);
    // Same number, another body; same body, another number: not ours.
    expect(await channel.find?.({ to: '+33612345678', body: 'Fuite : 5 L/h' }, 'k3', sinceMs)).toBeNull();
    expect(await channel.find?.({ to: '+33611111111', body: 'Fuite : 4,2 L/h' }, 'k4', sinceMs)).toBeNull();
    // Listed through the library: filtered by To and From, no DateSent filter (queued messages have none).
    expect(server.lists[0]?.query).toMatchObject({ To: '+33612345678', From: '+33700000001', PageSize: '100' });
    expect(Object.keys(server.lists[0]?.query ?? {}).some((k) => k.startsWith('DateSent'))).toBe(false);
    expect(server.accepted()).toHaveLength(2);
  });

  it('ignores a message created before the first attempt could have been made when finding', async () => {
    const { channel } = await setup();
    await channel.send({ to: '+33612345678', body: 'Même texte' }, 'k1');
    const laterMs = Date.now() + FIND_CLOCK_SKEW_MS + 60_000;
    expect(await channel.find?.({ to: '+33612345678', body: 'Même texte' }, 'k2', laterMs)).toBeNull();
  });

  it('matches on the messaging service when one is configured and finding', async () => {
    const sid = `MG${'b'.repeat(32)}`;
    const { server, channel } = await setup({ fromNumber: undefined, messagingServiceSid: sid });
    const sent = await channel.send({ to: '+33612345678', body: 'x' }, 'k1');
    const found = await channel.find?.({ to: '+33612345678', body: 'x' }, 'k1', Date.now() - 1_000);
    expect(found).toBe(sent.status === 'delivered' ? sent.providerMessageId : 'not delivered');
    expect(server.lists[0]?.query.From).toBeUndefined();
  });

  it('follows next_page_uri when the message is beyond the first page', async () => {
    const { server, channel } = await setup();
    const sinceMs = Date.now() - 1_000;
    const first = await channel.send({ to: '+33612345678', body: 'Le premier' }, 'k0');
    for (let i = 1; i <= 105; i++) await channel.send({ to: '+33612345678', body: `Message ${i}` }, `k${i}`);
    const found = await channel.find?.({ to: '+33612345678', body: 'Le premier' }, 'k0', sinceMs);
    expect(found).toBe(first.status === 'delivered' ? first.providerMessageId : 'not delivered');
    expect(server.lists.map((l) => l.query.Page ?? '0')).toEqual(['0', '1']);
  });

  it('throws a retryable error carrying Retry-After when the list is throttled or fails', async () => {
    const { channel, server } = await setup();
    server.failNext({ status: 429, retryAfterSeconds: 2 }, { status: 503 });
    const throttled = await channel.find?.({ to: '+33612345678', body: 'x' }, 'k', Date.now()).catch((e) => e);
    expect(throttled).toBeInstanceOf(AppError);
    expect(throttled).toMatchObject({ code: 'ERR_CHANNEL_THROTTLED', retryable: true, retryAfterMs: 2_000 });
    const failed = await channel.find?.({ to: '+33612345678', body: 'x' }, 'k', Date.now()).catch((e) => e);
    expect(failed).toMatchObject({ code: 'ERR_CHANNEL_UNAVAILABLE', retryable: true });
    expect(String((failed as Error).message)).not.toContain('+33612345678');
  });

  it('throws a retryable timeout when the list does not answer in time', async () => {
    const { channel, server } = await setup({ timeoutMs: 300 });
    server.delayNext(5_000);
    const err = await channel.find?.({ to: '+33612345678', body: 'x' }, 'k', Date.now()).catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_CHANNEL_TIMEOUT', retryable: true });
  });

  it('throws a non-retryable auth error when listing with a wrong token', async () => {
    const { channel } = await setup({ authToken: 'wrong-token-0123456789' });
    const err = await channel.find?.({ to: '+33612345678', body: 'x' }, 'k', Date.now()).catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_CHANNEL_AUTH', retryable: false });
    expect(String((err as Error).message)).not.toContain('wrong-token');
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

describe('sms-twilio outbox find', () => {
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
  const key = 'WM-1:leak:1:open:sms:+33612345678';

  it('finds the sid of the line written under the key and nothing for another key', async () => {
    const { channel } = await setup();
    expect(await channel.find?.({ to: '+33612345678', body: 'x' }, key, Date.now())).toBeNull(); // no file yet
    await channel.send({ to: '+33698765432', body: 'avant' }, 'WM-2:leak:1:open:sms:+33698765432');
    const sent = await channel.send({ to: '+33612345678', body: 'x' }, key);
    await channel.send({ to: '+33612345678', body: 'x' }, `${key}:2026`);
    const found = await channel.find?.({ to: '+33612345678', body: 'x' }, key, Date.now());
    expect(found).toBe(sent.status === 'delivered' ? sent.providerMessageId : 'not delivered');
    expect(await channel.find?.({ to: '+33612345678', body: 'x' }, 'WM-1:leak:1:resolved', Date.now())).toBeNull();
  });

  it('ignores a last line cut short by a crash and starts the next line clean when sending again', async () => {
    const { channel, file } = await setup();
    const whole: OutboxSmsLine = {
      time: new Date().toISOString(),
      sid: `SM${'1'.repeat(32)}`,
      to: '+33698765432',
      body: 'ok',
      idempotencyKey: 'other',
    };
    const cut = JSON.stringify({
      time: whole.time,
      sid: `SM${'2'.repeat(32)}`,
      to: '+33612345678',
      body: 'x',
      idempotencyKey: key,
    }).slice(0, -10);
    await writeFile(file, `${JSON.stringify(whole)}\n${cut}`);
    expect(await channel.find?.({ to: '+33612345678', body: 'x' }, key, Date.now())).toBeNull();
    const sent = await channel.send({ to: '+33612345678', body: 'x' }, key);
    const lines = (await readFile(file, 'utf8')).split('\n');
    expect(lines).toEqual([JSON.stringify(whole), cut, expect.stringContaining(`"idempotencyKey":"${key}"`), '']);
    expect(await channel.find?.({ to: '+33612345678', body: 'x' }, key, Date.now())).toBe(
      sent.status === 'delivered' ? sent.providerMessageId : 'not delivered',
    );
  });
});
