import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import type { Signal } from '../detector.ts';
import { configSchema, create, type NoDataState, name } from './no-data.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const MIN = 60_000;

/** A step is a reading at `minutes` or a watermark tick at `tick` minutes after T0. */
type Step = { minutes: number } | { tick: number };

function run(steps: readonly Step[], raw: Record<string, unknown> = {}) {
  const detector = create(configSchema.parse(raw));
  let state: NoDataState = detector.initialState();
  const signals: string[] = [];
  const note = (s: Signal | undefined) => {
    if (s) signals.push(`${s.active ? 'on' : 'off'}@${(s.atMs - T0) / MIN}`);
  };
  for (const step of steps) {
    if ('tick' in step) {
      const r = detector.tick?.(state, T0 + step.tick * MIN) ?? { state };
      state = r.state;
      note(r.signal);
    } else {
      const tsMs = T0 + step.minutes * MIN;
      const reading: Reading = { deviceId: 'SL-1', kind: 'streetlight', ts: new Date(tsMs).toISOString(), metrics: {} };
      const r = detector.step(state, { reading, tsMs, derived: undefined });
      state = r.state;
      note(r.signal);
    }
  }
  return signals;
}

describe('no-data', () => {
  it('applies its defaults when the config is empty', () => {
    expect(name).toBe('no-data');
    expect(configSchema.parse({})).toEqual({ reportingIntervalMinutes: 15, noDataIntervals: 8, severity: 'warning' });
  });

  it('names the key when a config value is invalid', () => {
    const r = configSchema.safeParse({ noDataIntervals: 0, silentMinutes: 3 });
    expect(r.success).toBe(false);
    const text = JSON.stringify(r.error?.issues);
    expect(text).toMatch(/noDataIntervals/);
    expect(text).toMatch(/silentMinutes/);
  });

  const table: Array<{ name: string; steps: Step[]; config?: Record<string, unknown>; expected: string[] }> = [
    { name: 'a device never seen is ticked', steps: [{ tick: 1000 }], expected: [] },
    {
      name: 'regular readings and ticks',
      steps: [{ minutes: 0 }, { minutes: 15 }, { tick: 60 }, { minutes: 30 }, { tick: 140 }],
      expected: [],
    },
    {
      name: 'silent past 2 h: opens at last + 2 h whatever the tick time, resolves on the next reading',
      steps: [{ minutes: 0 }, { tick: 119 }, { tick: 300 }, { tick: 400 }, { minutes: 410 }],
      expected: ['on@120', 'off@410'],
    },
    {
      name: 'tick exactly at last + 2 h opens',
      steps: [{ minutes: 30 }, { tick: 150 }],
      expected: ['on@150'],
    },
    {
      name: 'custom thresholds: 4 intervals of 60 min',
      config: { reportingIntervalMinutes: 60, noDataIntervals: 4 },
      steps: [{ minutes: 0 }, { tick: 200 }, { tick: 240 }],
      expected: ['on@240'],
    },
  ];

  it.each(table)('signals as expected when $name', ({ steps, config, expected }) => {
    expect(run(steps, config)).toEqual(expected);
  });

  test.prop([fc.array(fc.integer({ min: 1, max: 119 }), { maxLength: 100 })])(
    'never opens when readings come at most 2 h apart',
    (gaps) => {
      let t = 0;
      const steps: Step[] = [{ minutes: 0 }];
      for (const gap of gaps) {
        steps.push({ tick: t + gap - 1 }, { minutes: t + gap });
        t += gap;
      }
      expect(run(steps)).toEqual([]);
    },
  );

  test.prop([fc.array(fc.integer({ min: 1, max: 600 }), { maxLength: 100 })])(
    'alternates on and off, one on per silence, when gaps are arbitrary',
    (gaps) => {
      let t = 0;
      const steps: Step[] = [{ minutes: 0 }];
      for (const gap of gaps) {
        steps.push({ tick: t + gap - 1 }, { minutes: t + gap });
        t += gap;
      }
      const signals = run(steps);
      expect(signals.length).toBe(2 * gaps.filter((g) => g - 1 >= 120).length);
      signals.forEach((s, i) => {
        expect(s.startsWith(i % 2 === 0 ? 'on' : 'off')).toBe(true);
      });
    },
  );
});
