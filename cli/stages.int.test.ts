import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSubscriptions } from '../alerting/index.ts';
import { telemetryTopic } from '../core/contracts/index.ts';
import { openStore } from '../core/store/open.ts';
import { createDeviceRegistry } from '../ingest/index.ts';
import { cliEnv } from '../test/helpers/cli-env.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/postgres.ts';
import { dropKafkaNamespace } from './bus.ts';
import { loadConfig } from './config.ts';
import { ALL_MIGRATIONS } from './pipeline.ts';

const BIN = fileURLToPath(new URL('../bin/vigie.mjs', import.meta.url));
const HOUR_MS = 3_600_000;
const STEP_MS = 15 * 60_000;
const START_MS = Date.UTC(2026, 2, 1, 0, 0);
const DEVICE = 'WM-STAGES';
const SECRET = 'stages-secret-1';
const RESIDENT = '+33612340000';

/** A `vigie <stage>` child process and what it logged (JSON lines on stdout). */
interface Stage {
  readonly child: ChildProcess;
  readonly logs: Array<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: string;
}

function startStage(name: string, env: NodeJS.ProcessEnv): Stage {
  const child = spawn(process.execPath, [BIN, name], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stage: Stage = {
    child,
    logs: [],
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) stage.logs.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stage.stderr += chunk;
  });
  return stage;
}

const running = (stage: Stage) => stage.logs.find((l) => typeof l.msg === 'string' && l.msg.endsWith(': running'));

describe('vigie ingest, process and alert', () => {
  it('exits 2 naming VIGIE_KAFKA_BROKERS when it is not set', async () => {
    const result = await promisify(execFile)(process.execPath, [BIN, 'process'], {
      env: cliEnv({ VIGIE_DATA_DIR: '/nonexistent-vigie-stages' }),
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/vigie process: .*VIGIE_KAFKA_BROKERS/);
  });

  describe('as separate processes on Kafka', () => {
    let db: TestDatabase;
    let dataDir: string;
    let env: NodeJS.ProcessEnv;
    const stages: Stage[] = [];

    beforeAll(async () => {
      db = await createTestDatabase(inject('databaseUrl'));
      dataDir = mkdtempSync(join(tmpdir(), 'vigie-stages-'));
      const run = `stages-${process.pid}-${Date.now()}`;
      env = cliEnv({
        VIGIE_DATA_DIR: dataDir,
        DATABASE_URL: db.url,
        VIGIE_MQTT_HOST: '127.0.0.1',
        VIGIE_MQTT_PORT: '0',
        VIGIE_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
        VIGIE_KAFKA_NAMESPACE: run,
        VIGIE_KAFKA_CLIENT_ID: run,
        VIGIE_KAFKA_PARTITIONS: '2',
      });
      const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, ALL_MIGRATIONS);
      await createDeviceRegistry(store).provision([{ deviceId: DEVICE, kind: 'water-meter', secret: SECRET }]);
      await createSubscriptions(store).add({
        deviceId: DEVICE,
        channel: 'sms',
        address: RESIDENT,
        locale: 'fr',
        consent: 'operator',
      });
      await store.close();
    });

    afterAll(async () => {
      for (const stage of stages) if (stage.child.exitCode === null) stage.child.kill('SIGKILL');
      await Promise.all(stages.map((s) => s.exited));
      if (env) await dropKafkaNamespace(loadConfig(env).kafka);
      await db?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    const smsLines = (): Array<{ to: string; idempotencyKey: string }> => {
      const file = join(dataDir, 'outbox', 'sms.ndjson');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { to: string; idempotencyKey: string });
    };

    it("carries a meter's leak from vigie ingest through vigie process to vigie alert's outbox", async () => {
      const [ingest, processor, alert] = ['ingest', 'process', 'alert'].map((name) => startStage(name, env));
      stages.push(ingest!, processor!, alert!);
      for (const stage of stages) {
        await expect
          .poll(() => running(stage) ?? (stage.child.exitCode !== null ? stage.stderr : undefined), {
            timeout: 60_000,
          })
          .toMatchObject({ bus: expect.stringMatching(/^Kafka at /) });
      }
      const mqttPort = running(ingest!)!.mqttPort as number;
      expect(mqttPort).toBeGreaterThan(0);

      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
        clientId: DEVICE,
        username: DEVICE,
        password: SECRET,
        reconnectPeriod: 0,
      });
      // Quiet nights with a 3 L/h leak from 02:00 on day 1 to 06:00 on day 2: one SMS when it opens, one when it ends.
      let litres = 250_000;
      for (let t = START_MS; t <= START_MS + 34 * HOUR_MS; t += STEP_MS) {
        const hour = new Date(t).getUTCHours();
        if (hour === 7 || hour === 19) litres += 40;
        if (t > START_MS + 2 * HOUR_MS && t <= START_MS + 30 * HOUR_MS) litres += 3 * (STEP_MS / HOUR_MS);
        const payload = { ts: new Date(t).toISOString(), metrics: { indexL: Math.floor(litres), batteryPct: 80 } };
        await client.publishAsync(telemetryTopic('water-meter', DEVICE), JSON.stringify(payload), { qos: 1 });
      }
      await client.endAsync();
      await expect.poll(() => smsLines().filter((l) => l.to === RESIDENT).length, { timeout: 60_000 }).toBe(2);
      const keys = smsLines().map((l) => l.idempotencyKey);
      expect(keys[0]).toMatch(new RegExp(`^${DEVICE}:leak:1:open:`));
      expect(keys[1]).toMatch(new RegExp(`^${DEVICE}:leak:1:resolved:`));
    });

    it('drains and exits 0 within a few seconds of SIGTERM', async () => {
      expect(stages).toHaveLength(3);
      const sent = Date.now();
      for (const stage of stages) stage.child.kill('SIGTERM');
      const results = await Promise.all(stages.map((s) => s.exited));
      expect(Date.now() - sent).toBeLessThan(15_000);
      for (const [i, result] of results.entries()) {
        expect(result, stages[i]!.stderr).toEqual({ code: 0, signal: null });
        expect(stages[i]!.logs.some((l) => typeof l.msg === 'string' && l.msg.endsWith(': stopped'))).toBe(true);
      }
    });
  });
});
