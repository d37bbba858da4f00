import { connectAsync, type MqttClient } from 'mqtt';
import { backoffDelayMs } from '../core/bus/retry.ts';
import { AcceleratedClock } from '../core/clock.ts';
import { statusTopic } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { type Logger, silentLogger } from '../core/logging.ts';
import { fleetCredentials, planFleet, stepFleet } from './generate.ts';
import { payloadOf } from './message.ts';
import { rng } from './random.ts';
import type { Scenario } from './scenario.ts';

/**
 * A simulated fleet of any kind over real MQTT (mqtt.js v5 async API): readings on `.../telemetry`, device events
 * (payments, faults) on `.../event`, both QoS 1. "Meter" below means any device. One connection per meter, authenticated as the meter
 * (username = deviceId, password = its secret), persistent session (clean: false, clientId = deviceId), a retained
 * last will "offline" on `.../status` and a retained "online" once connected. With `gatewaySize` > 1 the meters
 * are grouped behind gateways `GW-000001`… (as behind a wM-Bus/LoRa concentrator): one connection per gateway,
 * authenticated as the gateway, which publishes each meter's messages under the meter's own topic (the same bytes);
 * the status and last will are the gateway's. Messages come from the pure
 * generator (generate.ts), so a live run publishes exactly what `generateMessages` yields for the same inputs.
 *
 * Time: an AcceleratedClock from `startMs` at `speed`, started once every meter is connected. One scheduler loop
 * walks the time-ordered stream and publishes each message once simulated time passes it (no timer per meter);
 * behind schedule it publishes in catch-up batches, never more than `maxInFlight` unacknowledged publishes (QoS 1).
 */

/** Options of {@link runFleet}. */
export interface FleetOptions {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  readonly brokerUrl: string;
  readonly scenario: Scenario;
  /** Simulated ms per wall ms (default: the scenario's `speed`). */
  readonly speed?: number;
  /** Seed (default: the scenario's). */
  readonly seed?: string | number;
  /** Fleet size (default: the scenario's). */
  readonly devices?: number;
  /** Simulated start, epoch ms (default: the scenario's startTs). */
  readonly startMs?: number;
  /** Simulated end (exclusive), epoch ms: the loop stops there and `done` resolves. Absent = until stop(). */
  readonly endMs?: number;
  readonly logger?: Logger;
  /** Connections opened at once (default 50). */
  readonly connectConcurrency?: number;
  /** Unacknowledged QoS 1 publishes across the fleet (default 1000). */
  readonly maxInFlight?: number;
  /** Connection attempts per meter (or gateway) before it is given up (default 5). */
  readonly connectAttempts?: number;
  /**
   * Meters per MQTT connection (default 1: each meter its own connection). Above 1, meters are grouped behind
   * gateways `GW-000001`… as `fleetCredentials({ seed, devices, gatewaySize })` lists them (the broker's registry
   * must know the gateways and each meter's `gatewayId`).
   */
  readonly gatewaySize?: number;
  /** Aborting it stops the fleet. */
  readonly signal?: AbortSignal;
}

/** Counters of a running fleet. */
export interface FleetStats {
  /** Meters connected (now), on their own connection or their gateway's. */
  readonly connected: number;
  /** MQTT connections open (now): meters, or gateways with `gatewaySize` > 1. */
  readonly connections: number;
  /** Publishes handed to mqtt.js: readings and events (not status). */
  readonly published: number;
  /** Publishes acknowledged by the broker (PUBACK). */
  readonly acked: number;
  /** Of the published, how many were device events (on `.../event`). */
  readonly events: number;
  /** Of the published, how many carried malformed bytes on purpose. */
  readonly malformed: number;
  /** Failed publishes, connection errors, and messages of meters that could not connect (not sent, counted). */
  readonly errors: number;
  /** Simulated time reached by the scheduler, epoch ms. */
  readonly simulatedMs: number;
}

/** A running fleet. */
export interface Fleet {
  /** Stops publishing, waits (bounded) for acks, marks meters offline and closes every connection. Idempotent. */
  stop(): Promise<void>;
  stats(): FleetStats;
  /** Resolves when the scheduler has reached `endMs` (or was stopped) and its publishes settled. */
  readonly done: Promise<void>;
}

const DRAIN_TIMEOUT_MS = 5000;
const YIELD_EVERY = 256;
const MAX_SLEEP_MS = 250;

/** Connects a fleet and starts publishing; resolves once every meter has connected or been given up. */
export async function runFleet(options: FleetOptions): Promise<Fleet> {
  const logger = options.logger ?? silentLogger();
  const speed = options.speed ?? options.scenario.speed;
  const plan = planFleet(options.scenario, options);
  const gatewaySize = options.gatewaySize ?? 1;
  const kind = options.scenario.kind;
  const credentials = fleetCredentials({ seed: plan.seed, devices: plan.devices.length, gatewaySize, kind });
  const secrets = new Map(credentials.map((c) => [c.deviceId, c.secret]));
  // Who connects (a meter, or a gateway) and for which meters.
  const metersOf = new Map<string, string[]>();
  for (const c of credentials) {
    const via = gatewaySize === 1 ? c.deviceId : c.gatewayId;
    if (via === undefined) continue; // a gateway: it carries meters, it is not one
    const list = metersOf.get(via);
    if (list) list.push(c.deviceId);
    else metersOf.set(via, [c.deviceId]);
  }
  /** Open connections, by the id they authenticated as. */
  const connections = new Map<string, MqttClient>();
  /** The connection each meter publishes on. */
  const clients = new Map<string, MqttClient>();
  const counters = { published: 0, acked: 0, events: 0, malformed: 0, errors: 0, simulatedMs: plan.startMs };
  let stopping = false;
  let lastErrorLogMs = 0;
  const logError = (msg: string, err: unknown, deviceId?: string) => {
    counters.errors++;
    const now = Date.now();
    if (now - lastErrorLogMs < 1000) return; // rate-limited; the counter carries the detail
    lastErrorLogMs = now;
    logger.error({ err: (err as Error)?.message, deviceId, errors: counters.errors }, msg);
  };

  // 1. Connect every meter, a bounded number at a time.
  const jitter = rng(plan.seed, 'fleet', 'backoff');
  const connectOne = async (deviceId: string): Promise<void> => {
    const attempts = options.connectAttempts ?? 5;
    for (let attempt = 1; attempt <= attempts && !stopping; attempt++) {
      try {
        const client = await connectAsync(
          options.brokerUrl,
          {
            clientId: deviceId,
            username: deviceId,
            password: secrets.get(deviceId) ?? '',
            clean: false,
            keepalive: 60,
            reconnectPeriod: 1000,
            connectTimeout: 10_000,
            will: { topic: statusTopic(kind, deviceId), payload: Buffer.from('offline'), qos: 1, retain: true },
          },
          false,
        );
        client.on('error', (err) => logError('simulated meter connection error', err, deviceId));
        connections.set(deviceId, client);
        for (const meterId of metersOf.get(deviceId) ?? []) clients.set(meterId, client);
        await client.publishAsync(statusTopic(kind, deviceId), 'online', { qos: 1, retain: true });
        return;
      } catch (err) {
        if (attempt === attempts) {
          logError('simulated meter or gateway could not connect; its readings are counted as errors', err, deviceId);
          return;
        }
        await new Promise((r) =>
          setTimeout(
            r,
            backoffDelayMs({ initialDelayMs: 200, maxDelayMs: 5000, maxAttempts: attempts }, attempt, undefined, () =>
              jitter.next(),
            ),
          ),
        );
      }
    }
  };
  const queue = [...metersOf.keys()];
  const workers = Array.from({ length: Math.min(queue.length, options.connectConcurrency ?? 50) }, async () => {
    for (let id = queue.shift(); id !== undefined && !stopping; id = queue.shift()) await connectOne(id);
  });
  let handleRef: Fleet | undefined;
  const onAbort = () => {
    stopping = true;
    void handleRef?.stop();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  await Promise.all(workers);
  logger.info(
    { kind, devices: plan.devices.length, connected: clients.size, connections: connections.size, gatewaySize, speed },
    'simulated fleet connected',
  );

  // 2. The scheduler: one loop over the time-ordered stream.
  const clock = new AcceleratedClock(plan.startMs, speed);
  const maxInFlight = options.maxInFlight ?? 1000;
  let inFlight = 0;
  let freed: (() => void) | undefined;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });
  const settled = () => {
    inFlight--;
    freed?.();
  };
  const waitForSlot = () =>
    new Promise<void>((resolve) => {
      freed = () => {
        freed = undefined;
        resolve();
      };
    });

  const loop = async () => {
    const stream = stepFleet(plan, options.endMs);
    let batch = 0;
    for (let next = stream.next(); !next.done && !stopping; ) {
      const message = next.value;
      const now = clock.nowMs();
      if (message.tsMs > now) {
        counters.simulatedMs = now;
        await sleep(Math.max(1, Math.min(MAX_SLEEP_MS, clock.wallDelayMs(message.tsMs - now))));
        continue;
      }
      counters.simulatedMs = message.tsMs;
      const client = clients.get(message.deviceId);
      if (!client) {
        counters.errors++; // the meter never connected: not sent, counted
      } else {
        while (inFlight >= maxInFlight && !stopping) await waitForSlot();
        if (stopping) break;
        inFlight++;
        counters.published++;
        if (message.malformed) counters.malformed++;
        if (message.event) counters.events++;
        client
          .publishAsync(message.topic, payloadOf(message), { qos: 1 })
          .then(() => {
            counters.acked++;
          })
          .catch((err: unknown) => logError('simulated publish failed', err, message.deviceId))
          .finally(settled);
      }
      next = stream.next();
      // Catch-up batches: let the sockets flush and acks come back.
      if (++batch % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
    }
    await drain(DRAIN_TIMEOUT_MS);
  };

  const drain = async (timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (inFlight > 0 && Date.now() < deadline) {
      await withTimeout(waitForSlot(), 50);
    }
  };

  const done = loop().catch((err: unknown) => {
    logError('simulated fleet scheduler failed', err);
    throw new AppError('ERR_SIM_SCHEDULER', `fleet scheduler: ${(err as Error).message} (a bug)`, { cause: err });
  });

  let stopped: Promise<void> | undefined;
  const handle: Fleet = {
    done,
    stats: () => ({
      ...counters,
      connected: [...clients.values()].filter((c) => c.connected).length,
      connections: [...connections.values()].filter((c) => c.connected).length,
    }),
    stop: () => {
      stopped ??= (async () => {
        stopping = true;
        options.signal?.removeEventListener('abort', onAbort);
        wake?.();
        freed?.();
        await done.catch(() => undefined);
        const all = [...connections.entries()];
        const closers = Array.from({ length: Math.min(all.length, options.connectConcurrency ?? 50) }, async () => {
          for (let entry = all.shift(); entry !== undefined; entry = all.shift()) {
            const [deviceId, client] = entry;
            try {
              // A clean DISCONNECT discards the will (MQTT-3.14.4-3), so say "offline" ourselves.
              if (client.connected) {
                await withTimeout(
                  client.publishAsync(statusTopic(kind, deviceId), 'offline', { qos: 1, retain: true }),
                  2000,
                );
              }
              await client.endAsync(!client.connected);
            } catch (err) {
              logError('simulated meter did not close cleanly', err, deviceId);
            }
          }
        });
        await Promise.all(closers);
        connections.clear();
        clients.clear();
        logger.info({ ...counters }, 'simulated fleet stopped');
      })();
      return stopped;
    },
  };
  handleRef = handle;
  if (stopping || options.signal?.aborted) await handle.stop();
  return handle;
}

/** Waits for `promise` at most `ms`; the timer never outlives the wait. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
