import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import { type EnvBinding, loadFromEnv } from './env.ts';

const TOKEN = 'tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0';

const schema = z.strictObject({
  ingest: z
    .strictObject({
      mqttPort: z.coerce.number().int().min(1).max(65_535).default(1883).describe('MQTT port'),
      kafkaBrokers: z.array(z.string().min(1)).min(1).default(['localhost:9092']).describe('Kafka brokers'),
    })
    .prefault({}),
  alerting: z
    .strictObject({
      smsMode: z.enum(['outbox', 'twilio']).default('outbox').describe('where SMS go'),
      twilioAuthToken: z.string().min(32).optional().describe('Twilio auth token'),
      maxInFlight: z.coerce.number().int().positive().default(16).describe('sends in flight'),
    })
    .prefault({}),
});

const BINDINGS: readonly EnvBinding[] = [
  { variable: 'VIGIE_MQTT_PORT', path: ['ingest', 'mqttPort'], description: 'TCP port of the MQTT broker, 1–65535' },
  {
    variable: 'VIGIE_KAFKA_BROKERS',
    path: ['ingest', 'kafkaBrokers'],
    format: 'list',
    description: 'Kafka brokers, host:port separated by commas',
  },
  { variable: 'VIGIE_SMS_MODE', path: ['alerting', 'smsMode'], description: 'outbox or twilio' },
  {
    variable: 'TWILIO_AUTH_TOKEN',
    path: ['alerting', 'twilioAuthToken'],
    secret: true,
    description: 'Twilio auth token (32 characters)',
  },
  { variable: 'VIGIE_ALERT_MAX_IN_FLIGHT', path: ['alerting', 'maxInFlight'], description: 'a positive integer' },
];

/** The problems listed by a failed load, one per line. */
function problems(env: Record<string, string>): string[] {
  try {
    loadFromEnv(schema, BINDINGS, env);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('ERR_CONFIG_INVALID');
    return (err as AppError).message
      .split('\n')
      .slice(1)
      .map((line) => line.trim());
  }
  throw new Error('loadFromEnv should have thrown');
}

describe('loadFromEnv', () => {
  it('applies every default when no variable is set', () => {
    expect(loadFromEnv(schema, BINDINGS, { PATH: '/usr/bin', HOME: '/root' })).toEqual({
      ingest: { mqttPort: 1883, kafkaBrokers: ['localhost:9092'] },
      alerting: { smsMode: 'outbox', maxInFlight: 16 },
    });
  });

  it('reads, coerces and places each variable when all are valid', () => {
    const config = loadFromEnv(schema, BINDINGS, {
      VIGIE_MQTT_PORT: '1884',
      VIGIE_KAFKA_BROKERS: 'a:9092,b:9092',
      VIGIE_SMS_MODE: 'twilio',
      TWILIO_AUTH_TOKEN: TOKEN,
      VIGIE_ALERT_MAX_IN_FLIGHT: '4',
    });
    expect(config).toEqual({
      ingest: { mqttPort: 1884, kafkaBrokers: ['a:9092', 'b:9092'] },
      alerting: { smsMode: 'twilio', twilioAuthToken: TOKEN, maxInFlight: 4 },
    });
  });

  it('splits a list on commas, trims and drops empty items when the format is list', () => {
    const config = loadFromEnv(schema, BINDINGS, { VIGIE_KAFKA_BROKERS: ' a:9092 ,, b:9092 ,' });
    expect(config.ingest.kafkaBrokers).toEqual(['a:9092', 'b:9092']);
  });

  it('treats an empty variable as unset when it holds the empty string', () => {
    expect(loadFromEnv(schema, BINDINGS, { VIGIE_MQTT_PORT: '' }).ingest.mqttPort).toBe(1883);
  });

  it('lists every problem at once, each naming the variable, its value and what is expected', () => {
    const listed = problems({
      VIGIE_MQTT_PORT: '70000',
      VIGIE_SMS_MODE: 'pigeon',
      VIGIE_ALERT_MAX_IN_FLIGHT: 'lots',
    });
    expect(listed).toHaveLength(3);
    const [inFlight, port, sms] = [...listed].sort();
    expect(inFlight).toMatch(/^VIGIE_ALERT_MAX_IN_FLIGHT="lots": .*number.* — a positive integer$/);
    expect(port).toMatch(/^VIGIE_MQTT_PORT="70000": .*65535.* — TCP port of the MQTT broker, 1–65535$/);
    expect(sms).toMatch(/^VIGIE_SMS_MODE="pigeon": .*"outbox".*"twilio".* — outbox or twilio$/);
  });

  it('rejects an unknown VIGIE_* variable and names the known ones when a name has a typo', () => {
    const listed = problems({ VIGIE_MQTT_PROT: '1883', VIGIE_MQTT_PORT: '0' });
    expect(listed).toHaveLength(2);
    expect(listed[0]).toMatch(/^VIGIE_MQTT_PROT: unknown variable \(known: .*VIGIE_MQTT_PORT.*\)$/);
    expect(listed[0]).not.toContain('TWILIO_AUTH_TOKEN');
    expect(listed[1]).toMatch(/^VIGIE_MQTT_PORT="0": /);
  });

  it('ignores variables outside the VIGIE_ prefix when they are not bound', () => {
    expect(() => loadFromEnv(schema, BINDINGS, { TWILIO_ACCOUNT_SID: 'AC123', VIGIEX: '1' })).not.toThrow();
  });

  it('never prints a secret when its value is invalid', () => {
    const secret = 'short-but-secret-value';
    let message = '';
    try {
      loadFromEnv(schema, BINDINGS, { TWILIO_AUTH_TOKEN: secret, VIGIE_TYPO: secret });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('TWILIO_AUTH_TOKEN=[redacted]: ');
    expect(message).toContain('Twilio auth token (32 characters)');
    expect(message).toContain('VIGIE_TYPO: unknown variable');
    expect(message).not.toContain(secret);
  });

  it('says a variable is unset rather than quoting a value when a required one is missing', () => {
    const required = z.strictObject({
      db: z.strictObject({
        url: z.string().min(1).describe('PostgreSQL URL'),
        poolMax: z.coerce.number().int().positive().default(10).describe('connections at most'),
      }),
    });
    const bindings: EnvBinding[] = [
      { variable: 'DATABASE_URL', path: ['db', 'url'], description: 'PostgreSQL URL' },
      { variable: 'VIGIE_DB_POOL_MAX', path: ['db', 'poolMax'], description: 'connections at most' },
    ];
    expect(() => loadFromEnv(required, bindings, { VIGIE_DB_POOL_MAX: '5' })).toThrow(
      /DATABASE_URL=\(unset\): .* — PostgreSQL URL/,
    );
  });

  it('names the variables that fill a section when the whole section is missing', () => {
    const required = z.strictObject({ db: z.strictObject({ url: z.string().min(1).describe('PostgreSQL URL') }) });
    const bindings: EnvBinding[] = [{ variable: 'DATABASE_URL', path: ['db', 'url'], description: 'PostgreSQL URL' }];
    expect(() => loadFromEnv(required, bindings, {})).toThrow(/db: .* \(set by DATABASE_URL\)/);
  });

  it('names the key when an issue belongs to no variable', () => {
    const crossField = schema.superRefine((config, ctx) => {
      if (config.alerting.smsMode === 'twilio' && !config.alerting.twilioAuthToken) {
        ctx.addIssue({
          code: 'custom',
          path: ['alerting'],
          message: 'alerting.smsMode twilio needs alerting.twilioAuthToken',
        });
      }
    });
    expect(() => loadFromEnv(crossField, BINDINGS, { VIGIE_SMS_MODE: 'twilio' })).toThrow(
      /alerting: alerting.smsMode twilio needs alerting.twilioAuthToken/,
    );
  });
});
