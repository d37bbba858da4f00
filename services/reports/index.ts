import { fileURLToPath } from 'node:url';
import type { Bus } from '../../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { migrationsFromDir } from '../../core/store/migrate.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { type ReportsConfig, reportsConfigSchema } from './config.ts';
import { createInboundIntake, type TwilioMediaAuth } from './inbound.ts';
import { createLampOutIntake } from './lamp-alerts.ts';
import { createReportNotifier, type ReportNotifier } from './notifier.ts';
import { createReportStore, type ReportStore } from './store.ts';

export { findAddress, guessCategory } from './classify.ts';
export { type ReportsConfig, reportsConfigSchema } from './config.ts';
export { INBOUND_GROUP_ID, type TwilioMediaAuth } from './inbound.ts';
export { ALERTS_GROUP_ID, LAMP_BACK_NOTE } from './lamp-alerts.ts';
export { renderReportEmail, renderReportSms, reportNotification } from './messages.ts';
export type { ReportNotifier } from './notifier.ts';
export { type CleanPhoto, cleanPhoto, PHOTO_TYPES, readGps, sniffImageType } from './photo.ts';
export { type ReportRoutesDeps, ReportSchema, reportRoutes } from './routes.ts';
export {
  CATEGORIES,
  type Category,
  createReportStore,
  REPORT_STATUSES,
  type Report,
  type ReportStatus,
  type ReportStore,
  TRANSITIONS,
} from './store.ts';

/** The reports service's SQL migrations, component `reports`, for `openStore`. */
export const reportsMigrations = migrationsFromDir('reports', fileURLToPath(new URL('./migrations', import.meta.url)));

/** What the reports service needs. */
export interface ReportsDeps {
  readonly store: SqlStore;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The `reports` config section (default: the schema's defaults). */
  readonly config?: ReportsConfig;
  readonly clock?: Clock;
  /** Twilio credentials for MMS media (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN). */
  readonly twilio?: TwilioMediaAuth | undefined;
  /** Hosts MMS media are fetched from (default api.twilio.com). */
  readonly mediaHosts?: readonly string[];
}

/** The running reports service: its store, its notifier, and its consumers. */
export interface Reports {
  readonly reports: ReportStore;
  /** Pass to `reportRoutes({ notifier })` so the routes and the sweep share it. */
  readonly notifier: ReportNotifier;
  /** Subscribes to inbound-sms.v1 and alerts.v1 + devices.v1, and starts the sweep of pending status messages. */
  start(): Promise<void>;
  /** Stops the sweep, lets in-flight batches finish, leaves the groups. */
  close(): Promise<void>;
}

/**
 * Creates the reports service's consumers (group `reports-inbound` on inbound-sms.v1, group `reports-alerts` on
 * alerts.v1 and devices.v1) and the sweep producing status messages left pending (every `notifyRetryIntervalMs`).
 */
export function createReports(deps: ReportsDeps): Reports {
  const config = deps.config ?? reportsConfigSchema.parse({});
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const logger = deps.logger.child({ component: 'reports' });
  const reports = createReportStore(deps.store, { clock });
  const notifier = createReportNotifier({ reports, bus: deps.bus, logger, metrics: deps.metrics });
  const inbound = createInboundIntake({
    bus: deps.bus,
    reports,
    notifier,
    config,
    logger,
    metrics: deps.metrics,
    clock,
    twilio: deps.twilio,
    mediaHosts: deps.mediaHosts,
  });
  const lampOut = createLampOutIntake({
    bus: deps.bus,
    reports,
    logger,
    metrics: deps.metrics,
    changed: () => notifier.flush(),
  });
  let sweep: NodeJS.Timeout | undefined;
  return {
    reports,
    notifier,
    async start() {
      await inbound.start();
      await lampOut.start();
      sweep = setInterval(() => void notifier.flush(), config.notifyRetryIntervalMs);
      sweep.unref();
      // Messages left pending by a previous run.
      await notifier.flush();
    },
    async close() {
      if (sweep) clearInterval(sweep);
      sweep = undefined;
      await inbound.close();
      await lampOut.close();
      await notifier.flush();
    },
  };
}
