import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as dashboardSdk from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkDashboard, queriesOf } from './check.ts';
import { INFLUX, INFLUX_DATASOURCE_UID, target, UIDS, vigieDashboard } from './common.ts';
import { type FluxQuery, type FluxRead, fluxFieldKeys, fluxQuery, readsOfFlux } from './flux.ts';
import { DASHBOARDS_DIR, generateDashboards } from './generate.ts';
import { SQL_DATASOURCE_UID } from './sql.ts';

const PROVISIONING_DIR = join(DASHBOARDS_DIR, '..', 'provisioning');
const generated = generateDashboards();
const committedFiles = readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json'));
const committed = (file: string): unknown => JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8'));

interface PanelJson {
  readonly type: string;
  readonly title: string;
  readonly targets?: ReadonlyArray<{ query: string }>;
}

/** A generated dashboard: its panels, variables and annotations, and what each panel's Flux reads. */
function built(uid: string) {
  const d = JSON.parse(generated[`${uid}.json`] ?? 'null') as {
    panels: PanelJson[];
    templating: { list: Array<{ name: string; query: string }> };
    annotations: { list: Array<{ name: string; target?: { query: string } }> };
  };
  expect(d, `no dashboard ${uid}`).not.toBeNull();
  const readsOf = (p: PanelJson): FluxRead[] => (p.targets ?? []).flatMap((t) => readsOfFlux(t.query).reads);
  /** The panel whose reads include `measurement` with all of `fields` (and the `tags`, when given). */
  const reading = (measurement: string, fields: readonly string[], tags: readonly string[] = []) =>
    d.panels.filter((p) =>
      readsOf(p).some(
        (r) =>
          r.measurement === measurement &&
          fields.every((f) => r.fields.includes(f)) &&
          tags.every((t) => r.tags.includes(t)),
      ),
    );
  return { d, reading, variables: new Map(d.templating.list.map((v) => [v.name, v])) };
}

/** A one-panel dashboard around a query, as a dashboard module would build it. */
function dashboardWith(query: FluxQuery, panelTitle = 'Panneau de test'): unknown {
  const panel = new stat.PanelBuilder().title(panelTitle).datasource(INFLUX).withTarget(target(query));
  return JSON.parse(JSON.stringify(vigieDashboard('test-dashboard', 'Test', 'test').withPanel(panel).build()));
}

describe('dashboards', () => {
  it('leaves the committed JSON unchanged when regenerated (else run `npm run dashboards`)', () => {
    expect(
      committedFiles.sort(),
      'grafana/dashboards/*.json differ from the dashboards: run `npm run dashboards`',
    ).toEqual(Object.keys(generated).sort());
    for (const [file, text] of Object.entries(generated)) {
      const onDisk = readFileSync(join(DASHBOARDS_DIR, file), 'utf8');
      expect(onDisk === text, `grafana/dashboards/${file} is stale: run \`npm run dashboards\``).toBe(true);
    }
  });

  it('generates the same text twice when nothing changed (no timestamps, stable order)', () => {
    expect(generateDashboards()).toEqual(generated);
    for (const text of Object.values(generated)) {
      expect(text.endsWith('}\n')).toBe(true);
      expect(text).toContain('\n  "');
    }
  });

  it.each(committedFiles)('reads only measurements, fields and tags the sink writes when built into %s', (file) => {
    const dashboard = committed(file);
    expect(queriesOf(dashboard).length).toBeGreaterThan(0);
    expect(checkDashboard(dashboard)).toEqual([]);
  });

  it('reports the dashboard, panel, measurement and field when a query reads a field the sink never writes', () => {
    const query = fluxQuery({ measurement: 'water_meter_district_hourly', fields: ['consumptionM3'] }, ['sum()']);
    const problems = checkDashboard(dashboardWith(query, 'Consommation fausse'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /dashboard "test-dashboard", panel "Consommation fausse" \(A\): measurement "water_meter_district_hourly" has no field "consumptionM3"/,
    );
  });

  it('reports a measurement the sink never writes and a tag the measurement does not have', () => {
    const unknownMeasurement = fluxQuery({ measurement: 'water_flow', fields: ['flowLph'] });
    expect(checkDashboard(dashboardWith(unknownMeasurement))).toEqual([
      expect.stringMatching(/panel "Panneau de test" \(A\): measurement "water_flow" is not written by the sink/),
    ]);
    const unknownTag = fluxQuery({
      measurement: 'pipeline_health',
      fields: ['dead_letters'],
      where: { stage: 'ingest' },
    });
    expect(checkDashboard(dashboardWith(unknownTag))).toEqual([
      expect.stringMatching(/measurement "pipeline_health" has no tag "stage"/),
    ]);
  });

  it('reports a variable listing the fields of a measurement the sink never writes', () => {
    const fields = fluxFieldKeys({ measurement: 'sensors', where: { device_id: 'S-1' } });
    const variable = new dashboardSdk.QueryVariableBuilder('metric').datasource(INFLUX).query(fields.text);
    const d = JSON.parse(
      JSON.stringify(vigieDashboard('test-dashboard', 'Test', 'test').withVariable(variable).build()),
    );
    expect(checkDashboard(d)).toEqual([
      expect.stringMatching(/variable "metric": measurement "sensors" is not written by the sink/),
    ]);
  });

  it('shows streetlights by state on a map, alerts by district and over time, energy and lit hours per district and circuit, a lamp against its dimming', () => {
    const { d, reading, variables } = built('vigie-streetlights');
    const types = (t: string) => d.panels.filter((p) => p.type === t).map((p) => p.title);
    expect(types('geomap')).toHaveLength(1);
    expect(reading('device', ['lat', 'lon']).map((p) => p.type)).toContain('geomap');
    // Alerts per district: the alert joined with the device's district.
    expect(reading('device', ['lat']).filter((p) => reading('alert', ['alert_id']).includes(p))).not.toHaveLength(0);
    expect(reading('alert', ['alert_id'], ['state']).map((p) => p.type)).toContain('timeseries');
    for (const scope of ['district', 'circuit']) {
      for (const period of ['hourly', 'daily']) {
        expect(reading(`streetlight_${scope}_${period}`, ['energyWh']), `${scope} ${period}`).not.toHaveLength(0);
      }
    }
    expect(reading('streetlight_district_hourly', ['litHours'])).not.toHaveLength(0);
    expect(reading('streetlight_circuit_daily', ['litHours', 'devices'], ['circuit'])).not.toHaveLength(0);
    expect(reading('streetlight', ['powerW', 'dimPct'], ['device_id'])).toHaveLength(1);
    expect([...variables.keys()]).toEqual(expect.arrayContaining(['district', 'circuit', 'lamp', 'streetlight']));
  });

  it('shows parking revenue per day, district and payment method, paid occupancy by hour of day, faults, meters to visit and a map', () => {
    const { d, reading } = built('vigie-parking');
    const daily = reading('parking_meter_district_daily', ['revenueCents'], ['district']);
    expect(daily).not.toHaveLength(0);
    const methods = reading('parking_meter_district_hourly', [
      'revenueCoinCents',
      'revenueCardCents',
      'revenueSmsCents',
    ]);
    expect(methods.map((p) => p.type)).toEqual(['piechart']);
    const byHour = reading('parking_meter_district_hourly', ['paidOccupancy']).filter((p) => p.type === 'barchart');
    expect(byHour).toHaveLength(1);
    expect(byHour[0]?.targets?.[0]?.query).toMatch(/date\.hour\(t: r\._time, location: timezone\.location/);
    for (const field of ['revenueCents', 'payments']) {
      expect(reading('parking_meter_district_hourly', [field]), field).not.toHaveLength(0);
    }
    expect(reading('alert', ['alert_id', 'summary'], ['type']).map((p) => p.type)).toContain('table');
    expect(reading('parking_meter', ['paperPct', 'batteryPct', 'coinFillPct']).map((p) => p.type)).toContain('table');
    expect(d.panels.filter((p) => p.type === 'geomap')).toHaveLength(1);
  });

  it('lets the sensors dashboard pick a sensor then one of its metrics, with its anomalies as annotations and a state timeline', () => {
    const { d, reading, variables } = built('vigie-sensors');
    expect(variables.get('sensor')?.query).toMatch(/schema\.tagValues\(.*tag: "device_id"/);
    expect(variables.get('metric')?.query).toMatch(/schema\.fieldKeys\(.*r\.device_id == "\$\{sensor\}"/);
    expect(reading('sensor', [`\${metric}`], ['device_id'])).toHaveLength(1);
    const annotation = d.annotations.list.find((a) => a.target?.query.includes('r.type == "anomaly"'));
    expect(annotation?.target?.query).toContain(`r.device_id == "\${sensor}"`);
    expect(d.panels.filter((p) => p.type === 'state-timeline')).toHaveLength(1);
    const byDevice = d.panels.find((p) => p.type === 'barchart');
    expect(byDevice?.targets?.[0]?.query).toMatch(/pivot\(rowKey: \["device_id"\], columnKey: \["severity"\]/);
  });

  it('reports a query not built by the Flux helper when it filters fields outside a select', () => {
    const handWritten: FluxQuery = {
      text: [
        'from(bucket: "telemetry")',
        '  |> range(start: -1h)',
        '  |> filter(fn: (r) => r._measurement == "alert")',
        '  |> filter(fn: (r) => r._field == "alert_id")',
        '  |> map(fn: (r) => r)',
        '  |> filter(fn: (r) => r._field == "secret")',
      ].join('\n'),
      reads: [],
    };
    expect(checkDashboard(dashboardWith(handWritten))).toEqual([
      expect.stringMatching(/filters _measurement\/_field outside a select/),
    ]);
  });

  it('reports a panel on another datasource', () => {
    const dashboard = dashboardWith(fluxQuery({ measurement: 'alert', fields: ['alert_id'] })) as {
      panels: Array<{ datasource: unknown }>;
    };
    const [panel] = dashboard.panels;
    if (panel) panel.datasource = { type: 'prometheus', uid: 'prom' };
    expect(checkDashboard(dashboard)).toEqual([
      expect.stringMatching(/datasource uid prom \(expected influxdb or vigie-postgres\)/),
    ]);
  });

  it('gives every dashboard a unique uid, every panel an id, a title and a description', () => {
    const dashboards = Object.values(generated).map((t) => JSON.parse(t) as Record<string, unknown>);
    const uids = dashboards.map((d) => d.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const d of dashboards) {
      const panels = d.panels as Array<Record<string, unknown>>;
      const ids = panels.map((p) => p.id);
      expect(new Set(ids).size, `${String(d.uid)}: panel ids`).toBe(ids.length);
      for (const p of panels) {
        expect(p.title, `${String(d.uid)}: a panel has no title`).toBeTruthy();
        expect(p.description, `${String(d.uid)}: panel "${String(p.title)}" has no description`).toBeTruthy();
        // The consultations' dashboard alone reads the operational store (its views), every other one InfluxDB.
        expect((p.datasource as { uid?: string }).uid).toBe(
          d.uid === UIDS.consultations ? SQL_DATASOURCE_UID : INFLUX_DATASOURCE_UID,
        );
      }
    }
  });

  it('points every query at a datasource uid that grafana/provisioning provisions, in Flux', () => {
    const dir = join(PROVISIONING_DIR, 'datasources');
    const datasources = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .flatMap(
        (f) =>
          (parse(readFileSync(join(dir, f), 'utf8')) as { datasources: Array<Record<string, unknown>> }).datasources,
      );
    const influx = datasources.find((d) => d.uid === INFLUX_DATASOURCE_UID);
    expect(
      influx,
      `no datasource with uid ${INFLUX_DATASOURCE_UID} under grafana/provisioning/datasources`,
    ).toMatchObject({
      type: 'influxdb',
      jsonData: { version: 'Flux' },
    });
    const postgres = datasources.find((d) => d.uid === SQL_DATASOURCE_UID);
    expect(
      postgres,
      `no datasource with uid ${SQL_DATASOURCE_UID} under grafana/provisioning/datasources`,
    ).toMatchObject({ type: 'grafana-postgresql-datasource', user: 'vigie_grafana', jsonData: { database: 'vigie' } });
    for (const [file, text] of Object.entries(generated)) {
      const expected = file === `${UIDS.consultations}.json` ? SQL_DATASOURCE_UID : INFLUX_DATASOURCE_UID;
      for (const q of queriesOf(JSON.parse(text))) {
        // Every dashboard keeps the bucket variable (on InfluxDB); the consultations' queries are SQL.
        if (q.where.endsWith('variable "bucket"')) expect(q.datasourceUid, q.where).toBe(INFLUX_DATASOURCE_UID);
        else expect(q.datasourceUid, q.where).toBe(expected);
      }
    }
  });

  it('provisions the folder the generator writes, as Grafana sees it in docker-compose.yml', () => {
    const provider = parse(readFileSync(join(PROVISIONING_DIR, 'dashboards', 'vigie.yaml'), 'utf8')) as {
      providers: Array<{ type: string; options: { path: string } }>;
    };
    expect(provider.providers).toEqual([
      expect.objectContaining({
        type: 'file',
        options: expect.objectContaining({ path: '/var/lib/grafana/dashboards' }),
      }),
    ]);
  });
});
