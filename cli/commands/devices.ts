import { type FileHandle, open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { AppError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open.ts';
import {
  createDeviceRegistry,
  type DeviceRegistry,
  DeviceSpec,
  type GeneratedSecret,
  LocationUpdate,
  loadDevicesFile,
  MAX_GRACE_MS,
  parseDevicesText,
} from '../../ingest/device-registry.ts';
import { type Command, requiredOption } from '../command.ts';
import { loadConfig } from '../config.ts';
import { ALL_MIGRATIONS } from '../pipeline.ts';

/** `vigie devices`: the device registry (per-device credentials, stored only as salted scrypt hashes). */
export const devices: Command = {
  name: 'devices',
  summary: 'provision devices: import a file, add, place, rotate a secret, revoke or remove one',
  help: `vigie devices import FILE|- [--secrets-out FILE]
      provision every device of FILE (- reads stdin): CSV with a header line
      deviceId,kind[,secret][,gatewayId][,devEui][,district][,circuit][,lat,lon], or a JSON array or NDJSON of
      {"deviceId","kind","secret"?,"gatewayId"?,"devEui"?,"district"?,"circuit"?,"lat"?,"lon"?}
vigie devices add --id ID --kind K [--secret S] [--gateway ID] [--dev-eui EUI] [--district D] [--circuit C]
      [--lat X --lon Y] [--secrets-out FILE]
vigie devices set ID|--id ID [--district D | --clear-district] [--circuit C | --clear-circuit]
      [--lat X --lon Y | --clear-location]
vigie devices rotate --id ID [--secret S] [--grace DURATION] [--secrets-out FILE]
vigie devices revoke --id ID
vigie devices remove --id ID

Secrets are stored only as salted scrypt hashes. Provisioning is idempotent. A device given without a secret keeps
its own when it is registered and enabled; a new or revoked one gets a generated secret (192 random bits, 32
URL-safe characters). Generated secrets are printed once, as CSV deviceId,secret: into --secrets-out FILE (created
with mode 0600; an existing file is refused), else on stdout (the summary then goes to stderr). They cannot be
shown again: a lost secret is replaced with rotate. devEui is a LoRaWAN DevEUI (16 hex digits, one device each).

district (1-64 of A-Z a-z 0-9 . _ -, e.g. a Mulhouse quartier: centre, rebberg, dornach) and lat/lon (WGS 84
degrees, both or neither) place a device for the rollups by district and the map; circuit (same characters) is the
feeder cabinet (armoire) a streetlight hangs on, for the energy rollups per circuit, or a parking meter's tariff
zone (rouge, orange, vert in the example tariffs), for its payments. All are published on devices.v1.
import and add describe the whole device: one listed without a district, circuit or position has none afterwards. set
changes only what it is given (or clears it) and leaves the rest of the device as it is.

rotate gives a device a new secret (--secret S, or generated), usable at once. Without --grace the old secret is
refused at once and a connected device is disconnected. With --grace DURATION (for example 30m, 24h, 7d; at most
30d) the old secret still works until it ends; a device still connected with it is then disconnected.

revoke disables a device: its next connection is refused and, if it is connected, the running ingest disconnects
it within a second. add or import enables it again (without --secret: with a new generated secret). remove deletes
it. With PostgreSQL (DATABASE_URL) run these any time; with the embedded store (PGlite) run them while vigie is
stopped (the store cannot be shared): they apply at the next start. Example:
  npx vigie simulate --scenario demo --print-credentials | npx vigie devices import -`,
  options: {
    id: { type: 'string' },
    kind: { type: 'string' },
    secret: { type: 'string' },
    gateway: { type: 'string' },
    'dev-eui': { type: 'string' },
    district: { type: 'string' },
    circuit: { type: 'string' },
    lat: { type: 'string' },
    lon: { type: 'string' },
    'clear-district': { type: 'boolean' },
    'clear-circuit': { type: 'boolean' },
    'clear-location': { type: 'boolean' },
    grace: { type: 'string' },
    'secrets-out': { type: 'string' },
  },
  async run(values, positionals) {
    const [action, file] = positionals;
    const secretsOut = typeof values['secrets-out'] === 'string' ? values['secrets-out'] : undefined;
    if (secretsOut === '') throw new AppError('ERR_CLI_ARGS', '--secrets-out: "" (a file path)');
    // Arguments first: a mistake is reported before any store is opened or created.
    let work: (registry: DeviceRegistry, secrets: SecretsSink) => Promise<number>;
    if (action === 'import' && file) {
      const list = file === '-' ? parseDevicesText(await readStdin(), 'stdin') : await loadDevicesFile(file);
      work = async (registry, secrets) => {
        const startedMs = performance.now();
        const result = await registry.provision(list, { onSecrets: (s) => secrets.write(s) });
        const seconds = ((performance.now() - startedMs) / 1000).toFixed(1);
        secrets.summary(
          `provisioned ${list.length} devices (${result.created} created, ${result.updated} updated, ` +
            `${result.unchanged} unchanged; ${result.generatedSecrets.length} secrets generated${secrets.where(result.generatedSecrets.length)}) in ${seconds} s`,
        );
        return 0;
      };
    } else if (action === 'add') {
      const device = parseDevice({
        deviceId: requiredOption(values, 'id'),
        kind: requiredOption(values, 'kind'),
        secret: values.secret,
        gatewayId: values.gateway,
        devEui: values['dev-eui'],
        district: values.district,
        circuit: values.circuit,
        lat: coordinate(values, 'lat'),
        lon: coordinate(values, 'lon'),
      });
      work = async (registry, secrets) => {
        const result = await registry.provision([device], { onSecrets: (s) => secrets.write(s) });
        secrets.summary(
          `provisioned ${device.deviceId}${result.generatedSecrets.length > 0 ? `; secret generated${secrets.where(1)}` : ''}`,
        );
        return 0;
      };
    } else if (action === 'set') {
      const id = file ?? requiredOption(values, 'id');
      const update = parseLocationUpdate(values);
      work = async (registry) => {
        const device = await registry.setLocation(id, update);
        if (!device) {
          process.stderr.write(`no device ${id}\n`);
          return 1;
        }
        const where = device.lat === null ? 'no position' : `lat ${device.lat}, lon ${device.lon}`;
        process.stdout.write(
          `${id}: district ${device.district ?? 'none'}; circuit ${device.circuit ?? 'none'}; ${where}\n`,
        );
        return 0;
      };
    } else if (action === 'rotate') {
      const id = requiredOption(values, 'id');
      const secret = optionalString(values, 'secret');
      const graceMs = values.grace === undefined ? 0 : parseDuration(values.grace);
      work = async (registry, secrets) => {
        const result = await registry.rotate(id, { ...(secret === undefined ? {} : { secret }), graceMs });
        if (!result) {
          process.stderr.write(`no device ${id}\n`);
          return 1;
        }
        if (result.generated) await secrets.write([{ deviceId: id, secret: result.secret }]);
        const old =
          result.previousSecretUntil === null
            ? 'the old secret is refused'
            : `the old secret works until ${result.previousSecretUntil}`;
        secrets.summary(`rotated ${id}; ${old}${result.generated ? `; secret generated${secrets.where(1)}` : ''}`);
        return 0;
      };
    } else if (action === 'revoke' || action === 'remove') {
      const id = requiredOption(values, 'id');
      work = async (registry) => {
        const done = action === 'revoke' ? await registry.revoke(id) : await registry.remove(id);
        process.stdout.write(done ? `${action === 'revoke' ? 'revoked' : 'removed'} ${id}\n` : `no device ${id}\n`);
        return done ? 0 : 1;
      };
    } else {
      process.stderr.write(
        'vigie devices: import FILE | add --id --kind | set ID | rotate --id | revoke --id | remove --id (see --help)\n',
      );
      return 2;
    }
    const config = loadConfig();
    const store = await openStore({ databaseUrl: config.databaseUrl, pgliteDir: config.pgliteDir }, ALL_MIGRATIONS);
    let sink: SecretsSink | undefined;
    try {
      sink = await openSecretsSink(secretsOut);
      // This process does nothing else: every core may hash.
      return await work(createDeviceRegistry(store, { maxConcurrentHashes: availableParallelism() }), sink);
    } finally {
      await sink?.close();
      await store.close();
    }
  },
};

/** Where generated secrets go (once): a new 0600 file, or stdout. */
interface SecretsSink {
  write(secrets: readonly GeneratedSecret[]): Promise<void>;
  /** The summary line: on stderr when stdout carries secrets. */
  summary(line: string): void;
  /** ` → FILE` / ` → stdout`, for the summary, when `count` secrets were generated. */
  where(count: number): string;
  close(): Promise<void>;
}

async function openSecretsSink(path: string | undefined): Promise<SecretsSink> {
  let handle: FileHandle | undefined;
  if (path !== undefined) {
    try {
      // wx: never overwrite, never write into a file someone else may already read.
      handle = await open(path, 'wx', 0o600);
    } catch (err) {
      throw new AppError(
        'ERR_DEVICES_SECRETS_OUT',
        `cannot create the secrets file: ${path} (${(err as Error).message}; a new file in a writable folder)`,
        { cause: err },
      );
    }
  }
  let headerWritten = false;
  let toStdout = false;
  return {
    async write(secrets) {
      if (secrets.length === 0) return;
      const text = `${headerWritten ? '' : 'deviceId,secret\n'}${secrets.map((s) => `${s.deviceId},${s.secret}\n`).join('')}`;
      headerWritten = true;
      if (handle) await handle.write(text);
      else {
        toStdout = true;
        await new Promise<void>((resolve, reject) =>
          process.stdout.write(text, (err) => (err ? reject(err) : resolve())),
        );
      }
    },
    summary(line) {
      (toStdout ? process.stderr : process.stdout).write(`${line}\n`);
    },
    where(count) {
      if (count === 0) return '';
      return path === undefined ? ' → stdout' : ` → ${path}`;
    },
    async close() {
      if (!handle) return;
      if (!headerWritten) await handle.write('deviceId,secret\n');
      await handle.close();
    },
  };
}

/** Validates a device given on the command line with the registry's own schema. */
function parseDevice(device: Record<string, unknown>): DeviceSpec {
  const given = Object.fromEntries(Object.entries(device).filter(([, v]) => v !== undefined));
  const result = DeviceSpec.safeParse(given);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0]);
    const flag = FLAGS[key] ?? key;
    throw new AppError('ERR_CLI_ARGS', `--${flag}: ${JSON.stringify(given[key])} (${issue.message})`);
  }
  return result.data;
}

const FLAGS: Record<string, string> = { deviceId: 'id', gatewayId: 'gateway', devEui: 'dev-eui' };

/** `--lat` / `--lon` as a number; anything else is left as text, for the schema to name. */
function coordinate(
  values: Record<string, string | boolean | undefined>,
  name: 'lat' | 'lon',
): number | string | undefined {
  const raw = values[name];
  if (typeof raw !== 'string') return undefined;
  const n = Number(raw);
  return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
}

/** The options of `vigie devices set`, validated with the registry's own schema. */
function parseLocationUpdate(values: Record<string, string | boolean | undefined>): LocationUpdate {
  const clearDistrict = values['clear-district'] === true;
  const clearCircuit = values['clear-circuit'] === true;
  const clearLocation = values['clear-location'] === true;
  if (clearDistrict && values.district !== undefined) {
    throw new AppError('ERR_CLI_ARGS', '--district and --clear-district: both given (one or the other)');
  }
  if (clearCircuit && values.circuit !== undefined) {
    throw new AppError('ERR_CLI_ARGS', '--circuit and --clear-circuit: both given (one or the other)');
  }
  if (clearLocation && (values.lat !== undefined || values.lon !== undefined)) {
    throw new AppError('ERR_CLI_ARGS', '--lat/--lon and --clear-location: both given (one or the other)');
  }
  const given: Record<string, unknown> = {};
  if (clearDistrict) given.district = null;
  else if (values.district !== undefined) given.district = values.district;
  if (clearCircuit) given.circuit = null;
  else if (values.circuit !== undefined) given.circuit = values.circuit;
  if (clearLocation) {
    given.lat = null;
    given.lon = null;
  } else {
    if (values.lat !== undefined) given.lat = coordinate(values, 'lat');
    if (values.lon !== undefined) given.lon = coordinate(values, 'lon');
  }
  if (Object.keys(given).length === 0) {
    throw new AppError(
      'ERR_CLI_ARGS',
      'vigie devices set: nothing to set (--district D, --circuit C, --lat X --lon Y, --clear-district, ' +
        '--clear-circuit or --clear-location)',
    );
  }
  const result = LocationUpdate.safeParse(given);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? 'lon');
    throw new AppError('ERR_CLI_ARGS', `--${key}: ${JSON.stringify(values[key] ?? null)} (${issue.message})`);
  }
  return result.data;
}

function optionalString(values: Record<string, string | boolean | undefined>, name: string): string | undefined {
  const raw = values[name];
  return typeof raw === 'string' ? raw : undefined;
}

/** All of stdin as text (a stream: /dev/stdin cannot be opened when stdin is a socket). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--grace`: an integer and a unit (ms, s, m, h, d), at most 30 days. */
export function parseDuration(raw: string | boolean | undefined): number {
  const match = typeof raw === 'string' ? /^(\d+)(ms|s|m|h|d)$/.exec(raw.trim()) : null;
  const ms = match ? Number(match[1]) * UNIT_MS[match[2]!]! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms > MAX_GRACE_MS) {
    throw new AppError(
      'ERR_CLI_ARGS',
      `--grace: ${JSON.stringify(raw)} (a duration such as 30m, 24h or 7d, at most 30d)`,
    );
  }
  return ms;
}
