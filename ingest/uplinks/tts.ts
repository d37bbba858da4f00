/**
 * The Things Stack (v3) uplinks as its MQTT server publishes them: topic `v3/<applicationId>@<tenantId>/devices/
 * <deviceId>/up` (`v3/<applicationId>/devices/<deviceId>/up` on single-tenant deployments), payload the JSON
 * `ApplicationUp` of "Data Formats" (thethingsindustries.com/docs/the-things-stack/concepts/data-formats/):
 * `end_device_ids{device_id, application_ids{application_id}, dev_eui, join_eui, dev_addr}`, `received_at`,
 * `uplink_message{f_port, f_cnt, frm_payload (base64), decoded_payload (the payload formatter's output),
 * rx_metadata[]{gateway_ids, rssi, channel_rssi, snr...}, settings, received_at}`. Empty fields are omitted (a value
 * of 0, "" or false is absent). Only `up` carries measurements; the other messages (`join`, `down/*`,
 * `service/data`, `location/solved`) are dropped on purpose and counted as `not-uplink`.
 *
 * Mapping: the device is resolved by `{network: 'tts', deviceId: device_id, applicationId, devEui}`; the reading's
 * `ts` is `uplink_message.received_at` (the network server's receive time), else `received_at`, else the receipt
 * time; `seq` is `f_cnt`; metrics come from `decoded_payload` (metrics.ts) plus the best `rssiDbm`/`snrDb`. No
 * `decoded_payload` (no payload formatter, or it failed) → ERR_UPLINK_UNDECODED. Pure.
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

/** A The Things Stack topic split into its parts; `tenantId` is null on single-tenant deployments. */
export interface TtsTopic {
  readonly applicationId: string;
  readonly tenantId: string | null;
  readonly deviceId: string;
  /** `up`, `join`, `down/queued`, `service/data`... */
  readonly message: string;
}

const TOPIC_RE = /^v3\/([^/@]+)(?:@([^/]+))?\/devices\/([^/]+)\/(.+)$/;

/** Splits `v3/<app>[@<tenant>]/devices/<device>/<message>`; null for any other shape. */
export function parseTtsTopic(topic: string): TtsTopic | null {
  const m = TOPIC_RE.exec(topic);
  return m ? { applicationId: m[1]!, tenantId: m[2] ?? null, deviceId: m[3]!, message: m[4]! } : null;
}

/** The part of The Things Stack's uplink JSON that Vigie reads; other fields are allowed and ignored. */
export const TtsUplinkMessage = z.object({
  end_device_ids: z.object({
    device_id: z.string(),
    application_ids: z.object({ application_id: z.string() }),
    dev_eui: z.string().optional(),
  }),
  received_at: z.string().optional(),
  uplink_message: z.object({
    f_port: z.number().int().nonnegative().optional(),
    f_cnt: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
    frm_payload: z.string().optional(),
    decoded_payload: z.unknown().optional(),
    rx_metadata: z
      .array(z.object({ rssi: z.number().optional(), channel_rssi: z.number().optional(), snr: z.number().optional() }))
      .optional(),
    received_at: z.string().optional(),
  }),
});

const WHAT = 'The Things Stack uplink';

/** Decodes one message of The Things Stack's MQTT server. Never throws (except what `input.resolve` throws). */
export function decodeTts(input: UplinkInput, topic: TtsTopic): UplinkResult {
  const outcome = new UplinkOutcome(input, 'tts');
  if (topic.message !== 'up') return outcome.ignore('not-uplink').result();
  const json = parseJsonPayload(input, outcome, WHAT);
  if (json === undefined) return outcome.result();
  const parsed = TtsUplinkMessage.safeParse(json);
  if (!parsed.success) {
    const issues = schemaIssues(parsed.error.issues);
    return outcome
      .fail('ERR_PAYLOAD_SCHEMA', `${WHAT} invalid: ${summarize(issues)} (The Things Stack v3 uplink JSON)`, issues)
      .result();
  }
  const message = parsed.data;
  const ids = message.end_device_ids;
  const applicationId = ids.application_ids.application_id;
  if (ids.device_id !== topic.deviceId || applicationId !== topic.applicationId) {
    const issues = [
      ...(ids.device_id === topic.deviceId
        ? []
        : [{ path: 'end_device_ids.device_id', message: `differs from the topic's ${topic.deviceId}` }]),
      ...(applicationId === topic.applicationId
        ? []
        : [
            {
              path: 'end_device_ids.application_ids.application_id',
              message: `differs from the topic's ${topic.applicationId}`,
            },
          ]),
    ];
    return outcome
      .fail('ERR_PAYLOAD_SCHEMA', `${WHAT} does not match its topic: ${summarize(issues)}`, issues)
      .result();
  }
  const devEui = normalizeDevEui(ids.dev_eui);
  const device = resolveDevice(
    input,
    outcome,
    { network: 'tts', deviceId: ids.device_id, applicationId, ...(devEui === null ? {} : { devEui }) },
    WHAT,
  );
  if (device === null) return outcome.result();

  const up = message.uplink_message;
  if (!isRecord(up.decoded_payload)) {
    const bytes = up.frm_payload === undefined ? 0 : Buffer.from(up.frm_payload, 'base64').byteLength;
    return outcome
      .fail(
        'ERR_UPLINK_UNDECODED',
        `${WHAT} has no decoded payload: f_port ${up.f_port ?? 0}, ${bytes} bytes of frm_payload ` +
          `(set an uplink payload formatter on the device or application "${applicationId}")`,
        [
          {
            path: 'uplink_message.decoded_payload',
            message: up.decoded_payload === undefined ? 'absent' : 'not a JSON object',
          },
        ],
        device.deviceId,
      )
      .result();
  }
  return networkReading(input, outcome, WHAT, {
    device,
    time: {
      text: up.received_at ?? message.received_at,
      field: up.received_at !== undefined ? 'uplink_message.received_at' : 'received_at',
    },
    // The Things Stack omits zero values, so an absent f_cnt is frame 0 (Data Formats, "Empty fields are omitted").
    seq: up.f_cnt ?? 0,
    object: up.decoded_payload,
    radio: radioCandidates((up.rx_metadata ?? []).map((r) => ({ rssi: r.rssi ?? r.channel_rssi, snr: r.snr }))),
    path: 'uplink_message.decoded_payload',
    noun: 'decoded payload',
  });
}
