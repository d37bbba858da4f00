import { describe, expect, it, onTestFinished } from 'vitest';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { openStore } from '../core/store/open.ts';
import { httpConfigSchema, httpMigrations, startHttp } from '../services/http/index.ts';
import { alertingConfigSchema } from './config.ts';
import { alertingHttpPlugins } from './http.ts';
import { alertingMigrations } from './index.ts';

const TWILIO = { accountSid: `AC${'1'.repeat(32)}`, authToken: 'test-auth-token', fromNumber: '+33700000001' };

async function setup() {
  const store = await openStore({ pgliteDir: 'memory://' }, [alertingMigrations, httpMigrations]);
  onTestFinished(() => store.close());
  return { store, metrics: new Metrics(), logger: silentLogger() };
}

describe('alertingHttpPlugins', () => {
  it('refuses to mount Twilio webhooks without the public URL Twilio signs them with', async () => {
    const deps = await setup();
    const err = await alertingHttpPlugins({
      ...deps,
      config: alertingConfigSchema.parse({ twilio: TWILIO }),
      http: httpConfigSchema.parse({}),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(/VIGIE_PUBLIC_URL/) });
  });

  it('serves the subscription routes always and the Twilio webhooks, signature checked, once Twilio is set', async () => {
    const deps = await setup();
    const http = httpConfigSchema.parse({ host: '127.0.0.1', port: 0, publicUrl: 'https://vigie.example.org' });
    const serve = async (config: ReturnType<typeof alertingConfigSchema.parse>) => {
      const running = await startHttp({
        ...deps,
        config: http,
        plugins: await alertingHttpPlugins({ ...deps, config, http }),
      });
      onTestFinished(() => running.close());
      return running.url;
    };
    const stop = new URLSearchParams({ From: '+33612345678', Body: 'STOP', MessageSid: `SM${'a'.repeat(32)}` });
    const form = { 'content-type': 'application/x-www-form-urlencoded' };

    const withoutTwilio = await serve(alertingConfigSchema.parse({}));
    expect(
      (await fetch(`${withoutTwilio}/webhooks/twilio/sms`, { method: 'POST', headers: form, body: stop })).status,
    ).toBe(404);
    expect((await fetch(`${withoutTwilio}/u/not-a-token`)).status).toBe(404);

    const withTwilio = await serve(alertingConfigSchema.parse({ twilio: TWILIO }));
    // No X-Twilio-Signature: refused, whatever it says.
    expect(
      (await fetch(`${withTwilio}/webhooks/twilio/sms`, { method: 'POST', headers: form, body: stop })).status,
    ).toBe(403);
  });
});
