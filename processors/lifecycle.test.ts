import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Signal } from './detector.ts';
import { type AlertState, applySignal, detailsChange, initialAlertState, lifecycleConfigSchema } from './lifecycle.ts';

const config = lifecycleConfigSchema.parse({});
const key = { deviceId: 'WM-1', kind: 'water-meter', type: 'leak' } as const;
const T0 = Date.parse('2026-03-01T00:00:00Z');
const MIN = 60_000;

const on = (atMs: number, details: Record<string, unknown>, severity: 'info' | 'warning' | 'critical' = 'warning') =>
  ({ active: true, atMs, severity, summary: `leak ${JSON.stringify(details)}`, details }) as const satisfies Signal;
const off = (atMs: number) => ({ active: false, atMs }) as const satisfies Signal;

/** Runs signals through the lifecycle; returns `state@ts` strings and the final state. */
function run(signals: readonly Signal[], state: AlertState = initialAlertState()) {
  const out: string[] = [];
  for (const s of signals) {
    const r = applySignal(state, s, key, config);
    state = r.state;
    if (r.transition) out.push(`${r.transition.alertId} ${r.transition.state}@${r.transition.ts.slice(11, 16)}`);
  }
  return { out, state };
}

describe('lifecycle', () => {
  it('applies its defaults when the config is empty', () => {
    expect(config).toEqual({ updateChangeRatio: 0.25, updateMinIntervalMs: 3_600_000 });
  });

  it('names the key when a config value is invalid', () => {
    const r = lifecycleConfigSchema.safeParse({ updateChangeRatio: -1, updateMinIntrvalMs: 5 });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/updateChangeRatio/);
    expect(JSON.stringify(r.error?.issues)).toMatch(/updateMinIntrvalMs/);
  });

  const table: Array<{ name: string; signals: Signal[]; expected: string[] }> = [
    { name: 'inactive signal with nothing open', signals: [off(T0)], expected: [] },
    {
      name: 'open then resolve',
      signals: [on(T0, { estimatedLph: 4 }), off(T0 + 60 * MIN)],
      expected: ['WM-1:leak:1 open@00:00', 'WM-1:leak:1 resolved@01:00'],
    },
    {
      name: 'active again while open: no second open',
      signals: [on(T0, { estimatedLph: 4 }), on(T0 + 15 * MIN, { estimatedLph: 4 }), on(T0 + 30 * MIN, {})],
      expected: ['WM-1:leak:1 open@00:00', 'WM-1:leak:1 update@00:30'],
    },
    {
      name: 'small numeric drift: no update',
      signals: [on(T0, { estimatedLph: 4 }), on(T0 + 2 * 60 * MIN, { estimatedLph: 4.9 })],
      expected: ['WM-1:leak:1 open@00:00'],
    },
    {
      name: 'numeric change > 25 % after the interval: update',
      signals: [on(T0, { estimatedLph: 4 }), on(T0 + 60 * MIN, { estimatedLph: 6 })],
      expected: ['WM-1:leak:1 open@00:00', 'WM-1:leak:1 update@01:00'],
    },
    {
      name: 'numeric change > 25 % within the interval: held back until due',
      signals: [
        on(T0, { estimatedLph: 4 }),
        on(T0 + 15 * MIN, { estimatedLph: 8 }),
        on(T0 + 30 * MIN, { estimatedLph: 8 }),
        on(T0 + 60 * MIN, { estimatedLph: 8 }),
        on(T0 + 75 * MIN, { estimatedLph: 8 }),
      ],
      expected: ['WM-1:leak:1 open@00:00', 'WM-1:leak:1 update@01:00'],
    },
    {
      name: 'severity rise: update at once',
      signals: [on(T0, { estimatedLph: 4 }), on(T0 + 15 * MIN, { estimatedLph: 4 }, 'critical')],
      expected: ['WM-1:leak:1 open@00:00', 'WM-1:leak:1 update@00:15'],
    },
    {
      name: 'severity fall: waits for the interval',
      signals: [
        on(T0, { x: 1 }, 'critical'),
        on(T0 + 15 * MIN, { x: 1 }, 'warning'),
        on(T0 + 60 * MIN, { x: 1 }, 'warning'),
      ],
      expected: ['WM-1:leak:1 open@00:00', 'WM-1:leak:1 update@01:00'],
    },
    {
      name: 'second episode gets the next number',
      signals: [on(T0, {}), off(T0 + 15 * MIN), off(T0 + 30 * MIN), on(T0 + 45 * MIN, {}), off(T0 + 60 * MIN)],
      expected: [
        'WM-1:leak:1 open@00:00',
        'WM-1:leak:1 resolved@00:15',
        'WM-1:leak:2 open@00:45',
        'WM-1:leak:2 resolved@01:00',
      ],
    },
  ];

  it.each(table)('gives the expected transitions when $name', ({ signals, expected }) => {
    expect(run(signals).out).toEqual(expected);
  });

  it('writes the replay field order and event time when it opens and resolves', () => {
    const opened = applySignal(initialAlertState(), on(T0, { estimatedLph: 4.2 }), key, config);
    expect(Object.keys(opened.transition ?? {})).toEqual([
      'alertId',
      'type',
      'deviceId',
      'kind',
      'state',
      'ts',
      'severity',
      'summary',
      'details',
    ]);
    expect(opened.transition?.ts).toBe('2026-03-01T00:00:00.000Z');
    const resolved = applySignal(opened.state, off(T0 + 90 * MIN), key, config);
    expect(resolved.transition).toMatchObject({
      state: 'resolved',
      severity: 'warning',
      summary: 'Resolved: leak {"estimatedLph":4.2}',
      details: { estimatedLph: 4.2, openForMs: 90 * MIN },
    });
  });

  it('classifies details changes when numbers or other values change', () => {
    expect(detailsChange({ a: 4 }, { a: 5 }, 0.25)).toBe('none');
    expect(detailsChange({ a: 4 }, { a: 6 }, 0.25)).toBe('numeric');
    expect(detailsChange({ a: 0 }, { a: 0.1 }, 0.25)).toBe('numeric');
    expect(detailsChange({ f: ['a'] }, { f: ['a', 'b'] }, 0.25)).toBe('discrete');
    expect(detailsChange({ a: 1 }, { a: 1, b: 2 }, 0.25)).toBe('discrete');
  });

  test.prop([
    fc.array(
      fc.oneof(
        fc.record({ active: fc.constant(true as const), value: fc.double({ min: 0, max: 1000, noNaN: true }) }),
        fc.record({ active: fc.constant(false as const) }),
      ),
      { maxLength: 200 },
    ),
  ])('never opens twice, alternates open/resolved and bounds updates when signals are arbitrary', (steps) => {
    let state = initialAlertState();
    let open = false;
    let lastEpisode = 0;
    let lastSentMs = 0;
    steps.forEach((s, i) => {
      const atMs = T0 + i * 15 * MIN;
      const signal = s.active ? on(atMs, { v: s.value }) : off(atMs);
      const r = applySignal(state, signal, key, config);
      state = r.state;
      const t = r.transition;
      if (!t) return;
      const episode = Number(t.alertId.split(':').at(-1));
      if (t.state === 'open') {
        expect(open).toBe(false);
        expect(episode).toBe(lastEpisode + 1);
        lastEpisode = episode;
        open = true;
      } else {
        expect(open).toBe(true);
        expect(episode).toBe(lastEpisode);
        if (t.state === 'resolved') open = false;
        // Same severity throughout: an update comes at least an hour of event time after the last transition sent.
        else expect(atMs - lastSentMs).toBeGreaterThanOrEqual(config.updateMinIntervalMs);
      }
      lastSentMs = atMs;
    });
  });
});
