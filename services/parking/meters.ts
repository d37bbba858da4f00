import { busDeadLetter, parseBusMessage, type Refusal } from '../../core/bus/dead-letter.ts';
import type { Bus, BusMessage, Subscription } from '../../core/bus/port.ts';
import type { Clock } from '../../core/clock.ts';
import { DeviceEvent, DeviceInfo, PaymentEventData, TOPICS } from '../../core/contracts/index.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { normalizePlate } from './sms-commands.ts';
import type { ParkingStore } from './store.ts';
import { findZone, quote, type TariffTable } from './tariffs.ts';

/**
 * Payments at the parking meters feed the same sessions: consumes events.parking-meter.v1 and devices.v1 (group
 * `parking-meters`). devices.v1 gives each meter its zone: the tariff zone named by the device's `circuit` (for a
 * parking meter, the group it is priced with; the zone's id or an alias, case and accents ignored), else by its
 * `district`; a meter whose circuit and district name no zone has none. A `payment` event {amountCents, method coin|card, minutes[, plate]} becomes a session with source
 * `meter` (no phone, no receipt SMS, no reminder): from the event's ts, for its paid minutes walked through the
 * zone's tariff like an SMS session (free periods skipped), at the amount the meter took; `plate` when the meter
 * asks for it (French meters do since 2018), else none (such a session counts for revenue and occupancy, not for
 * enforcement by plate). One session per payment: its identity (meter, ts, amount, minutes) makes a redelivery a
 * duplicate.
 *
 * Left out on purpose, counted: events other than payments (`not-payment`), `method: sms` payments (`sms`: those
 * are the parking service's own, through inbound SMS, published as revenue events under the virtual meters
 * `sms-<zone>`), payments of 0 minutes (`no-time`). Dead-lettered, so they can be replayed once the registry is
 * right: a payment from a meter devices.v1 has not described, or one in no zone (ERR_PARKING_METER_ZONE_UNKNOWN);
 * records that do not parse (ERR_PARKING_METER_JSON, ERR_PARKING_METER_SCHEMA). The two topics are read by one
 * group without an order between them: a payment consumed before its meter's first devices.v1 record is
 * dead-lettered (a fresh deployment reads the compacted devices.v1 from the beginning too; replay covers the race).
 */

/** The consumer group of events.parking-meter.v1 and devices.v1. */
export const METERS_GROUP_ID = 'parking-meters';

/** What the meter consumer needs. */
export interface ParkingMetersDeps {
  readonly bus: Bus;
  readonly sessions: ParkingStore;
  readonly table: TariffTable;
  readonly timeZone: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
}

/** The zone of a meter from its registry record (circuit, else district), or null. */
export function meterZoneOf(table: TariffTable, device: DeviceInfo): string | null {
  for (const name of [device.circuit, device.district]) {
    const zone = name === undefined ? undefined : findZone(table, name);
    if (zone !== undefined) return zone;
  }
  return null;
}

/** Consumes parking-meter payments into sessions. */
export function createParkingMeters(deps: ParkingMetersDeps): { start(): Promise<void>; close(): Promise<void> } {
  const { bus, sessions, table, timeZone, logger, clock } = deps;
  const outcomes = deps.metrics.counter(
    'parking_meter_events_total',
    'Parking-meter events handled by the parking service, by outcome (started, duplicate, not-payment, sms, ' +
      'no-time, dead-lettered)',
    ['outcome'],
  );
  const devices = deps.metrics.counter(
    'parking_meter_devices_total',
    'devices.v1 records read by the parking service, by outcome (zoned, unzoned, other-kind, dead-lettered)',
    ['outcome'],
  );
  let subscription: Subscription | undefined;

  async function deadLetter(m: BusMessage, refusal: Refusal, deviceId?: string): Promise<void> {
    logger.error({ topic: m.topic, offset: m.offset, errorCode: refusal.errorCode }, refusal.message);
    await bus.produce(TOPICS.deadLetters, [
      busDeadLetter(m, refusal, {
        component: 'parking',
        nowMs: clock.nowMs(),
        key: m.key || m.topic,
        ...(deviceId !== undefined ? { deviceId } : {}),
      }),
    ]);
  }

  async function handleDevice(m: BusMessage): Promise<void> {
    const parsed = parseBusMessage(m, DeviceInfo, {
      what: `${m.topic} record`,
      contract: 'core/contracts/device-info.ts',
      jsonCode: 'ERR_PARKING_DEVICE_JSON',
      schemaCode: 'ERR_PARKING_DEVICE_SCHEMA',
    });
    if (!parsed.ok) {
      devices.inc({ outcome: 'dead-lettered' });
      await deadLetter(m, parsed);
      return;
    }
    const device = parsed.data;
    if (device.kind !== 'parking-meter') {
      devices.inc({ outcome: 'other-kind' });
      return;
    }
    const zone = device.active ? meterZoneOf(table, device) : null;
    await sessions.upsertMeter(device.deviceId, zone, Date.parse(device.updatedAt));
    devices.inc({ outcome: zone === null ? 'unzoned' : 'zoned' });
  }

  async function handleEvent(m: BusMessage): Promise<void> {
    const parsed = parseBusMessage(m, DeviceEvent, {
      what: `${m.topic} record`,
      contract: 'core/contracts/event.ts',
      jsonCode: 'ERR_PARKING_METER_JSON',
      schemaCode: 'ERR_PARKING_METER_SCHEMA',
    });
    if (!parsed.ok) {
      outcomes.inc({ outcome: 'dead-lettered' });
      await deadLetter(m, parsed);
      return;
    }
    const event = parsed.data;
    if (event.type !== 'payment') {
      outcomes.inc({ outcome: 'not-payment' });
      return;
    }
    const payment = PaymentEventData.parse(event.data);
    if (payment.method === 'sms') {
      outcomes.inc({ outcome: 'sms' });
      return;
    }
    if (payment.minutes === 0) {
      outcomes.inc({ outcome: 'no-time' });
      return;
    }
    const zone = await sessions.meterZone(event.deviceId);
    if (zone === undefined || zone === null) {
      outcomes.inc({ outcome: 'dead-lettered' });
      await deadLetter(
        m,
        {
          errorCode: 'ERR_PARKING_METER_ZONE_UNKNOWN',
          message: `parking meter ${event.deviceId}: ${zone === undefined ? 'not in devices.v1' : 'in no tariff zone'} (a district or circuit naming a zone: ${Object.keys(table.zones).join(', ')}; replay once the registry says)`,
          issues: [],
        },
        event.deviceId,
      );
      return;
    }
    const tsMs = Date.parse(event.ts);
    // Capped at the zone's maximum stay (the quote would cap it too; the contract allows up to 31 days).
    const maxStay = table.zones[zone]?.maxStayMinutes ?? payment.minutes;
    const q = quote(table, zone, tsMs, Math.min(payment.minutes, maxStay), timeZone);
    const rawPlate = typeof payment.plate === 'string' ? payment.plate : undefined;
    const nowMs = clock.nowMs();
    const created = await sessions.insertMeterSession({
      plate: rawPlate === undefined ? null : (normalizePlate(rawPlate)?.plate ?? null),
      zone,
      phone: null,
      locale: 'fr',
      startMs: tsMs,
      endMs: q.endMs,
      paidMinutes: payment.minutes,
      amountCents: payment.amountCents,
      status: q.endMs > nowMs ? 'running' : 'expired',
      source: 'meter',
      deviceId: event.deviceId,
      sourceRef: `${event.deviceId}:${tsMs}:${payment.amountCents}:${payment.minutes}`,
      reminderAtMs: null,
      messageSid: null,
      nowMs,
    });
    outcomes.inc({ outcome: created ? 'started' : 'duplicate' });
  }

  return {
    async start() {
      await bus.ensureTopic(TOPICS.events('parking-meter'));
      await bus.ensureTopic(TOPICS.devices);
      await bus.ensureTopic(TOPICS.deadLetters);
      subscription = await bus.subscribe({
        groupId: METERS_GROUP_ID,
        topics: [TOPICS.devices, TOPICS.events('parking-meter')],
        fromBeginning: true,
        handler: async (messages) => {
          for (const m of messages) {
            if (m.topic === TOPICS.devices) await handleDevice(m);
            else await handleEvent(m);
          }
        },
      });
    },
    async close() {
      const sub = subscription;
      subscription = undefined;
      await sub?.close();
    },
  };
}
