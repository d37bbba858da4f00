import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import { maskRecipient } from '../../core/logging.ts';
import { type Channel, type DeliveryResult, type EmailMessage, safeFileName, scrub } from './channel.ts';

/**
 * Email over SMTP with nodemailer, or — when no `smtpUrl` is configured — the email outbox: the same channel with
 * nodemailer's stream transport (`{ streamTransport: true, buffer: true }`), each message written as
 * `<outboxDir>/email/<safe idempotency key>.eml`. Same code path up to the transport.
 *
 * Classification (RFC 5321 §4.2.1): a 5xx reply is permanent → `rejected`; a 4xx reply is transient → retryable;
 * connection errors and timeouts → retryable; a refused login (EAUTH) → a non-retryable `ERR_CHANNEL_AUTH`, since
 * every message would fail the same way. The idempotency key becomes the Message-ID (a hash of it) and an
 * `X-Vigie-Idempotency-Key` header, so a receiving system can drop a duplicate. A message's own `headers` (the
 * resident emails' `List-Unsubscribe` and `List-Unsubscribe-Post`, RFC 8058) go out as given, over SMTP and in the
 * outbox alike.
 *
 * Reconciliation after a crash (`find`): in the outbox, the file name comes from the idempotency key and is
 * written atomically (a temporary file, then a rename), so the file exists if and only if the message went out.
 * Over SMTP there is no way to ask the server what it accepted: `find` is absent, and a crash between the
 * server's 250 and the router recording it re-sends the email once, with the same Message-ID.
 */

/** Channel name. */
export const name = 'email-smtp';

/** Configuration of the email channel. */
export const configSchema = z.strictObject({
  smtpUrl: z
    .string()
    .regex(/^smtps?:\/\/[^\s]+$/, 'an smtp:// or smtps:// URL, e.g. smtps://user:pass@smtp.example.org:465')
    .optional()
    .describe('SMTP server URL (SMTP_URL), credentials included; a secret. Absent: emails go to the outbox'),
  from: z.string().min(3).default('Vigie <alertes@vigie.local>').describe('Sender of every email'),
  outboxDir: z.string().min(1).default('data/outbox').describe('Outbox folder, used when smtpUrl is absent'),
  timeoutMs: z.number().int().positive().max(120_000).default(10_000).describe('Timeout of one attempt, in ms'),
});

/** Configuration of the email channel, parsed. */
export type EmailSmtpConfig = z.output<typeof configSchema>;

/** nodemailer's error fields we read. */
interface SmtpError {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message?: string;
}

/** Creates the email channel: SMTP when `smtpUrl` is set, the outbox folder otherwise. */
export function create(config: EmailSmtpConfig): Channel<EmailMessage> {
  const outbox = !config.smtpUrl;
  const transport = config.smtpUrl
    ? nodemailer.createTransport({
        url: config.smtpUrl,
        connectionTimeout: config.timeoutMs,
        greetingTimeout: config.timeoutMs,
        socketTimeout: config.timeoutMs,
        dnsTimeout: config.timeoutMs,
        logger: false,
        debug: false,
      })
    : nodemailer.createTransport({ streamTransport: true, buffer: true });
  const secrets = config.smtpUrl ? secretsOf(config.smtpUrl) : [];
  const emailDir = join(config.outboxDir, 'email');
  let closed = false;
  const outboxFile = (idempotencyKey: string): string =>
    `${safeFileName(idempotencyKey, createHash('sha256').update(idempotencyKey).digest('hex'))}.eml`;

  const channel: Channel<EmailMessage> = {
    name,
    mode: outbox ? 'outbox' : 'provider',
    async send(message: EmailMessage, idempotencyKey: string): Promise<DeliveryResult> {
      if (closed) throw new AppError('ERR_CHANNEL_CLOSED', 'email-smtp: channel closed', { retryable: true });
      const hash = createHash('sha256').update(idempotencyKey).digest('hex');
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), config.timeoutMs);
      try {
        const info = await transport.sendMail({
          from: config.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          ...(message.html === undefined ? {} : { html: message.html }),
          messageId: `<${hash.slice(0, 32)}@vigie>`,
          headers: { ...extraHeaders(message.headers), 'X-Vigie-Idempotency-Key': idempotencyKey },
          signal: abort.signal,
        });
        if (outbox) {
          const file = outboxFile(idempotencyKey);
          await mkdir(emailDir, { recursive: true });
          // Temporary name first, then an atomic rename: a file cut short by a crash never counts as sent.
          const temp = join(emailDir, `.${file}.${randomBytes(6).toString('hex')}.tmp`);
          try {
            await writeFile(temp, (info as { message: Buffer }).message);
            await rename(temp, join(emailDir, file));
          } catch (err) {
            await rm(temp, { force: true });
            throw new AppError(
              'ERR_CHANNEL_UNAVAILABLE',
              `email outbox: cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (will retry)`,
              { retryable: true },
            );
          }
          return { status: 'delivered', providerMessageId: `outbox:${file}` };
        }
        return { status: 'delivered', providerMessageId: String(info.messageId ?? '') };
      } catch (err) {
        if (err instanceof AppError) throw err;
        return classify(err as SmtpError, abort.signal.aborted, message.to, secrets, config.timeoutMs);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      closed = true;
      transport.close();
    },
  };
  if (outbox) {
    channel.find = async (_message, idempotencyKey) => {
      const file = outboxFile(idempotencyKey);
      try {
        await stat(join(emailDir, file));
        return `outbox:${file}`;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw new AppError(
          'ERR_CHANNEL_UNAVAILABLE',
          `email outbox: cannot look for ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (will retry)`,
          { retryable: true },
        );
      }
    };
  }
  return channel;
}

/** Header fields the channel sets itself: a message's own `headers` never replace them. */
const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'x-vigie-idempotency-key',
]);

/** An RFC 5322 §2.2 field name: printable US-ASCII but the colon. */
const FIELD_NAME = /^[!-9;-~]{1,76}$/;

/**
 * A message's extra header fields as nodemailer takes them: names checked (a bad one is a bug of the caller:
 * `ERR_CHANNEL_PROTOCOL`, not retried), reserved ones left to the channel, line breaks in values turned to spaces
 * so a value can never start a header of its own.
 */
export function extraHeaders(headers: EmailMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, value] of Object.entries(headers ?? {})) {
    if (!FIELD_NAME.test(field)) {
      throw new AppError(
        'ERR_CHANNEL_PROTOCOL',
        `email-smtp: header name ${JSON.stringify(field.slice(0, 80))} (printable ASCII without ':' or spaces, e.g. List-Unsubscribe)`,
      );
    }
    if (RESERVED_HEADERS.has(field.toLowerCase())) continue;
    out[field] = value.replace(/[\r\n]+/g, ' ');
  }
  return out;
}

/** Turns a nodemailer error into a verdict (rejected) or a retryable / fatal AppError. */
function classify(
  err: SmtpError,
  timedOut: boolean,
  to: string,
  secrets: readonly string[],
  timeoutMs: number,
): DeliveryResult {
  const masked = maskRecipient(to);
  const detail = scrub(err.response ?? err.message ?? String(err), secrets, [to]);
  if (timedOut || err.code === 'ETIMEDOUT') {
    throw new AppError('ERR_CHANNEL_TIMEOUT', `email-smtp: no answer within ${timeoutMs} ms for ${masked}`, {
      retryable: true,
    });
  }
  if (err.code === 'EAUTH') {
    throw new AppError('ERR_CHANNEL_AUTH', `email-smtp: login refused: ${detail} (check the credentials in SMTP_URL)`);
  }
  const code = err.responseCode;
  if (code !== undefined && code >= 500) return { status: 'rejected', reason: `${err.command ?? 'SMTP'} ${detail}` };
  if (code !== undefined && code >= 400) {
    throw new AppError('ERR_CHANNEL_UNAVAILABLE', `email-smtp: email to ${masked} deferred: ${detail} (will retry)`, {
      retryable: true,
    });
  }
  if (err.code === 'EENVELOPE') return { status: 'rejected', reason: detail };
  throw new AppError(
    'ERR_CHANNEL_UNREACHABLE',
    `email-smtp: cannot send to ${masked}: ${err.code ?? 'error'} ${detail} (network error, will retry)`,
    { retryable: true },
  );
}

/** The password and user:password parts of an SMTP URL, to keep them out of every message. */
function secretsOf(smtpUrl: string): string[] {
  try {
    const url = new URL(smtpUrl);
    const out = [smtpUrl];
    if (url.password) out.push(url.password, decodeURIComponent(url.password));
    return out;
  } catch {
    return [smtpUrl];
  }
}
