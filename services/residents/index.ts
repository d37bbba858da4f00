import { fileURLToPath } from 'node:url';
import type { Bus } from '../../core/bus/port.ts';
import type { Clock } from '../../core/clock.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { migrationsFromDir } from '../../core/store/migrate.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createConsumptionReadModel } from './consumption.ts';

export {
  type Account,
  type AccountChannel,
  type Accounts,
  createAccounts,
  type Profile,
  type ResidentSession,
  type VerifyResult,
} from './accounts.ts';
export { type ResidentsConfig, residentsConfigSchema } from './config.ts';
export {
  type ConsumptionRow,
  dailyConsumption,
  decodeRollup,
  monthlyConsumption,
  RESIDENTS_CONSUMPTION_GROUP_ID,
} from './consumption.ts';
export { LEAK_ALERT_TYPES, type ResidentMeter } from './meters.ts';
export {
  CSRF_HEADER,
  MAX_RANGE,
  RESIDENT_COOKIE,
  type ResidentRoutesOptions,
  residentRoutes,
  signInMessage,
} from './routes.ts';

/** The residents' SQL migrations (accounts, codes, sessions, linked meters, consumption), component `residents`. */
export const residentsMigrations = migrationsFromDir(
  'residents',
  fileURLToPath(new URL('./migrations', import.meta.url)),
);

/** What the residents' background part needs. */
export interface ResidentsDeps {
  readonly bus: Bus;
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock?: Clock | undefined;
  /** Consumer group of the read model (default `residents-consumption`). */
  readonly groupId?: string | undefined;
}

/** The residents' service's background part: the consumption read model of `rollups.v1`. */
export interface Residents {
  /** Subscribes the read model to `rollups.v1` (from the beginning for a new group). */
  start(): Promise<void>;
  /** Lets the batch in flight finish and commit, then leaves the group. */
  close(): Promise<void>;
}

/** Creates the residents' service's background part (not started); the routes are {@link residentRoutes}. */
export function createResidents(deps: ResidentsDeps): Residents {
  const model = createConsumptionReadModel({
    ...deps,
    logger: deps.logger.child({ component: 'residents' }),
  });
  return { start: () => model.start(), close: () => model.close() };
}
