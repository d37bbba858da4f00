import { resolve } from 'node:path';
import { createSubscriptions } from '../../alerting/index.ts';
import { fleetCredentials, loadScenario, runFleet } from '../../simulators/index.ts';
import { type Command, numberOption } from '../command.ts';
import { serveMetrics } from '../observability.ts';
import { startPipeline } from '../pipeline.ts';
import { openRuntime, untilSignal } from '../runtime.ts';

/** A demo resident's phone number (French mobile range, never a real subscriber: the demo writes to the outbox). */
function demoPhone(i: number): string {
  return `+33699${String(i).padStart(6, '0')}`;
}

/** `vigie start`: the whole pipeline in one process, with the demo fleet (what `npm start` runs). */
export const start: Command = {
  name: 'start',
  summary: 'all in one process: MQTT ingest, processors, alerting (and a demo fleet)',
  help: `vigie start [--no-demo] [--speed X] [--devices N] [--scenario FILE]

Runs ingest (Aedes on VIGIE_MQTT_PORT, 1883 by default), the processors and alerting in one process on the
in-process bus (or on Kafka when VIGIE_KAFKA_BROKERS is set) and the operational store (PGlite in data/, or
PostgreSQL with DATABASE_URL). Without Twilio or
SMTP credentials, SMS and emails go to the outbox (data/outbox/). Logs go to data/logs/vigie.log. Prometheus
metrics at http://localhost:VIGIE_METRICS_PORT/metrics (9464; 0: off), liveness at /healthz.

With the demo (the default), a fleet of simulated water meters connects over MQTT on an accelerated clock
(simulators/scenarios/demo.json: 300 homes, 15 leaking, 2 bursts) and every meter has a subscribed resident;
leak alerts and resident SMS appear within a minute.

Options:
  --no-demo          no simulated fleet: wait for real devices
  --scenario FILE    the demo's scenario (a path or a shipped name: demo, normal, leak, burst, stuck, malformed)
  --speed X          simulated seconds per second (default: the scenario's, 7200 for demo)
  --devices N        demo fleet size (default: the scenario's)`,
  options: {
    'no-demo': { type: 'boolean' },
    scenario: { type: 'string' },
    speed: { type: 'string' },
    devices: { type: 'string' },
  },
  async run(values) {
    const runtime = openRuntime();
    const { logger } = runtime;
    // The demo shows operators' emails too; real deployments list theirs in VIGIE_OPERATOR_EMAILS.
    const config =
      !values['no-demo'] && runtime.config.alerting.operatorEmails.length === 0
        ? { ...runtime.config, alerting: { ...runtime.config.alerting, operatorEmails: ['exploitation@vigie.local'] } }
        : runtime.config;
    const scenario = values['no-demo'] ? undefined : loadScenario((values.scenario as string | undefined) ?? 'demo');
    const speed = numberOption(values, 'speed', scenario?.speed ?? 7200, { min: 0.001, max: 1e7 });
    const devices = numberOption(values, 'devices', scenario?.devices ?? 0, { min: 1, max: 20_000, integer: true });
    const pipeline = await startPipeline({ config, logger });
    let draining = false;
    const served = await serveMetrics({
      config: config.observability,
      metrics: pipeline.metrics,
      logger,
      healthy: () => !draining,
    });
    const outbox = resolve(config.alerting.outboxDir);
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(
      `Vigie is running. MQTT on port ${pipeline.mqttPort}; store: ${config.databaseUrl ? 'PostgreSQL' : resolve(config.pgliteDir)}`,
    );
    out(`  bus:          ${pipeline.busDescription}`);
    out(`  SMS outbox:   ${resolve(outbox, 'sms.ndjson')}   (one JSON line per SMS)`);
    out(`  email outbox: ${resolve(outbox, 'email')}/   (one .eml file per email)`);
    out(`  logs:         ${resolve(config.logFile)}`);
    if (served) out(`  metrics:      ${served.url}/metrics   (and /healthz)`);

    let fleet: Awaited<ReturnType<typeof runFleet>> | undefined;
    if (scenario) {
      const credentials = fleetCredentials({ seed: scenario.seed, devices });
      await pipeline.registry.provision(credentials);
      const subscriptions = createSubscriptions(pipeline.store);
      for (const [i, device] of credentials.entries()) {
        await subscriptions.add({ deviceId: device.deviceId, channel: 'sms', address: demoPhone(i + 1), locale: 'fr' });
      }
      fleet = await runFleet({
        brokerUrl: `mqtt://127.0.0.1:${pipeline.mqttPort}`,
        scenario,
        speed,
        devices,
        logger: logger.child({ stage: 'simulator' }),
      });
      out(`Demo: ${devices} simulated water meters at ×${speed}, ${scenario.faults.length} kinds of injected faults.`);
      out('Leak alerts open after a simulated day without an hour at rest: watch the SMS outbox. Ctrl-C stops.');
    }

    const status = setInterval(async () => {
      const m = pipeline.metrics;
      const simulated = fleet ? new Date(fleet.stats().simulatedMs).toISOString().slice(0, 16).replace('T', ' ') : '';
      out(
        [
          simulated && `simulated ${simulated} UTC`,
          `readings ${await m.value('processor_readings_total')}`,
          `dead letters ${await m.value('ingest_messages_deadlettered_total')}`,
          `alerts opened ${await m.value('processor_alert_transitions_total', { state: 'open' })}`,
          `SMS ${await m.value('alerting_messages_sent_total', { channel: 'sms' })}`,
          `emails ${await m.value('alerting_messages_sent_total', { channel: 'email' })}`,
        ]
          .filter(Boolean)
          .join(' · '),
      );
    }, 5_000);
    const signal = await untilSignal();
    clearInterval(status);
    out(`${signal}: draining…`);
    draining = true;
    await fleet?.stop();
    await pipeline.close();
    await served?.close();
    logger.flush();
    return 0;
  },
};
