import type { AlertTransition } from '../core/contracts/index.ts';

/** A leak's `open` transition for `deviceId` (episode 1, 4.2 L/h), with `overrides`: the alerting tests' fixture. */
export function leakTransition(deviceId: string, overrides: Partial<AlertTransition> = {}): AlertTransition {
  return {
    alertId: `${deviceId}:leak:1`,
    type: 'leak',
    deviceId,
    kind: 'water-meter',
    state: 'open',
    ts: '2026-03-01T02:15:00.000Z',
    severity: 'warning',
    summary: 'Continuous flow for 24 h, about 4 L/h',
    details: { estimatedLph: 4.2 },
    ...overrides,
  };
}
