import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cliEnv } from '../../test/helpers/cli-env.ts';

const BIN = fileURLToPath(new URL('../../bin/vigie.mjs', import.meta.url));

async function vigie(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: cliEnv({ VIGIE_DATA_DIR: '/nonexistent-vigie-test' }),
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('vigie simulate', () => {
  it("prints the kind's default fleet credentials when --kind is given without --scenario", async () => {
    const { code, stdout } = await vigie('simulate', '--kind', 'streetlight', '--devices', '3', '--print-credentials');
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((c) => c.deviceId)).toEqual(['SL-000001', 'SL-000002', 'SL-000003']);
    expect(lines.every((c) => c.kind === 'streetlight' && /^C-[a-z]+-\d{2}$/.test(c.circuit))).toBe(true);
    const parking = await vigie('simulate', '--scenario', 'demo-parking', '--print-credentials');
    expect(parking.stdout.trim().split('\n')).toHaveLength(12);
    expect(JSON.parse(parking.stdout.split('\n')[0] as string)).toMatchObject({ deviceId: 'PM-000001' });
  });

  it('prints the default fleets of the mobility kinds (BS-, CS-, CP-) placed in Mulhouse when --kind names one', async () => {
    for (const [kind, prefix] of [
      ['bike-station', 'BS'],
      ['car-share', 'CS'],
      ['car-park', 'CP'],
    ] as const) {
      const { code, stdout } = await vigie('simulate', '--kind', kind, '--devices', '2', '--print-credentials');
      expect(code, kind).toBe(0);
      const lines = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((c) => c.deviceId)).toEqual([`${prefix}-000001`, `${prefix}-000002`]);
      expect(lines.every((c) => c.kind === kind && Math.abs(c.lat - 47.75) < 0.05 && c.district)).toBe(true);
    }
  });

  it('exits 2 with a one-line reason when --scenario and --kind disagree or --kind is unknown', async () => {
    const mismatch = await vigie('simulate', '--kind', 'sensor', '--scenario', 'demo-parking', '--print-credentials');
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr.trim().split('\n')).toHaveLength(1);
    expect(mismatch.stderr).toMatch(/demo-parking simulates parking-meter, not --kind sensor/);
    const unknown = await vigie('simulate', '--kind', 'toaster', '--print-credentials');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /--kind "toaster" \(one of water-meter, streetlight, parking-meter, sensor, bike-station, car-share, car-park\)/,
    );
  });
});
