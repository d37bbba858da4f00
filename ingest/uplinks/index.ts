/**
 * Uplinks that do not speak Vigie's own JSON: LoRaWAN network servers (ChirpStack v4, The Things Stack v3) over MQTT,
 * and SenML packs (RFC 8428). `decodeUplink` picks the decoder from the topic alone:
 *
 * | topic                                                   | decoder      |
 * | ------------------------------------------------------- | ------------ |
 * | `application/<applicationId>/device/<devEui>/event/<e>` | chirpstack.ts (`up` decoded; other events counted) |
 * | `v3/<app>[@<tenant>]/devices/<device>/<message>`        | tts.ts (`up` decoded; other messages counted)      |
 * | `vigie/v1/<kind>/<deviceId>/senml`                      | senml.ts                                           |
 *
 * Any other topic is dead-lettered with ERR_TOPIC_INVALID (route `vigie/v1/.../telemetry|event` to decode.ts; use
 * {@link isUplinkTopic} to choose). Pure: no I/O, no clock; never throws, except what the caller's `resolve` throws.
 */
import { decodeChirpstack, parseChirpstackTopic } from './chirpstack.ts';
import { type UplinkInput, type UplinkNetwork, UplinkOutcome, type UplinkResult } from './common.ts';
import { decodeSenml, parseSenmlTopic } from './senml.ts';
import { decodeTts, parseTtsTopic } from './tts.ts';

export type {
  DeviceRef,
  IgnoredReason,
  ResolveDevice,
  ResolvedDevice,
  UplinkErrorCode,
  UplinkInput,
  UplinkNetwork,
  UplinkResult,
} from './common.ts';
export { IGNORED_REASONS } from './common.ts';
export { SENML_CHANNEL } from './senml.ts';

/** The network whose decoder handles `topic`, or null when none does (then it is Vigie's own JSON, or invalid). */
export function uplinkNetworkOf(topic: string): UplinkNetwork | null {
  if (parseChirpstackTopic(topic) !== null) return 'chirpstack';
  if (parseTtsTopic(topic) !== null) return 'tts';
  if (parseSenmlTopic(topic) !== null) return 'senml';
  return null;
}

/** True when {@link decodeUplink} (not decode.ts) should decode a message on `topic`. */
export function isUplinkTopic(topic: string): boolean {
  return uplinkNetworkOf(topic) !== null;
}

/** Decodes one network-server or SenML message into canonical readings, dead letters and counted drops. */
export function decodeUplink(input: UplinkInput): UplinkResult {
  const chirpstack = parseChirpstackTopic(input.topic);
  if (chirpstack !== null) return decodeChirpstack(input, chirpstack);
  const tts = parseTtsTopic(input.topic);
  if (tts !== null) return decodeTts(input, tts);
  const senml = parseSenmlTopic(input.topic);
  if (senml !== null) return decodeSenml(input, senml);
  return new UplinkOutcome(input, null)
    .fail(
      'ERR_TOPIC_INVALID',
      `topic is not an uplink topic: ${input.topic.slice(0, 80)} (application/<app>/device/<devEui>/event/up, ` +
        'v3/<app>@<tenant>/devices/<device>/up or vigie/v1/<kind>/<deviceId>/senml)',
    )
    .result();
}
