import { randomUUID } from 'node:crypto';
import type { Bus, BusMessage } from '../../core/bus/port.ts';
import { type DeadLetter, TOPICS } from '../../core/contracts/index.ts';

/** A dead letter of `raw` (text as UTF-8, or bytes) from a bus source, with `overrides`. */
export function deadLetterOf(raw: string | Buffer, overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    rawBase64: (typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw).toString('base64'),
    source: { type: 'bus', topic: TOPICS.mobilityUsage, partition: 0, offset: 3 },
    errorCode: 'ERR_MOBILITY_ACCOUNT_UNKNOWN',
    message: 'usage event: account acc-9 (an existing account; POST /api/mobility/accounts)',
    issues: [],
    component: 'mobility',
    stage: 'processing',
    attempts: 1,
    firstFailedAt: '2026-03-10T07:00:00.000Z',
    ...overrides,
  };
}

/** Produces dead letters to deadletter.v1 as a stage does (key: the deviceId, else the source topic). */
export async function produceDeadLetters(bus: Bus, ...letters: DeadLetter[]): Promise<void> {
  await bus.ensureTopic(TOPICS.deadLetters);
  await bus.produce(
    TOPICS.deadLetters,
    letters.map((l) => ({
      key: l.deviceId ?? ('topic' in l.source ? l.source.topic : 'x'),
      value: JSON.stringify(l),
    })),
  );
}

/** Collects every message of `topic` from its oldest (a consumer group of its own). */
export async function collect(bus: Bus, topic: string): Promise<{ all: BusMessage[]; close(): Promise<void> }> {
  const all: BusMessage[] = [];
  await bus.ensureTopic(topic);
  const sub = await bus.subscribe({
    groupId: `test-collect-${randomUUID()}`,
    topics: [topic],
    fromBeginning: true,
    handler: async (messages) => {
      all.push(...messages);
    },
  });
  return { all, close: () => sub.close() };
}
