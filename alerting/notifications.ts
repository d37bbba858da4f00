import { busDeadLetter, parseBusMessage, type Refusal } from '../core/bus/dead-letter.ts';
import type { Bus, BusMessage, Subscription } from '../core/bus/port.ts';
import { Notification, TOPICS } from '../core/contracts/index.ts';
import type { Logger } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import type { SqlStore } from '../core/store/store.ts';
import { enqueueMessages, type QueuedMessage } from './delivery-log.ts';

/**
 * The services' way to send a message (core/contracts/notification.ts): `notifications.v1` is consumed by the
 * alerting stage (group `alerting-notifications`), each notification queued in the delivery log under its own key
 * (purpose `notice`; produced twice, sent once) and sent by the router's sweep with its retries, STOP checks and
 * failure reports. A record that is not a notification is dead-lettered with its bytes and counted.
 */

/** The consumer group of notifications.v1. */
export const NOTIFICATIONS_GROUP_ID = 'alerting-notifications';

/** Consumes notifications.v1 into the delivery log; `queued()` is called after each batch that queued some. */
export function createNotificationIntake(deps: {
  readonly bus: Bus;
  readonly store: SqlStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly nowMs: () => number;
  readonly queued: () => void;
}): { start(): Promise<void>; close(): Promise<void> } {
  const { bus, store, logger, metrics } = deps;
  const received = metrics.counter('alerting_notifications_total', 'Notifications from services, by outcome', [
    'outcome',
  ]);
  let subscription: Subscription | undefined;

  async function refuse(m: BusMessage, refusal: Refusal): Promise<void> {
    received.inc({ outcome: 'dead-lettered' });
    logger.error({ topic: m.topic, offset: m.offset, errorCode: refusal.errorCode }, refusal.message);
    await bus.produce(TOPICS.deadLetters, [
      busDeadLetter(m, refusal, { component: 'alerting', nowMs: Date.now(), key: m.key || 'notifications' }),
    ]);
  }

  async function handle(messages: readonly BusMessage[]): Promise<void> {
    const queue: QueuedMessage[] = [];
    for (const m of messages) {
      const parsed = parseBusMessage(m, Notification, {
        what: 'notification',
        contract: 'core/contracts/notification.ts',
        jsonCode: 'ERR_NOTIFICATION_JSON',
        schemaCode: 'ERR_NOTIFICATION_SCHEMA',
      });
      if (!parsed.ok) {
        await refuse(m, parsed);
        continue;
      }
      const n = parsed.data;
      queue.push({
        key: n.key,
        subject: n.about,
        purpose: 'notice',
        locale: n.locale,
        notBeforeMs: n.notBefore ? Date.parse(n.notBefore) : deps.nowMs(),
        message:
          n.channel === 'sms'
            ? { kind: 'sms', to: n.to, body: n.body }
            : { kind: 'email', to: n.to, subject: n.subject, text: n.text, ...(n.html ? { html: n.html } : {}) },
      });
    }
    if (queue.length === 0) return;
    const fresh = await enqueueMessages(store, queue);
    received.inc({ outcome: 'queued' }, fresh);
    received.inc({ outcome: 'duplicate' }, queue.length - fresh);
    if (fresh > 0) deps.queued();
  }

  return {
    async start() {
      await bus.ensureTopic(TOPICS.notifications);
      subscription = await bus.subscribe({
        groupId: NOTIFICATIONS_GROUP_ID,
        topics: [TOPICS.notifications],
        fromBeginning: true,
        handler: handle,
      });
    },
    async close() {
      const sub = subscription;
      subscription = undefined;
      await sub?.close();
    },
  };
}
