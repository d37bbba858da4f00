import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createSubscriptions } from '../../alerting/index.ts';
import { ALL_MIGRATIONS } from '../../cli/pipeline.ts';
import { createKafkaBus } from '../../core/bus/kafka.ts';
import { partitionForKey } from '../../core/bus/partitioner.ts';
import { type Reading, TOPICS } from '../../core/contracts/index.ts';
import { openStore } from '../../core/store/open.ts';
import { generateReadings, loadScenario } from '../../simulators/index.ts';
import { cliEnv } from '../helpers/cli-env.ts';
import { createTestDatabase } from '../helpers/postgres.ts';
import { replayTransitions } from '../helpers/replay.ts';
import { startTwilioServer } from '../helpers/twilio-server.ts';

/**
 * Issue 3's crash acceptance on the real broker: 100,000 readings on Kafka, `vigie process` killed with SIGKILL in
 * the middle and a new one started, `vigie alert` sending SMS through the twilio library to a recording stand-in.
 * Every reading is processed (the alerts are exactly replay's for the same readings), every alert appears once in
 * the alert store, and no SMS is sent twice.
 */

const BIN = fileURLToPath(new URL('../../bin/vigie.mjs', import.meta.url));
const PARTITIONS = 8;
const DAY_MS = 86_400_000;

/** The demo fleet (300 meters: leaks, bursts, a backflow, silent meters) for 3.5 days, then a closer per partition. */
function fleetReadings(): Reading[] {
  const scenario = loadScenario('demo');
  const startMs = Date.parse(scenario.startTs);
  const readings = [...generateReadings({ scenario, endMs: startMs + 3.5 * DAY_MS })];
  const closers: Reading[] = [];
  for (let i = 0; closers.length < PARTITIONS; i++) {
    const id = `WM-CLOSE-${i}`;
    if (closers.some((r) => partitionForKey(r.deviceId, PARTITIONS) === partitionForKey(id, PARTITIONS))) continue;
    closers.push({
      deviceId: id,
      kind: 'water-meter',
      ts: new Date(startMs + 5 * DAY_MS).toISOString(),
      metrics: { indexL: 1 },
    });
  }
  return [...readings, ...closers];
}

describe('the Kafka deployment across a processor crash', () => {
  const children: ChildProcess[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'vigie-kafka-crash-'));
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('processes every reading, opens every alert once and sends no SMS twice when a processor is killed -9 mid-stream', async () => {
    const brokers = inject('kafkaBrokers');
    const namespace = `crash-${randomUUID().slice(0, 8)}`;
    const db = await createTestDatabase(inject('databaseUrl'));
    const twilio = await startTwilioServer();
    const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, ALL_MIGRATIONS);
    const bus = await createKafkaBus({ brokers, clientId: 'crash-test', namespace, defaultPartitions: PARTITIONS });
    const kafka = new Kafka({ clientId: 'crash-test-admin', brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const env = cliEnv({
        DATABASE_URL: db.url,
        VIGIE_DATA_DIR: dataDir,
        VIGIE_KAFKA_BROKERS: brokers.join(','),
        VIGIE_KAFKA_NAMESPACE: namespace,
        VIGIE_KAFKA_PARTITIONS: String(PARTITIONS),
        VIGIE_LOG_LEVEL: 'info',
        TWILIO_ACCOUNT_SID: twilio.accountSid,
        TWILIO_AUTH_TOKEN: twilio.authToken,
        TWILIO_FROM_NUMBER: '+33700000000',
        TWILIO_API_BASE_URL: twilio.url,
      });
      const stage = (name: string) => {
        const child = spawn(process.execPath, [BIN, name], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        let output = '';
        child.stdout!.on('data', (d) => {
          output += d;
        });
        child.stderr!.on('data', (d) => {
          output += d;
        });
        return { name, child, output: () => output };
      };
      const started: Array<ReturnType<typeof stage>> = [];
      /** A failed step names the stages that died and shows the end of every stage's log (CI keeps no other trace). */
      const explained = async <T>(step: () => Promise<T>): Promise<T> => {
        try {
          return await step();
        } catch (err) {
          const logs = started.map(
            (s) =>
              `--- vigie ${s.name} (pid ${s.child.pid}, ${s.child.exitCode === null ? 'running' : `exited ${s.child.exitCode}`}):\n${s.output().slice(-4_000)}`,
          );
          throw new Error(`${(err as Error).message}\n${logs.join('\n')}`, { cause: err });
        }
      };

      // 1. Every meter has a resident subscribed by SMS; 100,000 readings wait on Kafka.
      const readings = fleetReadings();
      expect(readings.length).toBeGreaterThanOrEqual(100_000);
      const meters = [...new Set(readings.map((r) => r.deviceId))];
      const subscriptions = createSubscriptions(store);
      for (const [i, deviceId] of meters.entries()) {
        await subscriptions.add({
          deviceId,
          channel: 'sms',
          address: `+336${String(i).padStart(8, '0')}`,
          locale: 'fr',
          consent: 'operator',
        });
      }
      const topic = TOPICS.readings('water-meter');
      await bus.ensureTopic(topic, { partitions: PARTITIONS });
      await bus.produce(
        topic,
        readings.map((r) => ({ key: r.deviceId, value: JSON.stringify(r) })),
      );
      const expected = await replayTransitions(readings);

      // 2. The stages: alerting, and a first processor killed -9 once it has committed part of the readings.
      started.push(stage('alert'));
      const first = stage('process');
      started.push(first);
      const committed = async () => {
        const [offsets] = await admin.fetchOffsets({
          groupId: `${namespace}.processors`,
          topics: [`${namespace}.${topic}`],
        });
        return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
      };
      await explained(() =>
        expect.poll(committed, { timeout: 120_000, interval: 100 }).toBeGreaterThan(readings.length * 0.3),
      );
      const exited = new Promise((r) => first.child.once('exit', r));
      first.child.kill('SIGKILL');
      await exited;
      const atKill = await committed();
      expect(atKill).toBeLessThan(readings.length);

      // 3. A new processor takes over and finishes.
      const second = stage('process');
      started.push(second);
      await explained(() => expect.poll(committed, { timeout: 180_000, interval: 250 }).toBe(readings.length));
      expect(second.output()).toMatch(/snapshot loaded/);

      // 4. Every alert once in the alert store, in the state replay ends it in.
      const finalState = new Map<string, string>();
      for (const t of expected) finalState.set(t.alertId, t.state);
      const rows = async () =>
        (await store.query<{ alert_id: string; state: string }>('SELECT alert_id, state FROM alerting_alerts')).rows;
      // Compared as counts and a few examples: a diff of 600 alerts would bury the rest of a CI log.
      const difference = async () => {
        const stored = new Map((await rows()).map((r) => [r.alert_id, r.state]));
        const missing = [...finalState.keys()].filter((id) => !stored.has(id));
        const wrong = [...stored].filter(([id, state]) => finalState.get(id) !== state);
        return {
          stored: stored.size,
          missing: missing.length,
          wrong: wrong.length,
          examples: [...missing, ...wrong.map(([id, s]) => `${id}=${s}`)].slice(0, 5),
        };
      };
      await explained(() =>
        expect
          .poll(difference, { timeout: 120_000, interval: 250 })
          .toEqual({ stored: finalState.size, missing: 0, wrong: 0, examples: [] }),
      );
      expect(expected.filter((t) => t.type === 'leak' && t.state === 'open').length).toBeGreaterThanOrEqual(10);

      // 5. No SMS twice: one delivery per (transition, resident), and the provider got exactly those.
      const deliveries = async () =>
        (
          await store.query<{ key: string; status: string }>(
            "SELECT idempotency_key AS key, status FROM alerting_deliveries WHERE channel = 'sms'",
          )
        ).rows;
      await expect
        .poll(async () => (await deliveries()).every((d) => d.status === 'sent'), { timeout: 60_000 })
        .toBe(true);
      const sent = await deliveries();
      expect(sent.length).toBeGreaterThan(0);
      const accepted = twilio.accepted().map((r) => `${r.form.To} ${r.form.Body}`);
      expect(accepted).toHaveLength(sent.length);
      expect(new Set(accepted).size).toBe(accepted.length);
    } finally {
      for (const c of children) c.kill('SIGTERM');
      await admin.disconnect();
      await bus.close();
      await store.close();
      await twilio.close();
      await db.drop().catch(() => {});
    }
    // The whole test within its steps' own limits (a loaded 2-core machine takes longer than the 120 s default).
  }, 300_000);
});
