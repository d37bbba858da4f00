/**
 * The device registry in the operational store: which devices may connect, their kind, and a scrypt hash of their
 * secret (never the secret). Verification is cached for a few minutes after a success, so a reconnect storm of
 * hundreds of devices does not spend its CPU on scrypt again and again.
 *
 * Gateways: a device may name another registered device as its `gatewayId` (migration 002). The gateway may then
 * publish under that device's topics on its own connection; {@link DeviceRegistry.canPublishFor} answers this for
 * every such publish from a bounded cache (LRU with TTL), not from the store.
 */
import { createHash, randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../core/clock.ts';
import { DeviceId, Kind } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { migrationsFromDir } from '../core/store/migrate.ts';
import type { ComponentMigrations, SqlStore } from '../core/store/store.ts';

/** The ingest component's migrations (the `devices` table), for `openStore`. */
export const ingestMigrations: ComponentMigrations = migrationsFromDir(
  'ingest',
  fileURLToPath(new URL('./migrations', import.meta.url)),
);

/**
 * One device to provision: its id, its kind, its secret (the MQTT password, in clear only in transit), and
 * optionally the registered device acting as its gateway.
 */
export const DeviceCredentials = z
  .strictObject({
    deviceId: DeviceId,
    kind: Kind,
    secret: z.string().min(8, 'a secret of at least 8 characters').max(256, 'a secret of at most 256 characters'),
    gatewayId: DeviceId.optional(),
  })
  .refine((d) => d.gatewayId !== d.deviceId, { path: ['gatewayId'], message: 'a device is not its own gateway' });
/** One device to provision. */
export type DeviceCredentials = z.infer<typeof DeviceCredentials>;

/** A registered device, as `get` returns it (no secret, no hash). */
export interface DeviceRecord {
  readonly deviceId: string;
  readonly kind: string;
  /** The device that may publish for this one, or null. */
  readonly gatewayId: string | null;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601, or null while the device is enabled. */
  readonly disabledAt: string | null;
}

/** A device whose secret was verified. */
export interface VerifiedDevice {
  readonly deviceId: string;
  readonly kind: string;
}

/** A device a connected client may publish for (itself, or a device whose gateway it is). */
export interface PublishTarget {
  readonly deviceId: string;
  /** The target's registered kind (topics and payloads are checked against it). */
  readonly kind: string;
}

/** Options of the registry; the defaults suit production. */
export interface DeviceRegistryOptions {
  /**
   * scrypt cost N (power of two, default 4096 ≈ 15 ms here). Device secrets are random machine tokens, not human
   * passwords, so the hash guards storage rather than slowing guessing; a lower cost keeps restart storms short.
   * Stored hashes carry their own N, so changing it never breaks existing devices.
   */
  readonly scryptCost?: number;
  /**
   * How long a successful verification, and a device's kind and gateway for {@link DeviceRegistry.canPublishFor},
   * are remembered, in milliseconds (default 5 min). A gateway change made by another process (an operator's
   * `vigie devices import`) takes effect within it; one made through this registry at once.
   */
  readonly cacheTtlMs?: number;
  /** How long an unknown or disabled publish target is remembered, in milliseconds (default 10 s). */
  readonly negativeCacheTtlMs?: number;
  /**
   * Most remembered entries per cache (verifications; publish targets), least recently used evicted first
   * (default 20,000: a full ingest process).
   */
  readonly cacheMaxEntries?: number;
  /** scrypt computations at once (default 2): the libuv pool stays free for file and DNS work. */
  readonly maxConcurrentHashes?: number;
  /** Rows per INSERT when provisioning (default 500). */
  readonly batchSize?: number;
  /** Clock for cache expiry (default the system clock). */
  readonly clock?: Clock;
}

/** The registry API. */
export interface DeviceRegistry {
  /**
   * Creates or updates devices (upsert, idempotent: the same input twice changes nothing), re-enabling them. A
   * device without `gatewayId` has none afterwards. A `gatewayId` must name a device of the same call (in any
   * order) or one already registered, else `ERR_DEVICE_INVALID` and nothing is written.
   */
  provision(devices: readonly DeviceCredentials[]): Promise<void>;
  /** The device when `secret` is its secret and it is enabled; null otherwise (unknown, wrong, disabled). */
  verify(deviceId: string, secret: string): Promise<VerifiedDevice | null>;
  /**
   * Whether the client authenticated as `clientDeviceId` may publish under `topicDeviceId`'s topics: the target
   * (with its kind) when it is enabled and is the client itself or names the client as its gateway; null
   * otherwise. Answers from a bounded cache (LRU, TTL); concurrent misses for one device share one query.
   */
  canPublishFor(clientDeviceId: string, topicDeviceId: string): Promise<PublishTarget | null>;
  /** A registered device, or null. */
  get(deviceId: string): Promise<DeviceRecord | null>;
  /** Deletes a device; true when it existed. Its cached verification goes too. */
  remove(deviceId: string): Promise<boolean>;
}

const SCRYPT_KEY_BYTES = 32;
const SALT_BYTES = 16;

interface CacheEntry {
  readonly kind: string;
  readonly secretDigest: Buffer;
  readonly expiresAtMs: number;
}

/** What `canPublishFor` remembers of a device: null kind = unknown or disabled. */
interface RouteEntry {
  readonly kind: string | null;
  readonly gatewayId: string | null;
  readonly expiresAtMs: number;
}

interface DeviceRow {
  device_id: string;
  kind: string;
  gateway_id: string | null;
  secret_hash: string;
  created_at: Date | string;
  disabled_at: Date | string | null;
}

/** Creates the registry on a store whose migrations include {@link ingestMigrations}. */
export function createDeviceRegistry(store: SqlStore, options: DeviceRegistryOptions = {}): DeviceRegistry {
  const cost = options.scryptCost ?? 4096;
  if (!Number.isInteger(Math.log2(cost)) || cost < 2) {
    throw new AppError('ERR_CONFIG_INVALID', `scryptCost: ${cost} (a power of two ≥ 2)`);
  }
  const cacheTtlMs = options.cacheTtlMs ?? 5 * 60_000;
  const negativeTtlMs = options.negativeCacheTtlMs ?? 10_000;
  const cacheMax = options.cacheMaxEntries ?? 20_000;
  const batchSize = options.batchSize ?? 500;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const hashSlots = createSemaphore(options.maxConcurrentHashes ?? 2);
  // Map keeps insertion order: re-inserting on a hit makes the first key the least recently used.
  const cache = new Map<string, CacheEntry>();
  // Publish targets by device id, same LRU discipline; lookups in progress, so a burst of misses makes one query.
  const routes = new Map<string, RouteEntry>();
  const lookups = new Map<string, Promise<RouteEntry>>();

  async function hashSecret(secret: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const key = await hashSlots.run(() => scryptAsync(secret, salt, SCRYPT_KEY_BYTES, { N: cost, r: 8, p: 1 }));
    return `scrypt$${cost}$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
  }

  async function matches(secret: string, encoded: string): Promise<boolean> {
    const parts = encoded.split('$');
    if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
    const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
    const salt = Buffer.from(parts[4]!, 'base64');
    const expected = Buffer.from(parts[5]!, 'base64');
    if (expected.length === 0) return false;
    const actual = await hashSlots.run(() =>
      scryptAsync(secret, salt, expected.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }),
    );
    return timingSafeEqual(actual, expected);
  }

  function remember(deviceId: string, kind: string, secret: string): void {
    cache.delete(deviceId);
    cache.set(deviceId, { kind, secretDigest: sha256(secret), expiresAtMs: clock.nowMs() + cacheTtlMs });
    evictBeyond(cache, cacheMax);
  }

  function rememberRoute(deviceId: string, kind: string | null, gatewayId: string | null): RouteEntry {
    const entry = { kind, gatewayId, expiresAtMs: clock.nowMs() + (kind === null ? negativeTtlMs : cacheTtlMs) };
    routes.delete(deviceId);
    routes.set(deviceId, entry);
    evictBeyond(routes, cacheMax);
    return entry;
  }

  async function routeOf(deviceId: string): Promise<RouteEntry> {
    const hit = routes.get(deviceId);
    if (hit && hit.expiresAtMs > clock.nowMs()) {
      routes.delete(deviceId);
      routes.set(deviceId, hit);
      return hit;
    }
    let lookup = lookups.get(deviceId);
    if (!lookup) {
      lookup = store
        .query<Pick<DeviceRow, 'kind' | 'gateway_id'>>(
          'SELECT kind, gateway_id FROM devices WHERE device_id = $1 AND disabled_at IS NULL',
          [deviceId],
        )
        .then((res) => {
          const row = res.rows[0];
          return rememberRoute(deviceId, row?.kind ?? null, row?.gateway_id ?? null);
        })
        .finally(() => lookups.delete(deviceId));
      lookups.set(deviceId, lookup);
    }
    return lookup;
  }

  return {
    async provision(devices) {
      const valid = devices.map((d, i) => {
        const parsed = DeviceCredentials.safeParse(d);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new AppError(
            'ERR_DEVICE_INVALID',
            `device ${i + 1} (${preview(d?.deviceId)}): ${issue?.path.join('.')}: ${issue?.message}`,
          );
        }
        return parsed.data;
      });
      // The last occurrence of a device id wins, as a later line of a file would.
      const unique = [...new Map(valid.map((d) => [d.deviceId, d])).values()];
      await checkGateways(unique);
      for (let start = 0; start < unique.length; start += batchSize) {
        const batch = unique.slice(start, start + batchSize);
        const existing = await store.query<DeviceRow>(
          'SELECT device_id, kind, gateway_id, secret_hash, created_at, disabled_at FROM devices WHERE device_id = ANY($1::text[])',
          [batch.map((d) => d.deviceId)],
        );
        const byId = new Map(existing.rows.map((r) => [r.device_id, r]));
        const rows = await Promise.all(
          batch.map(async (d) => {
            const row = byId.get(d.deviceId);
            // Idempotent: an unchanged, enabled device is left as it is (same salt, same hash).
            if (row && row.kind === d.kind && row.disabled_at === null && (await matches(d.secret, row.secret_hash))) {
              return null;
            }
            return { deviceId: d.deviceId, kind: d.kind, secretHash: await hashSecret(d.secret) };
          }),
        );
        const changed = rows.filter((r) => r !== null);
        // The provisioner just proved each secret: the first connection of a fresh fleet then costs no scrypt.
        for (const d of batch) remember(d.deviceId, d.kind, d.secret);
        // Gateways are set once every device exists (second pass below): forget the old routes now.
        for (const d of batch) routes.delete(d.deviceId);
        if (changed.length === 0) continue;
        const params: string[] = [];
        const values = changed.map((r, i) => {
          params.push(r.deviceId, r.kind, r.secretHash);
          return `($${i * 3 + 1}, $${i * 3 + 2}, $${i * 3 + 3})`;
        });
        await store.query(
          `INSERT INTO devices (device_id, kind, secret_hash) VALUES ${values.join(', ')}
           ON CONFLICT (device_id) DO UPDATE
           SET kind = EXCLUDED.kind, secret_hash = EXCLUDED.secret_hash, disabled_at = NULL`,
          params,
        );
      }
      // Second pass: every device of the call exists now, so a gateway listed after its devices is no problem.
      for (let start = 0; start < unique.length; start += batchSize) {
        const batch = unique.slice(start, start + batchSize);
        await store.query(
          `UPDATE devices AS d SET gateway_id = v.gateway_id
           FROM unnest($1::text[], $2::text[]) AS v(device_id, gateway_id)
           WHERE d.device_id = v.device_id AND d.gateway_id IS DISTINCT FROM v.gateway_id`,
          [batch.map((d) => d.deviceId), batch.map((d) => d.gatewayId ?? null)],
        );
        for (const d of batch) rememberRoute(d.deviceId, d.kind, d.gatewayId ?? null);
      }
    },

    async verify(deviceId, secret) {
      if (typeof secret !== 'string' || secret.length === 0 || !DeviceId.safeParse(deviceId).success) return null;
      const hit = cache.get(deviceId);
      if (hit) {
        if (hit.expiresAtMs > clock.nowMs() && timingSafeEqual(hit.secretDigest, sha256(secret))) {
          cache.delete(deviceId);
          cache.set(deviceId, hit);
          return { deviceId, kind: hit.kind };
        }
        if (hit.expiresAtMs <= clock.nowMs()) cache.delete(deviceId);
      }
      const res = await store.query<Pick<DeviceRow, 'kind' | 'secret_hash'>>(
        'SELECT kind, secret_hash FROM devices WHERE device_id = $1 AND disabled_at IS NULL',
        [deviceId],
      );
      const row = res.rows[0];
      if (!row || !(await matches(secret, row.secret_hash))) return null;
      remember(deviceId, row.kind, secret);
      return { deviceId, kind: row.kind };
    },

    async canPublishFor(clientDeviceId, topicDeviceId) {
      if (!DeviceId.safeParse(topicDeviceId).success) return null;
      const route = await routeOf(topicDeviceId);
      if (route.kind === null) return null;
      if (topicDeviceId !== clientDeviceId && route.gatewayId !== clientDeviceId) return null;
      return { deviceId: topicDeviceId, kind: route.kind };
    },

    async get(deviceId) {
      const res = await store.query<DeviceRow>(
        'SELECT device_id, kind, gateway_id, secret_hash, created_at, disabled_at FROM devices WHERE device_id = $1',
        [deviceId],
      );
      const row = res.rows[0];
      if (!row) return null;
      return {
        deviceId: row.device_id,
        kind: row.kind,
        gatewayId: row.gateway_id,
        createdAt: new Date(row.created_at).toISOString(),
        disabledAt: row.disabled_at === null ? null : new Date(row.disabled_at).toISOString(),
      };
    },

    async remove(deviceId) {
      cache.delete(deviceId);
      routes.delete(deviceId);
      const res = await store.query('DELETE FROM devices WHERE device_id = $1', [deviceId]);
      // ON DELETE SET NULL detached its devices: their remembered gateway goes too.
      for (const [id, route] of routes) if (route.gatewayId === deviceId) routes.delete(id);
      return res.rowCount > 0;
    },
  };

  /** Throws ERR_DEVICE_INVALID when a gatewayId names neither a device of the call nor a registered one. */
  async function checkGateways(devices: readonly DeviceCredentials[]): Promise<void> {
    const listed = new Set(devices.map((d) => d.deviceId));
    const outside = [
      ...new Set(devices.flatMap((d) => (d.gatewayId && !listed.has(d.gatewayId) ? [d.gatewayId] : []))),
    ];
    if (outside.length === 0) return;
    const res = await store.query<{ device_id: string }>(
      'SELECT device_id FROM devices WHERE device_id = ANY($1::text[])',
      [outside],
    );
    const known = new Set(res.rows.map((r) => r.device_id));
    const missing = outside.filter((id) => !known.has(id));
    if (missing.length === 0) return;
    const first = devices.find((d) => d.gatewayId === missing[0]);
    throw new AppError(
      'ERR_DEVICE_INVALID',
      `device ${preview(first?.deviceId)}: gatewayId: unknown gateway ${preview(missing[0])}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''} (provision the gateway first, or in the same file)`,
    );
  }
}

/** Drops the least recently used entries (a Map's first keys) beyond `max`. */
function evictBeyond(map: Map<string, unknown>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) break;
    map.delete(oldest);
  }
}

/**
 * Reads a devices file for `vigie devices import FILE`: a JSON array, or NDJSON (one object per line, blank lines
 * skipped), of `{deviceId, kind, secret, gatewayId?}`. Throws `ERR_DEVICES_FILE` naming the file, the line and the problem.
 */
export async function loadDevicesFile(path: string): Promise<DeviceCredentials[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AppError('ERR_DEVICES_FILE', `cannot read devices file: ${path} (${(err as Error).message})`, {
      cause: err,
    });
  }
  const bad = (where: string, why: string) =>
    new AppError(
      'ERR_DEVICES_FILE',
      `${path} ${where}: ${why} (objects {"deviceId","kind","secret","gatewayId"?}, as a JSON array or one per line)`,
    );
  const check = (value: unknown, where: string): DeviceCredentials => {
    const parsed = DeviceCredentials.safeParse(value);
    if (parsed.success) return parsed.data;
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(object)'}: ${i.message}`);
    throw bad(where, issues.join('; '));
  };

  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let items: unknown;
    try {
      items = JSON.parse(text);
    } catch (err) {
      throw bad('', `not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(items)) throw bad('', 'not a JSON array');
    // The line where each top-level item starts, so the error names a line a person can open.
    const lines = itemLines(text, items.length);
    return items.map((item, i) => check(item, `line ${lines[i] ?? '?'} (item ${i + 1})`));
  }
  const devices: DeviceCredentials[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw bad(`line ${i + 1}`, `not valid JSON: ${(err as Error).message}`);
    }
    devices.push(check(value, `line ${i + 1}`));
  });
  return devices;
}

/** Line numbers (1-based) where the first `count` top-level array items of a JSON text start. */
function itemLines(text: string, count: number): number[] {
  const lines: number[] = [];
  let depth = 0;
  let line = 1;
  let inString = false;
  let escaped = false;
  let expectItem = false;
  for (let i = 0; i < text.length && lines.length < count; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (depth === 1 && expectItem && !/\s/.test(c)) {
      lines.push(line);
      expectItem = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectItem = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectItem = true;
  }
  return lines;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function preview(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : typeof value;
}

function scryptAsync(secret: string, salt: Buffer, keyLength: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keyLength, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** A counting semaphore with a FIFO queue. */
function createSemaphore(slots: number): { run<T>(fn: () => Promise<T>): Promise<T> } {
  let free = Math.max(1, slots);
  const waiting: Array<() => void> = [];
  return {
    async run(fn) {
      if (free > 0) free--;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await fn();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else free++;
      }
    },
  };
}
