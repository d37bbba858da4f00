import type { Bus, BusMessage, Subscription } from '../../core/bus/port.ts';
import { withRetry } from '../../core/bus/retry.ts';
import type { Clock } from '../../core/clock.ts';
import { InboundSms, type Notification, TOPICS } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import { type Logger, maskRecipient } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { smsService } from '../../core/sms-routing.ts';
import { toGsm7 } from '../../core/sms-text.ts';
import { findAddress, guessCategory } from './classify.ts';
import type { ReportsConfig } from './config.ts';
import { deadLetter, parseOrDeadLetter } from './dead-letter.ts';
import type { ReportNotifier } from './notifier.ts';
import { type CleanPhoto, cleanPhoto } from './photo.ts';
import type { ReportStore } from './store.ts';

/**
 * Reports by SMS and MMS to the city's short number: consumes inbound-sms.v1 (group `reports-inbound`), each
 * message becoming a report (source `sms`, contact = the sender, once per messageSid) — except parking commands
 * (core/sms-routing.ts: PARK…, PROLONGER…, FIN…), which the parking service answers. The category is guessed
 * from the text's keywords; the place is the photo's EXIF GPS, else an address found in the text, else none — the
 * report is kept, and its "received" SMS asks where it is: the sender's next SMS within `awaitLocationHours` gives
 * that report its place (and photo) instead of opening another one.
 *
 * MMS photos are fetched from `media[].url` with HTTP basic auth (the Twilio account SID and auth token), only from
 * the hosts in `mediaHosts` (credentials are never sent elsewhere; Twilio's redirect to its CDN is followed, and
 * fetch drops the Authorization header across origins), with a timeout and the photo size limit, then checked and
 * stripped like a web upload. A media that fails (HTTP error, not an image, too large, undecodable) is counted in
 * `reports_photos_refused_total{source="sms",reason}` and the report is kept without it. A record that is not an
 * InboundSms is dead-lettered (ERR_REPORT_INBOUND_JSON, ERR_REPORT_INBOUND_SCHEMA).
 */

/** The consumer group of inbound-sms.v1. */
export const INBOUND_GROUP_ID = 'reports-inbound';

/** Twilio credentials for fetching MMS media. */
export interface TwilioMediaAuth {
  readonly accountSid: string;
  readonly authToken: string;
}

/** What the inbound consumer needs. */
export interface InboundDeps {
  readonly bus: Bus;
  readonly reports: ReportStore;
  readonly notifier: ReportNotifier;
  readonly config: ReportsConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Credentials for the media URLs; absent: fetched without (a Twilio account with open media URLs). */
  readonly twilio?: TwilioMediaAuth | undefined;
  /** Hosts (`host` or `host:port`) media are fetched from (default `api.twilio.com`). */
  readonly mediaHosts?: readonly string[] | undefined;
}

const MEDIA_RETRY = { initialDelayMs: 200, maxDelayMs: 2_000, maxAttempts: 3 };

/** Consumes inbound-sms.v1 into reports. */
export function createInboundIntake(deps: InboundDeps): { start(): Promise<void>; close(): Promise<void> } {
  const { bus, reports, logger, config, clock } = deps;
  const mediaHosts = new Set((deps.mediaHosts ?? ['api.twilio.com']).map((h) => h.toLowerCase()));
  const outcomes = deps.metrics.counter(
    'reports_inbound_total',
    'Inbound SMS handled by the reports service, by outcome (created, located, duplicate, dead-lettered, parking: a parking command, left to the parking service)',
    ['outcome'],
  );
  const refused = deps.metrics.counter(
    'reports_photos_refused_total',
    'Photos not kept, by source and reason (the report is kept without them)',
    ['source', 'reason'],
  );
  let subscription: Subscription | undefined;

  async function fetchMedia(url: string): Promise<Buffer> {
    const target = new URL(url);
    if (!mediaHosts.has(target.host.toLowerCase())) {
      throw new AppError(
        'ERR_REPORT_MEDIA_HOST',
        `media host: ${target.host} (allowed: ${[...mediaHosts].join(', ')})`,
      );
    }
    const headers: Record<string, string> = {};
    if (deps.twilio) {
      const basic = Buffer.from(`${deps.twilio.accountSid}:${deps.twilio.authToken}`).toString('base64');
      headers.authorization = `Basic ${basic}`;
    }
    return withRetry(async () => {
      let res: Response;
      try {
        res = await fetch(target, { headers, signal: AbortSignal.timeout(config.mediaFetchTimeoutMs) });
      } catch (err) {
        throw new AppError('ERR_REPORT_MEDIA_FETCH', `media: ${target.host} unreachable (${(err as Error).message})`, {
          retryable: true,
          cause: err,
        });
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        throw new AppError('ERR_REPORT_MEDIA_FETCH', `media: HTTP ${res.status} from ${target.host} (200 expected)`, {
          retryable: res.status >= 500 || res.status === 429,
        });
      }
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > config.photoMaxBytes) {
        await res.body?.cancel().catch(() => {});
        throw new AppError(
          'ERR_REPORT_PHOTO_TOO_LARGE',
          `photo: ${declared} bytes (at most ${config.photoMaxBytes} bytes)`,
        );
      }
      // Read with a bound: a server that lies about its length is cut off at the limit.
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body ?? []) {
        size += (chunk as Uint8Array).length;
        if (size > config.photoMaxBytes) {
          throw new AppError(
            'ERR_REPORT_PHOTO_TOO_LARGE',
            `photo: more than ${config.photoMaxBytes} bytes (at most ${config.photoMaxBytes} bytes)`,
          );
        }
        chunks.push(Buffer.from(chunk as Uint8Array));
      }
      return Buffer.concat(chunks);
    }, MEDIA_RETRY);
  }

  /** The first media that gives a clean photo; the others' failures counted. */
  async function photoOf(sms: InboundSms): Promise<{ photo?: CleanPhoto; problem?: string }> {
    let problem: string | undefined;
    for (const media of sms.media) {
      try {
        const bytes = await fetchMedia(media.url);
        const photo = await cleanPhoto(bytes, {
          maxBytes: config.photoMaxBytes,
          maxEdgePx: config.photoMaxEdgePx,
          maxInputPixels: config.photoMaxInputPixels,
        });
        return { photo };
      } catch (err) {
        problem = err instanceof AppError && err.code !== 'ERR_RETRY_EXHAUSTED' ? err.code : 'ERR_REPORT_MEDIA_FETCH';
        refused.inc({ source: 'sms', reason: problem });
        logger.warn(
          { messageSid: sms.messageSid, code: problem, contentType: media.contentType },
          'reports: an MMS media was not kept',
        );
      }
    }
    return problem ? { problem } : {};
  }

  async function handleOne(m: BusMessage): Promise<void> {
    const parsed = parseOrDeadLetter(m, InboundSms, {
      json: 'ERR_REPORT_INBOUND_JSON',
      schema: 'ERR_REPORT_INBOUND_SCHEMA',
    });
    if (!parsed.ok) {
      outcomes.inc({ outcome: 'dead-lettered' });
      logger.error({ topic: m.topic, offset: m.offset, errorCode: parsed.letter.errorCode }, parsed.letter.message);
      await deadLetter(bus, m, parsed.letter);
      return;
    }
    const sms = parsed.value;
    if (smsService(sms.body) === 'parking') {
      outcomes.inc({ outcome: 'parking' });
      return;
    }
    if (await reports.inboundSeen(sms.messageSid)) {
      outcomes.inc({ outcome: 'duplicate' });
      return;
    }
    const text = sms.body.trim();
    const { photo, problem } = await photoOf(sms);
    const address = text ? findAddress(text) : undefined;

    if (config.awaitLocationHours > 0) {
      const since = new Date(clock.nowMs() - config.awaitLocationHours * 3_600_000).toISOString();
      const waiting = await reports.awaitingLocation(sms.from, since);
      if (waiting && (photo?.gps || text)) {
        const place = photo?.gps
          ? { ...photo.gps, locationSource: 'photo' as const }
          : { address: (address ?? text).slice(0, 300), locationSource: 'reply' as const };
        const ack: Notification = {
          key: `report:${waiting.id}:located:sms:${sms.from}`,
          about: `report:${waiting.id}`,
          locale: waiting.locale,
          channel: 'sms',
          to: sms.from,
          body: toGsm7(
            waiting.locale === 'en'
              ? `Report ${waiting.reference}: place noted. Thank you!`
              : `Signalement ${waiting.reference} : lieu noté. Merci !`,
          ),
        };
        await bus.produce(TOPICS.notifications, [{ key: sms.from, value: JSON.stringify(ack) }]);
        await reports.locate(waiting.id, place, sms.messageSid, photo);
        outcomes.inc({ outcome: 'located' });
        return;
      }
    }

    const place = photo?.gps
      ? { latitude: photo.gps.latitude, longitude: photo.gps.longitude, locationSource: 'photo' as const }
      : address
        ? { address, locationSource: 'text' as const }
        : {};
    const { created, report } = await reports.create({
      category: guessCategory(text),
      text: text.slice(0, 2000),
      ...place,
      contact: { channel: 'sms', address: sms.from },
      locale: 'fr',
      source: 'sms',
      sourceRef: sms.messageSid,
      photo,
      photoProblem: problem,
      by: 'sms',
    });
    outcomes.inc({ outcome: created ? 'created' : 'duplicate' });
    logger.debug({ reference: report.reference, from: maskRecipient(sms.from) }, 'reports: SMS report');
  }

  return {
    async start() {
      await bus.ensureTopic(TOPICS.inboundSms);
      await bus.ensureTopic(TOPICS.notifications);
      await bus.ensureTopic(TOPICS.deadLetters);
      subscription = await bus.subscribe({
        groupId: INBOUND_GROUP_ID,
        topics: [TOPICS.inboundSms],
        fromBeginning: true,
        handler: async (messages) => {
          for (const m of messages) await handleOne(m);
          await deps.notifier.flush();
        },
      });
    },
    async close() {
      const sub = subscription;
      subscription = undefined;
      await sub?.close();
    },
  };
}
