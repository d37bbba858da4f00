import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../cli/config.ts';
import { ALL_MIGRATIONS, startPipeline } from '../../cli/pipeline.ts';
import { AlertTransition, type Reading, TOPICS, telemetryTopic } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { openStore } from '../../core/store/open.ts';
import { fleetCredentials, generateReadings, loadScenario } from '../../simulators/index.ts';
import { cliEnv, HOUR_FREE_ENV } from '../helpers/cli-env.ts';

const BIN = fileURLToPath(new URL('../../bin/vigie.mjs', import.meta.url));

describe('vigie replay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigie-replay-eq-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the same alerts as the live pipeline for the same readings', async () => {
    // 1. Three days of the leak scenario (20 homes, 5 leaking), then one closing reading per meter a day later,
    //    so both runs have released every real reading from their reorder buffers.
    const scenario = loadScenario('leak');
    const startMs = Date.parse(scenario.startTs);
    const readings: Reading[] = [...generateReadings({ scenario, endMs: startMs + 72 * 3_600_000 })];
    const lastTs = new Map(readings.map((r) => [r.deviceId, r]));
    const closingMs = startMs + 96 * 3_600_000;
    const closing = [...lastTs.values()].map((r) => ({ ...r, ts: new Date(closingMs).toISOString() }));
    const all = [...readings, ...closing];

    // 2. Live: every reading over MQTT through ingest, processors and the in-process bus.
    const store = await openStore({ pgliteDir: 'memory://' }, ALL_MIGRATIONS);
    const config = loadConfig({
      ...HOUR_FREE_ENV,
      VIGIE_DATA_DIR: dir,
      VIGIE_MQTT_PORT: '0',
      VIGIE_MQTT_HOST: '127.0.0.1',
    });
    const pipeline = await startPipeline({ config, logger: silentLogger(), store });
    const credentials = fleetCredentials({ seed: scenario.seed, devices: scenario.devices });
    await pipeline.registry.provision(credentials);
    const live: AlertTransition[] = [];
    await pipeline.bus.subscribe({
      groupId: 'replay-equivalence',
      topics: [TOPICS.alerts],
      fromBeginning: true,
      handler: async (batch) => {
        for (const m of batch) live.push(AlertTransition.parse(JSON.parse(m.value)));
      },
    });
    const clients = new Map(
      await Promise.all(
        credentials.map(
          async (c) =>
            [
              c.deviceId,
              await mqtt.connectAsync(`mqtt://127.0.0.1:${pipeline.mqttPort}`, {
                clientId: c.deviceId,
                username: c.deviceId,
                password: c.secret,
                reconnectPeriod: 0,
              }),
            ] as const,
        ),
      ),
    );
    for (const r of all) {
      const payload = JSON.stringify({ ts: r.ts, metrics: r.metrics, ...(r.flags ? { flags: r.flags } : {}) });
      await clients.get(r.deviceId)!.publishAsync(telemetryTopic('water-meter', r.deviceId), payload, { qos: 1 });
    }
    await expect.poll(() => pipeline.metrics.value('processor_readings_total'), { timeout: 30_000 }).toBe(all.length);
    await Promise.all([...clients.values()].map((c) => c.endAsync()));
    await pipeline.close();
    await store.close();

    // 3. Replay: the same readings from a file, through the command line.
    const input = join(dir, 'readings.ndjson');
    const output = join(dir, 'alerts.ndjson');
    writeFileSync(input, all.map((r) => JSON.stringify(r)).join('\n'));
    await promisify(execFile)(process.execPath, [BIN, 'replay', '--input', input, '--output', output], {
      env: cliEnv({ VIGIE_DATA_DIR: dir }),
    });
    const replayed = readFileSync(output, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => AlertTransition.parse(JSON.parse(l)));

    // 4. Same transitions, up to the closing readings (which only replay flushes at the end of its input).
    const key = (t: AlertTransition) => JSON.stringify(t);
    const settled = (list: AlertTransition[]) =>
      list
        .filter((t) => Date.parse(t.ts) < closingMs)
        .map(key)
        .sort();
    expect(settled(live).length).toBeGreaterThan(0);
    expect(settled(live).filter((k) => k.includes('"type":"leak"')).length).toBeGreaterThanOrEqual(5);
    expect(settled(replayed)).toEqual(settled(live));
  });
});
