import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/vigie.mjs', import.meta.url));

/**
 * Runs a load generator in a child process (`vigie bench --worker` for mqtt.js devices, `--raw-worker` for the raw
 * socket generator), so the broker under test keeps a core to itself; resolves with what the child reports.
 */
export function loadInWorker<T>(
  flag: '--worker' | '--raw-worker',
  options: object,
  onChild?: (child: ChildProcess) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(BIN, ['bench', flag, JSON.stringify(options)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    onChild?.(child);
    let result: T | undefined;
    child.once('message', (m) => {
      result = m as T;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(`load generator exited with code ${code} before reporting`));
    });
  });
}
