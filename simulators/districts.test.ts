import { describe, expect, it } from 'vitest';
import { DeviceInfo } from '../core/contracts/index.ts';
import { DEMO_DISTRICTS, demoLocation } from './districts.ts';
import { fleetCredentials } from './generate.ts';

describe('districts', () => {
  it('places the same device in the same place when the seed is the same, elsewhere when it is not', () => {
    expect(demoLocation('s', 'WM-000001')).toEqual(demoLocation('s', 'WM-000001'));
    const a = Array.from({ length: 20 }, (_, i) => demoLocation('s', `WM-${i}`));
    const b = Array.from({ length: 20 }, (_, i) => demoLocation('t', `WM-${i}`));
    expect(a).not.toEqual(b);
  });

  it('spreads a fleet over every quartier, near Mulhouse, as valid DeviceInfo fields when credentials are made', () => {
    const fleet = fleetCredentials({ seed: 'demo', devices: 600, gatewaySize: 50 });
    const used = new Set<string>();
    for (const c of fleet) {
      const info = DeviceInfo.parse({
        deviceId: c.deviceId,
        kind: c.kind,
        district: c.district,
        lat: c.lat,
        lon: c.lon,
        active: true,
        updatedAt: '2025-01-01T00:00:00.000Z',
      });
      used.add(info.district!);
      const centre = DEMO_DISTRICTS.find((d) => d.id === info.district)!;
      expect(Math.abs(info.lat! - centre.lat)).toBeLessThan(0.00361);
      expect(Math.abs(info.lon! - centre.lon)).toBeLessThan(0.00401);
      expect(Math.abs(info.lat! - 47.75)).toBeLessThan(0.03);
      expect(Math.abs(info.lon! - 7.34)).toBeLessThan(0.04);
    }
    expect([...used].sort()).toEqual(DEMO_DISTRICTS.map((d) => d.id).sort());
  });
});
