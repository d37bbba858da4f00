import { randomUUID } from 'node:crypto';
import { onTestFinished } from 'vitest';
import type { Bus } from '../../core/bus/port.ts';
import type { Clock } from '../../core/clock.ts';
import { DeadLetter, Notification, TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { openTestStore as openEngineStore } from '../../test/helpers/postgres.ts';
import { mobilityConfigSchema } from './config.ts';
import { createMobility, type Mobility, type MobilityDeps, mobilityMigrations } from './index.ts';
import type { UsageEventInput } from './usage.ts';

/** What the mobility integration tests share: stores, instances, and collectors of what they produce. */

/** The city's zone in the tests. */
export const TZ = 'Europe/Paris';

/** A store of `engine` with the mobility migrations, closed (and its database dropped) when the test ends. */
export function openTestStore(engine: 'pglite' | 'postgres'): Promise<SqlStore> {
  return openEngineStore(engine, [mobilityMigrations]);
}

/** A mobility instance on `store` and `bus` (billing cron off unless `config` says otherwise), closed at test end. */
export function mobilityOn(
  store: SqlStore,
  bus: Bus,
  clock: Clock,
  overrides: Partial<Omit<MobilityDeps, 'config'>> & { config?: Record<string, unknown> } = {},
): { mobility: Mobility; metrics: Metrics } {
  const metrics = new Metrics();
  const { config, ...rest } = overrides;
  const mobility = createMobility({
    store,
    bus,
    clock,
    logger: silentLogger(),
    metrics,
    timeZone: TZ,
    config: mobilityConfigSchema.parse({ billingEnabled: false, ...config }),
    retry: { initialDelayMs: 10, maxDelayMs: 50, maxAttempts: 2 },
    ...rest,
  });
  onTestFinished(() => mobility.close());
  return { mobility, metrics };
}

/** Collects every message produced to `topic` from now on, parsed with `parse` (a group of its own). */
async function collect<T>(bus: Bus, topic: string, parse: (value: string) => T): Promise<T[]> {
  const all: T[] = [];
  await bus.ensureTopic(topic);
  const sub = await bus.subscribe({
    groupId: `test-${randomUUID()}`,
    topics: [topic],
    fromBeginning: true,
    handler: async (messages) => {
      for (const m of messages) all.push(parse(m.value));
    },
  });
  onTestFinished(() => sub.close());
  return all;
}

/** Every notification produced to notifications.v1, as the alerting stage would read it. */
export function collectNotifications(bus: Bus): Promise<Notification[]> {
  return collect(bus, TOPICS.notifications, (v) => Notification.parse(JSON.parse(v)));
}

/** Every dead letter produced to deadletter.v1. */
export function collectDeadLetters(bus: Bus): Promise<DeadLetter[]> {
  return collect(bus, TOPICS.deadLetters, (v) => DeadLetter.parse(JSON.parse(v)));
}

/** Produces usage events (or raw strings) to mobility-usage.v1, key = their accountId. */
export async function produceUsage(bus: Bus, events: ReadonlyArray<UsageEventInput | string>): Promise<void> {
  await bus.ensureTopic(TOPICS.mobilityUsage);
  await bus.produce(
    TOPICS.mobilityUsage,
    events.map((e) =>
      typeof e === 'string'
        ? { key: 'raw', value: e }
        : { key: String((e as { accountId: unknown }).accountId), value: JSON.stringify(e) },
    ),
  );
}

/** Creates an account directly in the store (as the admin route does), by `test`. */
export async function createAccount(
  mobility: Mobility,
  accountId: string,
  extra: { email?: string; locale?: 'fr' | 'en'; name?: string; phone?: string } = {},
) {
  return mobility.store.createAccount({
    accountId,
    ...(extra.phone ? { phone: extra.phone } : {}),
    name: extra.name ?? `Holder ${accountId}`,
    email: extra.email ?? `${accountId}@example.org`,
    locale: extra.locale ?? 'fr',
    by: 'test',
  });
}
