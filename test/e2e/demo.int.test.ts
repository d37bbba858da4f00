import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../helpers/cli-env.ts';
import { readEml } from '../helpers/eml.ts';
import { freePort } from '../helpers/free-port.ts';

const BIN = fileURLToPath(new URL('../../bin/vigie.mjs', import.meta.url));

describe('vigie start (the npm start demo)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigie-demo-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('writes leak SMS to the outbox within 60 s of a fresh start and stops cleanly on SIGINT', async () => {
    const port = await freePort();
    const startedMs = Date.now();
    const child = spawn(process.execPath, [BIN, 'start'], {
      env: cliEnv({ VIGIE_DATA_DIR: dataDir, VIGIE_MQTT_PORT: String(port) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const sms = join(dataDir, 'outbox', 'sms.ndjson');
    const leakSms = () =>
      existsSync(sms)
        ? readFileSync(sms, 'utf8')
            .split('\n')
            .filter((l) => l.includes(':leak:'))
        : [];
    try {
      // The contract (CONTRACTS.md §1): within 60 seconds of start, leak alerts and resident SMS in the outbox.
      await expect
        .poll(() => leakSms().length, { timeout: 60_000 - (Date.now() - startedMs), interval: 500 })
        .toBeGreaterThan(0);
      expect(output).toContain(sms);
      expect(output).toContain(join(dataDir, 'logs', 'vigie.log'));
      const first = JSON.parse(leakSms()[0]!) as { to: string; body: string };
      expect(first.to).toMatch(/^\+33/);
      expect(first.body).toMatch(/fuite/);
      // The other kinds' demo fleets: streetlight and parking-meter alerts reach the operators' email outbox (file
      // names carry the alert id), within a minute more.
      const emailDir = join(dataDir, 'outbox', 'email');
      const emailsOf = (type: string) =>
        (existsSync(emailDir) ? readdirSync(emailDir) : []).filter((f) => f.includes(type));
      await expect.poll(() => emailsOf('_lamp-out_').length, { timeout: 60_000, interval: 500 }).toBeGreaterThan(0);
      await expect.poll(() => emailsOf('_fault_').length, { timeout: 60_000, interval: 500 }).toBeGreaterThan(0);
      // Operator emails may be grouped by district (one message listing the alerts): read what they name.
      const named = (prefix: string) =>
        readdirSync(emailDir).some((f) => {
          const mail = readEml(readFileSync(join(emailDir, f), 'utf8'));
          return `${mail.subject}\n${mail.body}`.includes(prefix);
        });
      expect(named('SL-')).toBe(true);
      expect(named('PM-')).toBe(true);
      expect(output).toMatch(/simulated streetlights/);
      // The HTTP API runs beside, with a demo operator token: the leak alerts are listed there too.
      const api = /HTTP API:\s+(\S+)/.exec(output)?.[1];
      const token = /demo token:\s+(\S+)/.exec(output)?.[1];
      expect(api, output).toMatch(/\/api\/alerts$/);
      expect((await fetch(api as string)).status).toBe(401);
      const listed = await fetch(`${api}?type=leak`, { headers: { authorization: `Bearer ${token}` } });
      expect(listed.status).toBe(200);
      const { alerts } = (await listed.json()) as { alerts: Array<{ type: string }> };
      expect(alerts.length).toBeGreaterThan(0);
      expect(alerts.every((a) => a.type === 'leak')).toBe(true);
      expect(readFileSync(join(dataDir, 'logs', 'vigie.log'), 'utf8')).not.toMatch(/"level":(50|60)/);
    } finally {
      // Always wait for the process to drain: the data folder is removed after the test.
      child.kill('SIGINT');
      await exited;
    }
    expect(await exited).toBe(0);
  });
});
