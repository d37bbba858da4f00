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
});
