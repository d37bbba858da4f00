import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { telemetryTopic } from '../../core/contracts/index.ts';
import { cliEnv } from '../helpers/cli-env.ts';
import { freePort } from '../helpers/free-port.ts';

const BIN = fileURLToPath(new URL('../../bin/vigie.mjs', import.meta.url));
const HOUR_MS = 3_600_000;
const STEP_MS = 15 * 60_000;
const START_MS = Date.UTC(2026, 2, 1);
const RESIDENT = '+33611111111';

/** A leaking household's readings: 3 L/h from 02:00 on day 1 to 06:00 on day 2, then at rest. */
function readings(): Array<{ topic: string; payload: string }> {
  const out: Array<{ topic: string; payload: string }> = [];
  let litres = 1_000;
  for (let t = START_MS; t <= START_MS + 36 * HOUR_MS; t += STEP_MS) {
    const hour = new Date(t).getUTCHours();
    if (hour === 8 || hour === 20) litres += 30;
    if (t > START_MS + 2 * HOUR_MS && t <= START_MS + 30 * HOUR_MS) litres += 0.75;
    out.push({
      topic: telemetryTopic('water-meter', 'WM-R'),
      payload: JSON.stringify({ ts: new Date(t).toISOString(), metrics: { indexL: Math.floor(litres) } }),
    });
  }
  return out;
}

describe('vigie start across a crash', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigie-restart-'));
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('sends no SMS twice for the same alert transition when killed mid-stream and started again', async () => {
    const port = await freePort();
    const env = cliEnv({ VIGIE_DATA_DIR: dataDir, VIGIE_MQTT_PORT: String(port), VIGIE_MQTT_HOST: '127.0.0.1' });
    const cli = (...args: string[]) => promisify(execFile)(process.execPath, [BIN, ...args], { env });
    const startVigie = async () => {
      const child = spawn(process.execPath, [BIN, 'start', '--no-demo'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let output = '';
      child.stdout!.on('data', (d) => {
        output += d;
      });
      child.stderr!.on('data', (d) => {
        output += d;
      });
      await expect.poll(() => output, { timeout: 90_000 }).toMatch(/Vigie is running/);
      return child;
    };
    const smsKeys = (): string[] => {
      const file = join(dataDir, 'outbox', 'sms.ndjson');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { idempotencyKey: string }).idempotencyKey);
    };
    const connect = () =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        clientId: 'WM-R',
        username: 'WM-R',
        password: 'r-secret',
        clean: false,
        reconnectPeriod: 0,
      });

    // 1. Provision the meter and its resident through the command line, as an operator would.
    await cli('devices', 'add', '--id', 'WM-R', '--kind', 'water-meter', '--secret', 'r-secret');
    await cli('subscribe', '--device', 'WM-R', '--sms', RESIDENT);

    // 2. Stream until the leak SMS is out, then kill -9 while the meter is still publishing.
    const all = readings();
    const first = await startVigie();
    const client = await connect();
    let sent = 0;
    // A meter sends one reading at a time; 10 ms apart keeps the crash between the open and the resolution.
    while (smsKeys().length === 0 && sent < all.length) {
      await client.publishAsync(all[sent]!.topic, all[sent]!.payload, { qos: 1 });
      sent += 1;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(smsKeys()).toEqual([`WM-R:leak:1:open:sms:${RESIDENT}`]);
    // The meter keeps publishing; the process dies with some of these in flight (their promises never settle:
    // mqtt.js keeps unacknowledged QoS 1 packets for a resend, which the second session below covers).
    for (let i = sent; i < Math.min(sent + 20, all.length); i++)
      client.publish(all[i]!.topic, all[i]!.payload, { qos: 1 });
    const exited = new Promise((r) => first.once('exit', r));
    first.kill('SIGKILL');
    await exited;
    client.end(true);

    // 3. Start again; the meter re-uploads its whole history (as a gateway replays its buffer) and goes on.
    await startVigie();
    const again = await connect();
    for (const m of all) await again.publishAsync(m.topic, m.payload, { qos: 1 });
    await expect
      .poll(() => smsKeys().some((k) => k.startsWith('WM-R:leak:1:resolved')), { timeout: 60_000 })
      .toBe(true);
    await again.endAsync();

    // 4. Each transition reached the resident exactly once.
    const keys = smsKeys();
    expect(new Set(keys).size, keys.join(' ')).toBe(keys.length);
    expect(keys.filter((k) => k.startsWith('WM-R:leak:1:open'))).toHaveLength(1);
    expect(keys.filter((k) => k.startsWith('WM-R:leak:1:resolved'))).toHaveLength(1);
  });
});
