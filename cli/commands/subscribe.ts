import { createSubscriptions } from '../../alerting/index.ts';
import { meterCode } from '../../alerting/meter-code.ts';
import { unsubscribeSecret } from '../../alerting/webhooks/unsubscribe-token.ts';
import { DeviceId } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open.ts';
import { type Command, requiredOption } from '../command.ts';
import { loadConfig } from '../config.ts';
import { ALL_MIGRATIONS } from '../pipeline.ts';

/** `vigie subscribe`: subscribes a resident to their meter's alerts. */
export const subscribe: Command = {
  name: 'subscribe',
  summary: "subscribe a resident to a meter's alerts by SMS or email",
  help: `vigie subscribe --device ID (--sms +33612345678 | --email name@example.org) [--locale fr|en]
vigie subscribe --device ID --meter-code

The resident then receives the meter's leak, burst, backflow and no-consumption alerts (opened and resolved).
Use it only with the resident's consent on paper: the subscription is confirmed at once (no confirmation code)
and the consent log records it with source "cli". A number that sent STOP stays silent until it texts START.
With the embedded store (PGlite), run it while vigie is stopped.

--meter-code prints the meter's subscriber code (XXXX-XXXX), to print on the water bill: residents sign up on the
web with it (POST /api/subscriptions), which proves they hold the bill. It derives from VIGIE_UNSUBSCRIBE_SECRET (or
the secret kept in the store): changing that secret changes every code.`,
  options: {
    'meter-code': { type: 'boolean' },
    device: { type: 'string' },
    sms: { type: 'string' },
    email: { type: 'string' },
    locale: { type: 'string' },
  },
  async run(values) {
    const deviceId = requiredOption(values, 'device');
    if (values['meter-code'] === true) {
      const id = DeviceId.safeParse(deviceId);
      if (!id.success) throw new AppError('ERR_CLI_ARGS', `--device: ${JSON.stringify(deviceId)} (a device id)`);
      const config = loadConfig();
      const store = await openStore({ databaseUrl: config.databaseUrl, pgliteDir: config.pgliteDir }, ALL_MIGRATIONS);
      try {
        process.stdout.write(
          `${meterCode(await unsubscribeSecret(store, config.alerting.unsubscribeSecret), id.data)}\n`,
        );
        return 0;
      } finally {
        await store.close();
      }
    }
    const channel = values.sms ? 'sms' : values.email ? 'email' : undefined;
    if (!channel || (values.sms && values.email)) {
      process.stderr.write('vigie subscribe: give exactly one of --sms or --email\n');
      return 2;
    }
    const config = loadConfig();
    const store = await openStore({ databaseUrl: config.databaseUrl, pgliteDir: config.pgliteDir }, ALL_MIGRATIONS);
    try {
      const address = (values.sms ?? values.email) as string;
      const locale = (values.locale as string | undefined) ?? config.alerting.locale;
      const added = await createSubscriptions(store).add({
        deviceId,
        channel,
        address,
        locale: locale as 'fr' | 'en',
        consent: 'operator',
        source: 'cli',
      });
      process.stdout.write(`subscribed ${channel} for ${deviceId}\n`);
      if (added.smsStopped) {
        process.stderr.write(
          'vigie subscribe: this number sent STOP: it receives no SMS until it texts START to the Vigie number\n',
        );
      }
      return 0;
    } finally {
      await store.close();
    }
  },
};
