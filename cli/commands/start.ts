import { resolve } from 'node:path';
import { createSubscriptions } from '../../alerting/index.ts';
import { KINDS, type Kind } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import { createOperatorTokens } from '../../services/http/index.ts';
import { type Fleet, fleetCredentials, loadScenario, runFleet, type Scenario } from '../../simulators/index.ts';
import { type Command, numberOption } from '../command.ts';
import { serveMetrics } from '../observability.ts';
import { startPipeline } from '../pipeline.ts';
import { openRuntime, untilSignal } from '../runtime.ts';
import { type RunningWeb, startWeb } from '../services.ts';

/** A demo resident's phone number (French mobile range, never a real subscriber: the demo writes to the outbox). */
function demoPhone(i: number): string {
  return `+33699${String(i).padStart(6, '0')}`;
}

/** The demo scenario of each kind beside the water meters' (`--scenario`). */
const DEMO_SCENARIOS: Readonly<Record<Exclude<Kind, 'water-meter'>, string>> = {
  streetlight: 'demo-streetlight',
  'parking-meter': 'demo-parking',
  sensor: 'demo-sensor',
  'bike-station': 'demo-bike-station',
  'car-share': 'demo-car-share',
  'car-park': 'demo-car-park',
};

/** What one demo fleet shows, for the start banner. */
const DEMO_LINES: Readonly<Record<Kind, string>> = {
  'water-meter': 'water meters (leaks, bursts, a backflow; leak SMS to residents within a minute)',
  streetlight: 'streetlights (lamps out at dusk, cycling, drifting drivers, day-burners; emails to the lighting team)',
  'parking-meter': 'parking meters (payments; coin jam, card reader, paper out, vandalism faults)',
  sensor: 'sensors (river level, NO2, noise, Wi-Fi; anomalies after 8 simulated days of learning, ~1 min)',
  'bike-station': 'bike-share stations (morning and evening flows; a station left empty, one left full)',
  'car-share': 'shared cars (trips, charge and fuel; one falls silent)',
  'car-park': 'car parks (full 9–18 on weekdays; one saturated by an event)',
};

/** Parses `--kinds` (comma-separated kinds); every kind by default. */
function demoKinds(value: unknown): Kind[] {
  if (value === undefined) return [...KINDS];
  const kinds = String(value)
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const unknown = kinds.filter((k) => !(KINDS as readonly string[]).includes(k));
  if (unknown.length > 0 || kinds.length === 0) {
    throw new AppError('ERR_CLI_ARGS', `--kinds: ${String(value)} (comma-separated, of ${KINDS.join(', ')})`);
  }
  return kinds as Kind[];
}

/** `vigie start`: the whole pipeline in one process, with the demo fleet (what `npm start` runs). */
export const start: Command = {
  name: 'start',
  summary: 'all in one process: MQTT ingest, processors, alerting (and a demo fleet)',
  help: `vigie start [--no-demo] [--kinds K,…] [--speed X] [--devices N] [--scenario FILE]

Runs ingest (Aedes on VIGIE_MQTT_PORT, 1883 by default), the processors and alerting in one process on the
in-process bus (or on Kafka when VIGIE_KAFKA_BROKERS is set) and the operational store (PGlite in data/, or
PostgreSQL with DATABASE_URL). Without Twilio or
SMTP credentials, SMS and emails go to the outbox (data/outbox/). Logs go to data/logs/vigie.log. Prometheus
metrics at http://localhost:VIGIE_METRICS_PORT/metrics (9464; 0: off), liveness at /healthz.

With the demo (the default), fleets of simulated devices connect over MQTT on accelerated clocks: water meters
(simulators/scenarios/demo.json: 300 homes, 15 leaking, 2 bursts; every meter has a subscribed resident, so leak
alerts and resident SMS appear within a minute), streetlights (demo-streetlight.json), parking meters
(demo-parking.json), sensors (demo-sensor.json), and small mobility fleets for the residents' availability map:
bike-share stations, shared cars and car parks (demo-bike-station.json, demo-car-share.json, demo-car-park.json),
each with faults injected.

Options:
  --no-demo          no simulated fleet: wait for real devices
  --kinds K,…        the demo fleets (default: every kind, ${KINDS.join(',')})
  --scenario FILE    the water meters' scenario (a path or a shipped name: demo, normal, leak, burst, stuck, malformed)
  --speed X          simulated seconds per second of the water meters (default: the scenario's, 7200 for demo)
  --devices N        water-meter fleet size (default: the scenario's)`,
  options: {
    'no-demo': { type: 'boolean' },
    kinds: { type: 'string' },
    scenario: { type: 'string' },
    speed: { type: 'string' },
    devices: { type: 'string' },
  },
  async run(values) {
    const runtime = openRuntime();
    // Listening from the start: a Ctrl-C while the demo fleets connect still drains and exits cleanly.
    const stopped = untilSignal();
    const { logger } = runtime;
    // The demo shows operators' emails too (real deployments list theirs in VIGIE_OPERATOR_EMAILS), and runs hours
    // of simulated time a minute: residents' SMS go at once, whatever the wall clock says of quiet hours, and the
    // all-clear after one minute of settling (unless VIGIE_QUIET_HOURS / VIGIE_RESIDENT_SETTLE_MINUTES say otherwise).
    const demo = !values['no-demo'];
    const alerting = runtime.config.alerting;
    const config = demo
      ? {
          ...runtime.config,
          alerting: {
            ...alerting,
            operatorEmails: alerting.operatorEmails.length > 0 ? alerting.operatorEmails : ['exploitation@vigie.local'],
            // Operator messages grouped over 10 s rather than 30: the demo shows its first emails sooner.
            groupWaitSeconds: process.env.VIGIE_ALERT_GROUP_WAIT_SECONDS ? alerting.groupWaitSeconds : 10,
            residents: {
              ...alerting.residents,
              quietHours: process.env.VIGIE_QUIET_HOURS ? alerting.residents.quietHours : 'off',
              resolvedSettleMinutes: process.env.VIGIE_RESIDENT_SETTLE_MINUTES
                ? alerting.residents.resolvedSettleMinutes
                : 1,
            },
          },
        }
      : runtime.config;
    const kinds = demo ? demoKinds(values.kinds) : [];
    const scenario = kinds.includes('water-meter')
      ? loadScenario((values.scenario as string | undefined) ?? 'demo')
      : undefined;
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
    let web: RunningWeb;
    try {
      web = await startWeb({ config, store: pipeline.store, bus: pipeline.bus, metrics: pipeline.metrics, logger });
    } catch (err) {
      await pipeline.close();
      await served?.close();
      throw err;
    }
    out(`  HTTP API:     ${web.api.url}/api/alerts   (OpenAPI: ${web.api.url}/docs)`);
    out(
      `  web pages:    ${web.api.url}/console   (operators) · ${web.api.url}/signaler · ${web.api.url}/mon-compteur · ${web.api.url}/mon-compte`,
    );
    if (demo) {
      // The embedded store is this process's alone (vigie tokens cannot open it now): the demo makes its own token.
      const { token } = await createOperatorTokens(pipeline.store).create(
        `demo-${Date.now().toString(36)}`,
        'operator',
      );
      out(`  demo token:   ${token}   (curl -H 'Authorization: Bearer …' ${web.api.url}/api/alerts)`);
    }

    const fleets: Fleet[] = [];
    const launch = async (demo: Scenario, options: { speed: number; devices: number }) => {
      const credentials = fleetCredentials({ seed: demo.seed, devices: options.devices, kind: demo.kind });
      await pipeline.registry.provision(credentials);
      if (demo.kind === 'water-meter') {
        const subscriptions = createSubscriptions(pipeline.store);
        for (const [i, device] of credentials.entries()) {
          await subscriptions.add({
            deviceId: device.deviceId,
            channel: 'sms',
            address: demoPhone(i + 1),
            locale: 'fr',
            consent: 'operator',
          });
        }
      }
      fleets.push(
        await runFleet({
          brokerUrl: `mqtt://127.0.0.1:${pipeline.mqttPort}`,
          scenario: demo,
          speed: options.speed,
          devices: options.devices,
          logger: logger.child({ stage: 'simulator', kind: demo.kind }),
        }),
      );
      out(`Demo: ${options.devices} simulated ${DEMO_LINES[demo.kind]} at ×${options.speed}.`);
    };
    if (scenario) await launch(scenario, { speed, devices });
    for (const kind of kinds) {
      if (kind === 'water-meter') continue;
      const demo = loadScenario(DEMO_SCENARIOS[kind]);
      await launch(demo, { speed: demo.speed, devices: demo.devices });
    }
    if (fleets.length > 0) out('Watch the SMS and email outboxes. Ctrl-C stops.');

    const status = setInterval(async () => {
      const m = pipeline.metrics;
      const first = fleets[0];
      const simulated = first ? new Date(first.stats().simulatedMs).toISOString().slice(0, 16).replace('T', ' ') : '';
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
    const signal = await stopped;
    clearInterval(status);
    out(`${signal}: draining…`);
    draining = true;
    await Promise.all(fleets.map((f) => f.stop()));
    await web.close();
    await pipeline.close();
    await served?.close();
    logger.flush();
    return 0;
  },
};
