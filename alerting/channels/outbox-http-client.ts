import { randomBytes } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sendContext } from './channel.ts';
import type { TwilioHttpClient, TwilioRequest, TwilioResponse } from './sms-twilio.ts';

/**
 * The SMS outbox: an `httpClient` for the `twilio` library that, instead of calling Twilio, appends each request
 * as one NDJSON line to `<outboxDir>/sms.ndjson` and answers the way Twilio's Messages API does (201 with a
 * generated `SM…` sid, or 400 code 21211 for a number that is not E.164). Everything before the transport — the
 * channel, the library, the router — runs exactly as with real credentials.
 *
 * One line: `{"time","sid","to","from","messagingServiceSid","body","idempotencyKey"}`.
 */

const E164 = /^\+[1-9]\d{7,14}$/;

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
      ready ??= mkdir(options.outboxDir, { recursive: true });
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
    async close() {},
  };
}

function json(statusCode: number, body: unknown): TwilioResponse {
  return { statusCode, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
}
