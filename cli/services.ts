import { createNotificationIntake } from '../alerting/notifications.ts';
import { unsubscribeSecret } from '../alerting/webhooks/unsubscribe-token.ts';
import type { Bus } from '../core/bus/port.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import type { SqlStore } from '../core/store/store.ts';
import type { HttpPlugin } from '../services/http/index.ts';
import { createReports, reportRoutes } from '../services/reports/index.ts';
import { createResidents, residentRoutes } from '../services/residents/index.ts';
import type { RootConfig } from './config.ts';

/** The citizen services running in this process: their routes for the HTTP server, and a close. */
export interface RunningServices {
  readonly plugins: readonly HttpPlugin[];
  close(): Promise<void>;
}

/**
 * Starts the citizen services (issue 7) beside the HTTP server: problem reports (their consumers of inbound-sms.v1,
 * alerts.v1, devices.v1) and residents (their consumption read model), and returns their routes. Both send
 * messages through `notifications.v1`. On an in-process bus with no alerting stage in the process (`vigie serve`
 * without Kafka: `intake: true`), notifications are queued in the shared store's delivery log here, for whichever
 * alerting stage sweeps it.
 */
export async function startServices(deps: {
  readonly config: RootConfig;
  readonly store: SqlStore;
  readonly bus: Bus;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock?: Clock | undefined;
  readonly intake?: boolean;
}): Promise<RunningServices> {
  const { config, store, bus, metrics, clock } = deps;
  const logger = deps.logger.child({ stage: 'services' });
  const twilio =
    config.alerting.twilio.accountSid && config.alerting.twilio.authToken
      ? { accountSid: config.alerting.twilio.accountSid, authToken: config.alerting.twilio.authToken }
      : undefined;
  const reports = createReports({ store, bus, logger, metrics, config: config.reports, clock, twilio });
  const residents = createResidents({ store, bus, logger, metrics, clock });
  const intake = deps.intake
    ? createNotificationIntake({
        bus,
        store,
        logger,
        metrics,
        nowMs: () => (clock ?? { nowMs: Date.now }).nowMs(),
        queued: () => {},
      })
    : undefined;
  const secret = await unsubscribeSecret(store, config.alerting.unsubscribeSecret);
  await intake?.start();
  await reports.start();
  await residents.start();
  const plugins: HttpPlugin[] = [
    reportRoutes({
      store,
      bus,
      config: config.reports,
      logger,
      metrics,
      timeZone: config.tz,
      notifier: reports.notifier,
      ...(clock ? { clock } : {}),
    }),
    async (app) => {
      await app.register(residentRoutes, {
        store,
        bus,
        metrics,
        logger,
        config: config.residents,
        timeZone: config.tz,
        publicUrl: config.http.publicUrl,
        unsubscribeSecret: secret,
        clock,
      });
    },
  ];
  return {
    plugins,
    async close() {
      await residents.close();
      await reports.close();
      await intake?.close();
    },
  };
}
