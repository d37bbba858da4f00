/**
 * LoRaWAN radio metadata as extra metrics (CONTRACTS.md §3 keeps metrics beyond a kind's own): the best RSSI and SNR
 * over the gateways that received an uplink, as `rssiDbm` and `snrDb`. Useful to tell a dying battery or a flooded
 * meter pit from a device that is simply out of range. Optional: a decoded field with the same name wins.
 */
import type { MetricCandidate } from './metrics.ts';

/** One gateway's reception, as both ChirpStack (`rxInfo[]`) and The Things Stack (`rx_metadata[]`) report it. */
export interface Reception {
  readonly rssi?: number | undefined;
  readonly snr?: number | undefined;
}

/** `rssiDbm` and `snrDb` candidates: the highest of each over the receptions; none when no gateway reported one. */
export function radioCandidates(receptions: readonly Reception[]): MetricCandidate[] {
  const best = (values: Array<number | undefined>): number | null => {
    const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    return finite.length === 0 ? null : Math.max(...finite);
  };
  const rssi = best(receptions.map((r) => r.rssi));
  const snr = best(receptions.map((r) => r.snr));
  return [
    ...(rssi === null ? [] : [{ path: ['rssiDbm'], value: rssi, optional: true }]),
    ...(snr === null ? [] : [{ path: ['snrDb'], value: snr, optional: true }]),
  ];
}
