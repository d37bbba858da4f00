import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { cliEnv } from '../../test/helpers/cli-env.ts';

const BIN = fileURLToPath(new URL('../../bin/vigie.mjs', import.meta.url));

describe('vigie bench', () => {
  it.each(['memory', 'kafka'])(
    'ends with the JSON line of CONTRACTS.md §2 when run briefly on the %s bus',
    async (busKind) => {
      // Figures are not asserted here (speed is a benchmark's business, not a test's): only that each is measured.
      const { stdout, stderr } = await promisify(execFile)(
        process.execPath,
        [BIN, 'bench', '--devices', '5', '--seconds', '2', '--bus', busKind],
        {
          env: cliEnv({
            VIGIE_DATA_DIR: '/nonexistent-vigie-bench',
            ...(busKind === 'kafka' ? { VIGIE_KAFKA_BROKERS: inject('kafkaBrokers').join(',') } : {}),
          }),
        },
      );
      const lines = stdout.trim().split('\n');
      const { bus, ...result } = JSON.parse(lines[lines.length - 1]!) as Record<string, number> & { bus: string };
      expect(Object.keys(result)).toEqual(['readingsPerSec', 'baselinePerSec', 'ratio', 'p50Ms', 'p99Ms', 'rssMb']);
      expect(bus).toBe(busKind);
      for (const [key, value] of Object.entries(result)) {
        expect(Number.isFinite(value), key).toBe(true);
        expect(value, key).toBeGreaterThan(0);
      }
      expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms!);
      expect(stderr).toMatch(/baseline \(bare Aedes\)/);
      expect(stderr).toMatch(/0 errors, 0 dead letters/);
    },
  );

  it.each([
    ['device', ['--connections', '20']],
    ['gateway', ['--connections', '2', '--per-gateway', '20', '--per-message', '10']],
    ['gateway', ['--connections', '2', '--per-gateway', '20', '--per-message', '1', '--batch', '5']],
  ])('reports every reading of the %s scenario on the bus when run briefly (%s)', async (scenario, extra) => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [BIN, 'bench', '--scenario', scenario, '--seconds', '1', ...extra],
      { env: cliEnv({ VIGIE_DATA_DIR: '/nonexistent-vigie-bench' }) },
    );
    const lines = stdout.trim().split('\n');
    const result = JSON.parse(lines[lines.length - 1]!) as Record<string, number | string>;
    expect(result.scenario).toBe(scenario);
    expect(result.errors).toBe(0);
    expect(result.published).toBeGreaterThan(0);
    // QoS 1 readings are all acknowledged; QoS 0 ones still in a socket when the generator hangs up may go unread.
    if (scenario === 'device') expect(result.delivered).toBe(result.published);
    else expect(result.delivered).toBeGreaterThan((result.published as number) * 0.9);
    for (const key of ['readingsPerSec', 'p50Ms', 'p99Ms', 'rssMb', 'cpuUsPerReading']) {
      expect(result[key], key).toBeGreaterThan(0);
    }
    expect(stderr).toMatch(new RegExp(`^${scenario}: `, 'm'));
  });
});
