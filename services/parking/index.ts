import { fileURLToPath } from 'node:url';
import type { Bus } from '../../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { migrationsFromDir } from '../../core/store/migrate.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { type ParkingConfig, parkingConfigSchema, receiptLinkKey, resolveTariffs } from './config.ts';
import { createParkingInbound } from './inbound.ts';
import { createParkingMeters } from './meters.ts';
import { createParkingStore, type ParkingStore } from './store.ts';
import { createParkingSweep, type SweepResult } from './sweep.ts';
import type { TariffTable } from './tariffs.ts';

export { parkingCitizenRoutes } from './citizen-routes.ts';
export { type ParkingConfig, parkingConfigSchema, receiptLinkKey, resolveTariffs } from './config.ts';
export { handleParkingSms, INBOUND_GROUP_ID, smsMeterId } from './inbound.ts';
export { METERS_GROUP_ID, meterZoneOf } from './meters.ts';
export { normalizeReference, receiptToken, receiptUrl, verifyReceiptToken } from './reference.ts';
export { type ParkingRoutesDeps, ParkingSessionSchema, parkingRoutes } from './routes.ts';
export { looksLikeParkingSms, normalizePlate, parseParkingSms } from './sms-commands.ts';
export {
  createParkingStore,
  type ParkingSession,
  type ParkingStore,
  SESSION_SOURCES,
  SESSION_STATUSES,
  type SessionEvent,
  type SessionStatus,
} from './store.ts';
export { LEASE_MS, type SweepResult } from './sweep.ts';
export {
  MULHOUSE_EXAMPLE_TARIFFS,
  parseTariffTable,
  paymentRequiredAt,
  quote,
  type TariffTable,
} from './tariffs.ts';

/** The parking service's SQL migrations, component `parking`, for `openStore`. */
export const parkingMigrations = migrationsFromDir('parking', fileURLToPath(new URL('./migrations', import.meta.url)));

/** What the parking service needs. */
export interface ParkingDeps {
  readonly store: SqlStore;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The `parking` config section (default: the schema's defaults). */
  readonly config?: ParkingConfig;
  readonly clock?: Clock;
  /** Base of the receipt links, e.g. `https://vigie.mulhouse.fr` (the HTTP server's publicUrl). */
  readonly publicUrl: string;
  /** The city's time zone (VIGIE_TZ, default Europe/Paris). */
  readonly timeZone?: string;
}

/** The running parking service. */
export interface Parking {
  readonly sessions: ParkingStore;
  readonly table: TariffTable;
  /** Subscribes to inbound-sms.v1 and events.parking-meter.v1 + devices.v1, and starts the sweep. */
  start(): Promise<void>;
  /** Runs the sweep once now (expiry, due reminders); what the timer runs every `sweepIntervalMs`. */
  sweep(): Promise<SweepResult>;
  /** Stops the sweep, lets in-flight batches finish, leaves the groups. */
  close(): Promise<void>;
}

/**
 * Creates the parking service: its consumers (group `parking-inbound` on inbound-sms.v1, group `parking-meters` on
 * events.parking-meter.v1 and devices.v1) and its sweep (expiry and reminders, every `sweepIntervalMs`). Throws
 * ERR_PARKING_TARIFF_INVALID when the configured tariff table is not one (a start-up error).
 */
export function createParking(deps: ParkingDeps): Parking {
  const config = deps.config ?? parkingConfigSchema.parse({});
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const timeZone = deps.timeZone ?? 'Europe/Paris';
  const logger = deps.logger.child({ component: 'parking' });
  const table = resolveTariffs(config.tariffs);
  const sessions = createParkingStore(deps.store);
  const refunds = deps.metrics.counter(
    'parking_refunds_cents_total',
    'Euro cents refunded to drivers who stopped early (not in the revenue events, which count what was charged)',
  );
  const inbound = createParkingInbound({
    bus: deps.bus,
    sessions,
    context: {
      table,
      timeZone,
      publicUrl: deps.publicUrl,
      linkKey: receiptLinkKey(config),
      reminderLeadMinutes: config.reminderLeadMinutes,
      revenueEvents: config.revenueEvents,
      onRefund: (cents) => refunds.inc(cents),
    },
    logger,
    metrics: deps.metrics,
    clock,
  });
  const meters = createParkingMeters({
    bus: deps.bus,
    sessions,
    table,
    timeZone,
    logger,
    metrics: deps.metrics,
    clock,
  });
  const sweep = createParkingSweep({ sessions, bus: deps.bus, logger, metrics: deps.metrics, clock, timeZone });
  let timer: NodeJS.Timeout | undefined;
  return {
    sessions,
    table,
    async start() {
      await deps.bus.ensureTopic(TOPICS.parkingSessions);
      await inbound.start();
      await meters.start();
      timer = setInterval(() => void sweep.run(), config.sweepIntervalMs);
      timer.unref();
    },
    sweep: () => sweep.run(),
    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await inbound.close();
      await meters.close();
      // A sweep in flight finishes before the caller closes the store.
      await sweep.idle();
    },
  };
}
