/**
 * ChirpStack v4 uplinks as its MQTT integration publishes them (JSON encoding): topic
 * `application/<applicationId>/device/<devEui>/event/<event>`, payload the protobuf-JSON mapping of
 * `integration.UplinkEvent` (chirpstack/chirpstack `api/proto/integration/integration.proto`: `deduplicationId`,
 * `time`, `deviceInfo{tenantId, applicationId, deviceProfileName, deviceName, devEui, tags}`, `devAddr`, `fCnt`,
 * `fPort`, `data` base64, `object` = the device-profile codec's output, `rxInfo[]{gatewayId, rssi, snr...}`,
 * `txInfo`). Only `up` events carry measurements; the other events on the same subscription (`join`, `status`, `ack`,
 * `txack`, `log`, `location`, `integration`) are dropped on purpose and counted as `not-uplink`.
 *
 * Mapping: the device is resolved by `{network: 'chirpstack', devEui, applicationId}`; the reading's `ts` is `time`
 * (the network server's receive time; the receipt time when absent), `seq` is `fCnt`, metrics come from `object`
 * (metrics.ts) plus the best `rssiDbm`/`snrDb` over the receiving gateways. No `object` (no codec configured, or the
 * codec failed: ChirpStack then sends a `log` event UPLINK_CODEC) → ERR_UPLINK_UNDECODED. Pure.
 */
import { z } from 'zod';
import {
  isRecord,
  normalizeDevEui,
  parseJsonPayload,
  resolveDevice,
  schemaIssues,
  summarize,
  type UplinkInput,
  UplinkOutcome,
  type UplinkResult,
} from './common.ts';
import { networkReading } from './network.ts';
import { radioCandidates } from './radio.ts';

/** A ChirpStack integration topic split into its parts (`devEui` as written, not yet checked). */
export interface ChirpstackTopic {
  readonly applicationId: string;
  readonly devEui: string;
  readonly event: string;
}

const TOPIC_RE = /^application\/([^/]+)\/device\/([^/]+)\/event\/([^/]+)$/;

/** Splits `application/<applicationId>/device/<devEui>/event/<event>`; null for any other shape. */
export function parseChirpstackTopic(topic: string): ChirpstackTopic | null {
  const m = TOPIC_RE.exec(topic);
  return m ? { applicationId: m[1]!, devEui: m[2]!, event: m[3]! } : null;
}

/** The part of ChirpStack's `UplinkEvent` JSON that Vigie reads; other fields are allowed and ignored. */
export const ChirpstackUplinkEvent = z.object({
  deduplicationId: z.string().optional(),
  time: z.string().optional(),
  deviceInfo: z.object({
    tenantId: z.string().optional(),
    applicationId: z.string(),
    deviceName: z.string().optional(),
    deviceProfileName: z.string().optional(),
    devEui: z.string(),
    tags: z.record(z.string(), z.string()).optional(),
  }),
  fCnt: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  fPort: z.number().int().nonnegative().optional(),
  data: z.string().optional(),
  object: z.unknown().optional(),
  rxInfo: z.array(z.object({ rssi: z.number().optional(), snr: z.number().optional() })).optional(),
});

const WHAT = 'ChirpStack uplink';

/** Decodes one message of a ChirpStack MQTT integration. Never throws (except what `input.resolve` throws). */
export function decodeChirpstack(input: UplinkInput, topic: ChirpstackTopic): UplinkResult {
  const outcome = new UplinkOutcome(input, 'chirpstack');
  if (topic.event !== 'up') return outcome.ignore('not-uplink').result();
  const topicDevEui = normalizeDevEui(topic.devEui);
  if (topicDevEui === null) {
    return outcome
      .fail(
        'ERR_TOPIC_INVALID',
        `ChirpStack topic has no DevEUI: ${topic.devEui.slice(0, 40)} (application/<applicationId>/device/<16 hex digits>/event/up)`,
      )
      .result();
  }
  const json = parseJsonPayload(input, outcome, WHAT);
  if (json === undefined) return outcome.result();
  const parsed = ChirpstackUplinkEvent.safeParse(json);
  if (!parsed.success) {
    const issues = schemaIssues(parsed.error.issues);
    return outcome
      .fail('ERR_PAYLOAD_SCHEMA', `${WHAT} invalid: ${summarize(issues)} (ChirpStack v4 UplinkEvent JSON)`, issues)
      .result();
  }
  const event = parsed.data;
  const devEui = normalizeDevEui(event.deviceInfo.devEui);
  if (devEui !== topicDevEui || event.deviceInfo.applicationId !== topic.applicationId) {
    const issues = [
      ...(devEui === topicDevEui
        ? []
        : [{ path: 'deviceInfo.devEui', message: `differs from the topic's ${topicDevEui}` }]),
      ...(event.deviceInfo.applicationId === topic.applicationId
        ? []
        : [{ path: 'deviceInfo.applicationId', message: `differs from the topic's ${topic.applicationId}` }]),
    ];
    return outcome
      .fail('ERR_PAYLOAD_SCHEMA', `${WHAT} does not match its topic: ${summarize(issues)}`, issues)
      .result();
  }
  const device = resolveDevice(
    input,
    outcome,
    { network: 'chirpstack', devEui, applicationId: topic.applicationId },
    WHAT,
  );
  if (device === null) return outcome.result();

  if (!isRecord(event.object)) {
    const bytes = event.data === undefined ? 0 : Buffer.from(event.data, 'base64').byteLength;
    return outcome
      .fail(
        'ERR_UPLINK_UNDECODED',
        `${WHAT} has no decoded object: fPort ${event.fPort ?? '?'}, ${bytes} bytes of data ` +
          `(configure a payload codec in device profile "${event.deviceInfo.deviceProfileName ?? '?'}"; ` +
          `a failing codec shows as an UPLINK_CODEC log event in ChirpStack)`,
        [{ path: 'object', message: event.object === undefined ? 'absent' : 'not a JSON object' }],
        device.deviceId,
      )
      .result();
  }
  return networkReading(input, outcome, WHAT, {
    device,
    time: { text: event.time, field: 'time' },
    seq: event.fCnt,
    object: event.object,
    radio: radioCandidates(event.rxInfo ?? []),
    path: 'object',
    noun: 'decoded object',
  });
}
