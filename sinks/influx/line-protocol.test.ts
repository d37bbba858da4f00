import { fc, test } from '@fast-check/vitest';
import { escape as clientEscape } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { AlertTransition, Reading } from '../../core/contracts/index.ts';
import { alertLine, escapeKey, escapeMeasurement, healthLine, quoteString, readingLine } from './line-protocol.ts';

const reading = (value: unknown) => Reading.parse(value);

describe('line-protocol', () => {
  it('writes a reading as measurement per kind, device_id tag, float fields and ms event time when it has metrics', () => {
    const line = readingLine(
      reading({
        deviceId: 'WM-000123',
        kind: 'water-meter',
        ts: '2026-03-01T02:15:00.250Z',
        seq: 7,
        metrics: { indexL: 123456, flowLph: 1.5, batteryPct: 87, tempC: -0 },
        flags: ['tamper'],
      }),
    );
    expect(line).toBe(
      'water_meter,device_id=WM-000123 indexL=123456,flowLph=1.5,batteryPct=87,tempC=0 1772331300250\n',
    );
  });

  it('names the measurement of every kind in snake_case when writing readings', () => {
    const lines = (['water-meter', 'streetlight', 'parking-meter', 'sensor'] as const).map((kind) =>
      readingLine(reading({ deviceId: 'D-1', kind, ts: 1772331300000, metrics: { x: 1 } })),
    );
    expect(lines.map((l) => l?.split(',')[0])).toEqual(['water_meter', 'streetlight', 'parking_meter', 'sensor']);
  });

  it('gives the same line for the same reading when it is written again (a replay overwrites the point with itself)', () => {
    const r = { deviceId: 'SL-9', kind: 'streetlight', ts: '2026-03-01T03:15:00+01:00', metrics: { powerW: 42.25 } };
    expect(readingLine(reading(r))).toBe(readingLine(reading(JSON.parse(JSON.stringify(r)))));
    expect(readingLine(reading(r))).toBe('streetlight,device_id=SL-9 powerW=42.25 1772331300000\n');
  });

  it('returns undefined when a reading has no metrics (line protocol needs a field)', () => {
    expect(readingLine(reading({ deviceId: 'S-1', kind: 'sensor', ts: 1772331300000, metrics: {} }))).toBeUndefined();
  });

  it('writes an alert transition with sorted tags, string fields and its event time', () => {
    const t = AlertTransition.parse({
      alertId: 'WM-000123:leak:1',
      type: 'leak',
      deviceId: 'WM-000123',
      kind: 'water-meter',
      state: 'open',
      ts: '2026-03-02T02:00:00.000Z',
      severity: 'warning',
      summary: 'Continuous flow for 24 h, about 4 L/h — "kitchen"\\tap\nsecond line',
      details: { estimatedLph: 4.2 },
    });
    expect(alertLine(t)).toBe(
      'alert,device_id=WM-000123,kind=water-meter,severity=warning,state=open,type=leak ' +
        'alert_id="WM-000123:leak:1",summary="Continuous flow for 24 h, about 4 L/h — \\"kitchen\\"\\\\tap second line" ' +
        '1772416800000\n',
    );
  });

  it('writes integer fields for the health point when counters are given', () => {
    expect(
      healthLine(
        'host a',
        { bufferBytes: 10, bufferPoints: 2, pointsWritten: 5, pointsRejected: 0, writeRetries: 1 },
        1772331300000,
      ),
    ).toBe(
      'pipeline_health,component=sink-influx,instance=host\\ a buffer_bytes=10i,buffer_points=2i,points_written=5i,' +
        'points_rejected=0i,write_retries=1i 1772331300000\n',
    );
  });

  it('escapes commas, spaces and equals signs when they appear in names and tags', () => {
    expect(escapeMeasurement('a b,c=d')).toBe('a\\ b\\,c=d');
    expect(escapeKey('a b,c=d')).toBe('a\\ b\\,c\\=d');
    expect(escapeKey('line\nbreak\ttab\rcr')).toBe('line\\nbreak\\ttab\\rcr');
    expect(quoteString('say "hi" \\ ok')).toBe('"say \\"hi\\" \\\\ ok"');
  });

  test.prop([fc.string({ unit: 'binary' })])(
    'escapes names and tags exactly as the official client for any string',
    (s) => {
      expect(escapeMeasurement(s)).toBe(clientEscape.measurement(s));
      expect(escapeKey(s)).toBe(clientEscape.tag(s));
    },
  );

  test.prop([fc.string({ unit: 'binary' }).filter((s) => !/[\n\r]/.test(s))])(
    'quotes string fields exactly as the official client when they hold no newline',
    (s) => {
      expect(quoteString(s)).toBe(clientEscape.quoted(s));
    },
  );

  test.prop([fc.string({ unit: 'binary' })])('never lets a raw newline into a line for any string', (s) => {
    expect(`${escapeMeasurement(s)}${escapeKey(s)}${quoteString(s)}`).not.toMatch(/[\n\r]/);
  });
});
