import { join } from 'node:path';
import { z } from 'zod';
import { alertingConfigSchema } from '../alerting/index.ts';
import { type EnvBinding, loadFromEnv } from '../core/config/env.ts';
import { KINDS } from '../core/contracts/index.ts';
import { observabilityConfigSchema } from '../core/metrics-server.ts';
import { ingestConfigSchema } from '../ingest/index.ts';
import { processorsConfigSchema } from '../processors/registry.ts';
import { rollupsConfigSchema } from '../processors/rollups/index.ts';
import { consoleConfigSchema } from '../services/console/config.ts';
import { httpConfigSchema } from '../services/http/index.ts';
import { mobilityConfigSchema } from '../services/mobility/index.ts';
import { parkingConfigSchema } from '../services/parking/index.ts';
import { reportsConfigSchema } from '../services/reports/index.ts';
import { residentsConfigSchema } from '../services/residents/index.ts';
import { vaultConfigSchema } from '../services/vault/index.ts';
import { influxSinkConfigSchema } from '../sinks/influx/index.ts';

/** The city's time zone must be one the runtime knows (IANA name). */
const TimeZone = z
  .string()
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'an IANA time zone such as Europe/Paris')
  .default('Europe/Paris')
  .describe("The city's time zone: night windows, quiet hours, schedules and sunset/sunrise use it.");

/** A Kafka bootstrap address, `host:port`. */
const BrokerAddress = z.string().regex(/^[A-Za-z0-9._-]+:\d{1,5}$/, 'host:port');

/** The Kafka bus (CONTRACTS.md §2): without brokers, every stage runs in one process on the in-process bus. */
export const kafkaConfigSchema = z.strictObject({
  brokers: z
    .array(BrokerAddress)
    .min(1, 'at least one host:port')
    .optional()
    .describe('Bootstrap brokers (host:port); when set the bus is Kafka, otherwise the in-process bus.'),
  clientId: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash or underscore')
    .default('vigie')
    .describe('Client id the brokers see; each stage appends its name (vigie-ingest, vigie-process…).'),
  partitions: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000)
    .default(8)
    .describe(
      'Partitions of the topics Vigie creates: the most processor instances that can share a topic. ' +
        'Existing topics keep theirs.',
    ),
  namespace: z
    .string()
    .regex(/^([A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)?$/, 'letters, digits, dash or underscore, dot-separated')
    .max(100)
    .default('')
    .describe(
      'Namespace of every topic and consumer group Vigie uses (<namespace>.<topic>, e.g. paris.alerts.v1): ' +
        "several deployments, or test runs, share one cluster without seeing each other's data. Empty: none.",
    ),
});
/** The Kafka configuration. */
export type KafkaConfig = z.output<typeof kafkaConfigSchema>;

/** The root configuration: one section per stage, composed from each stage's own schema (STYLE.md §7). */
export const rootConfigSchema = z.strictObject({
  dataDir: z.string().min(1).default('data').describe('Folder for the embedded store, the outbox and the logs.'),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
    .optional()
    .describe('PostgreSQL URL; without it the operational store is PGlite in <dataDir>/pglite.'),
  logLevel: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Log level of the JSON logs.'),
  tz: TimeZone,
  ingest: ingestConfigSchema.default(ingestConfigSchema.parse({})),
  processors: processorsConfigSchema.default(processorsConfigSchema.parse({})),
  rollups: rollupsConfigSchema.default(rollupsConfigSchema.parse({})),
  alerting: alertingConfigSchema.default(alertingConfigSchema.parse({})),
  influx: influxSinkConfigSchema.default(influxSinkConfigSchema.parse({})),
  kafka: kafkaConfigSchema.default(kafkaConfigSchema.parse({})),
  observability: observabilityConfigSchema.default(observabilityConfigSchema.parse({})),
  http: httpConfigSchema.default(httpConfigSchema.parse({})),
  reports: reportsConfigSchema.default(reportsConfigSchema.parse({})),
  residents: residentsConfigSchema.default(residentsConfigSchema.parse({})),
  console: consoleConfigSchema.default(consoleConfigSchema.parse({})),
  mobility: mobilityConfigSchema.default(mobilityConfigSchema.parse({})),
  parking: parkingConfigSchema.default(parkingConfigSchema.parse({})),
  vault: vaultConfigSchema.default(vaultConfigSchema.parse({})),
});
/** The root configuration. */
export type RootConfig = z.output<typeof rootConfigSchema>;

/** Every environment variable Vigie reads, with where it goes (docs/config.md is generated from this list). */
export const ENV_BINDINGS: readonly EnvBinding[] = [
  { variable: 'VIGIE_DATA_DIR', path: ['dataDir'], description: 'folder for the embedded store, outbox and logs' },
  { variable: 'DATABASE_URL', path: ['databaseUrl'], secret: true, description: 'PostgreSQL URL (postgres://…)' },
  { variable: 'VIGIE_LOG_LEVEL', path: ['logLevel'], description: 'fatal|error|warn|info|debug|trace|silent' },
  { variable: 'VIGIE_TZ', path: ['tz'], description: "the city's IANA time zone, e.g. Europe/Paris" },
  { variable: 'VIGIE_MQTT_HOST', path: ['ingest', 'mqttHost'], description: 'address the MQTT server listens on' },
  { variable: 'VIGIE_MQTT_PORT', path: ['ingest', 'mqttPort'], description: 'MQTT TCP port, 0–65535' },
  {
    variable: 'VIGIE_MQTT_MAX_PAYLOAD_BYTES',
    path: ['ingest', 'maxPayloadBytes'],
    description: 'largest accepted device payload, in bytes',
  },
  {
    variable: 'VIGIE_MQTT_MAX_CONNECTIONS',
    path: ['ingest', 'maxConnections'],
    description: 'most concurrent device connections (keep below the file-descriptor limit)',
  },
  {
    variable: 'VIGIE_KAFKA_BROKERS',
    path: ['kafka', 'brokers'],
    format: 'list',
    description: 'comma-separated Kafka brokers (host:port); when set, the bus is Kafka',
  },
  {
    variable: 'VIGIE_KAFKA_CLIENT_ID',
    path: ['kafka', 'clientId'],
    description: 'client id the Kafka brokers see (each stage appends its name)',
  },
  {
    variable: 'VIGIE_KAFKA_PARTITIONS',
    path: ['kafka', 'partitions'],
    description: 'partitions of the topics Vigie creates (the most processor instances sharing them)',
  },
  {
    variable: 'VIGIE_KAFKA_NAMESPACE',
    path: ['kafka', 'namespace'],
    description: 'namespace of every Kafka topic and consumer group (<namespace>.<topic>), to share a cluster',
  },
  { variable: 'VIGIE_MQTT_TLS_PORT', path: ['ingest', 'tlsPort'], description: 'MQTT over TLS (mqtts) port, 8883' },
  {
    variable: 'VIGIE_MQTT_TLS_CERT_FILE',
    path: ['ingest', 'tlsCertFile'],
    description: "the server's certificate (PEM); with the key, turns the mqtts listener on",
  },
  {
    variable: 'VIGIE_MQTT_TLS_KEY_FILE',
    path: ['ingest', 'tlsKeyFile'],
    description: "the server's private key (PEM)",
  },
  {
    variable: 'VIGIE_MQTT_TLS_CA_FILE',
    path: ['ingest', 'tlsCaFile'],
    description: 'CA (PEM) that signs device certificates, for client-certificate authentication',
  },
  {
    variable: 'VIGIE_MQTT_TLS_CLIENT_CERTS',
    path: ['ingest', 'tlsClientCerts'],
    description: 'off|optional|required: device certificates (identity = the certificate common name)',
  },
  {
    variable: 'VIGIE_MQTT_WS_PORT',
    path: ['ingest', 'wsPort'],
    description: 'MQTT over WebSocket port (off when unset)',
  },
  { variable: 'VIGIE_MQTT_WS_PATH', path: ['ingest', 'wsPath'], description: 'MQTT over WebSocket path, /mqtt' },
  {
    variable: 'VIGIE_LORAWAN_MQTT_URL',
    path: ['ingest', 'lorawanMqttUrl'],
    description: "a LoRaWAN network server's MQTT broker to take uplinks from (ChirpStack v4, The Things Stack)",
  },
  { variable: 'VIGIE_LORAWAN_USERNAME', path: ['ingest', 'lorawanUsername'], description: 'user name on that broker' },
  {
    variable: 'VIGIE_LORAWAN_PASSWORD',
    path: ['ingest', 'lorawanPassword'],
    secret: true,
    description: 'password (API key) on that broker',
  },
  {
    variable: 'VIGIE_LORAWAN_TOPICS',
    path: ['ingest', 'lorawanTopics'],
    format: 'list',
    description: 'comma-separated uplink topics to subscribe to (ChirpStack v4 and TTS defaults)',
  },
  {
    variable: 'VIGIE_MQTT_MAX_HELD_MESSAGES',
    path: ['ingest', 'maxHeldMessages'],
    description: 'most device messages held waiting for the bus; beyond, refused without PUBACK',
  },
  { variable: 'VIGIE_LOCALE', path: ['alerting', 'locale'], description: 'default language of messages: fr or en' },
  {
    variable: 'VIGIE_WATER_PRICE_EUR_PER_M3',
    path: ['alerting', 'priceEurPerM3'],
    description: 'price of water and sanitation in € per m³, for the cost of a leak',
  },
  {
    variable: 'VIGIE_OPERATOR_EMAILS',
    path: ['alerting', 'operatorEmails'],
    format: 'list',
    description: "comma-separated operators' email addresses",
  },
  ...KINDS.map((kind) => ({
    variable: `VIGIE_TEAM_EMAILS_${kind.toUpperCase().replace('-', '_')}`,
    path: ['alerting', 'teamEmails', kind],
    format: 'list' as const,
    description: `comma-separated emails of the ${kind} team: its kind's alert transitions`,
  })),
  {
    variable: 'VIGIE_QUIET_HOURS',
    path: ['alerting', 'residents', 'quietHours'],
    description: 'quiet hours of non-urgent resident SMS, e.g. 21:00-08:00 (local), or off',
  },
  {
    variable: 'VIGIE_RESIDENT_SETTLE_MINUTES',
    path: ['alerting', 'residents', 'resolvedSettleMinutes'],
    description: 'minutes a condition stays resolved before residents get the all-clear (0: at once)',
  },
  {
    variable: 'VIGIE_RESIDENT_MAX_SMS_PER_DAY',
    path: ['alerting', 'residents', 'maxSmsPerDay'],
    description: 'most SMS one resident number receives in 24 h',
  },
  {
    variable: 'VIGIE_ESCALATION_STEPS',
    path: ['alerting', 'escalation', 'steps'],
    description:
      'escalation of unacknowledged alerts: minutes=recipients, steps separated by ";", e.g. 30=+33612345678;120=chef@ville.fr',
  },
  {
    variable: 'VIGIE_ESCALATION_MIN_SEVERITY',
    path: ['alerting', 'escalation', 'minSeverity'],
    description: 'least severity that escalates: info, warning or critical',
  },
  {
    variable: 'VIGIE_ALERT_GROUP_WAIT_SECONDS',
    path: ['alerting', 'groupWaitSeconds'],
    description: 'seconds operator messages wait to be grouped by state, type and district (0: each at once)',
  },
  {
    variable: 'VIGIE_SCHEDULES_ENABLED',
    path: ['alerting', 'schedules', 'enabled'],
    description: 'run the daily digest and the monthly summary on this instance (true or false)',
  },
  {
    variable: 'VIGIE_DIGEST_CRON',
    path: ['alerting', 'schedules', 'digestCron'],
    description: "cron expression of the operators' daily digest, in VIGIE_TZ (default 0 7 * * *)",
  },
  {
    variable: 'VIGIE_MONTHLY_SUMMARY_CRON',
    path: ['alerting', 'schedules', 'monthlySummaryCron'],
    description: "cron expression of the residents' monthly summary, in VIGIE_TZ (default 0 9 1 * *)",
  },
  {
    variable: 'VIGIE_REPORTS_PHOTO_MAX_BYTES',
    path: ['reports', 'photoMaxBytes'],
    description: 'largest photo accepted with a problem report, in bytes',
  },
  {
    variable: 'VIGIE_REPORTS_PHOTO_LINK_SECRET',
    path: ['reports', 'photoLinkSecret'],
    secret: true,
    description: "key of the signed links to reports' photos (≥ 32 characters); absent: made at start",
  },
  {
    variable: 'VIGIE_REPORTS_INTAKE_PER_HOUR_PER_IP',
    path: ['reports', 'intakePerHourPerIp'],
    description: 'problem reports accepted per hour from one IP address on the web form',
  },
  {
    variable: 'VIGIE_RESIDENTS_SESSION_TTL_MS',
    path: ['residents', 'sessionTtlMs'],
    description: "how long a resident's session lasts, in ms",
  },
  {
    variable: 'VIGIE_RESIDENTS_SIGN_IN_PER_ADDRESS_PER_HOUR',
    path: ['residents', 'signInPerAddressPerHour'],
    description: 'sign-in codes sent to one phone number or email address per hour',
  },
  {
    variable: 'VIGIE_RESIDENTS_COOKIE_SECURE',
    path: ['residents', 'cookieSecure'],
    description: "the residents' session cookie is Secure: auto (when VIGIE_PUBLIC_URL is https), always or never",
  },
  {
    variable: 'VIGIE_CONSOLE_TILE_URL',
    path: ['console', 'tileUrl'],
    description: 'map tile URL template ({z}/{x}/{y}); none: no tiles, the map works offline',
  },
  {
    variable: 'VIGIE_CONSOLE_TILE_ATTRIBUTION',
    path: ['console', 'tileAttribution'],
    description: 'attribution the tile server requires',
  },
  {
    variable: 'VIGIE_CONSOLE_MAP_LAT',
    path: ['console', 'mapCenter', 'lat'],
    description: 'where the map opens: latitude',
  },
  {
    variable: 'VIGIE_CONSOLE_MAP_LON',
    path: ['console', 'mapCenter', 'lon'],
    description: 'where the map opens: longitude',
  },
  { variable: 'VIGIE_CONSOLE_MAP_ZOOM', path: ['console', 'mapZoom'], description: 'the map’s first zoom level' },
  {
    variable: 'VIGIE_CONSOLE_REFRESH_MS',
    path: ['console', 'refreshIntervalMs'],
    description: 'how often the console refreshes its map, alerts and queue',
  },
  {
    variable: 'VIGIE_CONSOLE_HOUR_RETENTION_DAYS',
    path: ['console', 'hourRetentionDays'],
    description: "how long the console keeps devices' hourly series",
  },
  {
    variable: 'VIGIE_MOBILITY_BILLING_ENABLED',
    path: ['mobility', 'billingEnabled'],
    description: 'bill mobility accounts each month (one instance bills, whichever claims the month first)',
  },
  {
    variable: 'VIGIE_MOBILITY_BILLING_CRON',
    path: ['mobility', 'billingCron'],
    description: 'when the previous month is billed (cron, city time zone)',
  },
  {
    variable: 'VIGIE_MOBILITY_ACCOUNT_URL',
    path: ['mobility', 'accountUrl'],
    description: 'link to the citizen account shown in invoice emails',
  },
  {
    variable: 'VIGIE_PARKING_TARIFFS',
    path: ['parking', 'tariffs'],
    description: 'the parking zones and prices: a JSON file’s path or JSON text (absent: the example table)',
  },
  {
    variable: 'VIGIE_PARKING_RECEIPT_LINK_SECRET',
    path: ['parking', 'receiptLinkSecret'],
    secret: true,
    description: 'key of the receipt verification links (≥ 32 characters; absent: a random key per process)',
  },
  {
    variable: 'VIGIE_PARKING_RECEIPT_LINK_DAYS',
    path: ['parking', 'receiptLinkDays'],
    description: 'how long a receipt link works after its session ends, in days',
  },
  {
    variable: 'VIGIE_PARKING_REMINDER_LEAD_MINUTES',
    path: ['parking', 'reminderLeadMinutes'],
    description: 'minutes before a parking session ends that its reminder SMS is sent',
  },
  {
    variable: 'VIGIE_PARKING_SWEEP_MS',
    path: ['parking', 'sweepIntervalMs'],
    description: 'how often parking reminders are sent and ended sessions marked expired',
  },
  {
    variable: 'VIGIE_PARKING_REVENUE_EVENTS',
    path: ['parking', 'revenueEvents'],
    description: 'publish (SMS payments counted in the revenue rollups) or off',
  },
  {
    variable: 'VIGIE_VAULT_MASTER_KEYS',
    path: ['vault', 'masterKeys'],
    secret: true,
    description:
      'keys wrapping the document vault’s data keys: id:base64,… (32-byte keys, the first current); absent: vault off',
  },
  {
    variable: 'VIGIE_VAULT_MAX_DOCUMENT_BYTES',
    path: ['vault', 'maxDocumentBytes'],
    description: 'largest document a citizen may put in the vault',
  },
  {
    variable: 'VIGIE_VAULT_SHARE_LINK_DEFAULT_TTL_SECONDS',
    path: ['vault', 'shareLinkDefaultTtlSeconds'],
    description: 'life of a share link when the citizen names none',
  },
  {
    variable: 'VIGIE_VAULT_SHARE_LINK_MAX_TTL_SECONDS',
    path: ['vault', 'shareLinkMaxTtlSeconds'],
    description: 'longest life a citizen may give a share link',
  },
  {
    variable: 'VIGIE_CONSOLE_DAY_RETENTION_DAYS',
    path: ['console', 'dayRetentionDays'],
    description: "how long the console keeps devices' daily series",
  },
  {
    variable: 'VIGIE_UNSUBSCRIBE_SECRET',
    path: ['alerting', 'unsubscribeSecret'],
    secret: true,
    description:
      'key of the unsubscribe links in resident emails (≥ 32 characters; absent: made once, kept in the store)',
  },
  { variable: 'VIGIE_HTTP_HOST', path: ['http', 'host'], description: 'address the HTTP API listens on' },
  { variable: 'VIGIE_HTTP_PORT', path: ['http', 'port'], description: 'HTTP API port (8080), 0 for any free port' },
  {
    variable: 'VIGIE_HTTP_BODY_LIMIT_BYTES',
    path: ['http', 'bodyLimitBytes'],
    description: 'largest accepted HTTP request body, in bytes',
  },
  {
    variable: 'VIGIE_HTTP_TRUST_PROXY',
    path: ['http', 'trustProxy'],
    description:
      'reverse proxies trusted for the client address: false, or their addresses/CIDR blocks, comma-separated',
  },
  {
    variable: 'VIGIE_PUBLIC_URL',
    path: ['http', 'publicUrl'],
    description: 'public base URL of the HTTP API (what Twilio calls and links in messages point to)',
  },
  { variable: 'VIGIE_EMAIL_FROM', path: ['alerting', 'emailFrom'], description: 'From address of emails' },
  { variable: 'VIGIE_OUTBOX_DIR', path: ['alerting', 'outboxDir'], description: 'folder of the SMS and email outbox' },
  {
    variable: 'TWILIO_ACCOUNT_SID',
    path: ['alerting', 'twilio', 'accountSid'],
    description: 'Twilio account SID (AC…)',
  },
  {
    variable: 'TWILIO_AUTH_TOKEN',
    path: ['alerting', 'twilio', 'authToken'],
    secret: true,
    description: 'Twilio auth token',
  },
  {
    variable: 'TWILIO_MESSAGING_SERVICE_SID',
    path: ['alerting', 'twilio', 'messagingServiceSid'],
    description: 'Twilio messaging service SID (MG…), instead of a sender number',
  },
  {
    variable: 'TWILIO_FROM_NUMBER',
    path: ['alerting', 'twilio', 'fromNumber'],
    description: 'sender number or short code, E.164',
  },
  {
    variable: 'TWILIO_API_BASE_URL',
    path: ['alerting', 'twilio', 'apiBaseUrl'],
    description: "Twilio's API address (https://api.twilio.com); change only for a test stand-in",
  },
  {
    variable: 'VIGIE_INFLUX_URL',
    path: ['influx', 'url'],
    description: 'InfluxDB v2 write API (InfluxDB 2.x/3.x/1.8+, VictoriaMetrics); the time-series sink runs when set',
  },
  { variable: 'VIGIE_INFLUX_TOKEN', path: ['influx', 'token'], secret: true, description: 'InfluxDB API token' },
  { variable: 'VIGIE_INFLUX_ORG', path: ['influx', 'org'], description: 'InfluxDB organisation' },
  { variable: 'VIGIE_INFLUX_BUCKET', path: ['influx', 'bucket'], description: 'InfluxDB bucket (1.8: db/rp)' },
  { variable: 'VIGIE_INFLUX_BATCH_SIZE', path: ['influx', 'batchSize'], description: 'lines per write request' },
  {
    variable: 'VIGIE_INFLUX_FLUSH_INTERVAL_MS',
    path: ['influx', 'flushIntervalMs'],
    description: 'longest wait before a partial batch is written, ms',
  },
  { variable: 'VIGIE_INFLUX_TIMEOUT_MS', path: ['influx', 'timeoutMs'], description: 'write request timeout, ms' },
  {
    variable: 'VIGIE_INFLUX_BUFFER_DIR',
    path: ['influx', 'bufferDir'],
    description: 'on-disk buffer of points not yet written (default <dataDir>/sink-influx)',
  },
  {
    variable: 'VIGIE_INFLUX_BUFFER_MAX_BYTES',
    path: ['influx', 'bufferMaxBytes'],
    description: 'most bytes the buffer holds; beyond, the sink stops consuming (backpressure)',
  },
  {
    variable: 'VIGIE_METRICS_HOST',
    path: ['observability', 'metricsHost'],
    description: 'address of each stage’s /metrics and /healthz endpoint (0.0.0.0: every interface)',
  },
  {
    variable: 'VIGIE_METRICS_PORT',
    path: ['observability', 'metricsPort'],
    description: 'port of each stage’s /metrics (Prometheus) and /healthz endpoint; 0: off',
  },
  {
    variable: 'VIGIE_HEALTH_INTERVAL_MS',
    path: ['observability', 'healthIntervalMs'],
    description: 'how often each stage reports its health on health.v1 (pipeline_health), ms; 0: never',
  },
  {
    variable: 'VIGIE_ROLLUPS_MAX_GAP_HOURS',
    path: ['rollups', 'maxGapHours'],
    description: 'longest silence between two meter readings spread over the hours between, h',
  },
  {
    variable: 'VIGIE_ROLLUPS_JITTER_L',
    path: ['rollups', 'jitterL'],
    description: 'largest index drop taken as jitter; beyond, a register reset (no rollup for those hours), L',
  },
  {
    variable: 'VIGIE_ROLLUPS_DISTRICT_LATENESS_HOURS',
    path: ['rollups', 'districtLatenessHours'],
    description: 'how long after its end a district period still takes meter rollups, h',
  },
  { variable: 'SMTP_URL', path: ['alerting', 'smtpUrl'], secret: true, description: 'smtp:// or smtps:// URL' },
];

/** Loads and validates the configuration once, at start; derives the paths that depend on `dataDir`. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): RootConfig & {
  readonly pgliteDir: string;
  readonly logFile: string;
} {
  const withDefaults = { ...env };
  const dataDir = env.VIGIE_DATA_DIR || 'data';
  if (!withDefaults.VIGIE_OUTBOX_DIR) withDefaults.VIGIE_OUTBOX_DIR = join(dataDir, 'outbox');
  const parsed = loadFromEnv(rootConfigSchema, ENV_BINDINGS, withDefaults);
  // One time zone for the whole city (VIGIE_TZ): messages, rollups' local days and streetlights' dimming use it.
  const config = {
    ...parsed,
    alerting: { ...parsed.alerting, timeZone: parsed.tz },
    rollups: { ...parsed.rollups, timeZone: parsed.tz },
    processors: {
      ...parsed.processors,
      sensor: { ...parsed.processors.sensor, anomaly: { ...parsed.processors.sensor.anomaly, timeZone: parsed.tz } },
      streetlight: {
        ...parsed.processors.streetlight,
        model: { ...parsed.processors.streetlight.model, timeZone: parsed.tz },
      },
      bikeStation: {
        ...parsed.processors.bikeStation,
        model: { ...parsed.processors.bikeStation.model, timeZone: parsed.tz },
      },
    },
  };
  return { ...config, pgliteDir: join(config.dataDir, 'pglite'), logFile: join(config.dataDir, 'logs', 'vigie.log') };
}
