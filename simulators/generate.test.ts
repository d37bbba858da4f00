import { describe, expect, it } from 'vitest';
import { fleetCredentials, gatewayIdFor } from './generate.ts';

describe('generate', () => {
  it('lists meters only, without gatewayId, when no gatewaySize is given', () => {
    const plain = fleetCredentials({ seed: 's', devices: 3 });
    expect(plain.map((c) => c.deviceId)).toEqual(['WM-000001', 'WM-000002', 'WM-000003']);
    expect(plain.every((c) => !('gatewayId' in c) && c.kind === 'water-meter' && c.secret.length === 32)).toBe(true);
    expect(fleetCredentials({ seed: 's', devices: 3, gatewaySize: 1 })).toEqual(plain);
  });

  it('lists the gateways first and gives each meter its gateway when gatewaySize is above 1', () => {
    const plain = fleetCredentials({ seed: 's', devices: 7 });
    const grouped = fleetCredentials({ seed: 's', devices: 7, gatewaySize: 3 });
    expect(grouped.map((c) => [c.deviceId, c.gatewayId])).toEqual([
      ['GW-000001', undefined],
      ['GW-000002', undefined],
      ['GW-000003', undefined],
      ['WM-000001', 'GW-000001'],
      ['WM-000002', 'GW-000001'],
      ['WM-000003', 'GW-000001'],
      ['WM-000004', 'GW-000002'],
      ['WM-000005', 'GW-000002'],
      ['WM-000006', 'GW-000002'],
      ['WM-000007', 'GW-000003'],
    ]);
    // The meters' secrets do not depend on the grouping; gateways have their own.
    expect(grouped.slice(3).map((c) => c.secret)).toEqual(plain.map((c) => c.secret));
    expect(new Set(grouped.map((c) => c.secret)).size).toBe(10);
    expect(gatewayIdFor(5, 3)).toBe('GW-000002');
  });

  it('throws ERR_CONFIG_INVALID when gatewaySize is not a positive integer', () => {
    expect(() => fleetCredentials({ seed: 's', devices: 3, gatewaySize: 0 })).toThrow(/gatewaySize: 0/);
    expect(() => fleetCredentials({ seed: 's', devices: 3, gatewaySize: 2.5 })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
    );
  });
});
