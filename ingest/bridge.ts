import mqtt, { type MqttClient } from 'mqtt';
import { z } from 'zod';
import type { Logger } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import type { createUplinkPath } from './uplink-path.ts';

/**
 * The LoRaWAN bridge: Vigie as an MQTT client of a network server's broker (ChirpStack v4's MQTT integration, The
 * Things Stack's MQTT server), subscribed with QoS 1 and a persistent session. Each uplink is acknowledged to that
 * broker only once its readings are on Vigie's bus (mqtt.js `handleMessage`), so a crash or a bus outage makes
 * the network server's broker deliver it again: at least once, never lost.
 */
export const bridgeConfigSchema = z.strictObject({
  lorawanMqttUrl: z
    .string()
    .regex(/^(mqtts?|wss?):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL')
    .optional()
    .describe("The network server's MQTT broker; when set, Vigie subscribes to its uplinks (off when unset)."),
  lorawanUsername: z.string().optional().describe('User name on that broker (a ChirpStack API key or a TTS app id).'),
  lorawanPassword: z.string().optional().describe('Password on that broker (a ChirpStack/TTS API key).'),
  lorawanClientId: z
    .string()
    .min(1)
    .default('vigie-lorawan-bridge')
    .describe('Client id on that broker; stable, so the persistent session keeps uplinks while Vigie is away.'),
  lorawanTopics: z
    .array(z.string().min(1))
    .default(['application/+/device/+/event/up', 'v3/+/devices/+/up'])
    .describe("Topics subscribed to: ChirpStack v4's and The Things Stack's uplinks by default."),
});
/** Bridge configuration. */
export type BridgeConfig = z.output<typeof bridgeConfigSchema>;

/** A running bridge. */
export interface Bridge {
  /** Resolves once subscribed. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** Connects to the network server's broker and feeds its uplinks through `path`. */
export function startBridge(options: {
  readonly config: BridgeConfig & { readonly lorawanMqttUrl: string };
  readonly path: ReturnType<typeof createUplinkPath>;
  readonly metrics: Metrics;
  readonly logger: Logger;
}): Bridge {
  const { config, path, logger } = options;
  const failures = options.metrics.counter(
    'ingest_bridge_failures_total',
    'Uplinks from the network server not acknowledged (the bus refused them); its broker delivers them again',
  );
  const client: MqttClient = mqtt.connect(config.lorawanMqttUrl, {
    clientId: config.lorawanClientId,
    clean: false,
    reconnectPeriod: 1_000,
    ...(config.lorawanUsername ? { username: config.lorawanUsername } : {}),
    ...(config.lorawanPassword ? { password: config.lorawanPassword } : {}),
  });
  // mqtt.js sends a QoS 1 PUBACK once `handleMessage` calls back (for every protocol version; `customHandleAcks`
  // is MQTT 5 only): the uplink is acknowledged to the network server's broker only once it is on the bus.
  client.handleMessage = (packet, callback) => {
    if (packet.cmd !== 'publish') return callback();
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    path.take({ topic: packet.topic, payload, clientId: config.lorawanClientId, sender: 'trusted' }).then(
      () => callback(),
      (err: unknown) => {
        failures.inc();
        logger.error(
          { err, topic: packet.topic },
          'uplink not taken by the bus; the network server will deliver it again',
        );
        // No PUBACK, and a new connection: the persistent session makes the broker deliver it again.
        callback(err as Error);
        client.stream?.destroy();
      },
    );
  };
  client.on('error', (err) => logger.warn({ err }, 'LoRaWAN bridge: broker error'));
  const ready = new Promise<void>((resolve) => {
    client.on('connect', (connack) => {
      if (connack.sessionPresent) {
        resolve();
        return;
      }
      client.subscribe(
        config.lorawanTopics
          .map((topic) => ({ topic, qos: 1 as const }))
          .reduce((acc, s) => Object.assign(acc, { [s.topic]: { qos: s.qos } }), {} as Record<string, { qos: 1 }>),
        (err) => {
          if (err) logger.error({ err }, 'LoRaWAN bridge: subscription refused');
          else logger.info({ topics: config.lorawanTopics }, 'LoRaWAN bridge subscribed');
          resolve();
        },
      );
    });
  });
  return {
    ready,
    close: () => client.endAsync().then(() => undefined),
  };
}
