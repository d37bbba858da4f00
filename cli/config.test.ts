import { describe, expect, it } from 'vitest';
import { ENV_BINDINGS, loadConfig } from './config.ts';

describe('cli config', () => {
  it('applies every default when the environment is empty', () => {
    const config = loadConfig({});
    expect(config.ingest.mqttPort).toBe(1883);
    expect(config.tz).toBe('Europe/Paris');
    expect(config.alerting.locale).toBe('fr');
    expect(config.alerting.outboxDir).toBe('data/outbox');
    expect(config.pgliteDir).toBe('data/pglite');
  });

  it('names the variable, its value and what is expected when a value is bad', () => {
    // Every problem at once, each naming the variable, the value given and what is expected.
    expect(() => loadConfig({ VIGIE_MQTT_PORT: 'eighteen', VIGIE_TZ: 'Mars/Olympus' })).toThrow(
      /VIGIE_TZ="Mars\/Olympus": an IANA time zone[^\n]*\n\s*VIGIE_MQTT_PORT="eighteen": .*expected number.*MQTT TCP port/,
    );
  });

  it('refuses an unknown VIGIE_ variable, a typo', () => {
    expect(() => loadConfig({ VIGIE_MQTT_PROT: '1884' })).toThrow(/VIGIE_MQTT_PROT: unknown variable/);
  });

  it('never prints a secret when it is invalid', () => {
    let message = '';
    try {
      loadConfig({ DATABASE_URL: 'mysql://user:hunter2@db/vigie' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/DATABASE_URL=\[redacted\]/);
    expect(message).not.toMatch(/hunter2/);
  });

  it('reads lists and derives the outbox from the data folder', () => {
    const config = loadConfig({ VIGIE_OPERATOR_EMAILS: 'a@x.fr, b@x.fr', VIGIE_DATA_DIR: '/srv/vigie' });
    expect(config.alerting.operatorEmails).toEqual(['a@x.fr', 'b@x.fr']);
    expect(config.alerting.outboxDir).toBe('/srv/vigie/outbox');
  });

  it('binds each variable to a key that exists in the schema', () => {
    const defaults = loadConfig({}) as unknown as Record<string, unknown>;
    for (const b of ENV_BINDINGS) {
      const parent = b.path.slice(0, -1).reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], defaults);
      expect(parent, b.variable).toBeTypeOf('object');
    }
  });
});
