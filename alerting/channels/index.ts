import { join } from 'node:path';
import type { Logger } from '../../core/logging.ts';
import type { AlertingConfig } from '../config.ts';
import type { Channel, EmailMessage, SmsMessage } from './channel.ts';
import * as emailSmtp from './email-smtp.ts';
import { createOutboxHttpClient } from './outbox-http-client.ts';
import * as smsTwilio from './sms-twilio.ts';

/** The channels the router sends through, one per medium. */
export interface Channels {
  readonly sms: Channel<SmsMessage>;
  readonly email: Channel<EmailMessage>;
  /** Closes both channels (their sockets). */
  close(): Promise<void>;
}

/** A placeholder account for the outbox: the Twilio client wants a well-formed SID; nothing leaves the process. */
const OUTBOX_ACCOUNT_SID = `AC${'0'.repeat(32)}`;

/**
 * Builds the SMS and email channels from the alerting config: Twilio when `twilio.accountSid` is set, SMTP when
 * `smtpUrl` is set, and otherwise the outbox in `outboxDir` (same code path up to the transport). Logs once, at
 * info, where messages go.
 */
export function createChannels(
  config: AlertingConfig,
  logger: Logger,
  options: { readonly statusCallbackUrl?: string | undefined } = {},
): Channels {
  const t = config.twilio;
  const sms =
    t.accountSid && t.authToken
      ? smsTwilio.create(
          smsTwilio.configSchema.parse({
            accountSid: t.accountSid,
            authToken: t.authToken,
            fromNumber: t.fromNumber,
            messagingServiceSid: t.messagingServiceSid,
            apiBaseUrl: t.apiBaseUrl,
            timeoutMs: config.sendTimeoutMs,
            statusCallbackUrl: options.statusCallbackUrl,
          }),
        )
      : smsTwilio.create(
          smsTwilio.configSchema.parse({
            accountSid: OUTBOX_ACCOUNT_SID,
            authToken: 'outbox',
            fromNumber: t.fromNumber ?? '+33600000000',
            timeoutMs: config.sendTimeoutMs,
          }),
          { httpClient: createOutboxHttpClient({ outboxDir: config.outboxDir }), mode: 'outbox' },
        );
  const email = emailSmtp.create(
    emailSmtp.configSchema.parse({
      smtpUrl: config.smtpUrl,
      from: config.emailFrom,
      outboxDir: config.outboxDir,
      timeoutMs: config.sendTimeoutMs,
    }),
  );
  logger.info(
    {
      sms: sms.mode === 'outbox' ? join(config.outboxDir, 'sms.ndjson') : 'twilio',
      email: email.mode === 'outbox' ? join(config.outboxDir, 'email') : 'smtp',
    },
    'alerting channels ready',
  );
  return {
    sms,
    email,
    async close() {
      await Promise.all([sms.close(), email.close()]);
    },
  };
}
