import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { AlertTransition, DeviceEvent, Kind, Reading } from '../core/contracts/index.ts';
import * as deviceFlag from './common/device-flag.ts';
import * as noData from './common/no-data.ts';
import type { Detector } from './detector.ts';
import { createEngine, type Engine, REORDER_BUFFER_MAX } from './engine.ts';
import { buildDetectors, buildModels, processorsConfigSchema } from './registry.ts';

const config = processorsConfigSchema.parse({});
const T0 = Date.parse('2026-03-01T00:00:00Z');
const MIN = 60_000;

function reading(
  deviceId: string,
  minutes: number,
  metrics: Record<string, number> = {},
  extra: { kind?: Kind; flags?: string[] } = {},
): Reading {
  return {
    deviceId,
    kind: extra.kind ?? 'sensor',
    ts: new Date(T0 + minutes * MIN).toISOString(),
    metrics,
    ...(extra.flags ? { flags: extra.flags } : {}),
  };
}

/** An engine with the registry's detectors and a drop log. */
function engineWithDrops(overrides: Record<string, unknown> = {}) {
  const c = processorsConfigSchema.parse(overrides);
  const drops: string[] = [];
  const engine = createEngine({
    config: c,
    models: buildModels(c),
    detectors: buildDetectors(c),
    onDrop: (reason, r) => drops.push(`${reason}:${r.deviceId}@${(Date.parse(r.ts) - T0) / MIN}`),
  });
  return { engine, drops };
}

function event(deviceId: string, minutes: number, type: string, data: Record<string, unknown> = {}): DeviceEvent {
  return { deviceId, kind: 'parking-meter', ts: new Date(T0 + minutes * MIN).toISOString(), type, data };
}

/**
 * A test detector on events: open while a `fault` is pending, resolved by `fault-cleared`; it records the order in
 * which it saw events, so tests can check that events reach it in event-time order.
 */
const pendingFault: Detector<{ seen: string[] }> = {
  type: 'fault',
  kinds: ['parking-meter'],
  initialState: () => ({ seen: [] }),
  step: (state) => ({ state }),
  onEvent(state, { event: e, tsMs }) {
    const seen = [...state.seen, `${e.type}@${(tsMs - T0) / MIN}`];
    if (e.type === 'fault') {
      return {
        state: { seen },
        signal: { active: true, atMs: tsMs, severity: 'warning', summary: 'fault', details: {} },
      };
    }
    if (e.type === 'fault-cleared') return { state: { seen }, signal: { active: false, atMs: tsMs } };
    return { state: { seen } };
  },
};

const brief = (ts: readonly AlertTransition[]) =>
  ts.map((t) => `${t.alertId} ${t.state}@${(Date.parse(t.ts) - T0) / MIN}`);

function pushAll(engine: Engine, readings: readonly Reading[]): AlertTransition[] {
  return readings.flatMap((r) => engine.push(r));
}

describe('engine', () => {
  it('holds a reading until the watermark passes it when readings arrive in order', () => {
    const { engine } = engineWithDrops();
    // 1. The tamper reading waits in the reorder buffer: nothing newer yet.
    expect(engine.push(reading('SN-1', 0, {}, { flags: ['tamper'] }))).toEqual([]);
    // 2. A reading 15 min later moves the watermark to 0: the tamper reading is released and opens.
    expect(brief(engine.push(reading('SN-1', 15)))).toEqual(['SN-1:device-flag:1 open@0']);
    // 3. The clean reading at 15 is released by the next one: resolved at its event time.
    expect(brief(engine.push(reading('SN-1', 30)))).toEqual(['SN-1:device-flag:1 resolved@15']);
  });

  it('puts readings back in order when they arrive out of order within the tolerance', () => {
    const { engine, drops } = engineWithDrops();
    const out = pushAll(engine, [
      reading('SN-1', 0),
      reading('SN-1', 30),
      reading('SN-1', 15, {}, { flags: ['tamper'] }),
      reading('SN-1', 45),
    ]);
    expect(brief(out)).toEqual(['SN-1:device-flag:1 open@15', 'SN-1:device-flag:1 resolved@30']);
    expect(drops).toEqual([]);
  });

  it('drops and reports duplicates and late readings when they arrive', () => {
    const { engine, drops } = engineWithDrops();
    pushAll(engine, [
      reading('SN-1', 0),
      reading('SN-1', 0), // duplicate of a buffered reading
      reading('SN-1', 60), // watermark 45: releases 0
      reading('SN-1', 60, {}, { flags: ['tamper'] }), // same ts, other content: still a duplicate (first wins)
      reading('SN-1', 30), // ≥ last released (0): in time, released at once (≤ watermark 45)
      reading('SN-1', 50), // ≥ watermark: buffered
      reading('SN-1', 20), // older than the last released (30): late
      reading('SN-1', 30), // a released timestamp: duplicate
    ]);
    expect(drops).toEqual(['duplicate:SN-1@0', 'duplicate:SN-1@60', 'late:SN-1@20', 'duplicate:SN-1@30']);
  });

  it('drops a reading older than the last released one as late when the tolerance has passed', () => {
    const { engine, drops } = engineWithDrops();
    const out = pushAll(engine, [
      reading('SN-1', 0),
      reading('SN-1', 15),
      reading('SN-1', 45),
      reading('SN-1', 10, {}, { flags: ['tamper'] }),
    ]);
    expect(drops).toEqual(['late:SN-1@10']);
    expect(out).toEqual([]);
  });

  it('drops a reading whose kind differs from the device’s first one', () => {
    const { engine, drops } = engineWithDrops();
    pushAll(engine, [reading('X-1', 0), reading('X-1', 15, { powerW: 3 }, { kind: 'streetlight' })]);
    expect(drops).toEqual(['kind-changed:X-1@15']);
  });

  it('releases the oldest reading early when the reorder buffer overflows', () => {
    const { engine } = engineWithDrops({ reorderToleranceMs: 24 * 3_600_000 });
    const out = pushAll(engine, [
      reading('SN-1', 0, {}, { flags: ['tamper'] }),
      ...Array.from({ length: REORDER_BUFFER_MAX - 1 }, (_, i) => reading('SN-1', i + 1)),
    ]);
    expect(out).toEqual([]);
    expect(brief(engine.push(reading('SN-1', 100)))).toEqual(['SN-1:device-flag:1 open@0']);
  });

  it('opens no-data by the watermark at last reading + 2 h when a device goes silent', () => {
    const { engine } = engineWithDrops();
    pushAll(engine, [reading('SN-1', 0), reading('SN-2', 0), reading('SN-1', 15)]);
    // 1. SN-2 stays silent while SN-1 reports every 15 min until 150.
    const out: AlertTransition[] = [];
    for (let m = 30; m <= 150; m += 15) out.push(...engine.push(reading('SN-1', m)));
    // Watermark 135 → tick at 135: SN-2 silent since 0 → opens at 0 + 120.
    expect(brief(out)).toEqual(['SN-2:no-data:1 open@120']);
    // 2. SN-2 reports again: resolved at that reading's event time once it is released.
    expect(brief([...engine.push(reading('SN-2', 160)), ...engine.push(reading('SN-1', 175))])).toEqual([
      'SN-2:no-data:1 resolved@160',
    ]);
  });

  it('opens no-data through advanceWatermark when no reading arrives at all', () => {
    const { engine } = engineWithDrops();
    engine.push(reading('SN-1', 0));
    expect(engine.advanceWatermark(T0 + 100 * MIN)).toEqual([]);
    expect(brief(engine.advanceWatermark(T0 + 300 * MIN))).toEqual(['SN-1:no-data:1 open@120']);
    expect(engine.advanceWatermark(T0 + 400 * MIN)).toEqual([]);
  });

  it('opens and resolves no-data the same when a silent gap lies between two ticks', () => {
    const { engine } = engineWithDrops({ tickIntervalMs: 24 * 3_600_000 });
    const out = pushAll(engine, [reading('SN-1', 0), reading('SN-1', 200), reading('SN-1', 215)]);
    expect(brief(out)).toEqual(['SN-1:no-data:1 open@120', 'SN-1:no-data:1 resolved@200']);
  });

  it('processes buffered readings when flushed', () => {
    const { engine } = engineWithDrops();
    engine.push(reading('SN-1', 0, {}, { flags: ['tamper'] }));
    expect(brief(engine.flush())).toEqual(['SN-1:device-flag:1 open@0']);
    expect(engine.flush()).toEqual([]);
    expect(engine.devices()).toBe(1);
  });

  it('continues exactly where it stopped when restored from a snapshot', () => {
    const readings = [
      reading('SN-1', 0, { batteryPct: 9 }),
      reading('SN-1', 15, {}, { flags: ['tamper'] }),
      reading('SN-2', 15),
      reading('SN-1', 30, {}, { flags: ['tamper'] }),
      reading('SN-1', 45),
      reading('SN-1', 400, { batteryPct: 50 }),
      reading('SN-2', 410),
      reading('SN-1', 420),
    ];
    const whole = engineWithDrops().engine;
    const expected = brief([...pushAll(whole, readings), ...whole.flush()]);

    const first = engineWithDrops().engine;
    const out = pushAll(first, readings.slice(0, 4));
    const dirty = first.takeDirty().sort();
    expect(dirty).toEqual(['SN-1', 'SN-2']);
    const second = engineWithDrops().engine;
    for (const id of dirty) second.restore(id, JSON.parse(first.snapshot(id) as string));
    out.push(...pushAll(second, readings.slice(4)), ...second.flush());
    expect(brief(out)).toEqual(expected);
    expect(expected).toContain('SN-1:device-flag:1 resolved@45');
  });

  test.prop(
    [
      fc.array(
        fc.record({
          device: fc.constantFrom('SN-1', 'SN-2', 'SN-3'),
          stepMin: fc.oneof(fc.constant(15), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 60, max: 400 })),
          jitterMin: fc.integer({ min: -20, max: 0 }),
          batteryPct: fc.integer({ min: 5, max: 100 }),
          tamper: fc.boolean(),
        }),
        { minLength: 2, maxLength: 60 },
      ),
      fc.nat(),
    ],
    { numRuns: 300 },
  )('gives the same transitions when the engine and its clock are restored at any point of a stream', (steps, cut) => {
    let minute = 0;
    const readings = steps.map((s) => {
      minute += s.stepMin;
      return reading(
        s.device,
        Math.max(0, minute + s.jitterMin),
        { batteryPct: s.batteryPct },
        {
          ...(s.tamper ? { flags: ['tamper'] } : {}),
        },
      );
    });
    const whole = engineWithDrops();
    const expected = [...pushAll(whole.engine, readings), ...whole.engine.flush()];

    const at = cut % (readings.length + 1);
    const first = engineWithDrops();
    const out = pushAll(first.engine, readings.slice(0, at));
    const second = engineWithDrops();
    for (const id of first.engine.takeDirty()) second.engine.restore(id, first.engine.snapshot(id));
    second.engine.restoreClock(first.engine.snapshotClock());
    out.push(...pushAll(second.engine, readings.slice(at)), ...second.engine.flush());
    expect(out).toEqual(expected);
    expect([...first.drops, ...second.drops]).toEqual(whole.drops);
  });

  it('refuses a clock snapshot that is not one when restoring', () => {
    const { engine } = engineWithDrops();
    expect(() => engine.restoreClock('{"v":1,"newestMs":"x"}')).toThrow(/engine clock/);
    expect(() => engine.restoreClock('nope')).toThrow(/not JSON/);
  });

  it('refuses a snapshot that is not one when restoring', () => {
    const { engine } = engineWithDrops();
    expect(() => engine.restore('SN-1', '{"v":2}')).toThrow(/ERR_PROCESSOR_STATE|device state of SN-1/);
    expect(() => engine.restore('SN-1', 'not json')).toThrow(/not JSON/);
  });

  it('refuses two detectors of one alert type for a kind when created', () => {
    const detectors = [noData.create(noData.configSchema.parse({})), noData.create(noData.configSchema.parse({}))];
    expect(() => createEngine({ config, models: {}, detectors })).toThrow(/no-data/);
  });

  it('steps detectors in registry order and only those of the reading’s kind when a reading is released', () => {
    const flag = deviceFlag.create(deviceFlag.configSchema.parse({}));
    const engine = createEngine({ config, models: {}, detectors: [{ ...flag, kinds: ['streetlight'] }] });
    const out = [
      ...engine.push(reading('SN-1', 0, {}, { flags: ['x'] })),
      ...engine.push(reading('SL-1', 0, { powerW: 1 }, { kind: 'streetlight', flags: ['x'] })),
      ...engine.flush(),
    ];
    expect(brief(out)).toEqual(['SL-1:device-flag:1 open@0']);
  });

  it('hands events to onEvent detectors in event-time order with the readings when they arrive out of order', () => {
    const drops: string[] = [];
    const engine = createEngine({
      config,
      models: {},
      detectors: [pendingFault, noData.create(noData.configSchema.parse({}))],
      onDrop: (reason, r) => drops.push(`${reason}@${(Date.parse(r.ts) - T0) / MIN}`),
    });
    const out = [
      ...engine.push(reading('PM-1', 0, { paperPct: 50 }, { kind: 'parking-meter' })),
      ...engine.pushEvent(event('PM-1', 20, 'fault-cleared', { code: 'coin-jam' })),
      ...engine.pushEvent(event('PM-1', 10, 'fault', { code: 'coin-jam' })),
      ...engine.pushEvent(event('PM-1', 10, 'fault', { code: 'coin-jam' })), // duplicate: same ts, type, data
      ...engine.pushEvent(event('PM-1', 10, 'payment', { amountCents: 50, method: 'card', minutes: 20 })),
      ...engine.push(reading('PM-1', 60, { paperPct: 50 }, { kind: 'parking-meter' })),
      ...engine.pushEvent(event('PM-1', 30, 'fault', { code: 'paper-out' })), // older than released 45… not yet
      ...engine.push(reading('PM-1', 120, { paperPct: 50 }, { kind: 'parking-meter' })),
      ...engine.pushEvent(event('PM-1', 40, 'fault', { code: 'door-open' })), // released up to 60 already: late
      ...engine.flush(),
    ];
    expect(brief(out)).toEqual(['PM-1:fault:1 open@10', 'PM-1:fault:1 resolved@20', 'PM-1:fault:2 open@30']);
    expect(drops).toEqual(['duplicate@10', 'late@40']);
    const state = JSON.parse(engine.snapshot('PM-1') as string);
    expect(state.detectors.fault.seen).toEqual(['fault@10', 'payment@10', 'fault-cleared@20', 'fault@30']);
    // Events are not readings: no-data still counts from the last reading (120 min).
    expect(state.detectors['no-data'].lastTsMs).toBe(T0 + 120 * MIN);
  });

  it('keeps buffered events and the event history when restored from a snapshot', () => {
    const make = () => createEngine({ config, models: {}, detectors: [pendingFault] });
    const first = make();
    first.pushEvent(event('PM-1', 0, 'fault', { code: 'coin-jam' }));
    first.pushEvent(event('PM-1', 30, 'payment', { amountCents: 50, method: 'sms', minutes: 20 }));
    const second = make();
    second.restore('PM-1', first.snapshot('PM-1'));
    second.restoreClock(first.snapshotClock());
    const out = [
      ...second.pushEvent(event('PM-1', 0, 'fault', { code: 'coin-jam' })), // already released: duplicate
      ...second.pushEvent(event('PM-1', 45, 'fault-cleared', { code: 'coin-jam' })),
      ...second.flush(),
    ];
    // The open at 0 was produced by the first engine; the second resolves it at 45 and saw the payment it buffered.
    expect(brief(out)).toEqual(['PM-1:fault:1 resolved@45']);
    expect(JSON.parse(second.snapshot('PM-1') as string).detectors.fault.seen).toEqual([
      'fault@0',
      'payment@30',
      'fault-cleared@45',
    ]);
  });

  it('restores a snapshot written before events existed when it has no event fields', () => {
    const { engine } = engineWithDrops();
    engine.push(reading('SN-1', 0));
    engine.push(reading('SN-1', 15));
    engine.push(reading('SN-1', 45)); // watermark 30: 0 and 15 released
    const old = JSON.parse(engine.snapshot('SN-1') as string);
    delete old.recentEvents;
    delete old.lastReleasedMs;
    const restored = engineWithDrops();
    restored.engine.restore('SN-1', old);
    restored.engine.push(reading('SN-1', 5)); // older than the last released reading (15): late
    expect(restored.drops).toEqual(['late:SN-1@5']);
  });

  // Property: the same readings, arriving duplicated and reordered within the tolerance, give the same transitions.
  const deviceSeries = fc.record({
    kind: fc.constantFrom<Kind>('water-meter', 'sensor'),
    steps: fc.array(
      fc.record({
        gapMinutes: fc.oneof(fc.constant(15), fc.constant(15), fc.constant(15), fc.integer({ min: 1, max: 300 })),
        litres: fc.integer({ min: 0, max: 3 }),
        batteryPct: fc.option(fc.integer({ min: 5, max: 20 }), { nil: undefined }),
        flags: fc.option(fc.constantFrom(['tamper'], ['tamper', 'magnetic']), { nil: undefined, freq: 4 }),
      }),
      { minLength: 1, maxLength: 60 },
    ),
  });

  test.prop(
    [
      fc.array(deviceSeries, { minLength: 1, maxLength: 4 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 300, maxLength: 300 }),
      fc.array(fc.nat(), { maxLength: 20 }),
    ],
    { numRuns: 60 },
  )(
    'gives identical transitions when readings are duplicated and reordered within tolerance',
    (devices, jitter, dups) => {
      const all: Reading[] = [];
      devices.forEach((d, di) => {
        let minutes = 0;
        let indexL = 1000;
        for (const s of d.steps) {
          minutes += s.gapMinutes;
          indexL += s.litres;
          const metrics: Record<string, number> = { indexL };
          if (s.batteryPct !== undefined) metrics.batteryPct = s.batteryPct;
          all.push(reading(`D-${di}`, minutes, metrics, { kind: d.kind, ...(s.flags ? { flags: [...s.flags] } : {}) }));
        }
      });
      const inOrder = [...all].sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts));
      // Arrival = event time + a delay within the tolerance: no reading arrives after one 15 min newer than itself.
      const arrival = (r: Reading, i: number) =>
        Date.parse(r.ts) + (jitter[i % jitter.length] ?? 0) * config.reorderToleranceMs;
      const shuffled = all
        .map((r, i) => ({ r, at: arrival(r, i) }))
        .sort((a, b) => a.at - b.at)
        .map((x) => x.r);
      // Duplicates arrive after their original, anywhere later.
      for (const n of dups) {
        const from = n % shuffled.length;
        const to = from + 1 + (n % (shuffled.length - from));
        shuffled.splice(to, 0, { ...(shuffled[from] as Reading) });
      }
      const a = engineWithDrops();
      const b = engineWithDrops();
      const expected = [...pushAll(a.engine, inOrder), ...a.engine.flush()];
      const actual = [...pushAll(b.engine, shuffled), ...b.engine.flush()];
      const byKey = (ts: AlertTransition[]) => {
        const m = new Map<string, string[]>();
        for (const t of ts)
          m.set(`${t.deviceId}:${t.type}`, [...(m.get(`${t.deviceId}:${t.type}`) ?? []), JSON.stringify(t)]);
        return Object.fromEntries([...m].sort(([x], [y]) => x.localeCompare(y)));
      };
      expect(byKey(actual)).toEqual(byKey(expected));
      expect(a.drops).toEqual([]);
      expect(b.drops.length).toBe(dups.length);
      expect(b.drops.every((d) => d.startsWith('duplicate:') || d.startsWith('late:'))).toBe(true);
    },
  );
});
