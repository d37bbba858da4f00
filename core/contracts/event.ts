import { z } from 'zod';
import { DeviceId, Kind } from './device.ts';
import { EventTime, IsoTime } from './time.ts';

/** An event type: a short lower-case identifier such as `payment` or `fault`. */
export const EventType = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'an event type is a lower-case letter then up to 31 of a–z, 0–9, "-"');

/** Free-form event data: a JSON object (bounded by the ingest payload size limit). */
export const EventData = z.record(z.string(), z.unknown());

/** `payment` event data of a parking meter (CONTRACTS.md §3); other keys are kept. */
export const PaymentEventData = z.looseObject({
  amountCents: z.number().int().nonnegative().max(10_000_000),
  method: z.enum(['coin', 'card', 'sms']),
  minutes: z
    .number()
    .int()
    .nonnegative()
    .max(60 * 24 * 31),
});

/** `fault` event data (CONTRACTS.md §3): the device's fault code; other keys are kept. */
export const FaultEventData = z.looseObject({
  code: z.union([z.string().min(1).max(64), z.number().int()]),
});

/** `fault-cleared` event data: the code of the fault that is over, or none for every fault; other keys are kept. */
export const FaultClearedEventData = z.looseObject({
  code: z.union([z.string().min(1).max(64), z.number().int()]).optional(),
});

/** Data schemas of the event types whose shape is part of the contract; other types carry any object. */
export const KNOWN_EVENT_DATA: Readonly<Record<string, z.ZodType<Record<string, unknown>>>> = {
  payment: PaymentEventData,
  fault: FaultEventData,
  'fault-cleared': FaultClearedEventData,
};

function checkKnownData(value: { type: string; data?: Record<string, unknown> | undefined }, ctx: z.RefinementCtx) {
  const schema = KNOWN_EVENT_DATA[value.type];
  if (!schema) return;
  const result = schema.safeParse(value.data ?? {});
  if (result.success) return;
  for (const issue of result.error.issues) {
    ctx.addIssue({ code: 'custom', path: ['data', ...issue.path], message: issue.message });
  }
}

/** The JSON a device publishes on `vigie/v1/<kind>/<deviceId>/event` (alarms, payments). */
export const DeviceEventPayload = z
  .object({
    ts: EventTime,
    type: EventType,
    data: EventData.optional(),
  })
  .superRefine(checkKnownData);
/** A parsed device event payload. */
export type DeviceEventPayload = z.output<typeof DeviceEventPayload>;

/**
 * A device event on `events.<kind>.v1` (key = deviceId): what ingest produces from a valid event payload.
 * `ts` is the device's event time; `receivedAt` is when ingest accepted it.
 */
export const DeviceEvent = z
  .object({
    deviceId: DeviceId,
    kind: Kind,
    ts: EventTime,
    type: EventType,
    data: EventData,
    receivedAt: IsoTime.optional(),
  })
  .superRefine(checkKnownData);
/** A device event. */
export type DeviceEvent = z.output<typeof DeviceEvent>;
