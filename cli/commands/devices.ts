import { AppError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open.ts';
import { createDeviceRegistry, DeviceCredentials, loadDevicesFile } from '../../ingest/index.ts';
import { type Command, requiredOption } from '../command.ts';
import { loadConfig } from '../config.ts';
import { ALL_MIGRATIONS } from '../pipeline.ts';

/** `vigie devices`: the device registry (per-device credentials, stored only as salted scrypt hashes). */
export const devices: Command = {
  name: 'devices',
  summary: 'provision devices: import a file, add or remove one',
  help: `vigie devices import FILE|-       provision every device of a JSON array or NDJSON file of
                                   {"deviceId","kind","secret"} (- reads stdin)
vigie devices add --id ID --kind K --secret S
vigie devices remove --id ID

Secrets are stored only as salted scrypt hashes. Provisioning is idempotent. With the embedded store (PGlite),
run it while vigie is stopped; with PostgreSQL (DATABASE_URL), any time. Example:
  npx vigie simulate --scenario demo --print-credentials | npx vigie devices import -`,
  options: { id: { type: 'string' }, kind: { type: 'string' }, secret: { type: 'string' } },
  async run(values, positionals) {
    const [action, file] = positionals;
    // Arguments first: a mistake is reported before any store is opened or created.
    let work: (registry: ReturnType<typeof createDeviceRegistry>) => Promise<number>;
    if (action === 'import' && file) {
      const list = await loadDevicesFile(file === '-' ? '/dev/stdin' : file);
      work = async (registry) => {
        await registry.provision(list);
        process.stdout.write(`provisioned ${list.length} devices\n`);
        return 0;
      };
    } else if (action === 'add') {
      const device = parseDevice({
        deviceId: requiredOption(values, 'id'),
        kind: requiredOption(values, 'kind'),
        secret: requiredOption(values, 'secret'),
      });
      work = async (registry) => {
        await registry.provision([device]);
        process.stdout.write(`provisioned ${device.deviceId}\n`);
        return 0;
      };
    } else if (action === 'remove') {
      const id = requiredOption(values, 'id');
      work = async (registry) => {
        const removed = await registry.remove(id);
        process.stdout.write(removed ? `removed ${id}\n` : `no device ${id}\n`);
        return removed ? 0 : 1;
      };
    } else {
      process.stderr.write('vigie devices: import FILE | add --id --kind --secret | remove --id (see --help)\n');
      return 2;
    }
    const config = loadConfig();
    const store = await openStore({ databaseUrl: config.databaseUrl, pgliteDir: config.pgliteDir }, ALL_MIGRATIONS);
    try {
      return await work(createDeviceRegistry(store));
    } finally {
      await store.close();
    }
  },
};

/** Validates a device given on the command line with the registry's own schema. */
function parseDevice(device: Record<string, string>): DeviceCredentials {
  const result = DeviceCredentials.safeParse(device);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0]);
    const flag = key === 'deviceId' ? 'id' : key;
    throw new AppError('ERR_CLI_ARGS', `--${flag}: ${JSON.stringify(device[key])} (${issue.message})`);
  }
  return result.data;
}
