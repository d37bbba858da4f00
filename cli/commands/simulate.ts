import { KINDS, type Kind } from '../../core/contracts/index.ts';
import { createLogger } from '../../core/logging.ts';
import { DEFAULT_SCENARIO_BY_KIND, fleetCredentials, loadScenario, runFleet } from '../../simulators/index.ts';
import { type Command, numberOption } from '../command.ts';
import { untilSignal } from '../runtime.ts';

/** `vigie simulate`: a device fleet over MQTT (CONTRACTS.md §2). */
export const simulate: Command = {
  name: 'simulate',
  summary: 'a simulated device fleet over MQTT',
  help: `vigie simulate [--broker URL] [--devices N] [--kind K] [--speed X] [--seed S] [--scenario FILE]
               [--hours H] [--gateway-size N] [--print-credentials]

Connects a fleet of simulated devices of one kind to an MQTT broker, one connection per device (username = device
id, password = its secret, both derived from the seed), or with --gateway-size one per gateway GW-000001… carrying N
devices each, and publishes readings (…/telemetry) and device events such as payments and faults (…/event) on an
accelerated clock. The scenario file lists the injected faults with their start times and doubles as ground truth.

Options:
  --broker URL          MQTT broker (default mqtt://127.0.0.1:1883)
  --scenario FILE       a scenario file, or a shipped name: normal, leak, burst, stuck, malformed, demo,
                        streetlight-normal, streetlight-30d, demo-streetlight, parking-normal, parking-30d,
                        demo-parking, sensor-normal, sensor-30d, demo-sensor (default: the kind's normal fleet)
  --devices N           fleet size (default: the scenario's)
  --kind K              device kind: water-meter, streetlight, parking-meter, sensor (default: the scenario's, else
                        water-meter); must match the scenario's
  --speed X             simulated seconds per second (default: the scenario's)
  --seed S              seed: the same seed gives the same fleet, readings and faults (default: the scenario's)
  --hours H             stop after H simulated hours (default: run until Ctrl-C)
  --gateway-size N      devices per MQTT connection, behind gateways GW-000001… (default 1: no gateways)
  --print-credentials   print the fleet's credentials as NDJSON (for vigie devices import) and exit; with
                        --gateway-size, the gateways first, then each device with its gatewayId`,
  options: {
    broker: { type: 'string' },
    scenario: { type: 'string' },
    devices: { type: 'string' },
    kind: { type: 'string' },
    speed: { type: 'string' },
    seed: { type: 'string' },
    hours: { type: 'string' },
    'gateway-size': { type: 'string' },
    'print-credentials': { type: 'boolean' },
  },
  async run(values) {
    const kindFlag = values.kind as string | undefined;
    if (kindFlag !== undefined && !(KINDS as readonly string[]).includes(kindFlag)) {
      process.stderr.write(`vigie simulate: --kind ${JSON.stringify(kindFlag)} (one of ${KINDS.join(', ')})\n`);
      return 2;
    }
    const scenarioName =
      (values.scenario as string | undefined) ??
      DEFAULT_SCENARIO_BY_KIND[(kindFlag as Kind | undefined) ?? 'water-meter'];
    const scenario = loadScenario(scenarioName);
    if (kindFlag !== undefined && scenario.kind !== kindFlag) {
      process.stderr.write(
        `vigie simulate: --scenario ${scenarioName} simulates ${scenario.kind}, not --kind ${kindFlag} (drop one, or pick a ${kindFlag} scenario)\n`,
      );
      return 2;
    }
    const devices = numberOption(values, 'devices', scenario.devices, { min: 1, max: 50_000, integer: true });
    const speed = numberOption(values, 'speed', scenario.speed, { min: 0.001, max: 1e7 });
    const seed = (values.seed as string | undefined) ?? scenario.seed;
    const gatewaySize = numberOption(values, 'gateway-size', 1, { min: 1, max: 50_000, integer: true });
    if (values['print-credentials']) {
      for (const c of fleetCredentials({ seed, devices, gatewaySize, kind: scenario.kind }))
        process.stdout.write(`${JSON.stringify(c)}\n`);
      return 0;
    }
    const hours = values.hours === undefined ? undefined : numberOption(values, 'hours', 0, { min: 0.01, max: 1e6 });
    const startMs = Date.parse(scenario.startTs);
    const logger = createLogger({ level: process.env.VIGIE_LOG_LEVEL ?? 'warn' });
    const controller = new AbortController();
    const fleet = await runFleet({
      brokerUrl: (values.broker as string | undefined) ?? 'mqtt://127.0.0.1:1883',
      scenario,
      devices,
      speed,
      seed,
      gatewaySize,
      startMs,
      ...(hours === undefined ? {} : { endMs: startMs + hours * 3_600_000 }),
      logger,
      signal: controller.signal,
    });
    const report = () => {
      const s = fleet.stats();
      process.stdout.write(
        `${new Date(s.simulatedMs).toISOString()} ${scenario.kind} connected ${s.connected} (${s.connections} connections) published ${s.published} (events ${s.events}) acked ${s.acked} errors ${s.errors}\n`,
      );
    };
    const timer = setInterval(report, 5_000);
    await Promise.race([fleet.done, untilSignal()]);
    clearInterval(timer);
    await fleet.stop();
    report();
    return fleet.stats().errors > 0 ? 1 : 0;
  },
};
