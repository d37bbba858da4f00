/**
 * The MQTT adapter: an Aedes 1.2 broker on a TCP server, device authentication and ACL, and the bridge from device
 * publishes to the bus. How the QoS 1 acknowledgement is held (ingest/README.md, "Acknowledgement"):
 *
 * - Aedes runs `authorizePublish` first, then writes the PUBACK, then `broker.publish` (lib/handlers/publish.js
 *   `enqueuePublish`). So telemetry and events are decoded and produced to the bus *inside* `authorizePublish`, and its
 *   callback is called only once `bus.produce` resolved: the PUBACK follows durability (STYLE.md §0.2).
 * - Those packets are consumed here, so the instance's `publish` is wrapped to skip them: no retained store, no
 *   offline enqueue, no mqemitter emit (the overload crash of ARCHITECTURE.md "Measured on this machine"), no
 *   `publish` event. Status messages (and wills) take aedes' ordinary path.
 * - Produces are micro-batched (bus-batcher.ts): one `produce` per bus topic for the messages of one event-loop turn
 *   (or every 16), each message's callback once its batch is accepted, a topic's batches one after the other.
 * - If the bus refuses, the callback gets an error: aedes sends no PUBACK and closes the connection (MQTT-3.3.5-2),
 *   so a persistent-session device sends the message again after reconnecting.
 * - Aedes dispatches all packets of one socket read at once and reads again only when they are all done, but a
 *   `readable` event while they are pending is counted as one done. The `readable` listener is therefore gated:
 *   while a device has packets waiting for the bus, its socket is not read, the kernel buffers fill and TCP pushes
 *   back on the device. One socket read may still hold many packets (a device resending its store after a
 *   reconnect), so held messages are also capped over all devices (`maxHeldMessages`): beyond it a message is
 *   refused like a bus failure (no PUBACK, connection closed) and its device sends it again later.
 * - Gateways: a client may also publish under the topics of a device naming it as its gateway (many meters on one
 *   connection). That answer comes from the registry's cache, looked up in packet order per connection; the
 *   message is then that device's (reading deviceId, bus key, kind check), the dead letter keeps the clientId.
 */
import { performance } from 'node:perf_hooks';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import { z } from 'zod';
import type { Bus, OutgoingMessage } from '../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../core/clock.ts';
import {
  commandTopic,
  DEFAULT_MAX_PAYLOAD_BYTES,
  type DeadLetter,
  type Kind,
  type Reading,
  TOPICS,
} from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { type Logger, rateLimited } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import { type Bridge, bridgeConfigSchema, startBridge } from './bridge.ts';
import { createBusBatcher } from './bus-batcher.ts';
import {
  type DecodedBatchItem,
  type DecodeInput,
  type DeviceTopic,
  decodeBatchMessage,
  decodeDeviceMessage,
  isKnownKind,
  parseDeviceTopic,
  refusedBatchItem,
} from './decode.ts';
import type { DeviceRegistry, VerifiedDevice } from './device-registry.ts';
import {
  certificateIdentity,
  certificateLogin,
  createListeners,
  gateReads,
  listenersConfigProblems,
  listenersConfigSchema,
} from './listeners.ts';
import { createUplinkPath } from './uplink-path.ts';
import { isUplinkTopic } from './uplinks/index.ts';

/** Ingest configuration (docs/config.md). */
export const ingestConfigSchema = z
  .strictObject({
    mqttHost: z.string().min(1).default('0.0.0.0').describe('Address the MQTT server listens on.'),
    mqttPort: z.coerce
      .number()
      .int()
      .min(0)
      .max(65_535)
      .default(1883)
      .describe('TCP port of the MQTT server (0: any free port).'),
    maxPayloadBytes: z.coerce
      .number()
      .int()
      .positive()
      .default(DEFAULT_MAX_PAYLOAD_BYTES)
      .describe('Larger telemetry/event payloads are dead-lettered with ERR_PAYLOAD_TOO_LARGE (bytes).'),
    maxRawPayloadBytes: z.coerce
      .number()
      .int()
      .positive()
      .default(1024 * 1024)
      .describe(
        'Larger payloads are refused and the connection closed instead of dead-lettered, so a hostile payload ' +
          'never reaches the bus (bytes).',
      ),
    maxConnections: z.coerce
      .number()
      .int()
      .positive()
      .default(15_000)
      .describe(
        'Most TCP connections at once; more are closed on accept. Below the file-descriptor limit (20,000 here); ' +
          'Aedes holds about 14 KiB per idle connection.',
      ),
    maxInFlight: z.coerce
      .number()
      .int()
      .positive()
      .default(2_000)
      .describe('Most messages waiting for the bus at once, over all devices; beyond it device sockets wait.'),
    maxHeldMessages: z.coerce
      .number()
      .int()
      .positive()
      .default(20_000)
      .describe(
        'Most device messages held in memory (waiting for a slot or for the bus) over all devices; one more is ' +
          'refused without acknowledgement and its connection closed, so its device sends it again later.',
      ),
    mqEmitterConcurrency: z.coerce
      .number()
      .int()
      .positive()
      .default(100)
      .describe('Aedes `concurrency`: messages mqemitter delivers at once (status and commands only).'),
    queueLimit: z.coerce
      .number()
      .int()
      .positive()
      .default(42)
      .describe('Aedes `queueLimit`: packets a client may send before its CONNACK; more closes the connection.'),
    drainTimeoutMs: z.coerce
      .number()
      .int()
      .nonnegative()
      .default(30_000)
      .describe('Aedes `drainTimeout`: a client whose socket does not drain within it is disconnected (ms).'),
    connectTimeoutMs: z.coerce
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('A connection that sends no CONNECT within it is closed (ms).'),
    ...listenersConfigSchema.shape,
    ...bridgeConfigSchema.shape,
  })
  .superRefine((c, ctx) => {
    for (const { key, message } of listenersConfigProblems(c)) ctx.addIssue({ code: 'custom', path: [key], message });
    for (const key of ['tlsPort', 'wsPort'] as const) {
      if (c[key] !== undefined && c[key] !== 0 && c[key] === c.mqttPort) {
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} (${c[key]}) must differ from mqttPort` });
      }
    }
    if (c.maxRawPayloadBytes < c.maxPayloadBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxRawPayloadBytes'],
        message: `maxRawPayloadBytes (${c.maxRawPayloadBytes}) must be at least maxPayloadBytes (${c.maxPayloadBytes})`,
      });
    }
    if (c.maxHeldMessages < c.maxInFlight) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxHeldMessages'],
        message: `maxHeldMessages (${c.maxHeldMessages}) must be at least maxInFlight (${c.maxInFlight})`,
      });
    }
  });
/** Ingest configuration after defaults. */
export type IngestConfig = z.output<typeof ingestConfigSchema>;

/** What {@link createIngest} needs. */
export interface IngestDeps {
  readonly config: IngestConfig;
  readonly bus: Bus;
  readonly registry: DeviceRegistry;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Stamps `receivedAt` (default the system clock). */
  readonly clock?: Clock;
}

/** A running ingest stage. */
export interface Ingest {
  /** Starts the broker and the listeners; resolves with the bound ports (`port`: plain TCP). */
  listen(): Promise<{ port: number; tlsPort: number | null; wsPort: number | null }>;
  /** Stops accepting, closes every client, waits for messages already handed to the bus. */
  close(): Promise<void>;
  /** The Aedes instance (to publish commands to devices, or observe events). */
  readonly broker: Aedes;
}

interface ClientState {
  device: VerifiedDevice | null;
  /** Messages of this client waiting for a gateway lookup, a slot or the bus. */
  held: number;
  /** The last gateway lookup of this client: the next one starts after it, so messages keep their order. */
  lookups: Promise<unknown>;
  /** Gateway lookups of this client not answered yet: while any is, the next message waits behind it too. */
  lookupsPending: number;
}

type PublishFn = (packet: PublishPacket, client: Client | null, done?: (err?: Error) => void) => void;

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Creates the ingest stage: Aedes on TCP, device auth and ACL, device messages decoded and produced to the bus. */
export function createIngest(deps: IngestDeps): Ingest {
  const { config, bus, registry, metrics, logger } = deps;
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const log = logger.child({ component: 'ingest' });

  const received = metrics.counter('ingest_messages_received_total', 'Device messages received, by kind', ['kind']);
  const deadLettered = metrics.counter(
    'ingest_messages_deadlettered_total',
    'Device messages dead-lettered, by error code',
    ['reason'],
  );
  const authFailures = metrics.counter(
    'ingest_auth_failures_total',
    'Refused connections and subscriptions, by reason',
    ['reason'],
  );
  const refused = metrics.counter(
    'ingest_publish_refused_total',
    'Publishes refused (connection closed, no acknowledgement), by reason',
    ['reason'],
  );
  const inFlightGauge = metrics.gauge('ingest_in_flight', 'Messages waiting for a slot or for the bus');
  const busLatency = metrics.histogram(
    'ingest_bus_latency_seconds',
    'Time from receipt of a device message to its acceptance by the bus',
    LATENCY_BUCKETS_S,
  );

  const states = new WeakMap<Client, ClientState>();
  const stateOf = (client: Client): ClientState => {
    let s = states.get(client);
    if (!s) {
      s = { device: null, held: 0, lookups: Promise.resolve(), lookupsPending: 0 };
      states.set(client, s);
    }
    return s;
  };
  /** Packets acknowledged here, which the wrapped `publish` must not forward. */
  const consumed = new WeakSet<object>();
  // Messages of one event-loop turn go to the bus in one produce per topic, `maxInFlight` messages at most.
  const batcher = createBusBatcher({ bus, maxInFlight: config.maxInFlight });
  // `received` counted in plain numbers and added to the counter once per turn (a labelled inc costs a hash).
  const receivedPending = new Map<string, number>();
  let receivedScheduled = false;
  const flushReceived = () => {
    receivedScheduled = false;
    for (const [kind, n] of receivedPending) received.inc({ kind }, n);
    receivedPending.clear();
  };
  const countReceived = (kind: string, n = 1) => {
    receivedPending.set(kind, (receivedPending.get(kind) ?? 0) + n);
    if (!receivedScheduled) {
      receivedScheduled = true;
      setImmediate(flushReceived);
    }
  };
  /** Messages held over all devices (the `ingest_in_flight` gauge), at most `maxHeldMessages`. */
  let heldTotal = 0;
  /**
   * Holds `n` more messages of `state` (a batch's items count one each); false (nothing held) when that passes
   * `maxHeldMessages` — unless nothing is held, so a batch larger than the cap still goes through alone.
   */
  const hold = (state: ClientState, n = 1): boolean => {
    if (heldTotal > 0 && heldTotal + n > config.maxHeldMessages) return false;
    heldTotal += n;
    state.held += n;
    inFlightGauge.inc(n);
    return true;
  };
  const unhold = (state: ClientState, n = 1): void => {
    heldTotal -= n;
    state.held -= n;
    inFlightGauge.dec(n);
  };
  /** The refusal of a message beyond `maxHeldMessages`: the bus is not keeping up, the device resends later. */
  const heldFull = (): AppError => {
    refused.inc({ reason: 'held_full' });
    busErrorLog(() =>
      log.error({ maxHeldMessages: config.maxHeldMessages }, 'bus not keeping up: refusing device messages'),
    );
    return new AppError(
      'ERR_BUS_UNAVAILABLE',
      `bus not keeping up: ${heldTotal} device messages already held (maxHeldMessages ${config.maxHeldMessages})`,
      { retryable: true },
    );
  };
  const pending = new Set<Promise<void>>();
  const busErrorLog = rateLimited(10_000);
  const registryErrorLog = rateLimited(10_000);
  let closing = false;

  const broker = new Aedes({
    concurrency: config.mqEmitterConcurrency,
    queueLimit: config.queueLimit,
    drainTimeout: config.drainTimeoutMs,
    connectTimeout: config.connectTimeoutMs,
    authenticate(client, username, password, done) {
      const fail = (reason: string, returnCode: 3 | 4 | 5) => {
        authFailures.inc({ reason });
        log.debug({ clientId: client.id, reason }, 'connection refused');
        const err = new AppError(
          returnCode === 3 ? 'ERR_AUTH_UNAVAILABLE' : 'ERR_AUTH_REFUSED',
          `connection refused: ${reason}`,
        ) as unknown as AuthenticateError;
        err.returnCode = returnCode;
        done(err, false);
      };
      // A verified client certificate names the device (its CN): no password then, and no other username.
      const login = certificateLogin(certificateIdentity(client.conn), username);
      if (login.outcome === 'refused') {
        authFailures.inc({ reason: login.reason });
        log.debug({ clientId: client.id, reason: login.reason }, 'connection refused');
        const err = new AppError('ERR_AUTH_REFUSED', login.message) as unknown as AuthenticateError;
        err.returnCode = 5;
        return done(err, false);
      }
      if (login.outcome === 'certificate') {
        registry.get(login.deviceId).then(
          (record) => {
            if (!record || record.disabledAt !== null) return fail('unknown_certificate_device', 5);
            stateOf(client).device = { deviceId: record.deviceId, kind: record.kind };
            done(null, true);
          },
          (err: unknown) => {
            log.error({ err }, 'device registry unavailable');
            fail('registry_unavailable', 3);
          },
        );
        return;
      }
      if (!username || !password || password.length === 0) return fail('missing_credentials', 4);
      registry.verify(username, password.toString('utf8')).then(
        (device) => {
          if (!device) return fail('bad_credentials', 4);
          stateOf(client).device = device;
          done(null, true);
        },
        (err: unknown) => {
          log.error({ err }, 'device registry unavailable');
          fail('registry_unavailable', 3);
        },
      );
    },
    authorizeSubscribe(client, sub, done) {
      const device = stateOf(client).device;
      if (device && isKnownKind(device.kind) && sub.topic === commandTopic(device.kind, device.deviceId)) {
        return done(null, sub);
      }
      // Negated (SUBACK 0x80, MQTT-3.9.3) rather than disconnected: a wrong subscription changes nothing else.
      authFailures.inc({ reason: 'subscribe_denied' });
      done(null, null);
    },
    authorizePublish(client, packet, done) {
      authorizePublish(client, packet, done);
    },
  });

  // Consumed packets stop here: acknowledged (PUBACK already written by aedes), never forwarded.
  const aedesPublish = broker.publish.bind(broker) as unknown as PublishFn;
  (broker as unknown as { publish: PublishFn }).publish = (packet, client, done) => {
    if (consumed.has(packet)) {
      consumed.delete(packet);
      done?.();
      return;
    }
    aedesPublish(packet, client, done);
  };

  broker.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'client error'));
  broker.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'connection error'));
  // Persistence errors reach the broker's 'error' event (aedes.js DoEnqueues): logged, never an uncaught throw.
  (broker as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err }, 'broker error'));

  /** Who may publish where (STYLE.md §6.1): a refusal closes the connection, with no acknowledgement. */
  function refusalOf(
    client: Client | null,
    device: VerifiedDevice | null,
    topic: DeviceTopic | null,
    packet: PublishPacket,
    payloadBytes: number,
  ): { reason: string; message: string } | null {
    // An old will published with no client attached: only a status may go through.
    if (!client) return topic?.channel === 'status' ? null : { reason: 'no_client', message: 'will refused' };
    if (!device) return { reason: 'unauthenticated', message: 'publish refused: not authenticated' };
    if (!topic) {
      return {
        reason: 'topic_invalid',
        message: `publish refused: ${packet.topic.slice(0, 120)} (vigie/v1/<kind>/${device.deviceId}/telemetry|event|status)`,
      };
    }
    if (payloadBytes > config.maxRawPayloadBytes) {
      return {
        reason: 'payload_too_large',
        message: `publish refused: ${payloadBytes} bytes (at most ${config.maxRawPayloadBytes})`,
      };
    }
    return null;
  }

  function authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const startedMs = performance.now();
    const topic = parseDeviceTopic(packet.topic);
    const state = client ? stateOf(client) : null;
    const device = state?.device ?? null;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    // LoRaWAN network-server uplinks and SenML packs: many devices per message, each reading checked on its own.
    if (
      client &&
      state &&
      device &&
      payload.byteLength <= config.maxRawPayloadBytes &&
      (topic?.channel === 'senml' || (!topic && isUplinkTopic(packet.topic)))
    ) {
      takeUplink(client, state, device, packet, payload, startedMs, done);
      return;
    }
    const refusal = refusalOf(client, device, topic, packet, payload.byteLength);
    if (refusal) {
      refused.inc({ reason: refusal.reason });
      done(new AppError('ERR_PUBLISH_REFUSED', refusal.message));
      return;
    }
    if (!client || !state || !device || !topic) {
      done(null);
      return;
    }
    if (topic.channel === 'batch') {
      if (topic.deviceId !== device.deviceId) {
        refused.inc({ reason: 'foreign_device' });
        done(foreignDevice(device.deviceId));
        return;
      }
      takeBatch(client, state, device, packet, payload, startedMs, done);
      return;
    }
    if (topic.deviceId === device.deviceId) {
      accept(client, state, device, topic, packet, payload, startedMs, done);
      return;
    }
    // Another device's topic: allowed when this client is its gateway. Answered from the registry's cache at once
    // when it can and no earlier lookup of this client is still out (order); else held (socket gate) meanwhile.
    if (state.lookupsPending === 0) {
      const cached = registry.canPublishForCached(device.deviceId, topic.deviceId);
      if (cached !== undefined) {
        if (cached) {
          accept(client, state, cached, topic, packet, payload, startedMs, done);
          return;
        }
        refused.inc({ reason: 'foreign_device' });
        done(foreignDevice(device.deviceId));
        return;
      }
    }
    askRegistryInOrder(
      state,
      () => registry.canPublishFor(device.deviceId, topic.deviceId),
      (target) => {
        if (target) return accept(client, state, target, topic, packet, payload, startedMs, done);
        refused.inc({ reason: 'foreign_device' });
        done(foreignDevice(device.deviceId));
      },
      done,
    );
  }

  /**
   * Asks the registry after this client's earlier questions (so its messages keep their order), holding one message
   * meanwhile (the socket gate); `then` runs with the answer unless ingest is closing. A registry failure refuses
   * the message (no PUBACK, connection closed).
   */
  function askRegistryInOrder<T>(
    state: ClientState,
    ask: () => Promise<T>,
    then: (answer: T) => void,
    done: (err?: Error | null) => void,
  ): void {
    if (!hold(state)) {
      done(heldFull());
      return;
    }
    state.lookupsPending++;
    const lookup = state.lookups.then(ask);
    state.lookups = lookup.catch(() => undefined);
    const work = lookup.then(
      (answer) => {
        state.lookupsPending--;
        unhold(state);
        if (closing) return done(new AppError('ERR_INGEST_CLOSING', 'ingest closing'));
        then(answer);
      },
      (err: unknown) => {
        state.lookupsPending--;
        unhold(state);
        refused.inc({ reason: 'registry_unavailable' });
        registryErrorLog(() => log.error({ err }, 'device registry unavailable; closing a gateway connection'));
        done(
          new AppError('ERR_AUTH_UNAVAILABLE', `gateway check failed: ${(err as Error).message}`, {
            cause: err,
            retryable: true,
          }),
        );
      },
    );
    pending.add(work);
    void work.finally(() => pending.delete(work));
  }

  const uplinkPath = createUplinkPath({ bus, registry, metrics, clock, maxPayloadBytes: config.maxPayloadBytes });

  /** An uplink or SenML pack: acknowledged once all its readings and dead letters are on the bus. */
  function takeUplink(
    client: Client,
    state: ClientState,
    device: VerifiedDevice,
    packet: PublishPacket,
    payload: Buffer,
    startedMs: number,
    done: (err?: Error | null) => void,
  ): void {
    if (!hold(state)) {
      done(heldFull());
      return;
    }
    const work = uplinkPath.take({ topic: packet.topic, payload, clientId: client.id, sender: device }).then(
      () => {
        unhold(state);
        busLatency.observe((performance.now() - startedMs) / 1000);
        consumed.add(packet);
        done(null);
      },
      (err: unknown) => {
        unhold(state);
        if (closing) return done(new AppError('ERR_INGEST_CLOSING', 'ingest closing'));
        refused.inc({ reason: 'bus_unavailable' });
        busErrorLog(() => log.error({ err, topic: packet.topic }, 'bus refused an uplink; closing its connection'));
        done(
          new AppError('ERR_BUS_UNAVAILABLE', `bus refused the uplink: ${(err as Error).message}`, { retryable: true }),
        );
      },
    );
    pending.add(work);
    void work.finally(() => pending.delete(work));
  }

  /**
   * A gateway's batch (`vigie/v1/<kind>/<gatewayId>/batch`, decode.ts): each item is a reading of the gateway or of
   * one of its devices (else dead-lettered alone, `ERR_DEVICE_FOREIGN`), produced like a message of its own; the
   * batch is acknowledged once every item is on the bus. Registry answers come from the cache when it knows them all
   * and no earlier lookup of this client is out; else the batch waits behind this client's lookups (order).
   */
  function takeBatch(
    client: Client,
    state: ClientState,
    device: VerifiedDevice,
    packet: PublishPacket,
    payload: Buffer,
    startedMs: number,
    done: (err?: Error | null) => void,
  ): void {
    const input = {
      topic: packet.topic,
      payload,
      device,
      clientId: client.id,
      receivedAtMs: clock.nowMs(),
      maxPayloadBytes: config.maxPayloadBytes,
    };
    const batch = decodeBatchMessage(input);
    if (batch.deadLetter) {
      countReceived(device.kind);
      produceAll(
        state,
        [{ topic: TOPICS.deadLetters, key: device.deviceId, letter: batch.deadLetter }],
        startedMs,
        done,
      );
      return;
    }
    const items = batch.items;
    countReceived(device.kind, items.length);
    if (state.lookupsPending === 0) {
      // The registry's answers for the batch's devices, from its cache; undefined as soon as one is not there.
      let targets: (VerifiedDevice | null)[] | undefined = new Array(items.length);
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        if (!item.decoded.reading || item.deviceId === device.deviceId) continue;
        const cached = registry.canPublishForCached(device.deviceId, item.deviceId);
        if (cached === undefined) {
          targets = undefined;
          break;
        }
        targets[i] = cached;
      }
      if (targets !== undefined) {
        const known = targets;
        produceAll(
          state,
          batchOutgoing(input, items, device, (i) => known[i] ?? null),
          startedMs,
          done,
        );
        return;
      }
    }
    // Some devices are not in the cache (or an earlier lookup is out): ask the registry, in this client's order.
    const ids = [
      ...new Set(items.flatMap((it) => (it.decoded.reading && it.deviceId !== device.deviceId ? [it.deviceId] : []))),
    ];
    askRegistryInOrder(
      state,
      async () => {
        const answers = await Promise.all(ids.map((id) => registry.canPublishFor(device.deviceId, id)));
        return new Map(ids.map((id, i) => [id, answers[i] ?? null]));
      },
      (answers) => {
        const targetOf = (i: number) => answers.get(items[i]!.deviceId) ?? null;
        produceAll(state, batchOutgoing(input, items, device, targetOf), startedMs, done);
      },
      done,
    );
  }

  /**
   * Sends `outgoing` through the batcher, counting each as held; `done` once all are on the bus (or with the first
   * refusal: no acknowledgement, the connection closes and the device sends the batch again).
   */
  function produceAll(
    state: ClientState,
    outgoing: readonly Outgoing[],
    startedMs: number,
    done: (err?: Error | null) => void,
  ): void {
    const n = outgoing.length;
    if (!hold(state, n)) {
      done(heldFull());
      return;
    }
    let remaining = n;
    let failed: Error | null = null;
    const onDone = (err: Error | null) => {
      unhold(state);
      if (err && !failed) failed = err;
      if (--remaining > 0) return;
      if (failed) return done(busRefusal(failed, outgoing[0]!.topic));
      busLatency.observe((performance.now() - startedMs) / 1000);
      for (const o of outgoing) if (o.letter) deadLettered.inc({ reason: o.letter.errorCode });
      done(null);
    };
    for (const o of outgoing) {
      batcher.send(o.topic, { key: o.key, value: JSON.stringify(o.reading ?? o.letter) }, onDone);
    }
  }

  function busRefusal(err: Error, topic: string): AppError {
    if (closing) return new AppError('ERR_INGEST_CLOSING', 'ingest closing');
    refused.inc({ reason: 'bus_unavailable' });
    busErrorLog(() => log.error({ err, topic }, 'bus refused a device message; closing its connection'));
    return new AppError('ERR_BUS_UNAVAILABLE', `bus refused the message: ${err.message}`, {
      cause: err,
      retryable: true,
    });
  }

  function foreignDevice(deviceId: string): AppError {
    return new AppError(
      'ERR_PUBLISH_REFUSED',
      `publish refused: another device's topic (${deviceId} and the devices it is the gateway of only)`,
    );
  }

  /** Decodes a publish the client may make for `device` (itself or one of its gateway's devices) and produces it. */
  function accept(
    client: Client,
    state: ClientState,
    device: VerifiedDevice,
    topic: DeviceTopic,
    packet: PublishPacket,
    payload: Buffer,
    startedMs: number,
    done: (err?: Error | null) => void,
  ): void {
    countReceived(isKnownKind(topic.kind) ? topic.kind : 'unknown');
    if (topic.channel === 'status' && topic.kind === device.kind && payload.byteLength <= config.maxPayloadBytes) {
      // Status (retained, last will) takes aedes' ordinary path: rare, and subscribers may want it.
      done(null);
      return;
    }

    const decoded = decodeDeviceMessage({
      topic: packet.topic,
      payload,
      device,
      clientId: client.id,
      receivedAtMs: clock.nowMs(),
      maxPayloadBytes: config.maxPayloadBytes,
    });
    let busTopic: string;
    let value: string;
    if (decoded.reading) {
      busTopic = TOPICS.readings(decoded.reading.kind);
      value = JSON.stringify(decoded.reading);
    } else if (decoded.event) {
      busTopic = TOPICS.events(decoded.event.kind as Kind);
      value = JSON.stringify(decoded.event);
    } else {
      busTopic = TOPICS.deadLetters;
      value = JSON.stringify(decoded.deadLetter);
    }
    const message: OutgoingMessage = { key: device.deviceId, value };

    if (!hold(state)) {
      done(heldFull());
      return;
    }
    batcher.send(busTopic, message, (err) => {
      unhold(state);
      if (err) return done(busRefusal(err, busTopic));
      busLatency.observe((performance.now() - startedMs) / 1000);
      if (decoded.deadLetter) deadLettered.inc({ reason: decoded.deadLetter.errorCode });
      consumed.add(packet);
      done(null);
    });
  }

  // TCP, TLS and WebSocket listeners (listeners.ts): every stream goes to aedes, its reads gated (file header).
  let gateWarned = false;
  const listeners = createListeners({
    config,
    host: config.mqttHost,
    tcpPort: config.mqttPort,
    maxConnections: config.maxConnections,
    handshakeTimeoutMs: config.connectTimeoutMs,
    maxWsMessageBytes: config.maxRawPayloadBytes + 65_536,
    metrics,
    logger: log,
    onStream(stream, info) {
      if (closing) {
        stream.destroy();
        return;
      }
      const client = broker.handle(stream, info.request);
      const state = stateOf(client);
      if (!gateReads(client, stream, () => state.held > 0) && !gateWarned) {
        gateWarned = true;
        log.warn('aedes internals changed: device streams are not paused while the bus is slow');
      }
    },
  });

  /** Revoked devices (through this registry or another process on the same store) lose their connections. */
  let revocations: ReturnType<DeviceRegistry['watchRevocations']> | undefined;
  let bridge: Bridge | undefined;
  return {
    broker,
    async listen() {
      revocations = registry.watchRevocations(
        (deviceIds) => {
          // A client's device is its username, set at authentication; its clientId is free.
          const revoked = new Set(deviceIds);
          const clients = (broker as unknown as { clients: Record<string, Client> }).clients;
          for (const client of Object.values(clients)) {
            if (revoked.has(states.get(client)?.device?.deviceId ?? '')) client.close();
          }
        },
        { onError: (err) => registryErrorLog(() => log.error({ err }, 'device registry: revocation watch failed')) },
      );
      await revocations.ready;
      if (config.lorawanMqttUrl) {
        bridge = startBridge({
          config: { ...config, lorawanMqttUrl: config.lorawanMqttUrl },
          path: uplinkPath,
          metrics,
          logger: log.child({ component: 'lorawan-bridge' }),
        });
      }
      await broker.listen();
      const ports = await listeners.listen();
      return { port: ports.tcp ?? 0, tlsPort: ports.tls, wsPort: ports.ws };
    },
    async close() {
      if (closing) return;
      closing = true;
      revocations?.stop();
      await bridge?.close();
      batcher.abort(new AppError('ERR_INGEST_CLOSING', 'ingest closing'));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await listeners.close();
      await Promise.allSettled([...pending]);
      await batcher.idle();
      flushReceived();
    },
  };
}

/** One bus message of a batch: a reading, or a dead letter. */
interface Outgoing {
  readonly topic: string;
  readonly key: string;
  readonly reading?: Reading;
  readonly letter?: DeadLetter;
}

/**
 * The bus messages of a decoded batch from `sender`, in item order: readings of the sender itself or of the device
 * `targetOf(index)` allows (with its registered kind checked), dead letters for the rest.
 */
function batchOutgoing(
  input: DecodeInput,
  items: readonly DecodedBatchItem[],
  sender: VerifiedDevice,
  targetOf: (index: number) => VerifiedDevice | null,
): Outgoing[] {
  const out: Outgoing[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const reading = item.decoded.reading;
    let letter = item.decoded.deadLetter;
    if (reading) {
      const target = item.deviceId === sender.deviceId ? sender : targetOf(i);
      if (target === null) {
        letter = refusedBatchItem(
          input,
          item,
          i,
          'ERR_DEVICE_FOREIGN',
          `${item.deviceId} is neither the sender (${sender.deviceId}) nor one of the devices it is the gateway of`,
        );
      } else if (target.kind !== reading.kind) {
        letter = refusedBatchItem(
          input,
          item,
          i,
          'ERR_KIND_MISMATCH',
          `${item.deviceId} is registered as ${target.kind}, the batch is of ${reading.kind}`,
        );
      } else {
        out[i] = { topic: TOPICS.readings(reading.kind), key: item.deviceId, reading };
        continue;
      }
    }
    out[i] = { topic: TOPICS.deadLetters, key: item.deviceId, letter: letter! };
  }
  return out;
}
