import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cliEnv } from '../test/helpers/cli-env.ts';
import { COMMANDS } from './commands/index.ts';

const BIN = fileURLToPath(new URL('../bin/vigie.mjs', import.meta.url));

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

describe('vigie command line', () => {
  it('prints help and exits 0 when every command is given --help', async () => {
    for (const command of COMMANDS) {
      const { code, stdout } = await vigie(command.name, '--help');
      expect(code, command.name).toBe(0);
      expect(stdout, command.name).toContain(`vigie ${command.name}`);
    }
  });

  it('exits 2 with a one-line reason when an argument is bad', async () => {
    for (const args of [
      ['replay', '--bogus'],
      ['nope'],
      ['bench', '--devices', 'many'],
      ['replay', '--input', 'x'],
      ['devices', 'add', '--id', 'bad/id', '--kind', 'water-meter', '--secret', 's'],
      ['devices', 'frobnicate'],
    ]) {
      const { code, stderr } = await vigie(...args);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });

  it('exits 1 naming the variable when the configuration is bad', async () => {
    const { code, stderr } = await promisify(execFile)(
      process.execPath,
      [BIN, 'replay', '--input', '-', '--output', '-'],
      {
        env: cliEnv({ VIGIE_MQTT_PORT: 'x' }),
      },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(/VIGIE_MQTT_PORT="x"/);
  });
});
