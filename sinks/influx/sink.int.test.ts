import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { DeadLetter, TOPICS } from '../../core/contracts/index.ts';
import { metricsSampler, startHealthReporter } from '../../core/health.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { exportSeries, startVictoriaMetrics } from '../../test/helpers/victoria-metrics.ts';
import { influxSinkConfigSchema } from './config.ts';
import { escapeKey } from './line-protocol.ts';
import { createInfluxSink } from './sink.ts';
import { createInfluxWriter } from './writer.ts';

/** The sink against a real server speaking the InfluxDB v2 write API (VictoriaMetrics, test/helpers). */

const HOUR_MS = 3_600_000;
/** Event times an hour ago, in whole seconds plus a few ms (checks ms precision). */
const BASE_MS = Math.floor((Date.now() - HOUR_MS) / 1_000) * 1_000 + 123;

async function setup(url: string, config: Record<string, unknown> = {}, dataDir?: string) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'vigie-sink-vm-'));
  const bus = createMemoryBus({ defaultPartitions: 2 });
  const metrics = new Metrics();
  const sink = createInfluxSink({
    bus,
    config: influxSinkConfigSchema.parse({ url, flushIntervalMs: 20, ...config }),
    dataDir: dir,
    metrics,
    logger: silentLogger(),
  });
  await sink.start();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await sink.close();
    await bus.close();
  };
  onTestFinished(async () => {
    await close();
    if (!dataDir) rmSync(dir, { recursive: true, force: true });
  });
  return { bus, sink, metrics, dir, close };
}

const suffix = () => randomBytes(4).toString('hex');

describe('sink-influx on VictoriaMetrics', () => {
  it('writes readings of every kind and alert transitions with their measurements, tags, fields and ms timestamps', async () => {
    const url = inject('influxUrl');
    const { bus, sink } = await setup(url);
    const id = suffix();
    const wm = `WM-${id}`;
    const readings = [
      { deviceId: wm, kind: 'water-meter', ts: BASE_MS, metrics: { indexL: 123456, flowLph: 4.25, batteryPct: 87 } },
      { deviceId: wm, kind: 'water-meter', ts: BASE_MS + 900_000, metrics: { indexL: 123460, flowLph: 0 } },
      { deviceId: `SL-${id}`, kind: 'streetlight', ts: BASE_MS, metrics: { powerW: 41.5, dimPct: 70 } },
      { deviceId: `PM-${id}`, kind: 'parking-meter', ts: BASE_MS, metrics: { paperPct: 12 } },
      { deviceId: `S-${id}`, kind: 'sensor', ts: new Date(BASE_MS).toISOString(), metrics: { no2Ugm3: 31.2 } },
    ] as const;
    for (const r of readings) {
      await bus.produce(TOPICS.readings(r.kind), [{ key: r.deviceId, value: JSON.stringify(r) }]);
    }
    const alert = {
      alertId: `${wm}:leak:1`,
      type: 'leak',
      deviceId: wm,
      kind: 'water-meter',
      state: 'open',
      ts: new Date(BASE_MS + 900_000).toISOString(),
      severity: 'warning',
      summary: 'Continuous flow for 24 h, about 4 L/h',
      details: { estimatedLph: 4.2 },
    };
    await bus.produce(TOPICS.alerts, [{ key: `${wm}:leak`, value: JSON.stringify(alert) }]);
    await expect.poll(() => sink.stats().pointsWritten, { timeout: 10_000 }).toBe(6);
    await sink.drain(5_000);

    const water = await exportSeries(url, `{__name__=~"water_meter_.*",device_id="${wm}"}`);
    const byName = Object.fromEntries(water.map((s) => [s.metric.__name__, s]));
    expect(Object.keys(byName).sort()).toEqual(['water_meter_batteryPct', 'water_meter_flowLph', 'water_meter_indexL']);
    expect(byName.water_meter_indexL).toEqual({
      metric: { __name__: 'water_meter_indexL', device_id: wm },
      values: [123456, 123460],
      timestamps: [BASE_MS, BASE_MS + 900_000],
    });
    expect(byName.water_meter_flowLph?.values).toEqual([4.25, 0]);
    expect(byName.water_meter_batteryPct?.timestamps).toEqual([BASE_MS]);

    expect(await exportSeries(url, `{device_id="SL-${id}"}`)).toEqual(
      expect.arrayContaining([
        { metric: { __name__: 'streetlight_powerW', device_id: `SL-${id}` }, values: [41.5], timestamps: [BASE_MS] },
        { metric: { __name__: 'streetlight_dimPct', device_id: `SL-${id}` }, values: [70], timestamps: [BASE_MS] },
      ]),
    );
    expect(await exportSeries(url, `{device_id="PM-${id}"}`)).toEqual([
      { metric: { __name__: 'parking_meter_paperPct', device_id: `PM-${id}` }, values: [12], timestamps: [BASE_MS] },
    ]);
    expect(await exportSeries(url, `{device_id="S-${id}"}`)).toEqual([
      { metric: { __name__: 'sensor_no2Ugm3', device_id: `S-${id}` }, values: [31.2], timestamps: [BASE_MS] },
    ]);

    // Alert transitions: tags become labels; VictoriaMetrics keeps no strings, so the string fields come back as 0.
    const alerts = await exportSeries(url, `{__name__=~"alert_.*",device_id="${wm}"}`);
    const tags = { device_id: wm, kind: 'water-meter', severity: 'warning', state: 'open', type: 'leak' };
    expect(alerts.sort((a, b) => a.metric.__name__.localeCompare(b.metric.__name__))).toEqual([
      { metric: { __name__: 'alert_alert_id', ...tags }, values: [0], timestamps: [BASE_MS + 900_000] },
      { metric: { __name__: 'alert_summary', ...tags }, values: [0], timestamps: [BASE_MS + 900_000] },
    ]);
  });

  it('writes rollups, device descriptions and health reports with their measurements, tags, values and times', async () => {
    const url = inject('influxUrl');
    const { bus, sink } = await setup(url);
    const id = suffix();
    const wm = `WM-${id}`;
    const district = `DMA-${id}`;
    const dayStart = new Date(BASE_MS - 86_400_000).toISOString();
    const hourStart = new Date(BASE_MS - 3_600_000).toISOString();
    const rollups = [
      {
        kind: 'water-meter',
        scope: 'device',
        deviceId: wm,
        district,
        period: 'day',
        start: dayStart,
        values: { consumptionL: 412.5, nightMinFlowLph: 0.25 },
      },
      {
        kind: 'water-meter',
        scope: 'district',
        district,
        period: 'hour',
        start: hourStart,
        values: { consumptionL: 1234 },
        devices: 3,
      },
    ];
    for (const r of rollups) {
      await bus.produce(TOPICS.rollups, [{ key: r.deviceId ?? r.district, value: JSON.stringify(r) }]);
    }
    // The same rollup again (a replay, or a recount after late readings) lands on the same series and timestamp.
    await bus.produce(TOPICS.rollups, [{ key: wm, value: JSON.stringify(rollups[0]) }]);
    const devices = [
      {
        deviceId: wm,
        kind: 'water-meter',
        district,
        lat: 47.7508,
        lon: 7.3359,
        active: true,
        updatedAt: new Date(BASE_MS).toISOString(),
      },
      { deviceId: `SL-${id}`, kind: 'streetlight', active: false, updatedAt: new Date(BASE_MS + 1).toISOString() },
    ];
    for (const d of devices) await bus.produce(TOPICS.devices, [{ key: d.deviceId, value: JSON.stringify(d) }]);
    const instance = `host-${id}`;
    const report = {
      component: 'ingest',
      instance,
      ts: new Date(BASE_MS).toISOString(),
      values: { messages_in: 1500, connections: 12, rss_bytes: 123456789 },
    };
    await bus.produce(TOPICS.health, [{ key: `ingest:${instance}`, value: JSON.stringify(report) }]);
    await expect.poll(() => sink.stats().pointsWritten, { timeout: 10_000 }).toBe(6);
    await sink.drain(5_000);

    const sorted = (series: Awaited<ReturnType<typeof exportSeries>>) =>
      [...series].sort((a, b) => a.metric.__name__.localeCompare(b.metric.__name__));
    const dayMs = Date.parse(dayStart);
    expect(sorted(await exportSeries(url, `{__name__=~"water_meter_daily_.*",device_id="${wm}"}`))).toEqual([
      {
        metric: { __name__: 'water_meter_daily_consumptionL', device_id: wm, district },
        values: [412.5, 412.5],
        timestamps: [dayMs, dayMs],
      },
      {
        metric: { __name__: 'water_meter_daily_nightMinFlowLph', device_id: wm, district },
        values: [0.25, 0.25],
        timestamps: [dayMs, dayMs],
      },
    ]);
    const hourMs = Date.parse(hourStart);
    expect(
      sorted(await exportSeries(url, `{__name__=~"water_meter_district_hourly_.*",district="${district}"}`)),
    ).toEqual([
      {
        metric: { __name__: 'water_meter_district_hourly_consumptionL', district },
        values: [1234],
        timestamps: [hourMs],
      },
      { metric: { __name__: 'water_meter_district_hourly_devices', district }, values: [3], timestamps: [hourMs] },
    ]);
    // Booleans come back from VictoriaMetrics as 1/0; a device the registry places nowhere is in `unassigned`.
    const wmTags = { device_id: wm, district, kind: 'water-meter' };
    expect(sorted(await exportSeries(url, `{__name__=~"device_.*",device_id="${wm}"}`))).toEqual([
      { metric: { __name__: 'device_active', ...wmTags }, values: [1], timestamps: [BASE_MS] },
      { metric: { __name__: 'device_lat', ...wmTags }, values: [47.7508], timestamps: [BASE_MS] },
      { metric: { __name__: 'device_lon', ...wmTags }, values: [7.3359], timestamps: [BASE_MS] },
    ]);
    expect(await exportSeries(url, `{__name__=~"device_.*",device_id="SL-${id}"}`)).toEqual([
      {
        metric: { __name__: 'device_active', device_id: `SL-${id}`, district: 'unassigned', kind: 'streetlight' },
        values: [0],
        timestamps: [BASE_MS + 1],
      },
    ]);
    expect(sorted(await exportSeries(url, `{__name__=~"pipeline_health_.*",instance="${instance}"}`))).toEqual([
      {
        metric: { __name__: 'pipeline_health_connections', component: 'ingest', instance },
        values: [12],
        timestamps: [BASE_MS],
      },
      {
        metric: { __name__: 'pipeline_health_messages_in', component: 'ingest', instance },
        values: [1500],
        timestamps: [BASE_MS],
      },
      {
        metric: { __name__: 'pipeline_health_rss_bytes', component: 'ingest', instance },
        values: [123456789],
        timestamps: [BASE_MS],
      },
    ]);
  });

  it('writes streetlight rollups with their circuit and parking rollups with revenue and paid occupancy', async () => {
    const url = inject('influxUrl');
    const { bus, sink } = await setup(url);
    const id = suffix();
    const circuit = `C-${id}`;
    const district = `D-${id}`;
    const hourStart = new Date(BASE_MS - HOUR_MS).toISOString();
    const hourMs = Date.parse(hourStart);
    const rollups = [
      {
        kind: 'streetlight',
        scope: 'device',
        deviceId: `SL-${id}`,
        district,
        circuit,
        period: 'hour',
        start: hourStart,
        values: { energyWh: 60, litHours: 1 },
      },
      {
        kind: 'streetlight',
        scope: 'circuit',
        circuit,
        district,
        period: 'hour',
        start: hourStart,
        values: { energyWh: 90.5, litHours: 2 },
        devices: 2,
      },
      {
        kind: 'parking-meter',
        scope: 'device',
        deviceId: `PM-${id}`,
        district,
        period: 'hour',
        start: hourStart,
        values: {
          revenueCents: 300,
          revenueCoinCents: 0,
          revenueCardCents: 300,
          revenueSmsCents: 0,
          payments: 1,
          paidMinutes: 15,
          paidOccupancy: 0.25,
        },
      },
    ];
    for (const r of rollups) {
      await bus.produce(TOPICS.rollups, [{ key: r.deviceId ?? r.circuit, value: JSON.stringify(r) }]);
    }
    await expect.poll(() => sink.stats().pointsWritten, { timeout: 10_000 }).toBe(3);
    await sink.drain(5_000);
    const sorted = (series: Awaited<ReturnType<typeof exportSeries>>) =>
      [...series].sort((a, b) => a.metric.__name__.localeCompare(b.metric.__name__));
    expect(
      sorted(await exportSeries(url, `{__name__=~"streetlight_(circuit_)?hourly_.*",circuit="${circuit}"}`)),
    ).toEqual([
      {
        metric: { __name__: 'streetlight_circuit_hourly_devices', circuit, district },
        values: [2],
        timestamps: [hourMs],
      },
      {
        metric: { __name__: 'streetlight_circuit_hourly_energyWh', circuit, district },
        values: [90.5],
        timestamps: [hourMs],
      },
      {
        metric: { __name__: 'streetlight_circuit_hourly_litHours', circuit, district },
        values: [2],
        timestamps: [hourMs],
      },
      {
        metric: { __name__: 'streetlight_hourly_energyWh', circuit, device_id: `SL-${id}`, district },
        values: [60],
        timestamps: [hourMs],
      },
      {
        metric: { __name__: 'streetlight_hourly_litHours', circuit, device_id: `SL-${id}`, district },
        values: [1],
        timestamps: [hourMs],
      },
    ]);
    const parking = await exportSeries(url, `{__name__=~"parking_meter_hourly_.*",device_id="PM-${id}"}`);
    expect(Object.fromEntries(parking.map((p) => [p.metric.__name__, p.values]))).toEqual({
      parking_meter_hourly_revenueCents: [300],
      parking_meter_hourly_revenueCoinCents: [0],
      parking_meter_hourly_revenueCardCents: [300],
      parking_meter_hourly_revenueSmsCents: [0],
      parking_meter_hourly_payments: [1],
      parking_meter_hourly_paidMinutes: [15],
      parking_meter_hourly_paidOccupancy: [0.25],
    });
  });

  it('dead-letters a rollup or health report holding a value outside the schema and never writes it', async () => {
    const url = inject('influxUrl');
    const { bus, sink, metrics } = await setup(url);
    const letters: DeadLetter[] = [];
    await bus.subscribe({
      groupId: `dlq-${suffix()}`,
      topics: [TOPICS.deadLetters],
      fromBeginning: true,
      handler: async (batch) => {
        for (const m of batch) letters.push(DeadLetter.parse(JSON.parse(m.value)));
      },
    });
    const id = suffix();
    const rollup = JSON.stringify({
      kind: 'water-meter',
      scope: 'device',
      deviceId: `WM-${id}`,
      district: 'D',
      period: 'hour',
      start: new Date(BASE_MS).toISOString(),
      values: { consumptionL: 1, pressureKpa: 300 },
    });
    const report = JSON.stringify({
      component: 'services',
      instance: `h-${id}`,
      ts: new Date(BASE_MS).toISOString(),
      values: { messages_in: 1, queue_depth: 4 },
    });
    await bus.produce(TOPICS.rollups, [{ key: `WM-${id}`, value: rollup }]);
    await bus.produce(TOPICS.health, [{ key: `services:h-${id}`, value: report }]);
    await bus.produce(TOPICS.devices, [{ key: 'x', value: '{"deviceId":"x"' }]);
    await expect.poll(() => letters.length, { timeout: 10_000 }).toBe(3);
    const byCode = (code: string) => letters.filter((l) => l.errorCode === code);
    expect(
      byCode('ERR_SINK_SCHEMA').map((l) => [Buffer.from(l.rawBase64, 'base64').toString(), l.issues[0]?.path, l.stage]),
    ).toEqual([
      [rollup, 'values.pressureKpa', 'processing'],
      [report, 'values.queue_depth', 'processing'],
    ]);
    expect(byCode('ERR_SINK_SCHEMA')[0]?.message).toMatch(/water_meter_hourly\.pressureKpa \(fields: consumptionL\)/);
    expect(byCode('ERR_DEVICE_INFO_JSON')).toHaveLength(1);
    expect(await metrics.value('sink_influx_messages_received_total')).toBe(3);
    expect(sink.stats().bufferPoints).toBe(0);
    expect(await exportSeries(url, `{device_id="WM-${id}"}`)).toEqual([]);
    expect(await exportSeries(url, `{instance="h-${id}"}`)).toEqual([]);
  });

  it('writes its own health as a HealthReport through health.v1 when a reporter samples its metrics', async () => {
    const url = inject('influxUrl');
    const { bus, sink, metrics } = await setup(url);
    const instance = `sink-${suffix()}`;
    const reporter = startHealthReporter({
      bus,
      component: 'sink-influx',
      instance,
      intervalMs: 0,
      logger: silentLogger(),
      sample: metricsSampler(metrics, {
        buffer_bytes: 'sink_influx_buffer_bytes',
        points_written: 'sink_influx_points_written_total',
        write_retries: 'sink_influx_write_retries_total',
      }),
    });
    onTestFinished(() => reporter.close());
    expect(await reporter.report()).toBe(true);
    await expect.poll(() => sink.stats().pointsWritten, { timeout: 10_000 }).toBe(1);
    const series = await exportSeries(
      url,
      `{__name__=~"pipeline_health_.*",component="sink-influx",instance="${instance}"}`,
    );
    expect(new Set(series.map((s) => s.metric.__name__))).toEqual(
      new Set([
        'pipeline_health_buffer_bytes',
        'pipeline_health_points_written',
        'pipeline_health_write_retries',
        'pipeline_health_rss_bytes',
      ]),
    );
  });

  it('round-trips tag values with spaces, commas, equals signs and backslashes when escaped', async () => {
    const url = inject('influxUrl');
    const writer = createInfluxWriter(influxSinkConfigSchema.parse({ url }));
    const id = suffix();
    const values = ['a b', 'a,b', 'a=b', 'a\\b', 'é ü ✓', ' lead', 'x,y=z w'];
    const body = values.map((v, i) => `escape_${id},case=${i},v=${escapeKey(v)} f=${i} ${BASE_MS}\n`).join('');
    expect(await writer.write(body)).toEqual({ kind: 'written' });
    const series = await exportSeries(url, `{__name__="escape_${id}_f"}`);
    const back = Object.fromEntries(series.map((s) => [s.metric.case, s.metric.v]));
    expect(values.map((_, i) => back[String(i)])).toEqual(values);
  });

  it('keeps points on disk while the server is unreachable and writes them after a restart of the sink', async () => {
    const url = inject('influxUrl');
    const dir = mkdtempSync(join(tmpdir(), 'vigie-sink-restart-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const id = suffix();
    // 1. A sink pointed at a closed port: batches are acknowledged once on disk, nothing is written.
    const down = await setup('http://127.0.0.1:9', { retryInitialDelayMs: 50, retryMaxDelayMs: 200 }, dir);
    const messages = Array.from({ length: 100 }, (_, i) => ({
      key: `WM-${id}`,
      value: JSON.stringify({ deviceId: `WM-${id}`, kind: 'water-meter', ts: BASE_MS + i, metrics: { indexL: i } }),
    }));
    await down.bus.produce(TOPICS.readings('water-meter'), messages);
    await expect.poll(() => down.sink.stats().bufferPoints, { timeout: 5_000 }).toBe(100);
    await expect.poll(() => down.bus.lag('sink-influx', TOPICS.readings('water-meter')), { timeout: 5_000 }).toBe(0);
    expect(down.sink.stats().writeRetries).toBeGreaterThan(0);
    await down.close();
    // 2. A new process (new bus, same buffer folder) pointed at the server writes them first.
    const up = await setup(url, {}, dir);
    await up.sink.drain(10_000);
    const [series] = await exportSeries(url, `{__name__="water_meter_indexL",device_id="WM-${id}"}`);
    expect(series?.values).toEqual(messages.map((_, i) => i));
    expect(series?.timestamps).toEqual(messages.map((_, i) => BASE_MS + i));
  });

  it('changes nothing when the same readings are written again after a replay (deduplicating server)', async () => {
    const vm = await startVictoriaMetrics({ dedicated: true, dedupIntervalMs: 1 });
    onTestFinished(() => vm.stop());
    const id = suffix();
    const messages = Array.from({ length: 50 }, (_, i) => ({
      key: `WM-${id}`,
      value: JSON.stringify({
        deviceId: `WM-${id}`,
        kind: 'water-meter',
        ts: BASE_MS + i * 1_000,
        metrics: { indexL: i },
      }),
    }));
    for (let round = 0; round < 2; round++) {
      const { bus, sink } = await setup(vm.url);
      await bus.produce(TOPICS.readings('water-meter'), messages);
      await expect.poll(() => sink.stats().pointsWritten, { timeout: 10_000 }).toBe(50);
    }
    const [series] = await exportSeries(vm.url, `{__name__="water_meter_indexL",device_id="WM-${id}"}`);
    expect(series?.values).toEqual(messages.map((_, i) => i));
  });
});
