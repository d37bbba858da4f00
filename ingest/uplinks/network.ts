import type { Kind, Reading } from '../../core/contracts/index.ts';
import { parseIsoTime, summarize, type UplinkInput, type UplinkOutcome, type UplinkResult } from './common.ts';
import { collectObjectValues, type MetricCandidate, mapMetrics, mergeIgnored } from './metrics.ts';

/**
 * The end shared by the network-server decoders (ChirpStack, The Things Stack): the network server's time (the
 * receipt time when absent), the decoded object's values and the radio metrics mapped to canonical metrics, then one
 * reading — or a dead letter when the time is unusable, nothing usable is left or two values claim one metric.
 */
export function networkReading(
  input: UplinkInput,
  outcome: UplinkOutcome,
  what: string,
  found: {
    readonly device: { readonly deviceId: string; readonly kind: Kind };
    /** The network server's time and the field it came from; undefined = not given. */
    readonly time: { readonly text: string | undefined; readonly field: string };
    readonly seq: number | undefined;
    /** The codec's decoded object. */
    readonly object: Record<string, unknown>;
    readonly radio: readonly MetricCandidate[];
    /** Where the decoded values were (`object`, `uplink_message.decoded_payload`) and what it is called. */
    readonly path: string;
    readonly noun: string;
  },
): UplinkResult {
  const { device } = found;
  let ts = new Date(input.receivedAtMs).toISOString();
  if (found.time.text !== undefined) {
    const parsedTime = parseIsoTime(found.time.text);
    if (parsedTime === null) {
      return outcome
        .fail(
          'ERR_PAYLOAD_SCHEMA',
          `${what} ${found.time.field} is not a usable date: ${found.time.text.slice(0, 40)} (ISO 8601 between 1990 and 2100)`,
          [{ path: found.time.field, message: 'an ISO 8601 date-time between 1990 and 2100' }],
          device.deviceId,
        )
        .result();
    }
    ts = parsedTime;
  }
  const values = collectObjectValues(found.object);
  mergeIgnored(outcome.ignored, values.ignored);
  if (values.candidates.length === 0) {
    return outcome
      .fail(
        'ERR_PAYLOAD_SCHEMA',
        `${what} ${found.noun} has no numeric value: ${JSON.stringify(found.object).slice(0, 80)} (numbers or booleans)`,
        [{ path: found.path, message: 'no numeric value' }],
        device.deviceId,
      )
      .result();
  }
  const mapped = mapMetrics(device.kind, [...values.candidates, ...found.radio]);
  mergeIgnored(outcome.ignored, mapped.ignored);
  if (mapped.placed === 0) {
    return outcome
      .fail(
        'ERR_PAYLOAD_SCHEMA',
        `${what} ${found.noun} has no usable numeric value: ${JSON.stringify(mapped.ignored)} (numbers within ±2^53 with a metric name)`,
        [{ path: found.path, message: 'no usable numeric value' }],
        device.deviceId,
      )
      .result();
  }
  if (mapped.issues.length > 0) {
    return outcome
      .fail(
        'ERR_PAYLOAD_SCHEMA',
        `${what} ${found.noun} is ambiguous: ${summarize(mapped.issues)}`,
        mapped.issues,
        device.deviceId,
      )
      .result();
  }
  const reading: Reading = {
    deviceId: device.deviceId,
    kind: device.kind,
    ts,
    ...(found.seq === undefined ? {} : { seq: found.seq }),
    metrics: mapped.metrics,
    receivedAt: new Date(input.receivedAtMs).toISOString(),
  };
  return outcome.emit(reading, what).result();
}
