import { randomUUID } from 'node:crypto';
import { inject, onTestFinished } from 'vitest';
import { createKafkaBus } from '../../core/bus/kafka.ts';
import { createMemoryBus } from '../../core/bus/memory.ts';
import type { Bus } from '../../core/bus/port.ts';
import { type InboundSms, Notification, TOPICS } from '../../core/contracts/index.ts';

/** Bus engines the integration tests run on. */
export type BusKind = 'memory' | 'kafka';

/** A bus of `kind` (Kafka: a namespace of its own on the test broker), closed when the test ends. */
export async function openTestBus(kind: BusKind): Promise<Bus> {
  const namespace = `parking-${randomUUID().slice(0, 8)}`;
  const bus =
    kind === 'memory'
      ? createMemoryBus()
      : await createKafkaBus({ brokers: inject('kafkaBrokers'), clientId: `parking-test-${namespace}`, namespace });
  onTestFinished(() => bus.close());
  return bus;
}

/** Collects every message of `topic` from the beginning (a group of its own), parsed with `parse`. */
export async function collect<T>(
  bus: Bus,
  topic: string,
  parse: (value: string) => T,
): Promise<{ readonly all: T[]; close(): Promise<void> }> {
  const all: T[] = [];
  await bus.ensureTopic(topic);
  const sub = await bus.subscribe({
    groupId: `test-collect-${randomUUID()}`,
    topics: [topic],
    fromBeginning: true,
    handler: async (messages) => {
      for (const m of messages) all.push(parse(m.value));
    },
  });
  onTestFinished(() => sub.close());
  return { all, close: () => sub.close() };
}

/** Collects notifications.v1 (SMS ones, as their key and body). */
export function collectSms(bus: Bus) {
  return collect(bus, TOPICS.notifications, (v) => {
    const n = Notification.parse(JSON.parse(v));
    if (n.channel !== 'sms') throw new Error(`not an SMS: ${n.key}`);
    return n;
  });
}

/** An inbound SMS from `from` (a new messageSid unless given). */
export function inboundSms(body: string, overrides: Partial<InboundSms> = {}): InboundSms {
  return {
    messageSid: `SM${randomUUID().replace(/-/g, '')}`,
    from: '+33611223344',
    to: '36180',
    body,
    media: [],
    receivedAt: new Date().toISOString(),
    ...overrides,
  };
}

/** Produces inbound SMS to inbound-sms.v1 (key = the sender), in order. */
export async function sendSms(bus: Bus, ...messages: InboundSms[]): Promise<void> {
  for (const m of messages) {
    await bus.produce(TOPICS.inboundSms, [{ key: m.from, value: JSON.stringify(m) }]);
  }
}
