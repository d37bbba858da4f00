import type { Reading } from '../../core/contracts/index.ts';
import { type AnomalyState, configSchema, create } from './anomaly.ts';

/**
 * Speed of the anomaly detector: readings/s for one series, and for 1,000 devices of one metric each stepped in
 * turn (state per device, as the engine keeps it). Run: `npx tsx processors/sensor/bench.ts`.
 */

let detector = create(configSchema.parse({}));
const T0_MS = Date.UTC(2026, 2, 2);
const STEP_MS = 15 * 60_000;

function value(i: number, device: number): number {
  return 100 + 10 * Math.sin((2 * Math.PI * i) / 96 + device) + (((i * 7919 + device * 104729) % 997) / 997 - 0.5) * 3;
}

function run(devices: number, readingsPerDevice: number): number {
  const states: AnomalyState[] = Array.from({ length: devices }, () => detector.initialState());
  const reading: { -readonly [K in keyof Reading]: Reading[K] } = {
    deviceId: 'SN-0001',
    kind: 'sensor',
    ts: '',
    metrics: { v: 0 },
  };
  const start = process.hrtime.bigint();
  for (let i = 0; i < readingsPerDevice; i++) {
    const tsMs = T0_MS + i * STEP_MS;
    for (let d = 0; d < devices; d++) {
      reading.metrics = { v: value(i, d) };
      states[d] = detector.step(states[d] as AnomalyState, { reading, tsMs, derived: undefined }).state;
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return (devices * readingsPerDevice) / seconds;
}

run(10, 2_000); // warm the JIT
const one = run(1, 300_000);
const many = run(1_000, 1_000);
console.log(`anomaly: 1 series ${Math.round(one).toLocaleString('en')} readings/s`);
console.log(`anomaly: 1,000 series ${Math.round(many).toLocaleString('en')} readings/s`);
detector = create(configSchema.parse({ timeZone: 'UTC' }));
console.log(`anomaly: 1 series, timeZone UTC ${Math.round(run(1, 300_000)).toLocaleString('en')} readings/s`);
