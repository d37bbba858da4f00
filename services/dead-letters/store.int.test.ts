import { describe, expect, it } from 'vitest';
import type { BusMessage } from '../../core/bus/port.ts';
import { ManualClock } from '../../core/clock.ts';
import type { DeadLetter } from '../../core/contracts/index.ts';
import { openTestStore } from '../../test/helpers/postgres.ts';
import { decodeRecord } from './decode.ts';
import { deadLetterMigrations } from './index.ts';
import { createDeadLetterStore } from './store.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');
const DAY_MS = 86_400_000;

let offset = 0;
/** A deadletter.v1 record of a dead letter of `raw`. */
function record(raw: string | Buffer, overrides: Partial<DeadLetter> = {}): BusMessage {
  const letter: DeadLetter = {
    rawBase64: (typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw).toString('base64'),
    source: { type: 'bus', topic: 'mobility-usage.v1', partition: 0, offset: 3 },
    errorCode: 'ERR_MOBILITY_ACCOUNT_UNKNOWN',
    message: 'usage event: account acc-9 (an existing account)',
    issues: [],
    component: 'mobility',
    stage: 'processing',
    attempts: 1,
    firstFailedAt: '2026-03-10T07:00:00.000Z',
    ...overrides,
  };
  offset += 1;
  return {
    topic: 'deadletter.v1',
    partition: 0,
    offset,
    timestampMs: T0,
    key: letter.deviceId ?? 'mobility-usage.v1',
    value: JSON.stringify(letter),
  };
}

describe.each(['pglite', 'postgres'] as const)('dead-letters store (%s)', (engine) => {
  async function setup() {
    const store = await openTestStore(engine, [deadLetterMigrations]);
    const clock = new ManualClock(T0);
    return { clock, deadLetters: createDeadLetterStore(store, { clock }) };
  }

  it('stores a record once when it is delivered twice, in one batch or two, keeping its bytes exactly', async () => {
    const { deadLetters } = await setup();
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x41, 0x0a]);
    const m = record(bytes, { deviceId: 'wm-1' });
    const first = await deadLetters.insert([decodeRecord(m), decodeRecord(m)]);
    expect(first).toHaveLength(1);
    expect(await deadLetters.insert([decodeRecord(m)])).toEqual([]);
    const page = await deadLetters.list();
    expect(page.total).toBe(1);
    const stored = await deadLetters.get(page.items[0]?.id as number);
    expect(stored?.raw.equals(bytes)).toBe(true);
    expect(stored).toMatchObject({ rawSizeBytes: 5, deviceId: 'wm-1', status: 'open', replayCount: 0 });
    expect(stored?.rawPreview).toBe('\u0000\uFFFD\uFFFDA\n');
  });

  it('pages newest first with a cursor and filters by code, component, device and time', async () => {
    const { deadLetters, clock } = await setup();
    for (let i = 0; i < 5; i++) {
      clock.set(T0 + i * 60_000);
      await deadLetters.insert([
        decodeRecord(
          record(
            `{"n":${i}}`,
            i % 2 === 0 ? { deviceId: `wm-${i}` } : { errorCode: 'ERR_EVENT_SCHEMA', component: 'processors' },
          ),
        ),
      ]);
    }
    const first = await deadLetters.list({ limit: 2 });
    expect(first.total).toBe(5);
    expect(first.items.map((i) => i.rawPreview)).toEqual(['{"n":4}', '{"n":3}']);
    const second = await deadLetters.list({ limit: 2, cursor: first.nextCursor as string });
    expect(second.items.map((i) => i.rawPreview)).toEqual(['{"n":2}', '{"n":1}']);
    const third = await deadLetters.list({ limit: 2, cursor: second.nextCursor as string });
    expect(third.items.map((i) => i.rawPreview)).toEqual(['{"n":0}']);
    expect(third.nextCursor).toBeNull();

    expect((await deadLetters.list({ errorCode: 'ERR_EVENT_SCHEMA' })).total).toBe(2);
    expect((await deadLetters.list({ component: 'mobility' })).total).toBe(3);
    expect((await deadLetters.list({ deviceId: 'wm-2' })).items.map((i) => i.rawPreview)).toEqual(['{"n":2}']);
    const window = await deadLetters.list({
      since: new Date(T0 + 60_000).toISOString(),
      until: new Date(T0 + 3 * 60_000).toISOString(),
    });
    expect(window.items.map((i) => i.rawPreview)).toEqual(['{"n":2}', '{"n":1}']);
    expect(await deadLetters.openSummary()).toEqual({
      open: 5,
      byErrorCode: [
        { errorCode: 'ERR_MOBILITY_ACCOUNT_UNKNOWN', count: 3 },
        { errorCode: 'ERR_EVENT_SCHEMA', count: 2 },
      ],
    });
    await expect(deadLetters.list({ cursor: 'bm90IGEgY3Vyc29y' })).rejects.toMatchObject({
      code: 'ERR_DEADLETTER_CURSOR_INVALID',
    });
  });

  it('discards an open dead letter once, and deletes resolved rows only past the retention', async () => {
    const { deadLetters, clock } = await setup();
    await deadLetters.insert([decodeRecord(record('a')), decodeRecord(record('b')), decodeRecord(record('c'))]);
    const [c, b, a] = (await deadLetters.list()).items.map((i) => i.id) as [number, number, number];
    const discarded = await deadLetters.discard(a, 'otto', 'test data from the bench');
    expect(discarded).toMatchObject({
      status: 'discarded',
      resolvedBy: 'otto',
      resolveNote: 'test data from the bench',
      resolvedAt: new Date(T0).toISOString(),
    });
    expect(await deadLetters.discard(a, 'otto', 'again')).toBeUndefined();
    clock.advance(10 * DAY_MS);
    await deadLetters.markReplayed([b], 'otto');
    expect(await deadLetters.get(b)).toMatchObject({ status: 'replayed', replayCount: 1, resolvedBy: 'otto' });
    expect(await deadLetters.openCount()).toBe(1);

    // 1. Ninety days after the discard: only the discarded row is past the retention.
    clock.set(T0 + 90 * DAY_MS + 1);
    expect(await deadLetters.purgeResolved(clock.nowMs() - 90 * DAY_MS)).toBe(1);
    expect(await deadLetters.get(a)).toBeUndefined();
    // 2. Much later: the replayed row goes too; the open one stays, whatever its age.
    clock.set(T0 + 400 * DAY_MS);
    expect(await deadLetters.purgeResolved(clock.nowMs() - 90 * DAY_MS)).toBe(1);
    expect((await deadLetters.list({ status: 'all' })).items.map((i) => i.id)).toEqual([c]);
  });
});
