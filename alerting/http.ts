import type { Bus } from '../core/bus/port.ts';
import { TOPICS } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import type { Logger } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import type { SqlStore } from '../core/store/store.ts';
import { type HttpConfig, type HttpPlugin, publicUrlOf } from '../services/http/index.ts';
import type { AlertingConfig } from './config.ts';
import { subscriptionRoutes } from './webhooks/subscription-routes.ts';
import { twilioWebhooks } from './webhooks/twilio.ts';
import { unsubscribeSecret } from './webhooks/unsubscribe-token.ts';

/**
 * Alerting's routes beside the alert API, for `vigie serve` and `vigie start`: subscription confirmation and the
 * unsubscribe links always; Twilio's inbound SMS and delivery-status webhooks when Twilio is configured (their
 * signatures are checked against `VIGIE_PUBLIC_URL`, what Twilio calls).
 */
export async function alertingHttpPlugins(deps: {
  readonly store: SqlStore;
  readonly config: AlertingConfig;
  readonly http: HttpConfig;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Publishes what the services act on (problem reports, parking commands) on `inbound-sms.v1`; absent: not. */
  readonly bus?: Bus | undefined;
}): Promise<HttpPlugin[]> {
  const { store, config, metrics, logger, bus } = deps;
  // Twilio signs its webhooks with the URL it calls: behind a proxy, the Host header cannot say it.
  if (config.twilio.authToken && !deps.http.publicUrl) {
    throw new AppError(
      'ERR_CONFIG_INVALID',
      'VIGIE_PUBLIC_URL: required with Twilio (the URL Twilio calls for its webhooks, e.g. https://vigie.example.org)',
    );
  }
  const secret = await unsubscribeSecret(store, config.unsubscribeSecret);
  const plugins: HttpPlugin[] = [
    async (app) => {
      await app.register(subscriptionRoutes, { store, unsubscribeSecret: secret, metrics, logger });
    },
  ];
  const authToken = config.twilio.authToken;
  if (authToken) {
    const publicUrl = publicUrlOf(deps.http);
    plugins.push(async (app) => {
      await app.register(twilioWebhooks, {
        store,
        authToken,
        publicUrl,
        metrics,
        logger,
        utilityContact: config.utilityContact,
        forward: bus
          ? async (sms) => {
              await bus.produce(TOPICS.inboundSms, [{ key: sms.from, value: JSON.stringify(sms) }]);
            }
          : undefined,
      });
    });
  }
  return plugins;
}

/** Where Twilio posts delivery statuses: the status webhook under `VIGIE_PUBLIC_URL`, or none without one. */
export function statusCallbackUrlOf(http: HttpConfig): string | undefined {
  return http.publicUrl ? `${publicUrlOf(http)}/webhooks/twilio/status` : undefined;
}
