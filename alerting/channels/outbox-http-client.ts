import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AppError } from '../../core/errors.ts';
import { E164 } from '../../core/phone.ts';
import { sendContext } from './channel.ts';
import type { TwilioHttpClient, TwilioRequest, TwilioResponse } from './sms-twilio.ts';

/**
 * The SMS outbox: an `httpClient` for the `twilio` library that, instead of calling Twilio, appends each request
 * as one NDJSON line to `<outboxDir>/sms.ndjson` and answers the way Twilio's Messages API does (201 with a
 * generated `SM…` sid, or 400 code 21211 for a number that is not E.164). Everything before the transport — the
 * channel, the library, the router — runs exactly as with real credentials.
 *
 * One line: `{"time","sid","to","from","messagingServiceSid","body","idempotencyKey"}`. A line is the proof that the
 * message went out: `findByIdempotencyKey` reads the file back, so the router can tell, after a crash, that a
 * message whose row stayed `pending` was in fact sent. A line cut short by a crash mid-write never counts (it does
 * not parse), and the first write of a process starts on a fresh line, so the next message is never glued to it.
 */

/** One line of `sms.ndjson`. */
export interface OutboxSmsLine {
  readonly time: string;
  readonly sid: string;
  readonly to: string;
  readonly from?: string;
  readonly messagingServiceSid?: string;
  readonly body: string;
  readonly idempotencyKey: string | null;
}

/** Creates the outbox HTTP client; the file and its folder are created on the first message. */
export function createOutboxHttpClient(options: { outboxDir: string; now?: () => Date }): TwilioHttpClient & {
  /** Path of the NDJSON file. */
  readonly file: string;
  /** The sid of the line written under `idempotencyKey`, or null when the file holds none. */
  findByIdempotencyKey(idempotencyKey: string): Promise<string | null>;
} {
  const file = join(options.outboxDir, 'sms.ndjson');
  const now = options.now ?? (() => new Date());
  let ready: Promise<unknown> | undefined;

  return {
    file,
    async request(opts: TwilioRequest): Promise<TwilioResponse> {
      const data = (opts.data ?? {}) as Record<string, unknown>;
      const to = String(data.To ?? '');
      const accountSid = /\/Accounts\/([^/]+)\//.exec(opts.uri)?.[1] ?? '';
      if (opts.method.toLowerCase() !== 'post' || !/\/Messages\.json$/.test(new URL(opts.uri).pathname)) {
        return json(404, { code: 20404, message: 'The requested resource was not found', status: 404 });
      }
      if (!E164.test(to)) {
        // Twilio's own answer for a malformed number (error 21211); the number itself stays out of the message.
        return json(400, {
          code: 21211,
          message: "Invalid 'To' Phone Number",
          more_info: 'https://www.twilio.com/docs/errors/21211',
          status: 400,
        });
      }
      const sid = `SM${randomBytes(16).toString('hex')}`;
      const time = now().toISOString();
      const line: OutboxSmsLine = {
        time,
        sid,
        to,
        ...(data.From === undefined ? {} : { from: String(data.From) }),
        ...(data.MessagingServiceSid === undefined ? {} : { messagingServiceSid: String(data.MessagingServiceSid) }),
        body: String(data.Body ?? ''),
        idempotencyKey: sendContext.getStore()?.idempotencyKey ?? null,
      };
      ready ??= prepare(options.outboxDir, file);
      await ready;
      // One appendFile per line: O_APPEND writes of a few hundred bytes do not interleave.
      await appendFile(file, `${JSON.stringify(line)}\n`, 'utf8');
      return json(201, {
        sid,
        account_sid: accountSid,
        to,
        from: line.from ?? null,
        messaging_service_sid: line.messagingServiceSid ?? null,
        body: line.body,
        status: 'queued',
        num_segments: '1',
        direction: 'outbound-api',
        api_version: '2010-04-01',
        date_created: new Date(time).toUTCString(),
        date_updated: new Date(time).toUTCString(),
        uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
      });
    },
    async findByIdempotencyKey(idempotencyKey) {
      return findInOutbox(file, idempotencyKey);
    },
    async close() {},
  };
}

/** Creates the folder and, when a crash cut the last line short, ends it so the next line starts clean. */
async function prepare(outboxDir: string, file: string): Promise<void> {
  await mkdir(outboxDir, { recursive: true });
  const handle = await open(file, 'a+');
  try {
    const { size } = await handle.stat();
    if (size === 0) return;
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    if (last[0] !== 0x0a) await handle.appendFile('\n');
  } finally {
    await handle.close();
  }
}

/**
 * Scans `file` line by line (streaming: the file grows without bound) for `idempotencyKey`; returns its sid.
 * Lines that do not parse (one cut short by a crash) are skipped. A missing file holds nothing; any other read
 * error means we cannot tell, and throws a retryable AppError.
 */
export async function findInOutbox(file: string, idempotencyKey: string): Promise<string | null> {
  const stream = createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  const quoted = JSON.stringify(idempotencyKey); // how the key appears in a line
  try {
    for await (const text of lines) {
      if (!text.includes(quoted)) continue;
      let line: Partial<OutboxSmsLine>;
      try {
        line = JSON.parse(text) as Partial<OutboxSmsLine>;
      } catch {
        continue;
      }
      if (line.idempotencyKey === idempotencyKey && typeof line.sid === 'string') return line.sid;
    }
    return null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AppError(
      'ERR_CHANNEL_UNAVAILABLE',
      `sms outbox: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (will retry)`,
      { retryable: true },
    );
  } finally {
    lines.close();
    stream.destroy();
  }
}

function json(statusCode: number, body: unknown): TwilioResponse {
  return { statusCode, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
}
