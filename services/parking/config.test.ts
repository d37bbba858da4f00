import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { PARKING_KEYWORDS, smsService } from '../../core/sms-routing.ts';
import { smsSegments } from '../../core/sms-text.ts';
import { fleetCredentials } from '../../simulators/index.ts';
import { parkingConfigSchema, resolveTariffs } from './config.ts';
import { localeOf } from './inbound.ts';
import { meterZoneOf } from './meters.ts';
import { alreadyRunningText } from './reply-texts.ts';
import { looksLikeParkingSms, parseParkingSms } from './sms-commands.ts';
import { MULHOUSE_EXAMPLE_TARIFFS } from './tariffs.ts';

describe('parking config', () => {
  it('applies the defaults and the example tariffs when nothing is set', () => {
    const config = parkingConfigSchema.parse({});
    expect(config).toEqual({
      receiptLinkDays: 90,
      reminderLeadMinutes: 6,
      sweepIntervalMs: 15_000,
      receiptLookupsPerHourPerIp: 60,
      revenueEvents: 'publish',
    });
    expect(resolveTariffs(config.tariffs)).toBe(MULHOUSE_EXAMPLE_TARIFFS);
  });

  it('places every simulated parking meter in a zone of the example table, so demo payments become sessions', () => {
    const meters = fleetCredentials({ seed: 'demo-parking-1', devices: 60, kind: 'parking-meter' });
    const zones = meters.map((m) =>
      meterZoneOf(MULHOUSE_EXAMPLE_TARIFFS, {
        deviceId: m.deviceId,
        kind: 'parking-meter',
        district: m.district,
        circuit: m.circuit,
        active: true,
        updatedAt: '2026-03-02T07:00:00.000Z',
      }),
    );
    expect(new Set(zones)).toEqual(new Set(['rouge', 'orange', 'vert']));
    expect(meters.filter((m) => m.district === 'centre').map((m) => m.circuit)).toContain('rouge');
  });

  it('reads a tariff table from JSON text or a file when one is given', () => {
    const table = {
      zones: {
        centre: { periods: [{ days: ['mon'], from: '09:00', to: '12:00', centsPerHour: 100 }], maxStayMinutes: 60 },
      },
    };
    const inline = parkingConfigSchema.parse({ tariffs: JSON.stringify(table) });
    expect(Object.keys(resolveTariffs(inline.tariffs).zones)).toEqual(['centre']);
    const file = join(mkdtempSync(join(tmpdir(), 'parking-')), 'tariffs.json');
    writeFileSync(file, JSON.stringify(table));
    expect(Object.keys(resolveTariffs(parkingConfigSchema.parse({ tariffs: file }).tariffs).zones)).toEqual(['centre']);
  });

  it('rejects an invalid table or secret naming the key when the config is parsed', () => {
    const bad = parkingConfigSchema.safeParse({ tariffs: '{"zones": {}}' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['tariffs']);
    const short = parkingConfigSchema.safeParse({ receiptLinkSecret: 'short' });
    expect(short.error?.issues[0]?.path).toEqual(['receiptLinkSecret']);
    expect(() => resolveTariffs('/nonexistent/tariffs.json')).toThrow(/ERR_PARKING_TARIFF_INVALID|unreadable/);
  });
});

describe('parking SMS routing', () => {
  it('routes to parking every keyword the grammar starts, extends or stops with', () => {
    for (const keyword of PARKING_KEYWORDS) {
      expect(looksLikeParkingSms(keyword)).toBe(true);
      expect(smsService(keyword)).toBe('parking');
    }
  });

  test.prop([fc.string({ maxLength: 80 })])(
    'routes to parking whatever the grammar takes as a command, and gives help for AIDE PARKING',
    (body) => {
      if (looksLikeParkingSms(body)) expect(smsService(body)).toBe('parking');
    },
  );

  it('answers help to AIDE PARKING and in English to HELP PARKING', () => {
    const parsed = parseParkingSms('AIDE PARKING', MULHOUSE_EXAMPLE_TARIFFS);
    expect(parsed).toEqual({ ok: true, command: { kind: 'help' } });
    expect(localeOf('help parking')).toBe('en');
    expect(localeOf('PARK rouge AB-123-CD 1h')).toBe('fr');
  });

  it('keeps the already-running refusal within one GSM-7 segment when the end is another day', () => {
    for (const locale of ['fr', 'en'] as const) {
      const text = alreadyRunningText({
        plate: 'AB-123-CD',
        zone: 'orange',
        endMs: Date.parse('2026-03-11T08:30:00Z'),
        nowMs: Date.parse('2026-03-10T17:30:00Z'),
        locale,
        timeZone: 'Europe/Paris',
      });
      expect(smsSegments(text)).toMatchObject({ encoding: 'GSM-7', segments: 1 });
    }
  });
});
