import { createHash } from 'node:crypto';
import type { BusMessage } from '../../core/bus/port.ts';
import { DeadLetter } from '../../core/contracts/index.ts';
import { preview } from '../../core/errors.ts';
import type { NewDeadLetter } from './store.ts';

/**
 * A record of deadletter.v1 as a row to store (pure; never throws on bad data). A record that is not a DeadLetter
 * (not JSON, not the schema, or a `rawBase64` that is not base64) becomes a row of its own with error code
 * `ERR_DEADLETTER_INVALID`, its raw bytes being the record's value itself, its source the record's place on
 * deadletter.v1 (which replay.ts never produces to: no loop), and component `dead-letters`. Nothing is produced
 * about it: a dead letter about a dead letter would loop.
 */

/** The error code of a deadletter.v1 record that is not a dead letter. */
export const INVALID_CODE = 'ERR_DEADLETTER_INVALID';
/** The component named by the rows of invalid records. */
export const COMPONENT = 'dead-letters';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The key a record is stored under: sha256 of its partition, offset and value (offsets restart on the memory bus). */
export function recordKeyOf(m: Pick<BusMessage, 'partition' | 'offset' | 'value'>): string {
  return createHash('sha256').update(`${m.partition}\n${m.offset}\n`).update(m.value, 'utf8').digest('hex');
}

/** Decodes base64 when `text` is base64 (padded or not) and nothing else; undefined otherwise. */
export function decodeBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Node skips what it cannot read: only a round trip proves every character was taken.
  return bytes.toString('base64').replace(/=+$/, '') === text.replace(/=+$/, '') ? bytes : undefined;
}

/** The row of one consumed deadletter.v1 record. */
export function decodeRecord(m: BusMessage): NewDeadLetter {
  const position = {
    recordKey: recordKeyOf(m),
    recordPartition: m.partition,
    recordOffset: m.offset,
    recordBusKey: m.key,
  };
  const invalid = (why: string, issues: DeadLetter['issues'] = []): NewDeadLetter => ({
    ...position,
    raw: Buffer.from(m.value, 'utf8'),
    source: { type: 'bus', topic: m.topic, partition: m.partition, offset: m.offset },
    deviceId: undefined,
    errorCode: INVALID_CODE,
    message: `${m.topic} record at partition ${m.partition}, offset ${m.offset} is not a dead letter: ${why} (core/contracts/dead-letter.ts)`,
    issues,
    component: COMPONENT,
    stage: 'receiving',
    attempts: 1,
    firstFailedAt: new Date(m.timestampMs).toISOString(),
  });

  let json: unknown;
  try {
    json = JSON.parse(m.value);
  } catch (err) {
    return invalid(`not JSON, ${preview(m.value)} (${(err as Error).message})`);
  }
  const parsed = DeadLetter.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const first = issues[0];
    return invalid(`${first ? `${first.path || '(root)'}: ${first.message}` : 'does not match the schema'}`, issues);
  }
  const letter = parsed.data;
  const raw = decodeBase64(letter.rawBase64);
  if (!raw) {
    return invalid(`rawBase64 is not base64: ${preview(letter.rawBase64)}`, [
      { path: 'rawBase64', message: 'not base64' },
    ]);
  }
  return {
    ...position,
    raw,
    source: letter.source,
    deviceId: letter.deviceId,
    errorCode: letter.errorCode,
    message: letter.message,
    issues: letter.issues,
    component: letter.component,
    stage: letter.stage,
    attempts: letter.attempts,
    firstFailedAt: letter.firstFailedAt,
  };
}
