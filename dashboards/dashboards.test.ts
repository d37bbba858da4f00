import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkDashboard, queriesOf } from './check.ts';
import { INFLUX, INFLUX_DATASOURCE_UID, target, vigieDashboard } from './common.ts';
import { type FluxQuery, fluxQuery } from './flux.ts';
import { DASHBOARDS_DIR, generateDashboards } from './generate.ts';

const PROVISIONING_DIR = join(DASHBOARDS_DIR, '..', 'provisioning');
const generated = generateDashboards();
const committedFiles = readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json'));
const committed = (file: string): unknown => JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8'));

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
    expect(checkDashboard(dashboard)).toEqual([expect.stringMatching(/datasource uid prom \(expected influxdb\)/)]);
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
        expect((p.datasource as { uid?: string }).uid).toBe(INFLUX_DATASOURCE_UID);
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
    for (const text of Object.values(generated)) {
      for (const q of queriesOf(JSON.parse(text))) expect(q.datasourceUid, q.where).toBe(INFLUX_DATASOURCE_UID);
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
