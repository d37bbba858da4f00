import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { DeviceEvent, type Reading } from '../../core/contracts/index.ts';
import type { Signal } from '../detector.ts';
import { configSchema, create, DEFAULT_FAULT_CODES, type FaultState, name } from './fault.ts';

const T0 = Date.parse('2026-03-02T08:00:00Z');
const MIN = 60_000;
const HOUR = 3_600_000;

type Step = [type: string, data: Record<string, unknown>] | ['tick', number];
const fault = (code: string | number): Step => ['fault', { code }];
const cleared = (code?: string): Step => ['fault-cleared', code === undefined ? {} : { code }];
const pay = (method: string): Step => ['payment', { amountCents: 200, method, minutes: 60 }];
const tickAt = (ms: number): Step => ['tick', ms];

/** Runs events 10 min apart from T0 (ticks at their own time) through the detector; returns the signals. */
function run(steps: readonly Step[], raw: Record<string, unknown> = {}) {
  const detector = create(configSchema.parse(raw));
  let state: FaultState = detector.initialState();
  const signals: Signal[] = [];
  steps.forEach((s, i) => {
    const result =
      s[0] === 'tick'
        ? (detector.tick?.(state, s[1] as number) ?? { state })
        : (detector.onEvent?.(state, {
            event: DeviceEvent.parse({
              deviceId: 'PM-1',
              kind: 'parking-meter',
              ts: new Date(T0 + i * 10 * MIN).toISOString(),
              type: s[0],
              data: s[1],
            }),
            tsMs: T0 + i * 10 * MIN,
          }) ?? { state });
    state = result.state;
    if (result.signal) signals.push(result.signal);
  });
  return { signals, state };
}

/** One signal as text: `<severity> <summary> @<minutes after T0>` or `resolved @<minutes>`. */
const brief = (s: Signal) =>
  s.active ? `${s.severity} ${s.summary} @${(s.atMs - T0) / MIN}` : `resolved @${(s.atMs - T0) / MIN}`;

describe('fault', () => {
  it('applies its defaults when the config is empty', () => {
    expect(name).toBe('fault');
    expect(configSchema.parse({})).toEqual({
      codes: {},
      unknownSeverity: 'warning',
      clearOnPayment: 'on',
      autoClearHours: 0,
      maxCodes: 16,
    });
    const detector = create(configSchema.parse({}));
    expect(detector.type).toBe('fault');
    expect(detector.kinds).toEqual(['parking-meter']);
    expect(DEFAULT_FAULT_CODES['coin-jam']?.severity).toBe('warning');
  });

  it('names the key when a config value is invalid', () => {
    for (const [raw, key] of [
      [{ maxCodes: 0 }, 'maxCodes'],
      [{ autoClearHours: -1 }, 'autoClearHours'],
      [{ clearOnPayment: true }, 'clearOnPayment'],
      [{ codes: { x: { severity: 'loud', label: 'X' } } }, 'severity'],
      [{ codes: { x: { severity: 'info', label: 'X', disables: ['sms'] } } }, 'disables'],
      [{ autoclear: 1 }, 'autoclear'],
    ] as const) {
      const result = configSchema.safeParse(raw);
      expect(result.success, key).toBe(false);
      expect(JSON.stringify(result.error?.issues), key).toContain(key);
    }
  });

  it('does nothing on readings', () => {
    const detector = create(configSchema.parse({}));
    const state = { codes: [['coin-jam', T0, T0]] as const, untracked: 0 };
    const reading: Reading = { deviceId: 'PM-1', kind: 'parking-meter', ts: '2026-03-02T08:00:00Z', metrics: {} };
    expect(detector.step(state, { reading, tsMs: T0, derived: undefined })).toEqual({ state });
  });

  const table: Array<{ name: string; steps: Step[]; raw?: Record<string, unknown>; expected: string[] }> = [
    {
      name: 'a coin jam, then cleared',
      steps: [fault('coin-jam'), cleared('coin-jam')],
      expected: ['warning Coin jam: cards only @0', 'resolved @10'],
    },
    {
      name: 'a card reader fault',
      steps: [fault('card-reader')],
      expected: ['warning Card reader fault: coins only @0'],
    },
    {
      name: 'a second code raises the severity, clearing it lowers it, clearing the first resolves',
      steps: [fault('coin-jam'), fault('out-of-order'), cleared('out-of-order'), cleared('coin-jam')],
      expected: [
        'warning Coin jam: cards only @0',
        'critical Coin jam, Out of order: SMS only @10',
        'warning Coin jam: cards only @20',
        'resolved @30',
      ],
    },
    {
      name: 'coin jam and card reader together leave SMS only',
      steps: [fault('coin-jam'), fault('card-reader')],
      expected: ['warning Coin jam: cards only @0', 'warning Card reader fault, Coin jam: SMS only @10'],
    },
    {
      name: 'paper out: payments work, no tickets; coin box full: info',
      steps: [fault('paper-out'), cleared('paper-out'), fault('coin-box-full')],
      expected: [
        'warning Paper out: coins and cards accepted, no tickets @0',
        'resolved @10',
        'info Coin box full: cards only @20',
      ],
    },
    {
      name: 'door open (vandalism) is critical and stops nothing',
      steps: [fault('door-open')],
      expected: ['critical Door open (possible vandalism): coins and cards accepted @0'],
    },
    {
      name: 'an unknown code: warning, effect unknown; a numeric code is a string',
      steps: [fault('E42'), fault(7), cleared('e42')],
      expected: [
        'warning Fault E42: effect unknown @0',
        'warning Fault 7, Fault E42: effect unknown @10',
        'warning Fault 7: effect unknown @20',
      ],
    },
    {
      name: 'the same code again changes nothing; clearing an inactive code changes nothing',
      steps: [fault('coin-jam'), fault('coin-jam'), cleared('card-reader'), fault('COIN-JAM')],
      expected: ['warning Coin jam: cards only @0'],
    },
    {
      name: 'fault-cleared without a code clears every code',
      steps: [fault('coin-jam'), fault('paper-out'), cleared()],
      expected: [
        'warning Coin jam: cards only @0',
        'warning Coin jam, Paper out: cards only, no tickets @10',
        'resolved @20',
      ],
    },
    {
      name: 'a coin payment clears a coin jam; a card payment does not; an SMS payment proves nothing',
      steps: [fault('coin-jam'), pay('card'), pay('sms'), pay('coin')],
      expected: ['warning Coin jam: cards only @0', 'resolved @30'],
    },
    {
      name: 'a card payment clears out of order and card reader but not paper out',
      steps: [fault('out-of-order'), fault('card-reader'), fault('paper-out'), pay('card')],
      expected: [
        'critical Out of order: SMS only @0',
        'critical Card reader fault, Out of order: SMS only @10',
        'critical Card reader fault, Out of order, Paper out: SMS only @20',
        'warning Paper out: coins and cards accepted, no tickets @30',
      ],
    },
    {
      name: 'payments clear nothing with clearOnPayment off',
      steps: [fault('coin-jam'), pay('coin')],
      raw: { clearOnPayment: 'off' },
      expected: ['warning Coin jam: cards only @0'],
    },
    {
      name: 'configured codes add to and override the table',
      steps: [fault('note-jam'), fault('coin-box-full')],
      raw: {
        codes: {
          'note-jam': { severity: 'critical', label: 'Note jam' },
          'coin-box-full': { severity: 'warning', label: 'Coin box full', disables: ['coin'] },
        },
      },
      expected: ['critical Note jam: coins and cards accepted @0', 'critical Coin box full, Note jam: cards only @10'],
    },
    {
      name: 'never resolves on silence by default',
      steps: [fault('coin-jam'), tickAt(T0 + 365 * 24 * HOUR)],
      expected: ['warning Coin jam: cards only @0'],
    },
    {
      name: 'autoClearHours drops a code not reported again, at the time it expired',
      // coin-jam at 0 and again at 20 min, paper-out at 10 min; 2 h: paper-out expires at 130, coin-jam at 140.
      steps: [
        fault('coin-jam'),
        fault('paper-out'),
        fault('coin-jam'),
        tickAt(T0 + 129 * MIN),
        tickAt(T0 + 135 * MIN),
        tickAt(T0 + 300 * MIN),
      ],
      raw: { autoClearHours: 2 },
      expected: [
        'warning Coin jam: cards only @0',
        'warning Coin jam, Paper out: cards only, no tickets @10',
        'warning Coin jam: cards only @130',
        'resolved @140',
      ],
    },
  ];

  it.each(table)('signals as expected when $name', ({ steps, raw, expected }) => {
    expect(run(steps, raw).signals.map(brief)).toEqual(expected);
  });

  it('details list the sorted codes, the payment methods that work and tickets', () => {
    const [, second] = run([fault('paper-out'), fault('coin-jam')]).signals;
    expect(second).toMatchObject({
      active: true,
      details: { codes: ['coin-jam', 'paper-out'], paymentMethods: ['card', 'sms'], tickets: false },
    });
  });

  it('keeps at most maxCodes codes, the most severe ones, when a meter reports too many', () => {
    const junk = Array.from({ length: 5 }, (_, i) => fault(`x${i}`));
    const { state, signals } = run([...junk, fault('out-of-order'), fault('coin-box-full')], { maxCodes: 3 });
    // x0, x1, x2 kept; x3, x4 left out (not more severe); out-of-order replaces x0 (least recently reported).
    expect(state.codes.map(([c]) => c)).toEqual(['out-of-order', 'x1', 'x2']);
    expect(state.untracked).toBe(4);
    expect(signals.at(-1)).toMatchObject({ severity: 'critical', details: { codesNotTracked: 4 } });
  });

  const stepArb = fc.oneof(
    fc.constantFrom('coin-jam', 'card-reader', 'out-of-order', 'paper-out', 'door-open', 'E1', 'E2').map(fault),
    fc.constantFrom('coin-jam', 'card-reader', 'out-of-order', 'paper-out', 'door-open', 'E1').map(cleared),
    fc.constant(cleared()),
    fc.constantFrom('coin', 'card', 'sms').map(pay),
  );

  test.prop([fc.array(stepArb, { maxLength: 60 }), fc.integer({ min: 1, max: 8 })])(
    'keeps its bound, alternates open and resolved, and is active exactly while codes remain',
    (steps, maxCodes) => {
      const detector = create(configSchema.parse({ maxCodes }));
      let state = detector.initialState();
      let open = false;
      steps.forEach((s, i) => {
        const event = DeviceEvent.parse({
          deviceId: 'PM-1',
          kind: 'parking-meter',
          ts: new Date(T0 + i * MIN).toISOString(),
          type: s[0],
          data: s[1],
        });
        const result = detector.onEvent?.(state, { event, tsMs: T0 + i * MIN }) ?? { state };
        state = result.state;
        expect(state.codes.length).toBeLessThanOrEqual(maxCodes);
        if (result.signal) {
          if (!result.signal.active) expect(open).toBe(true);
          open = result.signal.active;
        }
        expect(open).toBe(state.codes.length > 0);
        expect(JSON.parse(JSON.stringify(state))).toEqual(state);
      });
    },
  );
});
