import { Readable, Writable } from 'node:stream';
import type { AlertTransition, AlertType } from '../../core/contracts/index.ts';
import { type Label, scoreAlerts, type TypeScore } from '../../processors/evaluate.ts';
import { replay } from '../../processors/replay.ts';
import { type FaultType, generateRecords, groundTruth, loadScenario } from '../../simulators/index.ts';

/**
 * A scenario file replayed through `vigie replay`'s code and scored against its ground truth: what the scenario
 * tests assert and `scripts/score-scenarios.ts` prints for the README.
 */

/**
 * What each injected fault should raise: the alert type that must catch it (null: none) and the other types it
 * legitimately causes.
 */
export const EXPECTED_ALERT: Readonly<Record<FaultType, { alertType: AlertType | null; explains?: AlertType[] }>> = {
  leak: { alertType: 'leak' },
  burst: { alertType: 'burst', explains: ['leak'] },
  backflow: { alertType: 'backflow' },
  stuck: { alertType: 'no-consumption' },
  silent: { alertType: 'no-data' },
  'low-battery': { alertType: 'low-battery' },
  flag: { alertType: 'device-flag' },
  // Refused by ingest; when most of a device's payloads are broken, the processors rightly see silence.
  malformed: { alertType: null, explains: ['no-data'] },
  'lamp-failure': { alertType: 'lamp-out' },
  cycling: { alertType: 'power-anomaly', explains: ['lamp-out'] },
  'day-burner': { alertType: 'day-burner' },
  'driver-drift': { alertType: 'power-anomaly' },
  'coin-jam': { alertType: 'fault' },
  'card-reader': { alertType: 'fault' },
  'paper-out': { alertType: 'fault' },
  vandalism: { alertType: 'fault', explains: ['no-data'] },
  'coin-box-full': { alertType: 'fault' },
  'out-of-order': { alertType: 'fault' },
  spike: { alertType: 'anomaly' },
  drift: { alertType: 'anomaly' },
  'level-shift': { alertType: 'anomaly' },
  'seasonality-change': { alertType: 'anomaly' },
  'flat-line': { alertType: 'anomaly' },
  'station-empty': { alertType: 'station-empty' },
  'station-full': { alertType: 'station-full' },
  saturated: { alertType: 'car-park-full' },
};

/** What one scored scenario gives. */
export interface ScenarioScore {
  readonly scenario: string;
  readonly devices: number;
  readonly days: number;
  readonly readings: number;
  readonly events: number;
  readonly transitions: number;
  readonly labels: number;
  readonly scores: Record<string, TypeScore>;
  /** Wall time of the generation and replay, ms. */
  readonly elapsedMs: number;
}

/** Replays `days` of the scenario (a shipped name or a path) through the processors and scores the alerts. */
export async function scoreScenario(name: string, options: { days?: number } = {}): Promise<ScenarioScore> {
  const began = performance.now();
  const scenario = loadScenario(name);
  const startMs = Date.parse(scenario.startTs);
  const days = options.days ?? (scenario.durationHours ? scenario.durationHours / 24 : 30);
  const endMs = startMs + days * 86_400_000;

  const lines = (function* () {
    for (const r of generateRecords({ scenario, endMs }))
      yield `${JSON.stringify('reading' in r ? r.reading : r.event)}\n`;
  })();
  const transitions: AlertTransition[] = [];
  let pending = '';
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = pending + chunk.toString('utf8');
      const parts = text.split('\n');
      pending = parts.pop() ?? '';
      for (const l of parts) if (l) transitions.push(JSON.parse(l) as AlertTransition);
      done();
    },
  });
  const result = await replay({ input: Readable.from(lines), output });

  const labels: Label[] = [];
  for (const device of groundTruth(scenario)) {
    for (const f of device.faults) {
      const expected = EXPECTED_ALERT[f.type];
      const faultStartMs = Date.parse(f.startTs);
      if (faultStartMs >= endMs) continue;
      labels.push({
        deviceId: device.deviceId,
        alertType: expected.alertType,
        startMs: faultStartMs,
        endMs: f.endTs === null ? null : Date.parse(f.endTs),
        ...(expected.explains ? { explains: expected.explains } : {}),
      });
    }
  }
  return {
    scenario: name,
    devices: scenario.devices,
    days,
    readings: result.readings,
    events: result.events,
    transitions: transitions.length,
    labels: labels.length,
    // A sensor fault that ends (a shift, a changed pattern) is a second change in the data: its alert within a day
    // after the end counts as a repeat of the fault, not as a false alarm.
    scores: scoreAlerts(labels, transitions, { runEndMs: endMs, lateMs: { anomaly: 24 * 3_600_000 } }),
    elapsedMs: Math.round(performance.now() - began),
  };
}
