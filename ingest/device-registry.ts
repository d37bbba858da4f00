/**
 * The device registry in the operational store: which devices may connect, their kind, and a scrypt hash of their
 * secret (never the secret). Verification is cached for a few minutes after a success, so a reconnect storm of
 * hundreds of devices does not spend its CPU on scrypt again and again.
 *
 * Gateways: a device may name another registered device as its `gatewayId` (migration 002). The gateway may then
 * publish under that device's topics on its own connection; {@link DeviceRegistry.canPublishFor} answers this for
 * every such publish from a bounded cache (LRU with TTL), not from the store.
 *
 * Provisioning at scale (migration 003, ingest/README.md "Provisioning"): bulk import with generated secrets, secret
 * rotation with an optional grace period, revocation, and LoRaWAN DevEUI aliases. Every change made through a
 * registry is written to `device_changes`; a registry being watched ({@link DeviceRegistry.watchRevocations}) polls
 * that log, so a revocation made by another process (`vigie devices revoke` on the same PostgreSQL) empties this
 * process's caches and disconnects the device within one poll interval.
 *
 * The directory (migration 004): each device's district and position (WGS 84), set by import or `setLocation`, read
 * by ingest/device-directory.ts, which publishes it on devices.v1 and follows the same change log
 * ({@link DeviceRegistry.watchChanges}). Migration 005 adds the device's circuit (a streetlight's feeder cabinet),
 * handled exactly as the district.
 */
import { createHash, randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../core/clock.ts';
import { DeviceId, District, KINDS, Kind } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { migrationsFromDir } from '../core/store/migrate.ts';
import type { ComponentMigrations, SqlStore } from '../core/store/store.ts';

/** The ingest component's migrations (the `devices` and `device_changes` tables), for `openStore`. */
export const ingestMigrations: ComponentMigrations = migrationsFromDir(
  'ingest',
  fileURLToPath(new URL('./migrations', import.meta.url)),
);

/** A LoRaWAN DevEUI: 16 hexadecimal digits, either case; stored and compared in upper case. */
export const DevEui = z
  .string()
  .regex(/^[0-9A-Fa-f]{16}$/, 'a DevEUI is 16 hexadecimal digits')
  .transform((s) => s.toUpperCase());

const Secret = z.string().min(8, 'a secret of at least 8 characters').max(256, 'a secret of at most 256 characters');

/**
 * A circuit (feeder cabinet): the characters of core/contracts `Circuit` (the district's), with an error message
 * that says circuit; the directory still validates every record against `DeviceInfo`.
 */
export const CircuitName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a circuit is 1–64 characters of A–Z, a–z, 0–9, ".", "_", "-"');

/** A latitude, WGS 84 degrees. */
export const Latitude = z
  .number({ error: 'a latitude in degrees, a number from -90 to 90' })
  .min(-90, 'a latitude from -90 to 90 degrees')
  .max(90, 'a latitude from -90 to 90 degrees');
/** A longitude, WGS 84 degrees. */
export const Longitude = z
  .number({ error: 'a longitude in degrees, a number from -180 to 180' })
  .min(-180, 'a longitude from -180 to 180 degrees')
  .max(180, 'a longitude from -180 to 180 degrees');

const deviceFields = {
  deviceId: DeviceId,
  kind: Kind,
  gatewayId: DeviceId.optional(),
  devEui: DevEui.optional(),
  district: District.optional(),
  circuit: CircuitName.optional(),
  lat: Latitude.optional(),
  lon: Longitude.optional(),
};
const notOwnGateway = (d: { deviceId: string; gatewayId?: string | undefined }) => d.gatewayId !== d.deviceId;
const notOwnGatewayIssue = { path: ['gatewayId'], message: 'a device is not its own gateway' };
const latLonTogether = (d: { lat?: number | null | undefined; lon?: number | null | undefined }) =>
  (d.lat === undefined) === (d.lon === undefined) && (d.lat === null) === (d.lon === null);
const latLonTogetherIssue = { path: ['lon'], message: 'lat and lon are given together' };

/**
 * One device with its secret (the MQTT password, in clear only in transit), optionally the registered device acting
 * as its gateway, its LoRaWAN DevEUI, its district, its circuit and its position (`lat`, `lon`: WGS 84 degrees, both
 * or neither).
 */
export const DeviceCredentials = z
  .strictObject({ ...deviceFields, secret: Secret })
  .refine(notOwnGateway, notOwnGatewayIssue)
  .refine(latLonTogether, latLonTogetherIssue);
/** One device with its secret. */
export type DeviceCredentials = z.infer<typeof DeviceCredentials>;

/**
 * One device to provision: as {@link DeviceCredentials}, but the secret may be left out: a new (or revoked) device
 * then gets a generated one, a registered enabled device keeps its own.
 */
export const DeviceSpec = z
  .strictObject({ ...deviceFields, secret: Secret.optional() })
  .refine(notOwnGateway, notOwnGatewayIssue)
  .refine(latLonTogether, latLonTogetherIssue);
/** One device to provision, as callers write it. */
export type DeviceSpec = z.input<typeof DeviceSpec>;

/** A registered device, as `get` returns it (no secret, no hash). */
export interface DeviceRecord {
  readonly deviceId: string;
  readonly kind: string;
  /** The device that may publish for this one, or null. */
  readonly gatewayId: string | null;
  /** Its LoRaWAN DevEUI (upper case), or null. */
  readonly devEui: string | null;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601, or null while the device is enabled. */
  readonly disabledAt: string | null;
  /** ISO 8601: until then the secret before the last rotation is still accepted; null when it is not. */
  readonly previousSecretUntil: string | null;
  /** Its district, or null (unassigned). */
  readonly district: string | null;
  /** Its circuit (a streetlight's feeder cabinet), or null. */
  readonly circuit: string | null;
  /** Its latitude (WGS 84 degrees), or null; set together with `lon`. */
  readonly lat: number | null;
  /** Its longitude (WGS 84 degrees), or null. */
  readonly lon: number | null;
  /** ISO 8601: when its kind, district, circuit, position or enabled state last changed. */
  readonly updatedAt: string;
}

/**
 * A change of a device's district, circuit or position ({@link DeviceRegistry.setLocation}): a key left out stays as
 * it is, null clears it; `lat` and `lon` go together.
 */
export const LocationUpdate = z
  .strictObject({
    district: District.nullable().optional(),
    circuit: CircuitName.nullable().optional(),
    lat: Latitude.nullable().optional(),
    lon: Longitude.nullable().optional(),
  })
  .refine(latLonTogether, latLonTogetherIssue);
/** A change of a device's district, circuit or position. */
export type LocationUpdate = z.input<typeof LocationUpdate>;

/** A device as the directory (devices.v1) describes it; a removed device is inactive. */
export interface DirectoryEntry {
  readonly deviceId: string;
  readonly kind: string;
  readonly district: string | null;
  /** The circuit (feeder cabinet), or null. */
  readonly circuit: string | null;
  readonly lat: number | null;
  readonly lon: number | null;
  /** False once revoked or removed. */
  readonly active: boolean;
  /** ISO 8601: when the registry last changed it (for a removed device: when it was removed). */
  readonly updatedAt: string;
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

/** A secret the registry generated: shown once, stored only as its hash. */
export interface GeneratedSecret {
  readonly deviceId: string;
  readonly secret: string;
}

/** What {@link DeviceRegistry.provision} did. */
export interface ProvisionResult {
  /** Devices that were not registered. */
  readonly created: number;
  /** Registered devices whose kind, secret, gateway or DevEUI changed, or that were re-enabled. */
  readonly updated: number;
  /** Registered devices left exactly as they were. */
  readonly unchanged: number;
  /** The secrets generated for devices listed without one, in input order. */
  readonly generatedSecrets: readonly GeneratedSecret[];
}

/** Options of one {@link DeviceRegistry.provision} call. */
export interface ProvisionOptions {
  /**
   * Called with the secrets generated for each batch once that batch is stored, before the next one: a caller
   * writing them to a file keeps them even when a later batch fails.
   */
  readonly onSecrets?: (secrets: readonly GeneratedSecret[]) => void | Promise<void>;
}

/** Options of {@link DeviceRegistry.rotate}. */
export interface RotateOptions {
  /** The new secret (8–256 characters); generated when absent. */
  readonly secret?: string;
  /** How long the old secret is still accepted, in milliseconds (default 0: refused at once; at most 30 days). */
  readonly graceMs?: number;
}

/** What {@link DeviceRegistry.rotate} did. */
export interface RotateResult {
  readonly deviceId: string;
  /** The new secret (to hand to the device; not kept by the registry). */
  readonly secret: string;
  /** True when the registry generated it. */
  readonly generated: boolean;
  /** ISO 8601 end of the grace period, or null when the old secret was refused at once. */
  readonly previousSecretUntil: string | null;
}

/** Options of {@link DeviceRegistry.watchRevocations}. */
export interface RevocationWatchOptions {
  /**
   * How often the change log is read, in milliseconds (default 250; the first watcher's value is used). A change
   * made by another process reaches this one within it.
   */
  readonly pollIntervalMs?: number;
  /** Called when reading the change log fails (it is read again at the next interval). */
  readonly onError?: (err: unknown) => void;
}

/** A running watch. */
export interface RevocationWatch {
  /** Resolves once the change log's position is read and the alias cache is loaded; rejects if the store fails. */
  readonly ready: Promise<void>;
  /** Stops this watch (the poll stops with the last one). */
  stop(): void;
}

/** The networks a LoRaWAN/SenML uplink can come from. */
export type AliasNetwork = 'chirpstack' | 'tts' | 'senml';

/** How an uplink names its device. */
export interface AliasRef {
  readonly network: AliasNetwork;
  /** The LoRaWAN DevEUI, 16 hexadecimal digits, either case. */
  readonly devEui?: string;
  /** The network's device id (The Things Stack `device_id`, a SenML name) when it is the Vigie deviceId. */
  readonly deviceId?: string;
  /** The network's application id (not used for matching: a DevEUI is unique on its own). */
  readonly applicationId?: string;
}

/** Options of the registry; the defaults suit production. */
export interface DeviceRegistryOptions {
  /**
   * scrypt cost N (power of two, default 4096 ≈ 15 ms here) for secrets given by the operator, which may be weak.
   * Stored hashes carry their own N, so changing it never breaks existing devices.
   */
  readonly scryptCost?: number;
  /**
   * scrypt cost N for secrets the registry generates (default 16 ≈ 0.15 ms). Those are 192 random bits: no hash
   * cost changes how guessable they are (a salted hash of such a token is as safe as a slow one), and a low cost
   * keeps a 100,000-device import and a reconnect storm short.
   */
  readonly generatedScryptCost?: number;
  /**
   * How long a successful verification, and a device's kind and gateway for {@link DeviceRegistry.canPublishFor},
   * are remembered, in milliseconds (default 5 min). A change made by another process reaches a watched registry
   * within its poll interval, an unwatched one within this TTL; one made through this registry applies at once.
   */
  readonly cacheTtlMs?: number;
  /** How long an unknown or disabled publish target or alias is remembered, in milliseconds (default 10 s). */
  readonly negativeCacheTtlMs?: number;
  /**
   * Most remembered entries per cache (verifications; publish targets), least recently used evicted first
   * (default 20,000: a full ingest process).
   */
  readonly cacheMaxEntries?: number;
  /**
   * Most devices in the alias cache behind {@link DeviceRegistry.resolveAlias} (default 500,000: about 90 MB at
   * the 185 bytes a device measured).
   * Below it the cache mirrors every enabled device and a miss is final; above it, a miss also looks the device up
   * in the background, so its next uplink resolves.
   */
  readonly aliasCacheMaxEntries?: number;
  /** scrypt computations at once (default 2): the libuv pool stays free for file and DNS work. */
  readonly maxConcurrentHashes?: number;
  /** Rows per INSERT when provisioning (default 500). */
  readonly batchSize?: number;
  /** Clock for cache expiry and grace periods (default the system clock). */
  readonly clock?: Clock;
}

/** The registry API. */
export interface DeviceRegistry {
  /**
   * Creates or updates devices (upsert, idempotent: the same input twice changes nothing), enabling them. A device
   * without `gatewayId` (`devEui`) has none afterwards. A `gatewayId` must name a device of the same call (in any
   * order) or one already registered, and a `devEui` must not belong to another device (unless that device is in
   * the call with another one), else `ERR_DEVICE_INVALID` and nothing is written. A device listed without a secret
   * keeps its secret when it is registered and enabled, and gets a generated one otherwise (in the result, and
   * through `onSecrets`). A registered enabled device whose secret or kind changes is reported to the watchers, so
   * its connection closes. Rows are written in batches, not in one transaction: a failure leaves earlier batches
   * written (running the call again completes it).
   */
  provision(devices: readonly DeviceSpec[], options?: ProvisionOptions): Promise<ProvisionResult>;
  /**
   * The device when `secret` is its secret, or its previous secret within a rotation's grace period, and it is
   * enabled; null otherwise (unknown, wrong, disabled).
   */
  verify(deviceId: string, secret: string): Promise<VerifiedDevice | null>;
  /**
   * Whether the client authenticated as `clientDeviceId` may publish under `topicDeviceId`'s topics: the target
   * (with its kind) when it is enabled and is the client itself or names the client as its gateway; null
   * otherwise. Answers from a bounded cache (LRU, TTL); concurrent misses for one device share one query.
   */
  canPublishFor(clientDeviceId: string, topicDeviceId: string): Promise<PublishTarget | null>;
  /**
   * {@link DeviceRegistry.canPublishFor} answered synchronously from its cache (a fresh entry: the same answer it
   * would give); undefined when the cache does not know, and the caller asks `canPublishFor`.
   */
  canPublishForCached(clientDeviceId: string, topicDeviceId: string): PublishTarget | null | undefined;
  /** A registered device, or null. */
  get(deviceId: string): Promise<DeviceRecord | null>;
  /**
   * Gives an enabled device a new secret, usable at once; null when the device is unknown, `ERR_DEVICE_INVALID`
   * when it is revoked or an option is bad. Without a grace period the old secret is refused at once and the
   * watchers are told (its connection closes); with one, both work until it ends, then the watchers are told (a
   * connection still on the old secret closes; one already on the new secret reconnects once).
   */
  rotate(deviceId: string, options?: RotateOptions): Promise<RotateResult | null>;
  /**
   * Disables a device (kept in the store, refused at its next connection, watchers told: its connection closes);
   * true when it exists. A revoked gateway's devices stay enabled: the gateway's own connection closes, and it can
   * no longer publish for them. Provisioning the device again enables it.
   */
  revoke(deviceId: string): Promise<boolean>;
  /** Deletes a device; true when it existed. Its cached verification goes too, and the watchers are told. */
  remove(deviceId: string): Promise<boolean>;
  /**
   * Sets or clears a device's district, circuit and position (see {@link LocationUpdate}); the device as it is
   * afterwards, or null when it is unknown; `ERR_DEVICE_INVALID` when a value is bad. A real change is logged as
   * `updated` (change watchers told); the same values again change nothing.
   */
  setLocation(deviceId: string, update: LocationUpdate): Promise<DeviceRecord | null>;
  /**
   * Calls `onChanged` with the ids of devices whose directory entry may have changed (provisioned, updated,
   * revoked, removed; not rotated): through this registry at once, through another one on the same store within
   * `pollIntervalMs`. An id may be reported more than once, or for a change that altered nothing. Shares the poll of
   * {@link DeviceRegistry.watchRevocations}.
   */
  watchChanges(onChanged: (deviceIds: string[]) => void, options?: RevocationWatchOptions): RevocationWatch;
  /** Up to `limit` registered devices (enabled or not) with ids after `afterDeviceId`, in id order. */
  directoryPage(afterDeviceId: string, limit: number): Promise<DirectoryEntry[]>;
  /**
   * The entries of `deviceIds`: registered devices as they are, devices removed within the change log's retention
   * (a day) as inactive; ids known to neither are left out.
   */
  directoryEntries(deviceIds: readonly string[]): Promise<DirectoryEntry[]>;
  /** Devices removed within the change log's retention (a day) and not registered again, as inactive entries. */
  removedDevices(): Promise<DirectoryEntry[]>;
  /**
   * Calls `onRevoked` with the ids of devices whose connections must close: revoked, removed, rotated without grace,
   * rotated with grace once the grace period ends (this process's clock), or provisioned again with another secret or
   * kind; through this registry at once, through another one on the same store within `pollIntervalMs`. A revoked
   * gateway's devices are not reported. An id may be reported more than once. Also keeps the caches of this registry
   * fresh with the other processes' changes.
   */
  watchRevocations(onRevoked: (deviceIds: string[]) => void, options?: RevocationWatchOptions): RevocationWatch;
  /**
   * The enabled device an uplink names, synchronously, from a cache of enabled devices (loaded by
   * {@link DeviceRegistry.watchRevocations} or {@link DeviceRegistry.loadAliases}, kept fresh by them and by this
   * registry's own changes). The DevEUI decides when it is registered; otherwise `deviceId` is a Vigie device id,
   * accepted unless that device has another DevEUI. Null when nothing matches.
   */
  resolveAlias(ref: AliasRef): { deviceId: string; kind: string } | null;
  /** (Re)loads the alias cache from the store: every enabled device, up to `aliasCacheMaxEntries`. */
  loadAliases(): Promise<void>;
}

const SCRYPT_KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Random bytes of a generated secret: 192 bits, 32 URL-safe characters. */
const GENERATED_SECRET_BYTES = 24;
/** Longest grace period of a rotation. */
export const MAX_GRACE_MS = 30 * 24 * 3_600_000;
/** Device ids per row of the change log. */
const CHANGE_IDS_PER_ROW = 1_000;
/** Rows of the change log kept. */
const CHANGE_LOG_RETENTION = "interval '1 day'";
/** How long a hole in the change log's revisions is looked at again (a transaction committing late). */
const GAP_WINDOW_MS = 10_000;
const ALIAS_PAGE_ROWS = 5_000;

/** A secret for a device: 192 random bits, URL-safe base64 (32 characters). */
export function generateSecret(): string {
  return randomBytes(GENERATED_SECRET_BYTES).toString('base64url');
}

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
  /** When {@link DeviceRegistry.canPublishForCached} last moved it to the recent end of the LRU order. */
  touchedAtMs?: number;
}

interface AliasEntry {
  readonly deviceId: string;
  readonly kind: string;
  readonly devEui: string | null;
}

interface DeviceRow {
  device_id: string;
  kind: string;
  gateway_id: string | null;
  dev_eui: string | null;
  district: string | null;
  circuit: string | null;
  lat: number | null;
  lon: number | null;
  updated_at: Date | string;
  secret_hash: string;
  previous_secret_hash: string | null;
  previous_secret_until: Date | string | null;
  created_at: Date | string;
  disabled_at: Date | string | null;
}

interface ChangeRow {
  revision: number | bigint;
  change: 'provisioned' | 'rotated' | 'revoked' | 'removed' | 'updated';
  device_ids: string[];
  grace_until: Date | string | null;
}

/** A watcher of revocations (`onRevoked`) or of directory changes (`onChanged`). */
interface Watcher {
  readonly onRevoked?: (deviceIds: string[]) => void;
  readonly onChanged?: (deviceIds: string[]) => void;
  readonly onError: ((err: unknown) => void) | undefined;
}

/**
 * Columns of a directory entry, for `SELECT … FROM devices`; `updated_at` as ISO 8601 text (parsing 100,000 dates
 * into Date objects costs more than the rest of the row).
 */
const ENTRY_COLUMNS = `device_id, kind, district, circuit, lat, lon, disabled_at,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at`;

function entryOf(
  row: Pick<DeviceRow, 'device_id' | 'kind' | 'district' | 'circuit' | 'lat' | 'lon' | 'disabled_at' | 'updated_at'>,
): DirectoryEntry {
  return {
    deviceId: row.device_id,
    kind: row.kind,
    district: row.district,
    circuit: row.circuit,
    lat: row.lat === null ? null : Number(row.lat),
    lon: row.lon === null ? null : Number(row.lon),
    active: row.disabled_at === null,
    updatedAt: typeof row.updated_at === 'string' ? row.updated_at : row.updated_at.toISOString(),
  };
}

/** Removed devices in the change log (the last removal of each), not registered again; `$1`: ids or null (all). */
const REMOVED_SQL = `SELECT DISTINCT ON (u.device_id) u.device_id, u.kind, c.changed_at
  FROM device_changes c, unnest(c.device_ids, c.kinds) AS u(device_id, kind)
  WHERE c.change = 'removed' AND c.kinds IS NOT NULL AND u.kind IS NOT NULL
    AND ($1::text[] IS NULL OR u.device_id = ANY($1::text[]))
    AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.device_id = u.device_id)
  ORDER BY u.device_id, c.revision DESC`;

function removedEntryOf(row: { device_id: string; kind: string; changed_at: Date | string }): DirectoryEntry {
  return {
    deviceId: row.device_id,
    kind: row.kind,
    district: null,
    circuit: null,
    lat: null,
    lon: null,
    active: false,
    updatedAt: new Date(row.changed_at).toISOString(),
  };
}

/** Creates the registry on a store whose migrations include {@link ingestMigrations}. */
export function createDeviceRegistry(store: SqlStore, options: DeviceRegistryOptions = {}): DeviceRegistry {
  const cost = checkCost('scryptCost', options.scryptCost ?? 4096);
  const generatedCost = checkCost('generatedScryptCost', options.generatedScryptCost ?? 16);
  const cacheTtlMs = options.cacheTtlMs ?? 5 * 60_000;
  const negativeTtlMs = options.negativeCacheTtlMs ?? 10_000;
  const cacheMax = options.cacheMaxEntries ?? 20_000;
  const aliasMax = options.aliasCacheMaxEntries ?? 500_000;
  const batchSize = options.batchSize ?? 500;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const hashSlots = createSemaphore(options.maxConcurrentHashes ?? 2);
  // Map keeps insertion order: re-inserting on a hit makes the first key the least recently used.
  const cache = new Map<string, CacheEntry>();
  // Publish targets by device id, same LRU discipline; lookups in progress, so a burst of misses makes one query.
  const routes = new Map<string, RouteEntry>();
  const lookups = new Map<string, Promise<RouteEntry>>();
  /** Bumped whenever verifications are invalidated: a verify that saw it change under it asks the store again. */
  let verifyEpoch = 0;

  // The alias cache: enabled devices by id and by DevEUI (one entry object shared by both maps).
  const aliasesById = new Map<string, AliasEntry>();
  const aliasesByEui = new Map<string, AliasEntry>();
  /** True when the alias cache holds every enabled device (a miss is final). */
  let aliasesComplete = false;
  /** Ids dropped while the alias cache loads: a page read before the drop must not bring them back. */
  let droppedWhileLoading: Set<string> | null = null;
  const aliasLookups = new Set<string>();
  const aliasMisses = new Map<string, number>();

  // Watching: listeners, the change-log poller, and devices that last authenticated with a previous secret.
  const watchers = new Set<Watcher>();
  let poller: { ready: Promise<void>; stop(): void } | null = null;
  /** Change-log revisions this registry wrote (already applied here): the poller skips them. */
  const ownRevisions = new Set<number>();
  /** Device id → end of the grace period of its old secret (epoch ms): reported to the watchers then. */
  const graceUsers = new Map<string, number>();
  let lastPruneMs = Number.NEGATIVE_INFINITY;

  async function hashSecret(secret: string, n: number): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const key = await hashSlots.run(() => scryptAsync(secret, salt, SCRYPT_KEY_BYTES, { N: n, r: 8, p: 1 }));
    return `scrypt$${n}$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
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

  function remember(deviceId: string, kind: string, secret: string, untilMs: number | null = null): void {
    const expiresAtMs = Math.min(clock.nowMs() + cacheTtlMs, untilMs ?? Number.POSITIVE_INFINITY);
    cache.delete(deviceId);
    cache.set(deviceId, { kind, secretDigest: sha256(secret), expiresAtMs });
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

  /** Forgets what this process knows of the secrets of `ids` (verifications, routes). */
  function invalidate(ids: readonly string[]): void {
    verifyEpoch++;
    for (const id of ids) {
      cache.delete(id);
      routes.delete(id);
    }
  }

  function setAlias(deviceId: string, kind: string, devEui: string | null): void {
    if (droppedWhileLoading?.has(deviceId)) return;
    dropAlias(deviceId, false);
    const entry: AliasEntry = { deviceId, kind: internKind(kind), devEui };
    aliasesById.set(deviceId, entry);
    if (devEui !== null) aliasesByEui.set(devEui, entry);
    while (aliasesById.size > aliasMax) {
      const oldest = aliasesById.keys().next().value;
      if (oldest === undefined) break;
      dropAlias(oldest, false);
      aliasesComplete = false;
    }
  }

  function dropAlias(deviceId: string, final = true): void {
    if (final) droppedWhileLoading?.add(deviceId);
    const entry = aliasesById.get(deviceId);
    if (!entry) return;
    aliasesById.delete(deviceId);
    if (entry.devEui !== null && aliasesByEui.get(entry.devEui) === entry) aliasesByEui.delete(entry.devEui);
  }

  /** Reads the enabled devices among `ids` again into the alias cache. */
  async function refreshAliases(ids: readonly string[]): Promise<void> {
    for (let start = 0; start < ids.length; start += ALIAS_PAGE_ROWS) {
      const chunk = ids.slice(start, start + ALIAS_PAGE_ROWS);
      const res = await store.query<Pick<DeviceRow, 'device_id' | 'kind' | 'dev_eui'>>(
        'SELECT device_id, kind, dev_eui FROM devices WHERE device_id = ANY($1::text[]) AND disabled_at IS NULL',
        [chunk],
      );
      for (const id of chunk) dropAlias(id, false);
      for (const row of res.rows) setAlias(row.device_id, row.kind, row.dev_eui);
    }
  }

  /** A miss while the alias cache is incomplete: looks the device up so its next uplink resolves. */
  function lookUpAlias(devEui: string | undefined, deviceId: string | undefined): void {
    const key = `${devEui ?? ''}|${deviceId ?? ''}`;
    const missedUntil = aliasMisses.get(key);
    if (aliasLookups.has(key) || (missedUntil !== undefined && missedUntil > clock.nowMs())) return;
    if (aliasLookups.size >= 1_000) return;
    aliasLookups.add(key);
    store
      .query<Pick<DeviceRow, 'device_id' | 'kind' | 'dev_eui'>>(
        'SELECT device_id, kind, dev_eui FROM devices WHERE disabled_at IS NULL AND (dev_eui = $1 OR device_id = $2)',
        [devEui ?? null, deviceId ?? null],
      )
      .then(
        (res) => {
          for (const row of res.rows) setAlias(row.device_id, row.kind, row.dev_eui);
          if (res.rows.length === 0) {
            aliasMisses.set(key, clock.nowMs() + negativeTtlMs);
            evictBeyond(aliasMisses, 10_000);
          }
        },
        // The store being down is reported by the poller; this uplink stays unresolved.
        () => {},
      )
      .finally(() => aliasLookups.delete(key));
  }

  /** Tells every watcher; a throwing listener is reported to its own onError and does not stop the others. */
  function notify(ids: readonly string[]): void {
    if (ids.length === 0) return;
    for (const w of watchers) {
      if (!w.onRevoked) continue;
      try {
        w.onRevoked([...ids]);
      } catch (err) {
        w.onError?.(err);
      }
    }
  }

  /** Tells every change watcher, as {@link notify} does. */
  function notifyChanged(ids: readonly string[]): void {
    if (ids.length === 0) return;
    for (const w of watchers) {
      if (!w.onChanged) continue;
      try {
        w.onChanged([...ids]);
      } catch (err) {
        w.onError?.(err);
      }
    }
  }

  /** Appends changes to the log other processes poll; deletes rows older than a day now and then. */
  async function logChange(
    change: ChangeRow['change'],
    ids: readonly string[],
    graceUntilMs: number | null = null,
    kinds: readonly string[] | null = null,
  ): Promise<void> {
    for (let start = 0; start < ids.length; start += CHANGE_IDS_PER_ROW) {
      const chunk = ids.slice(start, start + CHANGE_IDS_PER_ROW);
      const res = await store.query<{ revision: number | bigint }>(
        `INSERT INTO device_changes (change, device_ids, grace_until, kinds)
         VALUES ($1, $2::text[], $3::timestamptz, $4::text[]) RETURNING revision`,
        [
          change,
          chunk,
          graceUntilMs === null ? null : new Date(graceUntilMs).toISOString(),
          kinds === null ? null : kinds.slice(start, start + CHANGE_IDS_PER_ROW),
        ],
      );
      if (poller && ownRevisions.size < 100_000) ownRevisions.add(Number(res.rows[0]!.revision));
      // The poller skips this registry's own revisions: its change watchers hear of them here, once written.
      if (change !== 'rotated') notifyChanged(chunk);
    }
    if (clock.nowMs() - lastPruneMs > 3_600_000) {
      lastPruneMs = clock.nowMs();
      await store.query(`DELETE FROM device_changes WHERE changed_at < clock_timestamp() - ${CHANGE_LOG_RETENTION}`);
    }
  }

  /** Adds a watcher, starting the change-log poll with the first one, stopping it with the last. */
  function addWatcher(watcher: Watcher, pollIntervalMs = 250): RevocationWatch {
    watchers.add(watcher);
    poller ??= startPoller(pollIntervalMs);
    const { ready } = poller;
    return {
      ready,
      stop() {
        if (!watchers.delete(watcher)) return;
        if (watchers.size === 0 && poller) {
          poller.stop();
          poller = null;
          ownRevisions.clear();
        }
      },
    };
  }

  async function loadAliases(): Promise<void> {
    droppedWhileLoading = new Set();
    try {
      aliasesById.clear();
      aliasesByEui.clear();
      aliasesComplete = false;
      let after = '';
      for (;;) {
        const res = await store.query<Pick<DeviceRow, 'device_id' | 'kind' | 'dev_eui'>>(
          `SELECT device_id, kind, dev_eui FROM devices WHERE disabled_at IS NULL AND device_id > $1
           ORDER BY device_id LIMIT ${ALIAS_PAGE_ROWS}`,
          [after],
        );
        for (const row of res.rows) {
          if (aliasesById.size >= aliasMax) return;
          setAlias(row.device_id, row.kind, row.dev_eui);
        }
        if (res.rows.length < ALIAS_PAGE_ROWS) break;
        after = res.rows[res.rows.length - 1]!.device_id;
      }
      aliasesComplete = true;
    } finally {
      droppedWhileLoading = null;
    }
  }

  /** Reads the change log every `intervalMs`, applies other processes' changes, ends grace periods. */
  function startPoller(intervalMs: number): { ready: Promise<void>; stop(): void } {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let lastRevision: number | null = null;
    /** Revisions skipped over (a transaction not yet committed, or rolled back) → when first seen missing. */
    const gaps = new Map<number, number>();
    const report = (err: unknown) => {
      for (const w of watchers) w.onError?.(err);
    };
    const readPosition = async () => {
      const res = await store.query<{ r: number | bigint }>(
        'SELECT coalesce(max(revision), 0) AS r FROM device_changes',
      );
      lastRevision = Number(res.rows[0]!.r);
    };

    const pollOnce = async () => {
      if (lastRevision === null) await readPosition();
      const res = await store.query<ChangeRow>(
        `SELECT revision, change, device_ids, grace_until FROM device_changes
         WHERE revision > $1 OR revision = ANY($2::bigint[]) ORDER BY revision LIMIT 1000`,
        [lastRevision, [...gaps.keys()]],
      );
      const nowMs = Date.now();
      const revoked = new Set<string>();
      const refresh = new Set<string>();
      const changed = new Set<string>();
      for (const row of res.rows) {
        const revision = Number(row.revision);
        if (revision > lastRevision!) {
          for (let g = lastRevision! + 1; g < revision && gaps.size < 1_000; g++) gaps.set(g, nowMs);
          lastRevision = revision;
        } else gaps.delete(revision);
        if (ownRevisions.delete(revision)) continue;
        const ids = row.device_ids;
        if (row.change !== 'rotated') for (const id of ids) changed.add(id);
        // A district, circuit or position: nothing a connection, a secret or an alias depends on.
        if (row.change === 'updated') continue;
        if (row.change !== 'provisioned') invalidate(ids);
        for (const id of ids) routes.delete(id);
        if (row.change === 'removed') {
          const gone = new Set(ids);
          for (const [id, route] of routes)
            if (route.gatewayId !== null && gone.has(route.gatewayId)) routes.delete(id);
        }
        if (row.change === 'revoked' || row.change === 'removed') {
          for (const id of ids) {
            dropAlias(id);
            revoked.add(id);
          }
        } else {
          for (const id of ids) refresh.add(id);
        }
        if (row.change === 'rotated') {
          if (row.grace_until === null) for (const id of ids) revoked.add(id);
          // Connected before the rotation: with the old secret, until it authenticates with the new one.
          else for (const id of ids) graceUsers.set(id, new Date(row.grace_until).getTime());
        }
      }
      for (const [g, seenMs] of gaps) if (nowMs - seenMs > GAP_WINDOW_MS) gaps.delete(g);
      // Disconnect first, then refresh the aliases (one more query).
      notify([...revoked]);
      notifyChanged([...changed]);
      if (refresh.size > 0) await refreshAliases([...refresh]);
    };

    const endGracePeriods = () => {
      const ended: string[] = [];
      const nowMs = clock.nowMs();
      for (const [id, untilMs] of graceUsers) {
        if (untilMs <= nowMs) {
          graceUsers.delete(id);
          ended.push(id);
        }
      }
      if (ended.length > 0) invalidate(ended);
      notify(ended);
    };

    const tick = async () => {
      try {
        await pollOnce();
      } catch (err) {
        report(err);
      }
      endGracePeriods();
      schedule();
    };
    const schedule = () => {
      if (stopped) return;
      timer = setTimeout(() => void tick(), intervalMs);
      timer.unref();
    };

    const ready = (async () => {
      await readPosition();
      await loadAliases();
    })();
    ready.then(schedule, (err: unknown) => {
      report(err);
      schedule();
    });
    return {
      ready,
      stop() {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }

  const registry: DeviceRegistry = {
    async provision(devices, provisionOptions = {}) {
      const valid = devices.map((d, i) => {
        const parsed = DeviceSpec.safeParse(d);
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
      await checkDevEuis(unique);
      let created = 0;
      let updated = 0;
      let unchanged = 0;
      const generatedSecrets: GeneratedSecret[] = [];
      /** Enabled devices whose secret or kind changed: their connections must close. */
      const changedIds: string[] = [];
      /** Registered devices whose row was written again (counted as updated). */
      const rewritten = new Set<string>();
      const previous = new Map<
        string,
        Pick<DeviceRow, 'gateway_id' | 'dev_eui' | 'district' | 'circuit' | 'lat' | 'lon'>
      >();
      for (let start = 0; start < unique.length; start += batchSize) {
        const batch = unique.slice(start, start + batchSize);
        const existing = await store.query<DeviceRow>(
          `SELECT device_id, kind, gateway_id, dev_eui, district, circuit, lat, lon, secret_hash, disabled_at
           FROM devices WHERE device_id = ANY($1::text[])`,
          [batch.map((d) => d.deviceId)],
        );
        const byId = new Map(existing.rows.map((r) => [r.device_id, r]));
        const plans = await Promise.all(
          batch.map(async (d) => {
            const row = byId.get(d.deviceId);
            const enabled = row !== undefined && row.disabled_at === null;
            if (enabled && d.secret === undefined) {
              // Registered and enabled, no secret given: its own secret stays.
              if (row.kind === d.kind) return { d, row, write: null, secret: null, generated: false };
              return { d, row, write: row.secret_hash, secret: null, generated: false };
            }
            // Idempotent: an unchanged, enabled device is left as it is (same salt, same hash).
            if (enabled && row.kind === d.kind && (await matches(d.secret!, row.secret_hash))) {
              return { d, row, write: null, secret: d.secret!, generated: false };
            }
            const generated = d.secret === undefined;
            const secret = d.secret ?? generateSecret();
            const hash = await hashSecret(secret, generated ? generatedCost : cost);
            return { d, row, write: hash, secret, generated };
          }),
        );
        const writes = plans.filter((p) => p.write !== null);
        if (writes.length > 0) {
          const params: (string | number | null)[] = [];
          const values = writes.map((p, i) => {
            params.push(
              p.d.deviceId,
              p.d.kind,
              p.write!,
              p.d.district ?? null,
              p.d.circuit ?? null,
              p.d.lat ?? null,
              p.d.lon ?? null,
            );
            const at = i * 7;
            return `($${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}, $${at + 5}, $${at + 6}::float8, $${at + 7}::float8)`;
          });
          await store.query(
            `INSERT INTO devices (device_id, kind, secret_hash, district, circuit, lat, lon) VALUES ${values.join(', ')}
             ON CONFLICT (device_id) DO UPDATE
             SET kind = EXCLUDED.kind, secret_hash = EXCLUDED.secret_hash, disabled_at = NULL,
                 previous_secret_hash = NULL, previous_secret_until = NULL, district = EXCLUDED.district,
                 circuit = EXCLUDED.circuit, lat = EXCLUDED.lat, lon = EXCLUDED.lon, updated_at = now()`,
            params,
          );
        }
        const batchSecrets: GeneratedSecret[] = [];
        for (const p of plans) {
          if (p.row) {
            // Rewritten rows have their new district, circuit and position already.
            const at =
              p.write === null
                ? p.row
                : {
                    district: p.d.district ?? null,
                    circuit: p.d.circuit ?? null,
                    lat: p.d.lat ?? null,
                    lon: p.d.lon ?? null,
                  };
            previous.set(p.d.deviceId, {
              gateway_id: p.row.gateway_id,
              dev_eui: p.row.dev_eui,
              district: at.district,
              circuit: at.circuit,
              lat: at.lat === null ? null : Number(at.lat),
              lon: at.lon === null ? null : Number(at.lon),
            });
          }
          if (!p.row) created++;
          else if (p.write !== null) {
            updated++;
            rewritten.add(p.d.deviceId);
          }
          if (p.row && p.write !== null && p.row.disabled_at === null) changedIds.push(p.d.deviceId);
          if (p.generated) batchSecrets.push({ deviceId: p.d.deviceId, secret: p.secret! });
          // The provisioner just proved each secret: the first connection of a fresh fleet then costs no scrypt.
          if (p.secret !== null) remember(p.d.deviceId, p.d.kind, p.secret);
          else if (p.write !== null) cache.delete(p.d.deviceId);
          routes.delete(p.d.deviceId);
        }
        generatedSecrets.push(...batchSecrets);
        if (batchSecrets.length > 0) await provisionOptions.onSecrets?.(batchSecrets);
      }
      // Second pass: every device of the call exists now, so a gateway listed after its devices is no problem, and
      // DevEUIs moving between devices of the call are released before they are taken. Only rows that change are
      // touched (`= ANY` lets the planner use the primary key rather than scan the table for each batch). A device
      // listed without a district, circuit or position has none afterwards, as for a gateway (the file describes it).
      const moved = (d: (typeof unique)[number]) => {
        const before = previous.get(d.deviceId);
        return (
          before !== undefined &&
          (before.gateway_id !== (d.gatewayId ?? null) ||
            before.dev_eui !== (d.devEui ?? null) ||
            before.district !== (d.district ?? null) ||
            before.circuit !== (d.circuit ?? null) ||
            before.lat !== (d.lat ?? null) ||
            before.lon !== (d.lon ?? null))
        );
      };
      const links = (d: (typeof unique)[number]) => {
        const before = previous.get(d.deviceId);
        return {
          release: before !== undefined && before.dev_eui !== null && before.dev_eui !== (d.devEui ?? null),
          // New rows were inserted with their district, circuit and position.
          change: before === undefined ? d.gatewayId !== undefined || d.devEui !== undefined : moved(d),
        };
      };
      const releasing = unique.filter((d) => links(d).release);
      const changing = unique.filter((d) => links(d).change);
      const linkBatch = Math.max(batchSize, 2_000);
      try {
        for (let start = 0; start < releasing.length; start += linkBatch) {
          const ids = releasing.slice(start, start + linkBatch).map((d) => d.deviceId);
          await store.query('UPDATE devices SET dev_eui = NULL WHERE device_id = ANY($1::text[])', [ids]);
        }
        for (let start = 0; start < changing.length; start += linkBatch) {
          const batch = changing.slice(start, start + linkBatch);
          await store.query(
            `UPDATE devices AS d SET gateway_id = v.gateway_id, dev_eui = v.dev_eui, district = v.district,
                    circuit = v.circuit, lat = v.lat, lon = v.lon,
                    updated_at = CASE WHEN d.district IS DISTINCT FROM v.district
                                        OR d.circuit IS DISTINCT FROM v.circuit OR d.lat IS DISTINCT FROM v.lat
                                        OR d.lon IS DISTINCT FROM v.lon THEN now() ELSE d.updated_at END
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::float8[])
               AS v(device_id, gateway_id, dev_eui, district, circuit, lat, lon)
             WHERE d.device_id = ANY($1::text[]) AND d.device_id = v.device_id`,
            [
              batch.map((d) => d.deviceId),
              batch.map((d) => d.gatewayId ?? null),
              batch.map((d) => d.devEui ?? null),
              batch.map((d) => d.district ?? null),
              batch.map((d) => d.circuit ?? null),
              batch.map((d) => d.lat ?? null),
              batch.map((d) => d.lon ?? null),
            ],
          );
        }
      } catch (err) {
        // Another process gave one of these DevEUIs to a device meanwhile (unique index).
        if ((err as { code?: string }).code === '23505') {
          throw new AppError(
            'ERR_DEVICE_INVALID',
            `devEui: ${(err as Error).message} (a DevEUI belongs to one device)`,
            {
              cause: err,
            },
          );
        }
        throw err;
      }
      for (const d of unique) {
        rememberRoute(d.deviceId, d.kind, d.gatewayId ?? null);
        setAlias(d.deviceId, d.kind, d.devEui ?? null);
        // Counted once: a device whose row was written again is already among the updated.
        if (moved(d) && !rewritten.has(d.deviceId)) updated++;
      }
      unchanged = unique.length - created - updated;
      if (changedIds.length > 0) {
        // Their cached verifications were replaced or dropped above; a verify in flight asks the store again.
        verifyEpoch++;
        notify(changedIds);
      }
      await logChange(
        'provisioned',
        unique.map((d) => d.deviceId),
      );
      if (changedIds.length > 0) await logChange('rotated', changedIds);
      return { created, updated, unchanged, generatedSecrets };
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
      for (let attempt = 1; ; attempt++) {
        const epoch = verifyEpoch;
        const res = await store.query<
          Pick<DeviceRow, 'kind' | 'secret_hash' | 'previous_secret_hash' | 'previous_secret_until'>
        >(
          `SELECT kind, secret_hash, previous_secret_hash, previous_secret_until
           FROM devices WHERE device_id = $1 AND disabled_at IS NULL`,
          [deviceId],
        );
        const row = res.rows[0];
        let untilMs: number | null = null;
        let ok = false;
        if (row) {
          ok = await matches(secret, row.secret_hash);
          const previousUntilMs =
            row.previous_secret_until === null ? 0 : new Date(row.previous_secret_until).getTime();
          if (!ok && row.previous_secret_hash !== null && previousUntilMs > clock.nowMs()) {
            ok = await matches(secret, row.previous_secret_hash);
            untilMs = previousUntilMs;
          }
        }
        // Revoked or rotated while we looked: the answer may be stale, ask again.
        if (epoch !== verifyEpoch && attempt < 3) continue;
        if (!row || !ok) return null;
        remember(deviceId, row.kind, secret, untilMs);
        if (untilMs !== null) graceUsers.set(deviceId, untilMs);
        return { deviceId, kind: row.kind };
      }
    },

    async canPublishFor(clientDeviceId, topicDeviceId) {
      if (!DeviceId.safeParse(topicDeviceId).success) return null;
      const route = await routeOf(topicDeviceId);
      if (route.kind === null) return null;
      if (topicDeviceId !== clientDeviceId && route.gatewayId !== clientDeviceId) return null;
      return { deviceId: topicDeviceId, kind: route.kind };
    },

    canPublishForCached(clientDeviceId, topicDeviceId) {
      // Routes are remembered only for valid device ids (canPublishFor checks first; provisioning validates).
      const hit = routes.get(topicDeviceId);
      const nowMs = clock.nowMs();
      if (!hit || hit.expiresAtMs <= nowMs) return undefined;
      // A meter's readings come in bursts: moving its entry once a second keeps the LRU order, at a tenth the cost.
      if (hit.touchedAtMs === undefined || nowMs - hit.touchedAtMs >= 1_000) {
        hit.touchedAtMs = nowMs;
        routes.delete(topicDeviceId);
        routes.set(topicDeviceId, hit);
      }
      if (hit.kind === null) return null;
      if (topicDeviceId !== clientDeviceId && hit.gatewayId !== clientDeviceId) return null;
      return { deviceId: topicDeviceId, kind: hit.kind };
    },

    async get(deviceId) {
      const res = await store.query<DeviceRow>(
        `SELECT device_id, kind, gateway_id, dev_eui, created_at, disabled_at, previous_secret_until, district,
                circuit, lat, lon, updated_at
         FROM devices WHERE device_id = $1`,
        [deviceId],
      );
      const row = res.rows[0];
      if (!row) return null;
      const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());
      return {
        deviceId: row.device_id,
        kind: row.kind,
        gatewayId: row.gateway_id,
        devEui: row.dev_eui,
        createdAt: new Date(row.created_at).toISOString(),
        disabledAt: iso(row.disabled_at),
        previousSecretUntil: iso(row.previous_secret_until),
        district: row.district,
        circuit: row.circuit,
        lat: row.lat === null ? null : Number(row.lat),
        lon: row.lon === null ? null : Number(row.lon),
        updatedAt: new Date(row.updated_at).toISOString(),
      };
    },

    async rotate(deviceId, rotateOptions = {}) {
      const graceMs = rotateOptions.graceMs ?? 0;
      if (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > MAX_GRACE_MS) {
        throw new AppError('ERR_DEVICE_INVALID', `graceMs: ${graceMs} (an integer from 0 to ${MAX_GRACE_MS})`);
      }
      if (rotateOptions.secret !== undefined) {
        const parsed = Secret.safeParse(rotateOptions.secret);
        if (!parsed.success) {
          throw new AppError(
            'ERR_DEVICE_INVALID',
            `device ${preview(deviceId)}: secret: ${parsed.error.issues[0]?.message}`,
          );
        }
      }
      if (!DeviceId.safeParse(deviceId).success) return null;
      const res = await store.query<Pick<DeviceRow, 'kind' | 'secret_hash' | 'disabled_at'>>(
        'SELECT kind, secret_hash, disabled_at FROM devices WHERE device_id = $1',
        [deviceId],
      );
      const row = res.rows[0];
      if (!row) return null;
      if (row.disabled_at !== null) {
        throw new AppError(
          'ERR_DEVICE_INVALID',
          `device ${preview(deviceId)}: revoked (provision it again, without a secret, to enable it with a new one)`,
        );
      }
      const generated = rotateOptions.secret === undefined;
      const secret = rotateOptions.secret ?? generateSecret();
      const hash = await hashSecret(secret, generated ? generatedCost : cost);
      const untilMs = graceMs > 0 ? clock.nowMs() + graceMs : null;
      await store.query(
        `UPDATE devices SET secret_hash = $2, previous_secret_hash = $3, previous_secret_until = $4::timestamptz
         WHERE device_id = $1`,
        [
          deviceId,
          hash,
          untilMs === null ? null : row.secret_hash,
          untilMs === null ? null : new Date(untilMs).toISOString(),
        ],
      );
      invalidate([deviceId]);
      remember(deviceId, row.kind, secret);
      if (untilMs === null) {
        graceUsers.delete(deviceId);
        notify([deviceId]);
      } else {
        // Connected now means connected with the old secret: closed when the grace period ends (connections are
        // not told apart, so one already on the new secret reconnects once).
        graceUsers.set(deviceId, untilMs);
      }
      await logChange('rotated', [deviceId], untilMs);
      return {
        deviceId,
        secret,
        generated,
        previousSecretUntil: untilMs === null ? null : new Date(untilMs).toISOString(),
      };
    },

    async revoke(deviceId) {
      const res = await store.query(
        `UPDATE devices SET disabled_at = coalesce(disabled_at, now()), previous_secret_hash = NULL,
                previous_secret_until = NULL,
                updated_at = CASE WHEN disabled_at IS NULL THEN now() ELSE updated_at END
         WHERE device_id = $1`,
        [deviceId],
      );
      if (res.rowCount === 0) return false;
      invalidate([deviceId]);
      graceUsers.delete(deviceId);
      dropAlias(deviceId);
      notify([deviceId]);
      await logChange('revoked', [deviceId]);
      return true;
    },

    async remove(deviceId) {
      invalidate([deviceId]);
      const res = await store.query<{ kind: string }>('DELETE FROM devices WHERE device_id = $1 RETURNING kind', [
        deviceId,
      ]);
      // ON DELETE SET NULL detached its devices: their remembered gateway goes too.
      for (const [id, route] of routes) if (route.gatewayId === deviceId) routes.delete(id);
      const removed = res.rows[0];
      if (!removed) return false;
      graceUsers.delete(deviceId);
      dropAlias(deviceId);
      notify([deviceId]);
      // Its kind stays in the log: the directory still describes the device (inactive) after the row is gone.
      await logChange('removed', [deviceId], null, [removed.kind]);
      return true;
    },

    async setLocation(deviceId, update) {
      const parsed = LocationUpdate.safeParse(update);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new AppError(
          'ERR_DEVICE_INVALID',
          `device ${preview(deviceId)}: ${issue?.path.join('.') || '(update)'}: ${issue?.message}`,
        );
      }
      if (!DeviceId.safeParse(deviceId).success) return null;
      const u = parsed.data;
      // One statement: a concurrent change cannot slip between reading the row and writing it.
      const res = await store.query<{ changed: boolean }>(
        `WITH old AS (SELECT device_id, district, circuit, lat, lon FROM devices WHERE device_id = $1 FOR UPDATE),
              new AS (SELECT device_id,
                             CASE WHEN $2 THEN $3::text ELSE district END AS district,
                             CASE WHEN $7 THEN $8::text ELSE circuit END AS circuit,
                             CASE WHEN $4 THEN $5::float8 ELSE lat END AS lat,
                             CASE WHEN $4 THEN $6::float8 ELSE lon END AS lon
                      FROM old),
              upd AS (UPDATE devices AS d SET district = n.district, circuit = n.circuit, lat = n.lat, lon = n.lon,
                                              updated_at = now()
                      FROM new n, old o
                      WHERE d.device_id = n.device_id AND (o.district IS DISTINCT FROM n.district
                        OR o.circuit IS DISTINCT FROM n.circuit
                        OR o.lat IS DISTINCT FROM n.lat OR o.lon IS DISTINCT FROM n.lon)
                      RETURNING d.device_id)
         SELECT EXISTS (SELECT 1 FROM upd) AS changed FROM old`,
        [
          deviceId,
          u.district !== undefined,
          u.district ?? null,
          u.lat !== undefined,
          u.lat ?? null,
          u.lon ?? null,
          u.circuit !== undefined,
          u.circuit ?? null,
        ],
      );
      const row = res.rows[0];
      if (!row) return null;
      if (row.changed) await logChange('updated', [deviceId]);
      return registry.get(deviceId);
    },

    watchChanges(onChanged, watchOptions = {}) {
      return addWatcher({ onChanged, onError: watchOptions.onError }, watchOptions.pollIntervalMs);
    },

    async directoryPage(afterDeviceId, limit) {
      const res = await store.query<DeviceRow>(
        `SELECT ${ENTRY_COLUMNS} FROM devices WHERE device_id > $1 ORDER BY device_id LIMIT $2`,
        [afterDeviceId, Math.max(1, Math.floor(limit))],
      );
      return res.rows.map(entryOf);
    },

    async directoryEntries(deviceIds) {
      if (deviceIds.length === 0) return [];
      const ids = [...new Set(deviceIds)];
      const res = await store.query<DeviceRow>(
        `SELECT ${ENTRY_COLUMNS} FROM devices WHERE device_id = ANY($1::text[])`,
        [ids],
      );
      const entries = res.rows.map(entryOf);
      if (entries.length < ids.length) {
        const found = new Set(entries.map((e) => e.deviceId));
        const missing = ids.filter((id) => !found.has(id));
        const removed = await store.query<{ device_id: string; kind: string; changed_at: Date | string }>(REMOVED_SQL, [
          missing,
        ]);
        entries.push(...removed.rows.map(removedEntryOf));
      }
      return entries;
    },

    async removedDevices() {
      const res = await store.query<{ device_id: string; kind: string; changed_at: Date | string }>(REMOVED_SQL, [
        null,
      ]);
      return res.rows.map(removedEntryOf);
    },

    watchRevocations(onRevoked, watchOptions = {}) {
      return addWatcher({ onRevoked, onError: watchOptions.onError }, watchOptions.pollIntervalMs);
    },

    resolveAlias(ref) {
      if (typeof ref !== 'object' || ref === null) return null;
      let devEui: string | undefined;
      if (ref.devEui !== undefined) {
        const parsed = DevEui.safeParse(ref.devEui);
        if (!parsed.success) return null;
        devEui = parsed.data;
        const hit = aliasesByEui.get(devEui);
        if (hit) return { deviceId: hit.deviceId, kind: hit.kind };
      }
      const deviceId = typeof ref.deviceId === 'string' ? ref.deviceId : undefined;
      if (deviceId !== undefined) {
        const hit = aliasesById.get(deviceId);
        // A device registered with another DevEUI is not this uplink's.
        if (hit) return hit.devEui === null || devEui === undefined ? { deviceId, kind: hit.kind } : null;
      }
      if (
        !aliasesComplete &&
        (devEui !== undefined || (deviceId !== undefined && DeviceId.safeParse(deviceId).success))
      ) {
        lookUpAlias(devEui, deviceId);
      }
      return null;
    },

    loadAliases,
  };
  return registry;

  /** Throws ERR_DEVICE_INVALID when a gatewayId names neither a device of the call nor a registered one. */
  async function checkGateways(
    devices: readonly { deviceId: string; gatewayId?: string | undefined }[],
  ): Promise<void> {
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

  /** Throws ERR_DEVICE_INVALID when a DevEUI is given twice in the call, or belongs to a device not in the call. */
  async function checkDevEuis(devices: readonly { deviceId: string; devEui?: string | undefined }[]): Promise<void> {
    const owners = new Map<string, string>();
    for (const d of devices) {
      if (d.devEui === undefined) continue;
      const other = owners.get(d.devEui);
      if (other !== undefined) {
        throw new AppError(
          'ERR_DEVICE_INVALID',
          `device ${preview(d.deviceId)}: devEui: ${d.devEui} is also given to ${preview(other)} (a DevEUI belongs to one device)`,
        );
      }
      owners.set(d.devEui, d.deviceId);
    }
    if (owners.size === 0) return;
    const listed = new Set(devices.map((d) => d.deviceId));
    const res = await store.query<{ device_id: string; dev_eui: string }>(
      'SELECT device_id, dev_eui FROM devices WHERE dev_eui = ANY($1::text[])',
      [[...owners.keys()]],
    );
    const taken = res.rows.find((r) => !listed.has(r.device_id));
    if (taken) {
      throw new AppError(
        'ERR_DEVICE_INVALID',
        `device ${preview(owners.get(taken.dev_eui))}: devEui: ${taken.dev_eui} belongs to ${preview(taken.device_id)} (provision ${taken.device_id} without it in the same call, or remove it)`,
      );
    }
  }
}

function checkCost(name: string, n: number): number {
  if (!Number.isInteger(Math.log2(n)) || n < 2) {
    throw new AppError('ERR_CONFIG_INVALID', `${name}: ${n} (a power of two ≥ 2)`);
  }
  return n;
}

/** The shared string of a known kind, so a cache of many devices holds one copy of each kind. */
function internKind(kind: string): string {
  return (KINDS as readonly string[]).find((k) => k === kind) ?? kind;
}

/** Drops the least recently used entries (a Map's first keys) beyond `max`. */
function evictBeyond(map: Map<string, unknown>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) break;
    map.delete(oldest);
  }
}

const FILE_FORMATS =
  'CSV with the header deviceId,kind[,secret][,gatewayId][,devEui][,district][,circuit][,lat,lon], or a JSON array ' +
  'or NDJSON of {"deviceId","kind","secret"?,"gatewayId"?,"devEui"?,"district"?,"circuit"?,"lat"?,"lon"?}';
const CSV_COLUMNS = ['deviceId', 'kind', 'secret', 'gatewayId', 'devEui', 'district', 'circuit', 'lat', 'lon'] as const;
/** CSV columns holding numbers (a cell that is not one is left as text, which the schema then names). */
const CSV_NUMBER_COLUMNS = new Set(['lat', 'lon']);

/**
 * Reads a devices file for `vigie devices import FILE`: CSV with a header line naming its columns (`deviceId`,
 * `kind`, and optionally `secret`, `gatewayId`, `devEui`, `district`, `circuit`, `lat`, `lon`; an empty cell is an absent
 * value), a JSON array, or NDJSON (one object per line); blank lines are skipped. The format is told from the first character (`[` a JSON array,
 * `{` NDJSON, else CSV). Throws `ERR_DEVICES_FILE` naming the file, the line and the problem.
 */
export async function loadDevicesFile(path: string): Promise<z.output<typeof DeviceSpec>[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AppError('ERR_DEVICES_FILE', `cannot read devices file: ${path} (${(err as Error).message})`, {
      cause: err,
    });
  }
  return parseDevicesText(text, path);
}

/** Parses the text of a devices file (see {@link loadDevicesFile}); `name` is used in error messages. */
export function parseDevicesText(text: string, name: string): z.output<typeof DeviceSpec>[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const bad = (where: string, why: string) =>
    new AppError('ERR_DEVICES_FILE', `${name}${where ? ` ${where}` : ''}: ${why} (${FILE_FORMATS})`);
  const check = (value: unknown, where: string): z.output<typeof DeviceSpec> => {
    const parsed = DeviceSpec.safeParse(value);
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
  const lines = text.split(/\r?\n/);
  const devices: z.output<typeof DeviceSpec>[] = [];
  if (trimmed.startsWith('{') || trimmed === '') {
    lines.forEach((line, i) => {
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
  let columns: string[] | null = null;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const cells = splitCsvLine(line);
    if (typeof cells === 'string') throw bad(`line ${i + 1}`, cells);
    if (columns === null) {
      const unknown = cells.find((c) => !(CSV_COLUMNS as readonly string[]).includes(c));
      if (unknown !== undefined) throw bad(`line ${i + 1}`, `header: unknown column ${preview(unknown)}`);
      if (new Set(cells).size !== cells.length) throw bad(`line ${i + 1}`, 'header: a column is named twice');
      if (!cells.includes('deviceId') || !cells.includes('kind')) {
        throw bad(`line ${i + 1}`, 'header: deviceId and kind are required');
      }
      columns = cells;
      return;
    }
    if (cells.length !== columns.length) {
      throw bad(`line ${i + 1}`, `${cells.length} fields where the header has ${columns.length}`);
    }
    const value: Record<string, string | number> = {};
    columns.forEach((column, c) => {
      const cell = cells[c]!;
      if (cell === '') return;
      const n = Number(cell);
      value[column] = CSV_NUMBER_COLUMNS.has(column) && Number.isFinite(n) ? n : cell;
    });
    devices.push(check(value, `line ${i + 1}`));
  });
  return devices;
}

/**
 * The cells of one CSV line (RFC 4180 quoting: `"a ""b"", c"`; unquoted cells are trimmed), or the reason it is
 * not one. A quoted cell cannot hold a line break.
 */
function splitCsvLine(line: string): string[] | string {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= line.length) return 'unterminated quoted field';
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += line[i];
        i++;
      }
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (i < line.length && line[i] !== ',') return `text after a quoted field at column ${i + 1}`;
      cells.push(value);
    } else {
      const end = line.indexOf(',', i);
      const raw = end === -1 ? line.slice(i) : line.slice(i, end);
      if (raw.includes('"')) return `a quote inside an unquoted field at column ${i + 1}`;
      cells.push(raw.trim());
      i = end === -1 ? line.length : end;
    }
    if (i >= line.length) return cells;
    i++; // the comma
  }
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
