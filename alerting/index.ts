import { fileURLToPath } from 'node:url';
import { migrationsFromDir } from '../core/store/migrate.ts';

export type { Channel, DeliveryResult, EmailMessage, SmsMessage } from './channels/channel.ts';
export { type Channels, createChannels } from './channels/index.ts';
export { type AlertingConfig, alertingConfigSchema } from './config.ts';
export { type Alerting, type AlertingDeps, createAlerting } from './router.ts';
export { createSubscriptions, type Subscription, type Subscriptions } from './subscriptions.ts';

/** The alerting stage's SQL migrations (subscriptions, alerts, deliveries), for `openStore`. */
export const alertingMigrations = migrationsFromDir(
  'alerting',
  fileURLToPath(new URL('./migrations', import.meta.url)),
);
