import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { MAX_USAGE_DURATION_MS, parseUsage, UsageEvent } from './usage.ts';

const base = { usageId: 'u-1', accountId: 'acc-0001' };

/** The issue paths of an invalid event. */
function issuePaths(value: unknown): string[] {
  const r = UsageEvent.safeParse(value);
  expect(r.success).toBe(false);
  return r.success ? [] : [...new Set(r.error.issues.map((i) => i.path.join('.')))];
}

describe('UsageEvent', () => {
  it('parses times to epoch ms when they come as ISO 8601 with an offset or as epoch ms', () => {
    const iso = UsageEvent.parse({
      ...base,
      kind: 'transit-validation',
      startedAt: '2026-11-26T08:00:00+01:00',
      details: { line: '2' },
    });
    const ms = UsageEvent.parse({
      ...base,
      kind: 'transit-validation',
      startedAt: Date.parse('2026-11-26T07:00:00Z'),
      details: { line: '2' },
    });
    expect(iso.startedAt).toBe(Date.parse('2026-11-26T07:00:00Z'));
    expect(ms).toEqual(iso);
    // What a producer writes parses back to itself (the bus keeps epoch ms).
    expect(UsageEvent.parse(JSON.parse(JSON.stringify(iso)))).toEqual(iso);
  });

  it('accepts each kind with its own details when they are complete', () => {
    const from = '2026-11-26T08:00:00+01:00';
    const to = '2026-11-26T09:00:00+01:00';
    expect(
      UsageEvent.parse({ ...base, kind: 'bike-rental', startedAt: from, endedAt: to, details: { stationFrom: 'Gare' } })
        .kind,
    ).toBe('bike-rental');
    expect(
      UsageEvent.parse({ ...base, kind: 'car-share-trip', startedAt: from, endedAt: to, details: { km: 12.4 } }).kind,
    ).toBe('car-share-trip');
    expect(
      UsageEvent.parse({
        ...base,
        kind: 'parking-session',
        startedAt: from,
        endedAt: to,
        details: { zone: 'Centre', amountCents: 240 },
      }).kind,
    ).toBe('parking-session');
  });

  it('refuses an event when its shape does not match its kind', () => {
    const at = '2026-11-26T08:00:00+01:00';
    // A validation is an instant: no end.
    expect(
      issuePaths({ ...base, kind: 'transit-validation', startedAt: at, endedAt: at, details: { line: '2' } }),
    ).toEqual(['']);
    // Only parking carries its own amount.
    expect(
      issuePaths({ ...base, kind: 'bike-rental', startedAt: at, endedAt: at, details: { amountCents: 100 } }),
    ).toEqual(['details']);
    // A car-share trip needs its km; a rental its end.
    expect(issuePaths({ ...base, kind: 'car-share-trip', startedAt: at, endedAt: at, details: {} })).toEqual([
      'details.km',
    ]);
    expect(issuePaths({ ...base, kind: 'bike-rental', startedAt: at, details: {} })).toEqual(['endedAt']);
    expect(issuePaths({ ...base, kind: 'scooter', startedAt: at, details: {} })).toEqual(['kind']);
  });

  it('refuses bad values when ids, times, distances or amounts are out of range', () => {
    const at = '2026-11-26T08:00:00+01:00';
    const v = { ...base, kind: 'transit-validation', startedAt: at, details: { line: '2' } };
    expect(issuePaths({ ...v, usageId: '' })).toEqual(['usageId']);
    expect(issuePaths({ ...v, accountId: 'acc 1' })).toEqual(['accountId']);
    expect(issuePaths({ ...v, startedAt: '2026-11-26 08:00' })).toEqual(['startedAt']); // no zone
    expect(issuePaths({ ...v, startedAt: '2026-02-30T08:00:00Z' })).toEqual(['startedAt']);
    expect(issuePaths({ ...v, details: { line: 'ligne\u202e2' } })).toEqual(['details.line']); // a bidi override
    const car = { ...base, kind: 'car-share-trip', startedAt: at, endedAt: at };
    expect(issuePaths({ ...car, details: { km: -1 } })).toEqual(['details.km']);
    expect(issuePaths({ ...car, details: { km: Number.NaN } })).toEqual(['details.km']);
    const park = { ...base, kind: 'parking-session', startedAt: at, endedAt: at };
    expect(issuePaths({ ...park, details: { zone: 'Centre', amountCents: 1.5 } })).toEqual(['details.amountCents']);
    expect(issuePaths({ ...park, details: { zone: 'Centre', amountCents: -10 } })).toEqual(['details.amountCents']);
  });

  it('refuses an end before the start or a use longer than 31 days', () => {
    const start = Date.parse('2026-11-26T08:00:00Z');
    const bike = { ...base, kind: 'bike-rental', startedAt: start, details: {} };
    expect(issuePaths({ ...bike, endedAt: start - 1 })).toEqual(['endedAt']);
    expect(issuePaths({ ...bike, endedAt: start + MAX_USAGE_DURATION_MS + 1 })).toEqual(['endedAt']);
    expect(UsageEvent.parse({ ...bike, endedAt: start }).kind).toBe('bike-rental'); // zero length: allowed
  });

  it('throws ERR_MOBILITY_USAGE_INVALID naming the paths when parseUsage gets bad input', () => {
    expect(() => parseUsage({ ...base, kind: 'bike-rental', startedAt: 'yesterday', details: { x: 1 } })).toThrow(
      expect.objectContaining({
        code: 'ERR_MOBILITY_USAGE_INVALID',
        retryable: false,
        message: expect.stringContaining('startedAt'),
      }),
    );
  });

  test.prop([fc.anything()])('never throws anything but its AppError when given any value', (value) => {
    try {
      parseUsage(value);
    } catch (err) {
      expect(err).toMatchObject({ code: 'ERR_MOBILITY_USAGE_INVALID' });
    }
  });
});
