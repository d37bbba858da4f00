import { describe, expect, it } from 'vitest';
import { consoleConfigSchema } from './config.ts';
import { deviceState } from './queries.ts';
import { decodeAlert, decodeDevice, decodeSeries } from './read-model.ts';
import { device, rollup, transition } from './test-helpers.ts';

describe('console read model decoding', () => {
  it('stores device rollups of every kind and period, and ignores circuits and districts', () => {
    const r = rollup('WM-1', 'hour', '2026-03-10T08:00:00Z', { consumptionL: 3 });
    expect(decodeSeries(JSON.stringify(r))).toEqual({
      outcome: 'stored',
      item: {
        deviceId: 'WM-1',
        kind: 'water-meter',
        period: 'hour',
        start: '2026-03-10T08:00:00.000Z',
        values: { consumptionL: 3 },
      },
    });
    const lamp = { ...r, kind: 'streetlight', circuit: 'C-1', period: 'day', values: { energyWh: 5 } };
    expect(decodeSeries(JSON.stringify(lamp)).outcome).toBe('stored');
    expect(decodeSeries(JSON.stringify({ ...lamp, scope: 'circuit', deviceId: undefined, devices: 4 }))).toEqual({
      outcome: 'ignored',
    });
    expect(decodeSeries(JSON.stringify({ ...r, scope: 'district', deviceId: undefined }))).toEqual({
      outcome: 'ignored',
    });
  });

  it('says why a record is invalid when it is not JSON, not the contract, or a device rollup without a device', () => {
    expect(decodeSeries('{')).toEqual({ outcome: 'invalid', reason: 'not JSON' });
    expect(
      decodeSeries(JSON.stringify({ ...rollup('WM-1', 'day', '2026-03-10T00:00:00Z', {}), deviceId: undefined })),
    ).toEqual({ outcome: 'invalid', reason: 'device rollup without deviceId' });
    expect(decodeDevice(JSON.stringify({ ...device('WM-1'), lon: 999 }))).toEqual({
      outcome: 'invalid',
      reason: 'not a DeviceInfo (lon)',
    });
    expect(
      decodeAlert(JSON.stringify({ ...transition('WM-1', 'open', '2026-03-10T00:00:00Z'), state: 'closed' })),
    ).toEqual({
      outcome: 'invalid',
      reason: 'not a AlertTransition (state)',
    });
    expect(decodeAlert(JSON.stringify(transition('WM-1', 'open', '2026-03-10T00:00:00Z'))).outcome).toBe('stored');
  });

  it('gives a device the worst open alert’s severity, ok without one, inactive when not active', () => {
    expect(deviceState(true, [])).toBe('ok');
    expect(deviceState(true, [{ severity: 'info' }, { severity: 'critical' }, { severity: 'warning' }])).toBe(
      'critical',
    );
    expect(deviceState(true, [{ severity: 'info' }, { severity: 'warning' }])).toBe('warning');
    expect(deviceState(false, [{ severity: 'critical' }])).toBe('inactive');
  });
});

describe('console config', () => {
  it('applies the defaults when nothing is given', () => {
    expect(consoleConfigSchema.parse({})).toEqual({
      hourRetentionDays: 93,
      dayRetentionDays: 1100,
      tileUrl: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png',
      tileAttribution: '© OpenStreetMap contributors',
      mapCenter: { lat: 47.7508, lon: 7.3359 },
      mapZoom: 13,
      refreshIntervalMs: 5000,
    });
  });

  it('takes environment strings, and "none" or empty for no tiles', () => {
    const config = consoleConfigSchema.parse({
      tileUrl: 'none',
      mapCenter: { lat: '48.85', lon: '2.35' },
      mapZoom: '15',
      hourRetentionDays: '31',
    });
    expect(config).toMatchObject({
      tileUrl: '',
      mapCenter: { lat: 48.85, lon: 2.35 },
      mapZoom: 15,
      hourRetentionDays: 31,
    });
    expect(consoleConfigSchema.parse({ tileUrl: '' }).tileUrl).toBe('');
  });

  it('rejects a bad value naming its key, and an unknown key', () => {
    for (const [input, key] of [
      [{ tileUrl: 'ftp://tiles/{z}/{x}/{y}' }, 'tileUrl'],
      [{ tileUrl: 'https://tiles.example/{z}/{x}.png' }, 'tileUrl'],
      [{ mapCenter: { lat: 91, lon: 0 } }, 'mapCenter.lat'],
      [{ mapZoom: 0 }, 'mapZoom'],
      [{ refreshIntervalMs: 10 }, 'refreshIntervalMs'],
      [{ hourRetentionDays: 0 }, 'hourRetentionDays'],
    ] as const) {
      const result = consoleConfigSchema.safeParse(input);
      expect(result.success, key).toBe(false);
      expect(
        result.error?.issues.map((i) => i.path.join('.')),
        key,
      ).toContain(key);
    }
    expect(consoleConfigSchema.safeParse({ tileURL: 'x' }).success).toBe(false);
  });
});
