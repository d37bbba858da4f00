import type { Kind, Reading } from '../../core/contracts/index.ts';
import { summarize, type UplinkInput, type UplinkOutcome, type UplinkResult } from './common.ts';
import { type MetricCandidate, mapMetrics, mergeIgnored } from './metrics.ts';

/**
 * The end shared by the network-server decoders (ChirpStack, The Things Stack): the decoded object's values and the
 * radio metrics mapped to canonical metrics, then one reading — or a dead letter when nothing usable is left or two
 * values claim one metric.
 */
export function networkReading(
  input: UplinkInput,
  outcome: UplinkOutcome,
  what: string,
  found: {
    readonly device: { readonly deviceId: string; readonly kind: Kind };
    readonly ts: string;
    readonly seq: number | undefined;
    readonly candidates: readonly MetricCandidate[];
    /** Where the decoded values were (`object`, `uplink_message.decoded_payload`) and what it is called. */
    readonly path: string;
    readonly noun: string;
  },
): UplinkResult {
  const { device } = found;
  const mapped = mapMetrics(device.kind, found.candidates);
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
    ts: found.ts,
    ...(found.seq === undefined ? {} : { seq: found.seq }),
    metrics: mapped.metrics,
    receivedAt: new Date(input.receivedAtMs).toISOString(),
  };
  return outcome.emit(reading, what).result();
}
