import type { Bus, OutgoingMessage } from '../core/bus/port.ts';
import type { Clock } from '../core/clock.ts';
import { type DeadLetter, type Reading, TOPICS } from '../core/contracts/index.ts';
import type { Metrics } from '../core/metrics.ts';
import type { DeviceRegistry } from './device-registry.ts';
import { decodeUplink, IGNORED_REASONS } from './uplinks/index.ts';

/**
 * From an uplink message (a LoRaWAN network server's uplink, a SenML pack) to the bus: decoded by
 * uplinks/decodeUplink with the registry resolving DevEUIs and aliases, each reading checked against who sent it,
 * then every reading and dead letter produced before the caller acknowledges the message (STYLE.md §0.2).
 *
 * Who may speak for a device: a message from a network server's broker that Vigie subscribes to (the bridge) is
 * trusted; a message published into Vigie's own broker counts only for the client's own device and the devices it
 * is the registered gateway of — a network server publishing into Vigie is registered as the gateway of its
 * devices. A reading for any other device is dead-lettered (`ERR_DEVICE_FOREIGN`) and the rest goes on.
 */
export interface UplinkPathDeps {
  readonly bus: Bus;
  readonly registry: DeviceRegistry;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly maxPayloadBytes: number;
}

/** One uplink message to take. */
export interface UplinkMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly clientId?: string;
  /** The authenticated device that published it, or `trusted` for the bridge. */
  readonly sender: { readonly deviceId: string } | 'trusted';
}

/** Takes uplink messages; `take` resolves once every part is on the bus and rejects when the bus refused. */
export function createUplinkPath(deps: UplinkPathDeps): {
  take(message: UplinkMessage): Promise<{ readings: number; deadLetters: number }>;
} {
  const { bus, registry, metrics, clock } = deps;
  const uplinks = metrics.counter('ingest_uplinks_total', 'Uplink messages taken, by network', ['network']);
  const ignored = metrics.counter(
    'ingest_uplink_values_ignored_total',
    'Values of uplinks dropped on purpose (text values, radio-only events…), by reason',
    ['reason'],
  );
  const deadLettered = metrics.counter(
    'ingest_messages_deadlettered_total',
    'Device messages dead-lettered, by error code',
    ['reason'],
  );
  const readingsTotal = metrics.counter('ingest_uplink_readings_total', 'Readings taken from uplinks');

  async function allowed(sender: UplinkMessage['sender'], reading: Reading): Promise<boolean> {
    if (sender === 'trusted' || reading.deviceId === sender.deviceId) return true;
    return (await registry.canPublishFor(sender.deviceId, reading.deviceId)) !== null;
  }

  return {
    async take(message) {
      const receivedAtMs = clock.nowMs();
      const result = decodeUplink({
        topic: message.topic,
        payload: message.payload,
        receivedAtMs,
        maxPayloadBytes: deps.maxPayloadBytes,
        ...(message.clientId === undefined ? {} : { clientId: message.clientId }),
        resolve: (ref) => registry.resolveAlias(ref),
      });
      uplinks.inc({ network: result.network ?? 'unknown' });
      for (const reason of IGNORED_REASONS) {
        const n = result.ignored[reason];
        if (n) ignored.inc({ reason }, n);
      }
      const letters: DeadLetter[] = [...result.deadLetters];
      const byTopic = new Map<string, OutgoingMessage[]>();
      for (const reading of result.readings) {
        if (!(await allowed(message.sender, reading))) {
          letters.push({
            rawBase64: Buffer.from(message.payload).toString('base64'),
            source: { type: 'mqtt', topic: message.topic, ...(message.clientId ? { clientId: message.clientId } : {}) },
            deviceId: reading.deviceId,
            errorCode: 'ERR_DEVICE_FOREIGN',
            message: `reading for ${reading.deviceId} refused: the sender is neither that device nor its registered gateway`,
            issues: [],
            component: 'ingest',
            stage: 'receiving',
            attempts: 1,
            firstFailedAt: new Date(receivedAtMs).toISOString(),
          });
          continue;
        }
        const topic = TOPICS.readings(reading.kind);
        const list = byTopic.get(topic) ?? [];
        list.push({ key: reading.deviceId, value: JSON.stringify(reading) });
        byTopic.set(topic, list);
      }
      if (letters.length > 0) {
        byTopic.set(
          TOPICS.deadLetters,
          letters.map((l) => ({ key: l.deviceId ?? message.topic, value: JSON.stringify(l) })),
        );
      }
      await Promise.all([...byTopic].map(([topic, messages]) => bus.produce(topic, messages)));
      const readings = result.readings.length - (letters.length - result.deadLetters.length);
      readingsTotal.inc(readings);
      for (const l of letters) deadLettered.inc({ reason: l.errorCode });
      return { readings, deadLetters: letters.length };
    },
  };
}
