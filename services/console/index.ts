import { fileURLToPath } from 'node:url';
import type { Bus } from '../../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { migrationsFromDir } from '../../core/store/migrate.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { type ConsoleConfig, consoleConfigSchema } from './config.ts';
import { createConsoleReadModels } from './read-model.ts';

export { type ConsoleConfig, consoleConfigSchema } from './config.ts';
export {
  type ConsoleDevice,
  type ConsoleSummary,
  DEVICE_STATES,
  type DeviceAlert,
  type DeviceState,
  deviceState,
  listDevices,
  readSeries,
  type SeriesPoint,
  summarize,
} from './queries.ts';
export {
  CONSOLE_GROUP_IDS,
  decodeAlert,
  decodeDevice,
  decodeSeries,
  deleteExpiredSeries,
  RETENTION_SWEEP_INTERVAL_MS,
  type SeriesRow,
} from './read-model.ts';
export {
  ConsoleDeviceSchema,
  type ConsoleRoutesDeps,
  consoleRoutes,
  DEFAULT_RANGE_DAYS,
  MAX_RANGE_DAYS,
} from './routes.ts';

/** The console's SQL migrations (devices, their open alerts, device series), component `console`, for `openStore`. */
export const consoleMigrations = migrationsFromDir('console', fileURLToPath(new URL('./migrations', import.meta.url)));

/** What the console's background part needs. */
export interface ConsoleDeps {
  readonly store: SqlStore;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Now, for the series retention (default: the system clock). */
  readonly clock?: Clock | undefined;
  /** The `console` config section (default: the schema's defaults). */
  readonly config?: ConsoleConfig | undefined;
}

/** The console's background part: its read models of devices.v1, alerts.v1 and rollups.v1. */
export interface Console {
  /** Subscribes the three read models (groups console-devices, console-alerts, console-series; from the beginning). */
  start(): Promise<void>;
  /** Lets the batches in flight finish and commit, then leaves the groups. */
  close(): Promise<void>;
}

/** Creates the console's read models (not started); the routes are {@link consoleRoutes}. */
export function createConsole(deps: ConsoleDeps): Console {
  const config = deps.config ?? consoleConfigSchema.parse({});
  const models = createConsoleReadModels({
    bus: deps.bus,
    store: deps.store,
    metrics: deps.metrics,
    logger: deps.logger.child({ component: 'console' }),
    clock: deps.clock ?? SYSTEM_CLOCK,
    retention: { hourRetentionDays: config.hourRetentionDays, dayRetentionDays: config.dayRetentionDays },
  });
  return {
    async start() {
      for (const m of models) await m.start();
    },
    async close() {
      await Promise.all(models.map((m) => m.close()));
    },
  };
}
export {
  type ConsolePagesOptions,
  consolePages,
  contentSecurityPolicy,
  type MapSettings,
  tileOrigin,
} from './pages.ts';
