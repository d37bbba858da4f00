import mqtt, { type MqttClient } from 'mqtt';
import { telemetryTopic } from '../core/contracts/topics.ts';

/**
 * Load generation for `vigie bench`: device-like QoS 1 traffic, one connection per device and one TCP write per
 * reading, each connection keeping a small window of unacknowledged publishes. It measures what the broker
 * acknowledges; it runs in its own process so the broker under test keeps a core to itself.
 */
export interface LoadOptions {
  readonly brokerUrl: string;
  /** Connections (devices), numbered `BENCH-000001`… */
  readonly devices: number;
  /** Password of every bench device. */
  readonly secret: string;
  /** How long to publish, in seconds. */
  readonly seconds: number;
  /** Unacknowledged publishes per connection (default 4). */
  readonly windowPerDevice?: number;
  /** Every N-th reading of a device is a probe (a low battery, then a recovery), for publish→alert latency. */
  readonly probeEvery?: number;
  /** Event time of the first reading, epoch ms; each reading advances it by `intervalMs`. */
  readonly startMs: number;
  readonly intervalMs?: number;
}

/** What the load generator measured. */
export interface LoadResult {
  readonly published: number;
  readonly acked: number;
  readonly errors: number;
  readonly elapsedMs: number;
  /** Probe readings: `deviceId|ts` → wall-clock publish time, epoch ms. */
  readonly probes: Record<string, number>;
}

/** The id of bench device `i` (from 0). */
export function benchDeviceId(i: number): string {
  return `BENCH-${String(i + 1).padStart(6, '0')}`;
}

/** Runs the load and resolves when every connection is closed. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const window = options.windowPerDevice ?? 4;
  const intervalMs = options.intervalMs ?? 15 * 60_000;
  const probeEvery = options.probeEvery ?? 0;
  const clients: MqttClient[] = [];
  const probes: Record<string, number> = {};
  let published = 0;
  let acked = 0;
  let errors = 0;

  // 1. Connect every device, a bounded number at a time.
  const ids = Array.from({ length: options.devices }, (_, i) => benchDeviceId(i));
  for (let i = 0; i < ids.length; i += 50) {
    const batch = await Promise.all(
      ids.slice(i, i + 50).map((id) =>
        mqtt.connectAsync(options.brokerUrl, {
          clientId: id,
          username: id,
          password: options.secret,
          clean: true,
          reconnectPeriod: 0,
          connectTimeout: 30_000,
          keepalive: 120,
        }),
      ),
    );
    clients.push(...batch);
  }

  // 2. Publish from every connection until the time is up, each keeping `window` publishes in flight.
  const started = Date.now();
  const deadline = started + options.seconds * 1_000;
  await Promise.all(
    clients.map(async (client, index) => {
      const deviceId = ids[index]!;
      const topic = telemetryTopic('water-meter', deviceId);
      let seq = 0;
      let indexL = 100_000 + index;
      const lane = async () => {
        while (Date.now() < deadline) {
          const n = seq++;
          const tsMs = options.startMs + n * intervalMs;
          indexL += n % 4 === 0 ? 3 : 0;
          const probe = probeEvery > 0 && n % probeEvery === probeEvery - 1;
          const batteryPct = probe ? 5 : 90;
          const payload = JSON.stringify({ ts: new Date(tsMs).toISOString(), seq: n, metrics: { indexL, batteryPct } });
          if (probe) probes[`${deviceId}|${new Date(tsMs).toISOString()}`] = Date.now();
          published += 1;
          try {
            await client.publishAsync(topic, payload, { qos: 1 });
            acked += 1;
          } catch {
            errors += 1;
            return;
          }
        }
      };
      // Lanes share the device's sequence, so readings stay in order up to the window.
      await Promise.all(Array.from({ length: window }, lane));
    }),
  );
  const elapsedMs = Date.now() - started;
  await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
  return { published, acked, errors, elapsedMs, probes };
}
