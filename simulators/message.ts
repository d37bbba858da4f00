import type { DeviceEvent, Kind, Reading } from '../core/contracts/index.ts';
import { eventTopic, telemetryTopic } from '../core/contracts/index.ts';

/**
 * What a simulated device sends: a reading on `vigie/v1/<kind>/<id>/telemetry` (possibly with broken bytes when a
 * `malformed` fault is on) or a device event on `.../event` (payments, faults). Shared by every kind's model.
 */

/** Sorts of malformed payloads. */
export type MalformedSort = 'truncated-json' | 'wrong-types' | 'huge-numbers' | 'oversized';

interface MessageBase {
  readonly deviceId: string;
  readonly kind: Kind;
  /** Event time, epoch ms (= Date.parse of the reading's or event's ts). */
  readonly tsMs: number;
  /** MQTT topic: `vigie/v1/<kind>/<deviceId>/telemetry` or `.../event`. */
  readonly topic: string;
}

/** A reading message: the canonical reading, and broken bytes when a malformed fault broke it. */
export interface ReadingMessage extends MessageBase {
  /** The canonical reading the device reports (for a malformed message: what it would have said). */
  readonly reading: Reading;
  readonly event?: undefined;
  /** Water meters: the true cumulative volume at `tsMs`, litres (a float; the register shows whole litres). */
  readonly trueVolumeL?: number;
  /** Set when a malformed fault broke this message: its sort and the bytes actually sent. */
  readonly malformed?: { readonly sort: MalformedSort; readonly bytes: Buffer };
}

/** A device event message (`{ts, type, data}` on the event topic, QoS 1). */
export interface EventMessage extends MessageBase {
  readonly event: DeviceEvent;
  readonly reading?: undefined;
  readonly malformed?: undefined;
}

/** One message a simulated device sends: a reading or an event. */
export type SimMessage = ReadingMessage | EventMessage;

/** The payload a device publishes for a message (CONTRACTS.md §3), or the broken bytes of a malformed one. */
export function payloadOf(message: SimMessage): Buffer {
  if (message.event) {
    const e = message.event;
    return Buffer.from(JSON.stringify({ ts: e.ts, type: e.type, data: e.data }));
  }
  return message.malformed?.bytes ?? Buffer.from(devicePayloadJson(message.reading));
}

/** The device payload JSON of a reading: `{ts, seq, metrics, flags?}`. */
export function devicePayloadJson(reading: Reading): string {
  return JSON.stringify({
    ts: reading.ts,
    seq: reading.seq,
    metrics: reading.metrics,
    ...(reading.flags ? { flags: reading.flags } : {}),
  });
}

/** Oversized payloads are this big: well above ingest's 16 KiB default limit. */
export const OVERSIZED_PAYLOAD_BYTES = 64 * 1024;

/** The broken bytes a malformed fault sends instead of `reading`; `u` in [0, 1) picks where JSON is cut. */
export function brokenPayload(sort: MalformedSort, reading: Reading, u: number): Buffer {
  const json = devicePayloadJson(reading);
  const m = reading.metrics;
  const names = Object.keys(m);
  switch (sort) {
    case 'truncated-json':
      // Any proper prefix of a JSON object is invalid JSON: the closing brace is the last byte.
      return Buffer.from(json.slice(0, 1 + Math.floor(u * (json.length - 2))));
    case 'wrong-types':
      if (reading.kind === 'water-meter') {
        return Buffer.from(
          JSON.stringify({
            ts: u < 0.5 ? true : 'yesterday',
            seq: String(reading.seq),
            metrics: { indexL: String(m.indexL), batteryPct: `${m.batteryPct}%` },
          }),
        );
      }
      return Buffer.from(
        JSON.stringify({
          ts: u < 0.5 ? true : 'yesterday',
          seq: String(reading.seq),
          metrics: Object.fromEntries(names.map((k) => [k, `${m[k]}`])),
        }),
      );
    case 'huge-numbers': {
      if (reading.kind === 'water-meter') {
        return Buffer.from(
          `{"ts":"${reading.ts}","seq":${reading.seq},"metrics":{"indexL":1e400,"flowLph":-9.9e307,` +
            `"batteryPct":123456789012345678901234567890}}`,
        );
      }
      const [first = 'value', second = 'other'] = names;
      return Buffer.from(
        `{"ts":"${reading.ts}","seq":${reading.seq},"metrics":{"${first}":1e400,"${second === first ? 'other' : second}":123456789012345678901234567890}}`,
      );
    }
    case 'oversized': {
      const head = `{"ts":"${reading.ts}","seq":${reading.seq},"metrics":${JSON.stringify(m)},"debug":"`;
      return Buffer.from(`${head}${'x'.repeat(OVERSIZED_PAYLOAD_BYTES - head.length - 2)}"}`);
    }
  }
}

/** Builds a reading message (topic from the kind), broken when `malformed` is given. */
export function readingMessage(
  reading: Reading,
  malformed?: { readonly sort: MalformedSort; readonly bytes: Buffer },
): ReadingMessage {
  return {
    deviceId: reading.deviceId,
    kind: reading.kind,
    tsMs: Date.parse(reading.ts),
    topic: telemetryTopic(reading.kind, reading.deviceId),
    reading,
    ...(malformed ? { malformed } : {}),
  };
}

/** Builds an event message at `tsMs` (integer ms) for a device. */
export function eventMessage(
  kind: Kind,
  deviceId: string,
  tsMs: number,
  type: string,
  data: Record<string, unknown>,
): EventMessage {
  return {
    deviceId,
    kind,
    tsMs,
    topic: eventTopic(kind, deviceId),
    event: { deviceId, kind, ts: new Date(tsMs).toISOString(), type, data },
  };
}

/** A simulated device as the fleet steps it: every message it sends with an event time in a slot. */
export interface DeviceSim {
  readonly deviceId: string;
  /** Offset of its readings after each interval boundary, ms (0–59 999). */
  readonly offsetMs: number;
  /**
   * Its messages with event times in [slotMs, slotMs + interval) and at or after the run start, in any order. Called
   * once per slot, slots increasing from the run's first.
   */
  messagesIn(slotMs: number): SimMessage[];
}

/**
 * {@link DeviceSim.messagesIn} of a device that sends one reading per slot, at the slot + its offset, from the run
 * start: the water meter, the streetlight and the sensor.
 */
export function oneReadingPerSlot(
  sim: { readonly offsetMs: number; step(tsMs: number): SimMessage | undefined },
  slotMs: number,
  startMs: number,
): SimMessage[] {
  const tsMs = slotMs + sim.offsetMs;
  if (tsMs < startMs) return [];
  const m = sim.step(tsMs);
  return m ? [m] : [];
}
