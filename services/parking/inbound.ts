import { parseBusMessage } from '../../core/bus/dead-letter.ts';
import type { Bus, BusMessage, OutgoingMessage, Subscription } from '../../core/bus/port.ts';
import type { Clock } from '../../core/clock.ts';
import { type DeviceEvent, InboundSms, Notification, TOPICS } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import { type Logger, maskRecipient } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { smsService } from '../../core/sms-routing.ts';
import type { SqlExecutor } from '../../core/store/store.ts';
import { receiptUrl } from './reference.ts';
import {
  alreadyRunningText,
  extensionRefusedText,
  extensionText,
  helpText,
  type Locale,
  noSessionText,
  receiptText,
  stopText,
  whichPlateText,
} from './reply-texts.ts';
import { parseParkingSms } from './sms-commands.ts';
import {
  expireStale,
  extendSession,
  type InboundResult,
  insertSession,
  type OutboxRecord,
  type ParkingSession,
  type ParkingStore,
  runningFor,
  runningForPhone,
  stopSession,
} from './store.ts';
import { extendQuote, quote, reminderAtMs, stopQuote, type TariffTable } from './tariffs.ts';

/**
 * Parking by SMS: consumes inbound-sms.v1 (group `parking-inbound`) and acts on the messages core/sms-routing.ts
 * says are parking commands (the reports service skips exactly those). Each SMS is parsed (sms-commands.ts), then
 * handled once per messageSid in one transaction — the session change, its ledger event and the messages to send
 * are stored together — and the messages are produced afterwards: the reply on notifications.v1 (key = the sender,
 * idempotency key `parking:<messageSid>:reply`) and, with `revenueEvents: publish`, a `payment` event on
 * events.parking-meter.v1. A crash or a bus error between the two leaves them stored: the redelivered SMS produces
 * them then (the alerting stage's delivery log sends one message per key), and a redelivery after that does nothing.
 *
 * - start: refused with a reply when the plate has a session running in the zone (nothing charged twice: the driver
 *   adds time with PROLONGER, which needs no zone); else quoted from now (tariffs.ts), stored, and answered with the
 *   receipt: reference, end, amount and the verification link `<publicUrl>/p/<ref>?k=<token>`.
 * - extend / stop: the sender's running sessions (by phone), the plate to choose among several; "no session" or
 *   "which plate?" replies otherwise. An extension past the maximum stay is refused, saying what is left.
 * - a message not understood gets the grammar's reply (the right syntax and an example) and creates nothing.
 *
 * Sessions start at the service's clock when the SMS is handled (the webhook → bus → consumer path takes well under
 * a second), not at the SMS's receivedAt: a replayed message never starts a session in the past. Replies are French
 * unless the command word is English (EXTEND, HELP). A record that is not an InboundSms is counted `invalid` and
 * left: the reports service, which consumes the same topic, dead-letters it (one dead letter per bad record).
 */

/** The consumer group of inbound-sms.v1. */
export const INBOUND_GROUP_ID = 'parking-inbound';

/** Virtual meter id SMS revenue is published under: `sms-<zone>`. */
export function smsMeterId(zone: string): string {
  return `sms-${zone}`;
}

/** What the SMS flows need. */
export interface SmsFlowContext {
  readonly table: TariffTable;
  readonly timeZone: string;
  readonly publicUrl: string;
  readonly linkKey: Uint8Array;
  readonly reminderLeadMinutes: number;
  readonly revenueEvents: 'publish' | 'off';
  /** Counts refunds (euro cents). */
  readonly onRefund?: (cents: number) => void;
}

/** The language of the replies: English when the command word is (EXTEND, HELP), else French. */
export function localeOf(body: string): Locale {
  const first = body.trim().split(/\s+/)[0]?.toUpperCase() ?? '';
  return first === 'EXTEND' || first === 'HELP' ? 'en' : 'fr';
}

/** An SMS notification as an outbox record (validated against the contract). */
export function smsRecord(key: string, about: string, to: string, locale: Locale, body: string): OutboxRecord {
  const n = Notification.parse({ key, about, locale, channel: 'sms', to, body });
  return { topic: TOPICS.notifications, key: to, value: JSON.stringify(n) };
}

/** The revenue event of an SMS payment (none when nothing was charged or publishing is off). */
function revenueRecord(
  ctx: SmsFlowContext,
  session: ParkingSession,
  amountCents: number,
  minutes: number,
  nowMs: number,
): OutboxRecord[] {
  if (ctx.revenueEvents === 'off' || amountCents <= 0) return [];
  const at = new Date(nowMs).toISOString();
  const event: DeviceEvent = {
    deviceId: smsMeterId(session.zone),
    kind: 'parking-meter',
    ts: at,
    type: 'payment',
    data: { amountCents, method: 'sms', minutes, reference: session.reference, zone: session.zone },
    receivedAt: at,
  };
  return [{ topic: TOPICS.events('parking-meter'), key: event.deviceId, value: JSON.stringify(event) }];
}

/** The reminder time of a session ending at `endMs`, as seen at `nowMs`: null when too close to need one. */
function reminderOf(ctx: SmsFlowContext, nowMs: number, endMs: number): number | null {
  return reminderAtMs(nowMs, endMs, ctx.reminderLeadMinutes) ?? null;
}

/** Handles one parking SMS inside the store transaction `tx` at `nowMs`: the change, and what to send. */
export async function handleParkingSms(
  ctx: SmsFlowContext,
  tx: SqlExecutor,
  sms: InboundSms,
  nowMs: number,
): Promise<InboundResult> {
  const { table, timeZone } = ctx;
  const locale = localeOf(sms.body);
  const replyKey = `parking:${sms.messageSid}:reply`;
  const reply = (body: string, about = `parking:sms:${sms.messageSid}`) =>
    smsRecord(replyKey, about, sms.from, locale, body);
  const parsed = parseParkingSms(sms.body, table, locale);
  if (!parsed.ok) return { outcome: 'invalid-command', outbox: [reply(parsed.error.reply)] };
  const c = parsed.command;

  if (c.kind === 'help') return { outcome: 'help', outbox: [reply(helpText(table, locale))] };

  if (c.kind === 'start') {
    await expireStale(tx, c.plate, c.zone, nowMs);
    const running = await runningFor(tx, c.plate, c.zone, nowMs);
    if (running) {
      const text = alreadyRunningText({ plate: c.plate, zone: c.zone, endMs: running.endMs, nowMs, locale, timeZone });
      return { outcome: 'refused', outbox: [reply(text)] };
    }
    const q = quote(table, c.zone, nowMs, c.minutes, timeZone);
    const session = await insertSession(tx, {
      plate: c.plate,
      zone: c.zone,
      phone: sms.from,
      locale,
      startMs: nowMs,
      endMs: q.endMs,
      paidMinutes: q.paidMinutes,
      amountCents: q.amountCents,
      status: 'running',
      source: 'sms',
      deviceId: null,
      sourceRef: sms.messageSid,
      reminderAtMs: reminderOf(ctx, nowMs, q.endMs),
      messageSid: sms.messageSid,
      nowMs,
    });
    if (!session) {
      // Another instance started this plate in this zone meanwhile: handled again, it is refused.
      throw new AppError(
        'ERR_PARKING_SESSION_CONFLICT',
        `start ${c.plate} zone ${c.zone}: started meanwhile (retried)`,
        {
          retryable: true,
        },
      );
    }
    const text = receiptText({
      reference: session.reference,
      zone: session.zone,
      plate: c.plate,
      startMs: nowMs,
      endMs: session.endMs,
      amountCents: session.amountCents,
      url: receiptUrl(ctx.publicUrl, session.reference, ctx.linkKey),
      locale,
      timeZone,
    });
    return {
      outcome: 'started',
      sessionId: session.id,
      outbox: [
        reply(text, `parking:${session.reference}`),
        ...revenueRecord(ctx, session, q.amountCents, q.paidMinutes, nowMs),
      ],
    };
  }

  // extend or stop: the sender's running sessions, the plate to choose.
  const mine = await runningForPhone(tx, sms.from, nowMs);
  const matching = c.plate === undefined ? mine : mine.filter((s) => s.plate === c.plate);
  if (matching.length === 0) return { outcome: 'no-session', outbox: [reply(noSessionText(table, locale))] };
  if (matching.length > 1) {
    const plates = [...new Set(matching.map((s) => s.plate ?? ''))];
    return { outcome: 'ambiguous', outbox: [reply(whichPlateText(c.kind, plates, locale))] };
  }
  const s = matching[0] as ParkingSession;
  const plate = s.plate ?? '';
  const span = { zone: s.zone, startMs: s.startMs, paidMinutes: s.paidMinutes };
  const about = `parking:${s.reference}`;

  if (c.kind === 'extend') {
    const q = extendQuote(table, span, c.minutes, timeZone);
    if (q.capped || q.addedMinutes === 0) {
      const max = table.zones[s.zone]?.maxStayMinutes ?? s.paidMinutes;
      const text = extensionRefusedText(s.zone, max, Math.max(0, max - s.paidMinutes), locale);
      return { outcome: 'refused', sessionId: s.id, outbox: [reply(text, about)] };
    }
    const updated = await extendSession(tx, s, {
      paidMinutes: q.session.paidMinutes,
      endMs: q.endMs,
      addedMinutes: q.addedMinutes,
      chargedCents: q.amountCents,
      reminderAtMs: reminderOf(ctx, nowMs, q.endMs),
      nowMs,
      messageSid: sms.messageSid,
    });
    const text = extensionText({
      reference: s.reference,
      plate,
      addedMinutes: q.addedMinutes,
      endMs: updated.endMs,
      amountCents: q.amountCents,
      nowMs,
      locale,
      timeZone,
    });
    return {
      outcome: 'extended',
      sessionId: s.id,
      outbox: [reply(text, about), ...revenueRecord(ctx, updated, q.amountCents, q.addedMinutes, nowMs)],
    };
  }

  const q = stopQuote(table, span, nowMs, timeZone);
  // What is due never exceeds what was charged (the ledger's sum), so the refund is never negative.
  const finalCents = Math.min(q.amountCents, s.amountCents);
  const refundCents = s.amountCents - finalCents;
  await stopSession(tx, s, {
    usedMinutes: q.usedPaidMinutes,
    amountCents: finalCents,
    refundCents,
    nowMs,
    messageSid: sms.messageSid,
  });
  ctx.onRefund?.(refundCents);
  const text = stopText({
    reference: s.reference,
    plate,
    stoppedAtMs: nowMs,
    amountCents: finalCents,
    refundCents,
    locale,
    timeZone,
  });
  return { outcome: 'stopped', sessionId: s.id, outbox: [reply(text, about)] };
}

/** Produces outbox records, grouped by topic, in order. */
export async function produceOutbox(bus: Bus, records: readonly OutboxRecord[]): Promise<void> {
  const byTopic = new Map<string, OutgoingMessage[]>();
  for (const r of records) {
    const list = byTopic.get(r.topic) ?? [];
    list.push({ key: r.key, value: r.value });
    byTopic.set(r.topic, list);
  }
  for (const [topic, messages] of byTopic) await bus.produce(topic, messages);
}

/** What the inbound consumer needs. */
export interface ParkingInboundDeps {
  readonly bus: Bus;
  readonly sessions: ParkingStore;
  readonly context: SmsFlowContext;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
}

/** Consumes inbound-sms.v1 into parking sessions and replies. */
export function createParkingInbound(deps: ParkingInboundDeps): { start(): Promise<void>; close(): Promise<void> } {
  const { bus, sessions, logger, clock } = deps;
  const outcomes = deps.metrics.counter(
    'parking_inbound_total',
    'Inbound SMS handled by the parking service, by outcome (started, extended, stopped, refused, help, no-session, ' +
      'ambiguous, invalid-command, duplicate, resent, not-parking, invalid)',
    ['outcome'],
  );
  let subscription: Subscription | undefined;

  async function handleOne(m: BusMessage): Promise<void> {
    const parsed = parseBusMessage(m, InboundSms, {
      what: `${m.topic} record`,
      contract: 'core/contracts/inbound.ts',
      jsonCode: 'ERR_PARKING_INBOUND_JSON',
      schemaCode: 'ERR_PARKING_INBOUND_SCHEMA',
    });
    if (!parsed.ok) {
      // The reports service dead-letters it (it consumes the same topic); one dead letter per bad record.
      outcomes.inc({ outcome: 'invalid' });
      logger.debug({ topic: m.topic, offset: m.offset, errorCode: parsed.errorCode }, 'parking: not an InboundSms');
      return;
    }
    const sms = parsed.data;
    if (smsService(sms.body) !== 'parking') {
      outcomes.inc({ outcome: 'not-parking' });
      return;
    }
    const nowMs = clock.nowMs();
    const result = await sessions.handleInbound(sms.messageSid, nowMs, (tx) =>
      handleParkingSms(deps.context, tx, sms, nowMs),
    );
    if (!result) {
      const pending = await sessions.pendingInbound(sms.messageSid);
      if (!pending) {
        outcomes.inc({ outcome: 'duplicate' });
        return;
      }
      await produceOutbox(bus, pending);
      await sessions.markInboundProduced(sms.messageSid);
      outcomes.inc({ outcome: 'resent' });
      return;
    }
    await produceOutbox(bus, result.outbox);
    await sessions.markInboundProduced(sms.messageSid);
    outcomes.inc({ outcome: result.outcome });
    logger.debug({ outcome: result.outcome, from: maskRecipient(sms.from) }, 'parking: SMS handled');
  }

  return {
    async start() {
      await bus.ensureTopic(TOPICS.inboundSms);
      await bus.ensureTopic(TOPICS.notifications);
      await bus.ensureTopic(TOPICS.events('parking-meter'));
      subscription = await bus.subscribe({
        groupId: INBOUND_GROUP_ID,
        topics: [TOPICS.inboundSms],
        fromBeginning: true,
        handler: async (messages) => {
          for (const m of messages) await handleOne(m);
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
