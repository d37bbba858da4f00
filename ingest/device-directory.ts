/**
 * The device directory: publishes what the registry says of each device (kind, district, circuit, position,
 * active) on `devices.v1` (key deviceId, value core/contracts DeviceInfo as JSON, topic compacted), for the stages
 * that place readings on a map or roll them up by district or circuit.
 *
 * On start it ensures the topic, starts following the registry's change log ({@link DeviceRegistry.watchChanges}:
 * this process's changes at once, other processes' within a poll), then publishes every registered device (pages of
 * `chunkSize`, keyset order) and every device removed within the change log's day (inactive), then each changed
 * device as the store has it when it is published (revoked or removed: `active: false`). One worker publishes, in
 * order: a change reported during the first pass is published after it, so the last record of a key is never older
 * than the store. Idempotent: the same state published twice is the same record again; a restart publishes
 * everything again.
 *
 * Limits, stated plainly: changed ids wait in a set (one entry per device at most: bounded by the fleet) until
 * published; a failed read or produce is retried with backoff (100 ms doubling to 30 s), never dropped. A device
 * removed while no directory ran for more than a day (the change log's retention) keeps its last record on the topic
 * (active): publish an inactive record for it by hand, or re-create and remove it. An entry the contract refuses (a
 * kind outside KINDS, from before the kinds were closed) is not published: counted in
 * `ingest_device_directory_skipped_total{reason="invalid"}` and logged at error.
 */
import type { Bus, OutgoingMessage } from '../core/bus/port.ts';
import { backoffDelayMs, type RetryPolicy } from '../core/bus/retry.ts';
import { DeviceInfo, TOPICS } from '../core/contracts/index.ts';
import { type Logger, rateLimited } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import type { DeviceRegistry, DirectoryEntry } from './device-registry.ts';

/** What the directory needs. */
export interface DeviceDirectoryDeps {
  readonly registry: Pick<DeviceRegistry, 'watchChanges' | 'directoryPage' | 'directoryEntries' | 'removedDevices'>;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * How often other processes' changes are read from the change log, in milliseconds (default 250; a registry
   * already watched keeps its first watcher's interval).
   */
  readonly pollIntervalMs?: number;
  /** Devices per store read and per produce (default 5,000). */
  readonly chunkSize?: number;
}

/** A running directory. */
export interface DeviceDirectory {
  /**
   * Resolves once the first pass and every change reported before the call are on the bus (or once closed); for
   * tests and for callers that want the directory complete before going on.
   */
  flushed(): Promise<void>;
  /** Stops following the change log and lets the publish in flight finish (call before closing the bus). */
  close(): Promise<void>;
}

/** Pages of the first pass being produced at once (each `chunkSize` devices). */
const FIRST_PASS_PAGES_IN_FLIGHT = 4;

/** Backoff of a failed read or produce (retried until it succeeds or the directory closes). */
const RETRY: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 30_000, maxAttempts: Number.POSITIVE_INFINITY };

/** The devices.v1 record of a registry entry (absent district, circuit or position left out), before validation. */
export function deviceInfoOf(entry: DirectoryEntry): Record<string, unknown> {
  return {
    deviceId: entry.deviceId,
    kind: entry.kind,
    ...(entry.district === null ? {} : { district: entry.district }),
    ...(entry.circuit === null ? {} : { circuit: entry.circuit }),
    ...(entry.lat === null || entry.lon === null ? {} : { lat: entry.lat, lon: entry.lon }),
    active: entry.active,
    updatedAt: entry.updatedAt,
  };
}

/**
 * Starts the directory: resolves once the topic exists and the change log is followed (the first pass then runs in
 * the background; see {@link DeviceDirectory.flushed}). Rejects when the bus or the store is unavailable at start.
 */
export async function startDeviceDirectory(deps: DeviceDirectoryDeps): Promise<DeviceDirectory> {
  const { registry, bus, logger, metrics } = deps;
  const chunkSize = Math.max(1, deps.chunkSize ?? 5_000);
  const published = metrics.counter(
    'ingest_device_directory_published_total',
    'Device records published on devices.v1, by what caused them (start: the first pass; change: the change log)',
    ['trigger'],
  );
  const skipped = metrics.counter(
    'ingest_device_directory_skipped_total',
    'Registry entries not published on devices.v1 because the DeviceInfo contract refuses them',
    ['reason'],
  );
  const failures = metrics.counter(
    'ingest_device_directory_failures_total',
    'Failed reads of the registry or produces to devices.v1 (retried with backoff) and failed change-log polls',
  );
  const logFailure = rateLimited(10_000);
  const logInvalid = rateLimited(10_000);

  await bus.ensureTopic(TOPICS.devices, { compacted: true });

  /** Changed device ids not yet published. */
  const pending = new Set<string>();
  let wake: (() => void) | null = null;
  let stopped = false;
  const idleWaiters: Array<() => void> = [];

  const watch = registry.watchChanges(
    (ids) => {
      for (const id of ids) pending.add(id);
      wake?.();
    },
    {
      ...(deps.pollIntervalMs === undefined ? {} : { pollIntervalMs: deps.pollIntervalMs }),
      onError: (err) => {
        failures.inc();
        logFailure(() => logger.error({ err }, 'device directory: reading the change log failed (read again)'));
      },
    },
  );
  try {
    await watch.ready;
  } catch (err) {
    watch.stop();
    throw err;
  }

  async function publish(entries: readonly DirectoryEntry[], trigger: 'start' | 'change'): Promise<void> {
    const messages: OutgoingMessage[] = [];
    for (const entry of entries) {
      const parsed = DeviceInfo.safeParse(deviceInfoOf(entry));
      if (!parsed.success) {
        skipped.inc({ reason: 'invalid' });
        const issue = parsed.error.issues[0];
        logInvalid(() =>
          logger.error(
            { deviceId: entry.deviceId, path: issue?.path.join('.'), issue: issue?.message },
            'device directory: a registry entry does not fit devices.v1; not published',
          ),
        );
        continue;
      }
      messages.push({ key: entry.deviceId, value: JSON.stringify(parsed.data) });
    }
    if (messages.length === 0) return;
    await bus.produce(TOPICS.devices, messages);
    published.inc({ trigger }, messages.length);
  }

  // The first pass, resumable: after a failure it starts again after the last page the bus acknowledged (pages
  // after it are published again: harmless). Pages are read while the previous ones are being produced, up to
  // FIRST_PASS_PAGES_IN_FLIGHT at once: the bus gets large batches, and no key appears twice in one pass.
  let firstPass: { after: string } | null = { after: '' };
  const firstPassStep = async (): Promise<void> => {
    const pass = firstPass!;
    const inFlight: Array<{ end: string; done: Promise<void> }> = [];
    let readAfter = pass.after;
    let finished = false;
    try {
      while (!finished && !stopped) {
        const page = await registry.directoryPage(readAfter, chunkSize);
        finished = page.length < chunkSize;
        if (page.length > 0) {
          readAfter = page[page.length - 1]!.deviceId;
          const done = publish(page, 'start');
          // Awaited below, in order; this only keeps a failure from being reported as unhandled meanwhile.
          done.catch(() => {});
          inFlight.push({ end: readAfter, done });
        }
        while (inFlight.length >= FIRST_PASS_PAGES_IN_FLIGHT || (finished && inFlight.length > 0)) {
          const oldest = inFlight.shift()!;
          await oldest.done;
          pass.after = oldest.end;
        }
      }
    } finally {
      await Promise.allSettled(inFlight.map((f) => f.done));
    }
    if (!finished) return;
    await publish(await registry.removedDevices(), 'start');
    firstPass = null;
    logger.debug('device directory: every device published');
  };

  const changeStep = async (): Promise<void> => {
    const ids: string[] = [];
    for (const id of pending) {
      ids.push(id);
      pending.delete(id);
      if (ids.length >= chunkSize) break;
    }
    try {
      await publish(await registry.directoryEntries(ids), 'change');
    } catch (err) {
      for (const id of ids) pending.add(id);
      throw err;
    }
  };

  let sleepTimer: NodeJS.Timeout | undefined;
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      if (Number.isFinite(ms)) sleepTimer = setTimeout(resolve, ms);
    }).finally(() => {
      wake = null;
      clearTimeout(sleepTimer);
    });

  const worker = (async () => {
    let attempt = 0;
    while (!stopped) {
      try {
        if (firstPass) await firstPassStep();
        else if (pending.size > 0) await changeStep();
        else {
          for (const resolve of idleWaiters.splice(0)) resolve();
          await wait(Number.POSITIVE_INFINITY);
          continue;
        }
        attempt = 0;
      } catch (err) {
        if (stopped) break;
        attempt++;
        failures.inc();
        logFailure(() => logger.error({ err, attempt }, 'device directory: publishing failed (retried with backoff)'));
        // A change reported meanwhile does not cut the backoff short: the failure is likely still there.
        const delayMs = backoffDelayMs(RETRY, attempt);
        const untilMs = Date.now() + delayMs;
        while (!stopped && Date.now() < untilMs) await wait(untilMs - Date.now());
      }
    }
  })();

  let closing: Promise<void> | undefined;
  return {
    flushed() {
      if (stopped) return Promise.resolve();
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        wake?.();
      });
    },
    close() {
      closing ??= (async () => {
        stopped = true;
        watch.stop();
        wake?.();
        await worker;
        for (const resolve of idleWaiters.splice(0)) resolve();
      })();
      return closing;
    },
  };
}
