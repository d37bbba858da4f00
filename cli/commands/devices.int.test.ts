import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { openStore } from '../../core/store/open.ts';
import { createDeviceRegistry, type DeviceRegistry, ingestMigrations } from '../../ingest/device-registry.ts';
import { cliEnv } from '../../test/helpers/cli-env.ts';
import { createTestDatabase } from '../../test/helpers/postgres.ts';

const BIN = fileURLToPath(new URL('../../bin/vigie.mjs', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe('vigie devices', () => {
  /** A database of its own, a scratch folder, and `vigie devices …` run as a child process against them. */
  async function setup() {
    const db = await createTestDatabase(inject('databaseUrl'));
    const dir = await mkdtemp(join(tmpdir(), 'vigie-devices-cli-'));
    const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [ingestMigrations]);
    onTestFinished(async () => {
      await store.close();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    });
    const vigie = (args: string[], input?: string): Promise<Run> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, 'devices', ...args], {
          env: cliEnv({ DATABASE_URL: db.url, VIGIE_DATA_DIR: join(dir, 'data') }),
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
        });
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stdout, stderr }));
        child.stdin.end(input ?? '');
      });
    // A registry of the test's own, reading what the command wrote (no cache shared with it).
    const registry = (): DeviceRegistry => createDeviceRegistry(store);
    return { dir, vigie, registry };
  }

  /** The rows of a `deviceId,secret` CSV, header checked. */
  function secretsOf(csv: string): Map<string, string> {
    const [header, ...lines] = csv.trim().split('\n');
    expect(header).toBe('deviceId,secret');
    return new Map(lines.map((l) => l.split(',') as [string, string]));
  }

  it('writes generated secrets once to a new 0600 file and keeps them on a second import when a CSV has no secrets', async () => {
    const { dir, vigie, registry } = await setup();
    const file = join(dir, 'fleet.csv');
    await writeFile(
      file,
      'deviceId,kind,secret,devEui\nWM-1,water-meter,,70b3d57ed0000001\nWM-2,water-meter,,\nSL-1,streetlight,given-secret-1,\n',
    );
    const out = join(dir, 'secrets.csv');
    const first = await vigie(['import', file, '--secrets-out', out]);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(/^provisioned 3 devices \(3 created, 0 updated, 0 unchanged; 2 secrets generated → /);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const secrets = secretsOf(await readFile(out, 'utf8'));
    expect([...secrets.keys()]).toEqual(['WM-1', 'WM-2']);
    for (const [deviceId, secret] of secrets) {
      expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(await registry().verify(deviceId, secret)).toEqual({ deviceId, kind: 'water-meter' });
    }
    expect(await registry().verify('SL-1', 'given-secret-1')).not.toBeNull();
    expect(await registry().get('WM-1')).toMatchObject({ devEui: '70B3D57ED0000001' });
    // Again, from stdin: nothing generated, nothing printed but the summary, the secrets unchanged.
    const again = await vigie(['import', '-'], await readFile(file, 'utf8'));
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(again.stdout).toMatch(/^provisioned 3 devices \(0 created, 0 updated, 3 unchanged; 0 secrets generated\)/);
    expect(await registry().verify('WM-1', secrets.get('WM-1')!)).not.toBeNull();
    // The secrets file is never overwritten.
    const refused = await vigie(['import', file, '--secrets-out', out]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^vigie devices: cannot create the secrets file: .*secrets\.csv \(EEXIST/);
  });

  it('prints a generated secret on stdout and the summary on stderr when adding, rotating with grace and revoking', async () => {
    const { vigie, registry } = await setup();
    const added = await vigie(['add', '--id', 'PM-1', '--kind', 'parking-meter', '--dev-eui', '0004A30B001C0530']);
    expect(added.code).toBe(0);
    expect(added.stderr).toBe('provisioned PM-1; secret generated → stdout\n');
    const secret = secretsOf(added.stdout).get('PM-1')!;
    const rotated = await vigie(['rotate', '--id', 'PM-1', '--grace', '24h']);
    expect(rotated.code).toBe(0);
    expect(rotated.stderr).toMatch(
      /^rotated PM-1; the old secret works until \d{4}-\d\d-\d\dT[\d:.]+Z; secret generated → stdout\n$/,
    );
    const renewed = secretsOf(rotated.stdout).get('PM-1')!;
    expect(await registry().verify('PM-1', secret)).not.toBeNull();
    expect(await registry().verify('PM-1', renewed)).not.toBeNull();
    const revoked = await vigie(['revoke', '--id', 'PM-1']);
    expect(revoked).toMatchObject({ code: 0, stdout: 'revoked PM-1\n' });
    expect(await registry().verify('PM-1', renewed)).toBeNull();
    expect(await registry().get('PM-1')).toMatchObject({ disabledAt: expect.any(String) });
  });

  it('exits 1 for an unknown device and 2 with a one-line reason for a bad argument', async () => {
    const { vigie } = await setup();
    expect(await vigie(['revoke', '--id', 'WM-404'])).toMatchObject({ code: 1, stdout: 'no device WM-404\n' });
    for (const args of [
      ['rotate', '--id', 'WM-1', '--grace', '1y'],
      ['add', '--id', 'WM-1', '--kind', 'water-meter', '--dev-eui', 'xyz'],
      ['revoke'],
    ]) {
      const run = await vigie(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });

  it('places devices from an import, add and set, and names the bad value when one is wrong', async () => {
    const { dir, vigie, registry } = await setup();
    const file = join(dir, 'placed.csv');
    await writeFile(
      file,
      'deviceId,kind,district,lat,lon\nWM-1,water-meter,centre,47.7508,7.3359\nWM-2,water-meter,,,\n',
    );
    expect(await vigie(['import', file, '--secrets-out', join(dir, 's1.csv')])).toMatchObject({ code: 0, stderr: '' });
    expect(await registry().get('WM-1')).toMatchObject({ district: 'centre', lat: 47.7508, lon: 7.3359 });
    // Re-imported with another district: updated.
    await writeFile(
      file,
      'deviceId,kind,district,lat,lon\nWM-1,water-meter,rebberg,47.7508,7.3359\nWM-2,water-meter,,,\n',
    );
    const again = await vigie(['import', file]);
    expect(again.stdout).toMatch(/\(0 created, 1 updated, 1 unchanged;/);
    expect(await registry().get('WM-1')).toMatchObject({ district: 'rebberg' });
    const added = await vigie([
      'add',
      '--id',
      'SL-1',
      '--kind',
      'streetlight',
      '--district',
      'dornach',
      '--lat',
      '47.7473',
      '--lon',
      '7.3062',
    ]);
    expect(added.code).toBe(0);
    expect(await registry().get('SL-1')).toMatchObject({ district: 'dornach', lat: 47.7473, lon: 7.3062 });
    expect(await vigie(['set', 'WM-2', '--district', 'drouot', '--lat', '47.7561', '--lon', '7.3562'])).toMatchObject({
      code: 0,
      stdout: 'WM-2: district drouot; circuit none; lat 47.7561, lon 7.3562\n',
    });
    expect(await vigie(['set', '--id', 'WM-2', '--clear-district', '--clear-location'])).toMatchObject({
      code: 0,
      stdout: 'WM-2: district none; circuit none; no position\n',
    });
    expect(await vigie(['set', 'WM-404', '--district', 'centre'])).toMatchObject({
      code: 1,
      stderr: 'no device WM-404\n',
    });
    for (const [args, reason] of [
      [['set', 'WM-2', '--lat', '47.7'], /--lon: null \(lat and lon are given together\)/],
      [['set', 'WM-2', '--district', 'centre ville'], /--district: "centre ville" \(a district is/],
      [
        ['add', '--id', 'X-1', '--kind', 'sensor', '--lat', '100', '--lon', '7'],
        /--lat: 100 \(a latitude from -90 to 90/,
      ],
    ] as const) {
      const run = await vigie([...args]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(reason);
    }
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, 'deviceId,kind,lat,lon\nWM-3,water-meter,47.7,7.3\nWM-4,water-meter,47.7,\n');
    const refused = await vigie(['import', bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/bad\.csv line 3: lon: lat and lon are given together/);
    expect(await registry().get('WM-3')).toBeNull();
  });

  it('sets a circuit from an import, add and set, clears it, and names a bad one', async () => {
    const { dir, vigie, registry } = await setup();
    const file = join(dir, 'lamps.csv');
    await writeFile(
      file,
      'deviceId,kind,district,circuit\nSL-1,streetlight,dornach,AR-12\nSL-2,streetlight,dornach,\n',
    );
    expect(await vigie(['import', file, '--secrets-out', join(dir, 's.csv')])).toMatchObject({ code: 0, stderr: '' });
    expect(await registry().get('SL-1')).toMatchObject({ district: 'dornach', circuit: 'AR-12' });
    expect(await registry().get('SL-2')).toMatchObject({ circuit: null });
    const ndjson = `${JSON.stringify({ deviceId: 'SL-2', kind: 'streetlight', district: 'dornach', circuit: 'AR-13' })}\n`;
    expect((await vigie(['import', '-'], ndjson)).stdout).toMatch(/\(0 created, 1 updated, 0 unchanged;/);
    expect(await registry().get('SL-2')).toMatchObject({ circuit: 'AR-13' });
    const added = await vigie(['add', '--id', 'SL-3', '--kind', 'streetlight', '--circuit', 'AR-12']);
    expect(added.code).toBe(0);
    expect(await registry().get('SL-3')).toMatchObject({ district: null, circuit: 'AR-12' });
    expect(await vigie(['set', 'SL-3', '--circuit', 'AR-14', '--district', 'centre'])).toMatchObject({
      code: 0,
      stdout: 'SL-3: district centre; circuit AR-14; no position\n',
    });
    expect(await vigie(['set', '--id', 'SL-3', '--clear-circuit'])).toMatchObject({
      code: 0,
      stdout: 'SL-3: district centre; circuit none; no position\n',
    });
    expect(await registry().get('SL-3')).toMatchObject({ district: 'centre', circuit: null });
    for (const [args, reason] of [
      [['set', 'SL-3', '--circuit', 'AR 14'], /--circuit: "AR 14" \(a circuit is 1–64 characters/],
      [['set', 'SL-3', '--circuit', 'AR-1', '--clear-circuit'], /--circuit and --clear-circuit: both given/],
      [['add', '--id', 'SL-4', '--kind', 'streetlight', '--circuit', 'AR/1'], /--circuit: "AR\/1" \(a circuit is/],
    ] as const) {
      const run = await vigie([...args]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.stderr, args.join(' ')).toMatch(reason);
    }
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, 'deviceId,kind,circuit\nSL-5,streetlight,AR-1\nSL-6,streetlight,armoire 2\n');
    const refused = await vigie(['import', bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/bad\.csv line 3: circuit: a circuit is 1–64 characters/);
    expect(await registry().get('SL-5')).toBeNull();
  });
});
