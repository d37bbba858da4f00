import { deliveryRoutes } from '../alerting/api/delivery-routes.ts';
import { alertRoutes } from '../alerting/api/routes.ts';
import { silenceRoutes } from '../alerting/api/silence-routes.ts';
import { alertingHttpPlugins } from '../alerting/http.ts';
import { createNotificationIntake } from '../alerting/notifications.ts';
import { unsubscribeSecret } from '../alerting/webhooks/unsubscribe-token.ts';
import type { Bus } from '../core/bus/port.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import type { SqlStore } from '../core/store/store.ts';
import { consolePages, consoleRoutes, createConsole } from '../services/console/index.ts';
import { consultationCitizenRoutes, consultationEraser, consultationRoutes } from '../services/consultations/index.ts';
import { createDeadLetters, deadLetterRoutes } from '../services/dead-letters/index.ts';
import { type HttpConfig, type HttpPlugin, publicUrlOf, type RunningHttp, startHttp } from '../services/http/index.ts';
import { createMobility, mobilityCitizenRoutes, mobilityRoutes } from '../services/mobility/index.ts';
import { createParking, parkingCitizenRoutes, parkingRoutes } from '../services/parking/index.ts';
import { createReports, reportRoutes } from '../services/reports/index.ts';
import { createResidents, residentRoutes } from '../services/residents/index.ts';
import { createVault, vaultEraser } from '../services/vault/index.ts';
import type { RootConfig } from './config.ts';

/** What the services of a process need. */
export interface ServicesDeps {
  readonly config: RootConfig;
  readonly store: SqlStore;
  readonly bus: Bus;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock?: Clock | undefined;
  /** Queue notifications in the store here (an in-process bus with no alerting stage in the process). */
  readonly intake?: boolean;
  /** The HTTP server's settings (default `config.http`): its public URL starts the links sent by SMS. */
  readonly http?: HttpConfig;
}

/** The citizen services running in this process: their routes for the HTTP server, and a close. */
export interface RunningServices {
  readonly plugins: readonly HttpPlugin[];
  close(): Promise<void>;
}

/**
 * Starts the citizen services beside the HTTP server: problem reports (their consumers of inbound-sms.v1, alerts.v1,
 * devices.v1), residents (their consumption read model), the console's read model, the mobility accounts (usage
 * consumer, monthly billing), parking by SMS (inbound commands, meter payments, reminders) and the dead letters
 * (every stage's rejected messages, kept for operators to replay), and returns their routes. They send messages through `notifications.v1`. On an in-process bus with no alerting stage in the process (`vigie serve`
 * without Kafka: `intake: true`), notifications are queued in the shared store's delivery log here, for whichever
 * alerting stage sweeps it.
 */
export async function startServices(deps: ServicesDeps): Promise<RunningServices> {
  const { config, store, bus, metrics, clock } = deps;
  const logger = deps.logger.child({ stage: 'services' });
  const twilio =
    config.alerting.twilio.accountSid && config.alerting.twilio.authToken
      ? { accountSid: config.alerting.twilio.accountSid, authToken: config.alerting.twilio.authToken }
      : undefined;
  // Where links sent by SMS and email point (receipts, share links): the HTTP server's public URL.
  const publicUrl = publicUrlOf(deps.http ?? config.http);
  const reports = createReports({ store, bus, logger, metrics, config: config.reports, clock, twilio });
  const residents = createResidents({ store, bus, logger, metrics, clock });
  const mobility = createMobility({
    store,
    bus,
    logger,
    metrics,
    config: config.mobility,
    timeZone: config.tz,
    ...(clock ? { clock } : {}),
  });
  const parking = createParking({
    store,
    bus,
    logger,
    metrics,
    config: config.parking,
    publicUrl,
    timeZone: config.tz,
    ...(clock ? { clock } : {}),
  });
  const consoleService = createConsole({
    store,
    bus,
    logger,
    metrics,
    config: config.console,
    ...(clock ? { clock } : {}),
  });
  const deadLetters = createDeadLetters({ store, bus, logger, metrics, ...(clock ? { clock } : {}) });
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
  await consoleService.start();
  await mobility.start();
  await parking.start();
  await deadLetters.start();
  const clocked = clock ? { clock } : {};
  // The document vault needs its master keys (VIGIE_VAULT_MASTER_KEYS); without them it is off, but account
  // deletion still destroys the keys a previous configuration made.
  const vault = config.vault.masterKeys
    ? createVault({
        store,
        config: config.vault,
        metrics,
        publicUrl,
        ...clocked,
      })
    : undefined;
  if (!vault) logger.warn('document vault off: set VIGIE_VAULT_MASTER_KEYS to turn it on (docs/config.md)');
  const plugins: HttpPlugin[] = [
    ...(vault ? [vault.sharedRoutes] : []),
    consultationRoutes({ store, metrics, ...clocked }),
    parkingRoutes({
      store,
      config: config.parking,
      table: parking.table,
      metrics,
      timeZone: config.tz,
      ...(clock ? { clock } : {}),
    }),
    mobilityRoutes({ store, ...(clock ? { clock } : {}) }),
    consoleRoutes({ store, ...(clock ? { clock } : {}) }),
    deadLetterRoutes({ store, bus, metrics, ...(clock ? { clock } : {}) }),
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
        citizenPlugins: [
          mobilityCitizenRoutes({ store, ...clocked }),
          consultationCitizenRoutes({ store, metrics, ...clocked }),
          parkingCitizenRoutes({
            store,
            config: config.parking,
            publicUrl,
            ...clocked,
          }),
          ...(vault ? [vault.citizenRoutes] : []),
        ],
        accountErasers: [vaultEraser({ metrics }), consultationEraser({ metrics })],
      });
    },
  ];
  return {
    plugins,
    async close() {
      await deadLetters.close();
      await parking.close();
      await mobility.close();
      await consoleService.close();
      await residents.close();
      await reports.close();
      await intake?.close();
    },
  };
}

/** What {@link startApi} needs: the same whether `vigie serve` or `vigie start` runs it. */
export interface ApiDeps {
  readonly config: HttpConfig;
  readonly store: SqlStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** More routes (Twilio webhooks, citizen services), mounted beside the alert routes. */
  readonly plugins?: readonly HttpPlugin[];
  /** Stamps operator actions (default the system clock). */
  readonly clock?: Clock | undefined;
}

/** Starts the HTTP API — the alert lifecycle routes and `plugins` — on `config.host:config.port`. */
export function startApi(deps: ApiDeps): Promise<RunningHttp> {
  const { config, store, logger, metrics } = deps;
  const clock = deps.clock ? { clock: deps.clock } : {};
  return startHttp({
    config,
    store,
    logger,
    metrics,
    plugins: [
      alertRoutes({ store, ...clock }),
      silenceRoutes({ store, ...clock }),
      deliveryRoutes({ store }),
      ...(deps.plugins ?? []),
    ],
  });
}

/** The HTTP side of a process: the API, the Twilio webhooks, the citizen services and the web pages. */
export interface RunningWeb {
  readonly api: RunningHttp;
  /** Stops accepting (requests in flight finish), then stops the services' consumers. */
  close(): Promise<void>;
}

/**
 * Starts everything `vigie serve` serves (and `vigie start` beside its pipeline): the citizen services
 * ({@link startServices}), the alerting stage's webhooks and sign-up routes, the alert routes, and the web pages, on
 * `http` (default `config.http`).
 */
export async function startWeb(deps: ServicesDeps): Promise<RunningWeb> {
  const { config, store, bus, metrics, logger, clock } = deps;
  const http = deps.http ?? config.http;
  const services = await startServices(deps);
  try {
    const webhooks = await alertingHttpPlugins({ store, config: config.alerting, http, metrics, logger, bus });
    const pages = consolePages({
      map: {
        tileUrl: config.console.tileUrl,
        tileAttribution: config.console.tileAttribution,
        center: config.console.mapCenter,
        zoom: config.console.mapZoom,
      },
      refreshIntervalMs: config.console.refreshIntervalMs,
      timeZone: config.tz,
      photoMaxBytes: config.reports.photoMaxBytes,
      logger,
    });
    const api = await startApi({
      config: http,
      store,
      logger,
      metrics,
      clock,
      plugins: [...webhooks, ...services.plugins, pages],
    });
    return {
      api,
      async close() {
        await api.close();
        await services.close();
      },
    };
  } catch (err) {
    await services.close();
    throw err;
  }
}
