import { describe, expect, it } from 'vitest';
import type { AlertTransition, AlertType } from '../core/contracts/index.ts';
import { formatScore, type Label, scoreAlerts } from './evaluate.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const H = 3_600_000;

function open(deviceId: string, type: AlertType, hours: number, episode = 1): AlertTransition {
  return {
    alertId: `${deviceId}:${type}:${episode}`,
    type,
    deviceId,
    kind: 'streetlight',
    state: 'open',
    ts: new Date(T0 + hours * H).toISOString(),
    severity: 'warning',
    summary: type,
    details: {},
  };
}

const label = (
  deviceId: string,
  alertType: AlertType | null,
  fromH: number,
  toH: number | null,
  explains?: AlertType[],
) =>
  ({
    deviceId,
    alertType,
    startMs: T0 + fromH * H,
    endMs: toH === null ? null : T0 + toH * H,
    ...(explains ? { explains } : {}),
  }) satisfies Label;

describe('scoreAlerts', () => {
  it('counts hits, misses and false opens per type when alerts are compared with labels', () => {
    const labels = [
      label('SL-1', 'lamp-out', 10, 40),
      label('SL-2', 'lamp-out', 10, 40),
      label('SL-3', 'lamp-out', 100, 130),
      label('SL-4', 'day-burner', 0, null),
    ];
    const alerts = [
      open('SL-1', 'lamp-out', 19), // 9 h after the start: detected
      open('SL-2', 'lamp-out', 21), // 11 h
      open('SL-1', 'lamp-out', 30, 2), // reopened within the same fault: a repeat, neither hit nor false
      open('SL-5', 'lamp-out', 50), // no fault on SL-5
      open('SL-3', 'lamp-out', 140), // 10 h after the end (default grace 6 h): too late, false and missed
      open('SL-4', 'day-burner', 500), // a fault that never ends: its window runs to the run's end
      { ...open('SL-9', 'lamp-out', 1), state: 'resolved' as const }, // only opens count
    ];
    const score = scoreAlerts(labels, alerts, { runEndMs: T0 + 720 * H });
    expect(score['lamp-out']).toMatchObject({
      labels: 3,
      detected: 2,
      opens: 5,
      truePositives: 2,
      falsePositives: 2,
      repeats: 1,
      alertsPerFault: 1.5,
      recall: 2 / 3,
      precision: 0.5,
      ttdMedianMs: 9 * H,
      ttdP95Ms: 11 * H,
      ttdMaxMs: 11 * H,
    });
    expect(score['lamp-out']?.missed).toEqual(['SL-3 lamp-out from 2026-03-05T04:00:00.000Z']);
    expect(score['lamp-out']?.false).toHaveLength(2);
    expect(score['day-burner']).toMatchObject({ recall: 1, precision: 1, ttdMedianMs: 500 * H });
  });

  it('neither requires nor counts as false an alert a label explains when a fault causes two types', () => {
    const labels = [label('PM-1', 'fault', 5, 50, ['no-data'])];
    const alerts = [open('PM-1', 'fault', 5), open('PM-1', 'no-data', 7), open('PM-2', 'no-data', 7)];
    const score = scoreAlerts(labels, alerts, { runEndMs: T0 + 100 * H });
    expect(score.fault).toMatchObject({ recall: 1, precision: 1, ttdMedianMs: 0 });
    expect(score['no-data']).toMatchObject({ labels: 0, explained: 1, falsePositives: 1, recall: 1, precision: 0 });
  });

  it('counts nothing for recall from a label without an alert type when it only explains others', () => {
    const labels = [label('SL-1', null, 0, 10, ['no-data'])];
    const score = scoreAlerts(labels, [open('SL-1', 'no-data', 5)], { runEndMs: T0 + 20 * H });
    expect(score).toEqual({ 'no-data': expect.objectContaining({ labels: 0, explained: 1, falsePositives: 0 }) });
  });

  it('accepts an open a little early and a type-specific lateness when windows are configured', () => {
    const labels = [label('SN-1', 'anomaly', 10, 11), label('SN-2', 'anomaly', 10, 11)];
    const alerts = [open('SN-1', 'anomaly', 9.9), open('SN-2', 'anomaly', 30)];
    const strict = scoreAlerts(labels, alerts, { runEndMs: T0 + 100 * H });
    expect(strict.anomaly).toMatchObject({ detected: 1, falsePositives: 1 });
    const lenient = scoreAlerts(labels, alerts, { runEndMs: T0 + 100 * H, lateMs: { anomaly: 24 * H } });
    expect(lenient.anomaly).toMatchObject({ detected: 2, falsePositives: 0, recall: 1, precision: 1 });
  });

  it('reports perfect scores and no times when there is nothing to find and nothing found', () => {
    const score = scoreAlerts([], [], { runEndMs: T0 });
    expect(score).toEqual({});
    const none = scoreAlerts([label('SL-1', 'lamp-out', 0, 1)], [], { runEndMs: T0 + H });
    expect(none['lamp-out']).toMatchObject({ recall: 0, precision: 1, ttdMedianMs: null });
    expect(formatScore('lamp-out', none['lamp-out'] as never)).toBe(
      'lamp-out: recall 0.00 (0/1), precision 1.00 (0 false of 0 opens), 1.00 alerts per fault, time to detect median –, p95 –, max –',
    );
  });
});
