import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { consultationsDashboard } from './consultations.ts';
import { meterDashboard } from './meter.ts';
import { parkingDashboard } from './parking.ts';
import { pipelineHealthDashboard } from './pipeline-health.ts';
import { sensorsDashboard } from './sensors.ts';
import { streetlightsDashboard } from './streetlights.ts';
import { waterNetworkDashboard } from './water-network.ts';

/** Folder the dashboards are written to, which Grafana's file provider reads (grafana/provisioning/dashboards). */
export const DASHBOARDS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'grafana', 'dashboards');

/** Every Vigie dashboard, built. */
export function buildDashboards(): dashboard.Dashboard[] {
  return [
    waterNetworkDashboard(),
    meterDashboard(),
    streetlightsDashboard(),
    parkingDashboard(),
    sensorsDashboard(),
    pipelineHealthDashboard(),
    consultationsDashboard(),
  ];
}

/** The JSON text of every dashboard by file name (`<uid>.json`): 2-space JSON and a newline, no timestamps. */
export function generateDashboards(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const built of buildDashboards()) {
    if (!built.uid) throw new Error(`dashboard "${built.title}" has no uid`);
    const file = `${built.uid}.json`;
    if (file in files) throw new Error(`two dashboards have the uid ${built.uid}`);
    files[file] = `${JSON.stringify(built, null, 2)}\n`;
  }
  return files;
}

/** Writes the dashboards into `dir` and removes JSON files no dashboard produces any more; returns the files. */
export function writeDashboards(dir = DASHBOARDS_DIR): string[] {
  const files = generateDashboards();
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.json') && !(name in files)) rmSync(join(dir, name));
  }
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return Object.keys(files);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const name of writeDashboards()) process.stdout.write(`grafana/dashboards/${name}\n`);
}
