import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { AppError } from '../../core/errors.ts';
import { channelConformance } from '../../test/conformance/channel.ts';
import { decodedBody, headerFields } from '../../test/helpers/eml.ts';
import { startSmtpServer } from '../../test/helpers/smtp-server.ts';
import { renderResidentEmail } from '../messages.ts';
import { leakTransition } from '../test-helpers.ts';
import type { EmailMessage } from './channel.ts';
import { configSchema, create } from './email-smtp.ts';

const TIMEOUT_MS = 1_000;
const OK_TO = 'resident@example.org';
const BAD_TO = 'nobody@example.org';
const leakOpen = leakTransition('WM-1');

channelConformance<EmailMessage>(
  'email-smtp',
  async () => {
    const auth = { user: 'vigie', pass: 'smtp-pa55word-secret' };
    const server = await startSmtpServer({ auth });
    server.failRecipient(BAD_TO, 550);
    const channel = create(configSchema.parse({ smtpUrl: server.url, timeoutMs: TIMEOUT_MS }));
    return {
      channel,
      timeoutMs: TIMEOUT_MS,
      secrets: [auth.pass],
      message: () => ({ to: OK_TO, subject: 'Vigie', text: 'Bonjour' }),
      rejectedMessage: () => ({ to: BAD_TO, subject: 'Vigie', text: 'Bonjour' }),
      failNextTransient: () => server.failNextRecipient(451),
      delayNext: (ms) => server.delayNextData(ms),
      acceptedCount: () => server.messages.length,
      openConnections: () => server.openConnections(),
      close: () => server.close(),
    };
  },
  { retryAfter: false, find: false },
);

describe('email-smtp', () => {
  async function setup() {
    const server = await startSmtpServer();
    const channel = create(configSchema.parse({ smtpUrl: server.url, timeoutMs: 5_000 }));
    onTestFinished(async () => {
      await channel.close();
      await server.close();
    });
    return { server, channel };
  }

  it('sends subject, text, sender and idempotency headers when the server accepts', async () => {
    const { server, channel } = await setup();
    const result = await channel.send(
      { to: OK_TO, subject: 'Fuite probable', text: 'Environ 4,2 L/h, 13,12 € par mois' },
      'WM-1:leak:1:open:email:resident@example.org',
    );
    expect(result.status).toBe('delivered');
    const [mail] = server.messages;
    expect(mail?.to).toEqual([OK_TO]);
    expect(mail?.from).toBe('alertes@vigie.local');
    expect(mail?.raw).toContain('Subject: Fuite probable');
    expect(mail?.raw).toContain('X-Vigie-Idempotency-Key: WM-1:leak:1:open:email:resident@example.org');
  });

  it('sends the List-Unsubscribe headers and the link of a resident email when the server accepts', async () => {
    const { server, channel } = await setup();
    const url = `https://vigie.example.org/u/42.${'aB3_-'.repeat(6)}xy`;
    const email = renderResidentEmail(leakOpen, { locale: 'fr', unsubscribeUrl: url });
    const result = await channel.send({ to: OK_TO, ...email }, 'WM-1:leak:1:open:email:resident@example.org');
    expect(result.status).toBe('delivered');
    const [mail] = server.messages;
    const headers = headerFields(mail?.raw ?? '');
    expect(headers.get('list-unsubscribe')).toBe(`<${url}>`);
    expect(headers.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(headers.get('x-vigie-idempotency-key')).toBe('WM-1:leak:1:open:email:resident@example.org');
    const body = decodedBody(mail?.raw ?? '');
    expect(body).toContain(`Pour ne plus recevoir ces alertes par email : ${url}`);
    expect(body).toContain(`<a href="${url}">`);
  });

  it('keeps its own headers and refuses a malformed header name when a message brings headers', async () => {
    const { server, channel } = await setup();
    await channel.send(
      { to: OK_TO, subject: 's', text: 't', headers: { 'Message-ID': '<forged@x>', 'X-Note': 'a\r\nBcc: x@y.z' } },
      'k1',
    );
    const headers = headerFields(server.messages[0]?.raw ?? '');
    expect(headers.get('message-id')).toMatch(/^<[0-9a-f]{32}@vigie>$/);
    expect(headers.get('x-note')).toBe('a Bcc: x@y.z');
    expect(headers.has('bcc')).toBe(false);
    const err = await channel
      .send({ to: OK_TO, subject: 's', text: 't', headers: { 'Bad Name': 'x' } }, 'k2')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_CHANNEL_PROTOCOL', retryable: false });
    expect(server.messages).toHaveLength(1);
  });

  it('reports rejected when the server answers 550 for the recipient', async () => {
    const { server, channel } = await setup();
    server.failRecipient(BAD_TO, 550);
    const result = await channel.send({ to: BAD_TO, subject: 's', text: 't' }, 'k');
    expect(result).toMatchObject({ status: 'rejected' });
    if (result.status === 'rejected') expect(result.reason).toContain('550');
  });

  it('throws a retryable error when the server answers 451 for the recipient', async () => {
    const { server, channel } = await setup();
    server.failRecipient(OK_TO, 451);
    const err = await channel.send({ to: OK_TO, subject: 's', text: 't' }, 'k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).retryable).toBe(true);
    expect((err as AppError).message).not.toContain(OK_TO);
  });

  it('throws a retryable error when the server is unreachable', async () => {
    const { server, channel } = await setup();
    await server.close();
    const err = await channel.send({ to: OK_TO, subject: 's', text: 't' }, 'k').catch((e: unknown) => e);
    expect((err as AppError).retryable).toBe(true);
  });

  it('throws a non-retryable auth error without the password when the login is refused', async () => {
    const server = await startSmtpServer({ auth: { user: 'vigie', pass: 'right-pass' } });
    const url = server.url.replace('right-pass', 'wrong-secret-pass');
    const channel = create(configSchema.parse({ smtpUrl: url, timeoutMs: 5_000 }));
    onTestFinished(async () => {
      await channel.close();
      await server.close();
    });
    const err = await channel.send({ to: OK_TO, subject: 's', text: 't' }, 'k').catch((e: unknown) => e);
    expect((err as AppError).code).toBe('ERR_CHANNEL_AUTH');
    expect((err as AppError).retryable).toBe(false);
    expect(JSON.stringify(err) + String((err as Error).message)).not.toContain('wrong-secret-pass');
  });

  it('offers no find and gives both copies one Message-ID when the same key is sent twice', async () => {
    const { server, channel } = await setup();
    // SMTP cannot be asked what it accepted: the router resends, and receivers can drop the copy.
    expect(channel.find).toBeUndefined();
    const key = 'WM-1:leak:1:open:email:resident@example.org';
    await channel.send({ to: OK_TO, subject: 's', text: 't' }, key);
    await channel.send({ to: OK_TO, subject: 's', text: 't' }, key);
    await channel.send({ to: OK_TO, subject: 's', text: 't' }, `${key}-other`);
    const ids = server.messages.map((m) => /^Message-ID: (.+?)\r?$/im.exec(m.raw)?.[1]);
    expect(ids[0]).toMatch(/^<[0-9a-f]{32}@vigie>$/);
    expect(ids[1]).toBe(ids[0]);
    expect(ids[2]).not.toBe(ids[0]);
  });
});

describe('email-smtp outbox', () => {
  it('writes one parseable .eml file per email when no SMTP URL is configured', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigie-outbox-'));
    const channel = create(configSchema.parse({ outboxDir: dir }));
    onTestFinished(async () => {
      await channel.close();
      await rm(dir, { recursive: true, force: true });
    });
    expect(channel.mode).toBe('outbox');
    const key = 'WM-1:leak:1:open:email:ops@example.org';
    const result = await channel.send({ to: 'ops@example.org', subject: 'Fuite', text: 'Détails : 4,2 L/h' }, key);
    await channel.send({ to: 'ops@example.org', subject: 'Fin', text: 'Résolu' }, `${key}-2`);
    expect(result.status).toBe('delivered');
    const files = (await readdir(join(dir, 'email'))).sort();
    expect(files).toHaveLength(2);
    expect(files.every((f) => /^[A-Za-z0-9._-]+\.eml$/.test(f))).toBe(true);
    const emls = await Promise.all(files.map((f) => readFile(join(dir, 'email', f), 'utf8')));
    const eml = emls.find((e) => e.includes('Subject: Fuite')) ?? '';
    const [head, ...body] = eml.split(/\r?\n\r?\n/);
    expect(head).toMatch(/^To: ops@example\.org$/m);
    expect(head).toMatch(/^Subject: Fuite$/m);
    expect(head).toMatch(new RegExp(`^X-Vigie-Idempotency-Key: ${key}\\r?$`, 'm'));
    expect(body.join('\n')).toContain('4,2 L/h');
  });

  it('writes the List-Unsubscribe headers and the link into the .eml when a resident email has a link', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigie-outbox-'));
    const channel = create(configSchema.parse({ outboxDir: dir }));
    onTestFinished(async () => {
      await channel.close();
      await rm(dir, { recursive: true, force: true });
    });
    const url = 'https://vigie.example.org/u/7.0123456789abcdefABCDEF_-01234567';
    const email = renderResidentEmail(leakOpen, { locale: 'en', unsubscribeUrl: url });
    const result = await channel.send({ to: OK_TO, ...email }, 'WM-1:leak:1:open:email:resident@example.org');
    expect(result.status).toBe('delivered');
    const [file] = await readdir(join(dir, 'email'));
    const eml = await readFile(join(dir, 'email', file ?? ''), 'utf8');
    const headers = headerFields(eml);
    expect(headers.get('list-unsubscribe')).toBe(`<${url}>`);
    expect(headers.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(decodedBody(eml)).toContain(`To stop receiving these alerts by email: ${url}`);
  });
});

describe('email-smtp outbox find', () => {
  async function setup() {
    const dir = await mkdtemp(join(tmpdir(), 'vigie-outbox-'));
    const channel = create(configSchema.parse({ outboxDir: dir }));
    onTestFinished(async () => {
      await channel.close();
      await rm(dir, { recursive: true, force: true });
    });
    return { dir, channel };
  }
  const message = { to: 'ops@example.org', subject: 'Fuite', text: '4,2 L/h' };
  const key = 'WM-1:leak:1:open:email:ops@example.org';

  it('finds the file of an email written under the key and nothing for another key', async () => {
    const { channel } = await setup();
    expect(await channel.find?.(message, key, Date.now())).toBeNull();
    const result = await channel.send(message, key);
    expect(result.status).toBe('delivered');
    const found = await channel.find?.(message, key, Date.now());
    expect(found).toBe(result.status === 'delivered' ? result.providerMessageId : 'not delivered');
    expect(await channel.find?.(message, `${key}-2`, Date.now())).toBeNull();
  });

  it('does not count a file left half-written by a crash when finding', async () => {
    const { dir, channel } = await setup();
    // A crash mid-write leaves only a temporary file: the final name appears by an atomic rename.
    await mkdir(join(dir, 'email'), { recursive: true });
    await writeFile(join(dir, 'email', '.WM-1_leak_1_open_email_ops_example.org-0123456789ab.eml.x.tmp'), 'To: ops');
    expect(await channel.find?.(message, key, Date.now())).toBeNull();
    await channel.send(message, key);
    const files = await readdir(join(dir, 'email'));
    expect(files.filter((f) => f.endsWith('.eml'))).toHaveLength(1);
    expect(await channel.find?.(message, key, Date.now())).toMatch(/^outbox:.+\.eml$/);
  });
});
