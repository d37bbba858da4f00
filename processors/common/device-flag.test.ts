import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { configSchema, create, type DeviceFlagState, name } from './device-flag.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const MIN = 60_000;

/** Steps readings carrying these flags (undefined = no `flags` key) 15 min apart; returns the signals. */
function run(flagsPerReading: ReadonlyArray<string[] | undefined>, raw: Record<string, unknown> = {}) {
  const detector = create(configSchema.parse(raw));
  let state: DeviceFlagState = detector.initialState();
  const signals: string[] = [];
  flagsPerReading.forEach((flags, i) => {
    const tsMs = T0 + i * 15 * MIN;
    const reading: Reading = {
      deviceId: 'WM-1',
      kind: 'water-meter',
      ts: new Date(tsMs).toISOString(),
      metrics: { indexL: 1 },
      ...(flags ? { flags } : {}),
    };
    const r = detector.step(state, { reading, tsMs, derived: undefined });
    state = r.state;
    if (r.signal) {
      signals.push(r.signal.active ? `on:${(r.signal.details.flags as string[]).join('+')}@${i}` : `off@${i}`);
    }
  });
  return signals;
}

describe('device-flag', () => {
  it('applies its defaults when the config is empty', () => {
    expect(name).toBe('device-flag');
    expect(configSchema.parse({})).toEqual({ severity: 'warning' });
  });

  it('names the key when a config value is invalid', () => {
    expect(JSON.stringify(configSchema.safeParse({ severity: 'loud' }).error?.issues)).toMatch(/severity/);
    expect(JSON.stringify(configSchema.safeParse({ sevrity: 'info' }).error?.issues)).toMatch(/sevrity/);
  });

  const table: Array<{ name: string; flags: Array<string[] | undefined>; expected: string[] }> = [
    { name: 'no flags ever', flags: [undefined, [], undefined], expected: [] },
    { name: 'tamper then clean', flags: [['tamper'], ['tamper'], undefined], expected: ['on:tamper@0', 'off@2'] },
    {
      name: 'the set of flags changes (order and repeats do not count)',
      flags: [['tamper'], ['magnetic', 'tamper'], ['tamper', 'magnetic', 'tamper'], []],
      expected: ['on:tamper@0', 'on:magnetic+tamper@1', 'off@3'],
    },
  ];

  it.each(table)('signals as expected when $name', ({ flags, expected }) => {
    expect(run(flags)).toEqual(expected);
  });

  test.prop([
    fc.array(fc.option(fc.uniqueArray(fc.constantFrom('tamper', 'magnetic', 'dry', 'burst')), { nil: undefined }), {
      maxLength: 100,
    }),
  ])('signals only on a change of the flag set and alternates on/off when flags are arbitrary', (flags) => {
    const signals = run(flags);
    let active = false;
    for (const s of signals) {
      if (s.startsWith('off')) {
        expect(active).toBe(true);
        active = false;
      } else active = true;
    }
    const changes = flags.filter((f, i) => {
      const key = (x: string[] | undefined) => [...new Set(x ?? [])].sort().join('+');
      return key(f) !== (i === 0 ? '' : key(flags[i - 1]));
    }).length;
    expect(signals.length).toBe(changes);
  });
});
