import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Bus } from '../../core/bus/port.ts';
import type { RetryPolicy } from '../../core/bus/retry.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { migrationsFromDir } from '../../core/store/migrate.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createAvailabilityReadModels } from './availability.ts';
import { type BillingOutcome, createBillingRun } from './billing-run.ts';
import { billingCalendar } from './calendar.ts';
import type { MobilityConfig } from './config.ts';
import { createParkingUsage } from './parking-usage.ts';
import { createMobilityStore, type MobilityStore } from './store.ts';
import { createUsageConsumer } from './usage-consumer.ts';

export {
  AVAILABILITY_GROUP_IDS,
  AVAILABILITY_KINDS,
  type Availability,
  AvailabilitySchema,
  availabilityRoutes,
  readAvailability,
} from './availability.ts';
/**
 * The mobility account (issue 8 part 2): usage consumer, monthly billing, invoice emails, operator routes, and the
 * residents' availability map (bike stations, shared cars, car parks: availability.ts).
 */
export { billMonth, type Invoice, invoiceNumber, shouldEmailInvoice } from './billing.ts';
export { ACCOUNT_PAGE, type BillingOutcome, EMAIL_BATCH, previousLocalMonth } from './billing-run.ts';
export { mobilityCitizenRoutes } from './citizen-routes.ts';
export { BILLING_CLAIM_TIMEOUT_MS, type MobilityConfig, mobilityConfigSchema } from './config.ts';
export { renderInvoiceEmail } from './invoice-email.ts';
export { PARKING_USAGE_GROUP_ID, parkingUsage } from './parking-usage.ts';
export { MobilityAccountSchema, MobilityInvoiceSchema, type MobilityRoutesDeps, mobilityRoutes } from './routes.ts';
export {
  createMobilityStore,
  type EmailState,
  type MobilityAccount,
  type MobilityStore,
  type StoredInvoice,
} from './store.ts';
export { DEFAULT_TARIFFS, parseTariffTable, TariffTable } from './tariffs.ts';
export { MOBILITY_USAGE_TOPIC, parseUsage, UsageEvent, type UsageEventInput } from './usage.ts';
export { USAGE_GROUP_ID, type UsageOutcome } from './usage-consumer.ts';

/** The mobility account's SQL migrations, component `mobility`, for `openStore`. */
export const mobilityMigrations = migrationsFromDir(
  'mobility',
  fileURLToPath(new URL('./migrations', import.meta.url)),
);

/** What the mobility account needs. */
export interface MobilityDeps {
  readonly store: SqlStore;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The `mobility` config section (`mobilityConfigSchema`). */
  readonly config: MobilityConfig;
  /** The city's time zone (VIGIE_TZ): local days and months of billing, and the cron's zone. */
  readonly timeZone: string;
  readonly clock?: Clock | undefined;
  /** This instance's name in `mobility_billing_runs` (default `<hostname>:<pid>:<random>`). */
  readonly instanceId?: string | undefined;
  /** Consumer group of the usage consumer (default `mobility-usage`). */
  readonly usageGroupId?: string | undefined;
  /** Retries of a billing run's transient failures (default 5 attempts, 1 s doubling to 30 s). */
  readonly retry?: RetryPolicy | undefined;
}

/** The running mobility account. */
export interface Mobility {
  /** This instance's name in `mobility_billing_runs`. */
  readonly instance: string;
  readonly store: MobilityStore;
  /**
   * Subscribes the usage consumer and the availability read models, produces invoice emails a crash left pending,
   * registers the billing cron.
   */
  start(): Promise<void>;
  /** Stops the cron, waits for a run in flight, leaves the consumer group. */
  close(): Promise<void>;
  /** Bills `month` (`YYYY-MM`, local) once across instances: for tests and a `vigie mobility bill` command. */
  runBilling(month: string): Promise<BillingOutcome>;
  /** Bills the local month before the local month of `atMs` (what the cron job runs at its instant). */
  runBillingAt(atMs: number): Promise<BillingOutcome>;
  /** Produces the invoice emails pending in the outbox; resolves with how many. */
  flushEmails(): Promise<number>;
  /** When the billing cron fires next; null when not started or disabled. */
  nextBillingRun(): Date | null;
}

/**
 * Creates the mobility account's background part: the usage consumer (group `mobility-usage` on
 * `mobility-usage.v1`) and the monthly billing (node-cron `billingCron` in `timeZone`, once across instances).
 * ERR_MOBILITY_TIMEZONE_INVALID for an unknown zone.
 */
export function createMobility(deps: MobilityDeps): Mobility {
  const { config, timeZone, bus, metrics } = deps;
  billingCalendar(timeZone); // checks the zone now (config error at startup)
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const logger = deps.logger.child({ component: 'mobility' });
  const instance = deps.instanceId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const mobility = createMobilityStore(deps.store, { clock });
  const consumer = createUsageConsumer({
    bus,
    mobility,
    timeZone,
    clock,
    logger,
    metrics,
    groupId: deps.usageGroupId,
  });
  const parking = createParkingUsage({ bus, mobility, clock, logger, metrics });
  const availability = createAvailabilityReadModels({ bus, store: deps.store, metrics, logger });
  const billing = createBillingRun({
    mobility,
    bus,
    config,
    timeZone,
    instance,
    clock,
    logger,
    metrics,
    retry: deps.retry,
  });
  let started = false;
  return {
    instance,
    store: mobility,
    async start() {
      if (started) return;
      started = true;
      await bus.ensureTopic(TOPICS.notifications);
      await consumer.start();
      await parking.start();
      for (const model of availability) await model.start();
      await billing.flushEmails();
      billing.start();
    },
    async close() {
      await billing.close();
      for (const model of availability) await model.close();
      await parking.close();
      await consumer.close();
      started = false;
    },
    runBilling: (month) => billing.runBilling(month),
    runBillingAt: (atMs) => billing.runBillingAt(atMs),
    flushEmails: () => billing.flushEmails(),
    nextBillingRun: () => billing.nextRun(),
  };
}
