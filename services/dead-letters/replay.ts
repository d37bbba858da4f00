import type { Bus, OutgoingMessage } from '../../core/bus/port.ts';
import { KINDS, TOPICS } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import { boundedLabel, type DeadLetterMetrics } from './metrics.ts';
import type { DeadLetterRecord, DeadLetterStore } from './store.ts';

/**
 * Replaying dead letters: the original bytes produced again, unchanged, to the topic they were consumed from, so
 * every consumer group of that topic reads them again (at least once: consumers are idempotent, as for any
 * redelivery). Only a bus source can be replayed; an MQTT, HTTP or file source cannot be reached from here (the
 * device, the network server or the importer sends it again), and neither can a record of deadletter.v1 itself
 * (an invalid one: replaying it would loop). If the record fails again, its stage dead-letters it anew: a new row,
 * the old one staying `replayed`.
 *
 * Order: produce, then mark `replayed` — a crash in between leaves the row open and a second replay produces it
 * twice, never a row marked replayed that was not. Two operators replaying the same row at once may both produce it.
 *
 * The key (the dead letter does not carry the original key): the key the topic's contract names, read from the
 * original bytes — deviceId for readings.*, events.* and devices.v1, `deviceId:type` for alerts.v1, `from` for
 * inbound-sms.v1, `to` for notifications.v1, `phone` for parking-sessions.v1, `accountId` for mobility-usage.v1;
 * when the bytes do not give it (they were refused, after all), the dead letter's own bus key, which the stages set
 * to the original key (or to the source topic when there was none: not taken); else the dead letter's deviceId;
 * else an empty key. Only per-key order depends on it: a record replayed under another key may overtake or follow
 * its device's other records — which replaying out of time does anyway.
 */

/** The error code of a replay of a dead letter that cannot be replayed from here (HTTP 409). */
export const NOT_REPLAYABLE_CODE = 'ERR_DEADLETTER_NOT_REPLAYABLE';
/** The error code of a replay or discard of a dead letter already replayed or discarded (HTTP 409). */
export const RESOLVED_CODE = 'ERR_DEADLETTER_RESOLVED';

/** Reads a topic's key out of a record's JSON value; undefined when the value does not have it. */
type KeyReader = (value: Record<string, unknown>) => unknown;

const byField =
  (field: string): KeyReader =>
  (v) =>
    v[field];

const KEY_READERS: ReadonlyMap<string, KeyReader> = new Map<string, KeyReader>([
  ...KINDS.flatMap(
    (kind): Array<[string, KeyReader]> => [
      [TOPICS.readings(kind), byField('deviceId')],
      [TOPICS.events(kind), byField('deviceId')],
    ],
  ),
  [TOPICS.devices, byField('deviceId')],
  [
    TOPICS.alerts,
    (v) => (typeof v.deviceId === 'string' && typeof v.type === 'string' ? `${v.deviceId}:${v.type}` : undefined),
  ],
  [TOPICS.inboundSms, byField('from')],
  [TOPICS.notifications, byField('to')],
  [TOPICS.parkingSessions, byField('phone')],
  [TOPICS.mobilityUsage, byField('accountId')],
]);

/** The key a dead letter of `topic` is produced again with (see the file's comment). */
export function replayKeyOf(
  topic: string,
  record: Pick<DeadLetterRecord, 'raw' | 'recordBusKey' | 'deviceId'>,
): string {
  const reader = KEY_READERS.get(topic);
  if (reader) {
    try {
      const value: unknown = JSON.parse(record.raw.toString('utf8'));
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        const key = reader(value as Record<string, unknown>);
        if (typeof key === 'string' && key.length > 0 && key.length <= 300) return key;
      }
    } catch {
      // not JSON: the other sources below
    }
  }
  if (record.recordBusKey && record.recordBusKey !== topic) return record.recordBusKey;
  return record.deviceId ?? '';
}

/** Why a dead letter cannot be replayed from here, and how its bytes come back instead; undefined when it can. */
export function notReplayableReason(record: Pick<DeadLetterRecord, 'id' | 'source'>): string | undefined {
  const { source } = record;
  const what = `replay dead letter ${record.id}`;
  switch (source.type) {
    case 'bus':
      if (source.topic === TOPICS.deadLetters) {
        return `${what}: a record of ${TOPICS.deadLetters} that is not a dead letter (nothing to replay it to: fix its producer, then discard it)`;
      }
      return undefined;
    case 'mqtt':
      return (
        `${what}: source mqtt ${JSON.stringify(source.topic)} (only bus sources are replayed; fix the cause, then the ` +
        'device resends — a device with a persistent session or a buffer does so itself — or, for an uplink from a ' +
        'network server, have the network server send the uplink again; then discard this one)'
      );
    case 'http':
      return `${what}: source http ${JSON.stringify(source.route)} (only bus sources are replayed; fix the cause, then the caller sends the request again; then discard this one)`;
    case 'file':
      return `${what}: source file ${JSON.stringify(source.path)} line ${source.line} (only bus sources are replayed; fix the line, then import the file again; then discard this one)`;
  }
}

/** The message a bus-source dead letter is produced again as: its exact bytes, to its source topic. */
export function replayMessage(record: DeadLetterRecord): { topic: string; message: OutgoingMessage } {
  const reason = notReplayableReason(record);
  if (reason !== undefined || record.source.type !== 'bus') {
    throw new AppError(NOT_REPLAYABLE_CODE, reason ?? `replay dead letter ${record.id}: not from the bus`);
  }
  const topic = record.source.topic;
  // The bus carries UTF-8 text, and a bus-source dead letter's bytes are that text's UTF-8: the round trip is exact.
  return { topic, message: { key: replayKeyOf(topic, record), value: record.raw.toString('utf8') } };
}

/** What a bulk replay did. */
export interface BulkReplayResult {
  /** Produced again and marked replayed. */
  readonly replayed: number;
  /** Open dead letters matching that cannot be replayed from here (not from the bus). */
  readonly notReplayable: number;
  /** Open replayable dead letters matching, there when it started, still left (beyond the limit): call again. */
  readonly remaining: number;
}

/** What the replayer needs. */
export interface ReplayerDeps {
  readonly deadLetters: DeadLetterStore;
  readonly bus: Bus;
  readonly metrics: DeadLetterMetrics;
}

/** Rows read and produced together in a bulk replay. */
const BULK_CHUNK_ROWS = 100;

/** Replays dead letters (one, or all open ones of an error code). */
export interface Replayer {
  /**
   * Produces one dead letter's bytes again and marks it replayed by `by`. Throws ERR_DEADLETTER_NOT_FOUND,
   * ERR_DEADLETTER_NOT_REPLAYABLE, ERR_DEADLETTER_RESOLVED (`force` replays a replayed one again, never a discarded one).
   */
  replayOne(id: number, by: string, options?: { force?: boolean }): Promise<DeadLetterRecord>;
  /** Replays up to `limit` open bus-source dead letters of `errorCode` (and `component`), oldest first. */
  replayMatching(
    match: { errorCode: string; component?: string | undefined; limit: number },
    by: string,
  ): Promise<BulkReplayResult>;
}

/** Creates the replayer. */
export function createReplayer(deps: ReplayerDeps): Replayer {
  const { deadLetters, bus, metrics } = deps;

  return {
    async replayOne(id, by, options = {}) {
      const record = await deadLetters.get(id);
      if (!record) throw notFound(id);
      const reason = notReplayableReason(record);
      if (reason !== undefined) throw new AppError(NOT_REPLAYABLE_CODE, reason);
      if (record.status === 'discarded' || (record.status === 'replayed' && !options.force)) {
        throw new AppError(
          RESOLVED_CODE,
          `replay dead letter ${id}: ${record.status} by ${record.resolvedBy} at ${record.resolvedAt} (open dead letters only${
            record.status === 'replayed' ? '; ?force=true replays it again' : ''
          })`,
        );
      }
      const { topic, message } = replayMessage(record);
      await bus.ensureTopic(topic);
      await bus.produce(topic, [message]);
      await deadLetters.markReplayed([id], by);
      metrics.replayed.inc({ component: boundedLabel(record.component) });
      return (await deadLetters.get(id)) ?? record;
    },

    async replayMatching(match, by) {
      const selector = { errorCode: match.errorCode, component: match.component, excludeTopic: TOPICS.deadLetters };
      // The rows there now: one failing again while this runs comes back as a new row, not replayed twice here.
      const upToId = await deadLetters.maxId();
      let replayed = 0;
      let afterId = 0;
      while (replayed < match.limit) {
        const rows = await deadLetters.openReplayable(
          selector,
          { afterId, upToId },
          Math.min(BULK_CHUNK_ROWS, match.limit - replayed),
        );
        if (rows.length === 0) break;
        afterId = rows[rows.length - 1]?.id ?? afterId;
        // One produce per topic, in id order within it (per-key order as they were dead-lettered); each topic's
        // rows marked once the bus holds them.
        const byTopic = new Map<string, { ids: number[]; messages: OutgoingMessage[]; components: string[] }>();
        for (const row of rows) {
          const { topic, message } = replayMessage(row);
          const group = byTopic.get(topic) ?? { ids: [], messages: [], components: [] };
          group.ids.push(row.id);
          group.messages.push(message);
          group.components.push(row.component);
          byTopic.set(topic, group);
        }
        for (const [topic, group] of byTopic) {
          await bus.ensureTopic(topic);
          await bus.produce(topic, group.messages);
          await deadLetters.markReplayed(group.ids, by);
          for (const component of group.components) metrics.replayed.inc({ component: boundedLabel(component) });
          replayed += group.ids.length;
        }
      }
      const [notReplayable, remaining] = await Promise.all([
        deadLetters.countOpen(selector, false),
        deadLetters.countOpen(selector, true, upToId),
      ]);
      return { replayed, notReplayable, remaining };
    },
  };
}

/** The error of an unknown dead letter id (HTTP 404). */
export function notFound(id: number): AppError {
  return new AppError(
    'ERR_DEADLETTER_NOT_FOUND',
    `dead letter: ${id} (no dead letter has this id; GET /api/dead-letters)`,
  );
}
