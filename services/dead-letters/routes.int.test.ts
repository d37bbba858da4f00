import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import type { Bus } from '../../core/bus/port.ts';
import { ManualClock } from '../../core/clock.ts';
import { type DeadLetter, TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { httpConfigSchema, httpMigrations, type RunningHttp, startHttp } from '../http/index.ts';
import { createDeadLetters, type DeadLetters, deadLetterMigrations, deadLetterRoutes } from './index.ts';
import { collect, deadLetterOf, produceDeadLetters } from './test-helpers.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');
const POLL = { timeout: 10_000, interval: 20 };

/** One server for the file (PGlite takes seconds to open); each test uses error codes of its own. */
let store: SqlStore;
let bus: Bus;
let http: RunningHttp;
let service: DeadLetters;
const clock = new ManualClock(T0);
const metrics = new Metrics();
const token = { viewer: '', operator: '' };

beforeAll(async () => {
  store = await openStore({ pgliteDir: 'memory://' }, [httpMigrations, deadLetterMigrations]);
  bus = createMemoryBus();
  service = createDeadLetters({ store, bus, logger: silentLogger(), metrics, clock });
  await service.start();
  http = await startHttp({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
    store,
    logger: silentLogger(),
    metrics,
    plugins: [deadLetterRoutes({ store, bus, metrics, clock })],
  });
  token.viewer = (await http.app.operatorTokens.create('vera', 'viewer')).token;
  token.operator = (await http.app.operatorTokens.create('otto', 'operator')).token;
});
afterAll(async () => {
  await http?.close();
  await service?.close();
  await bus?.close();
  await store?.close();
});

type Who = keyof typeof token | 'nobody';
type Item = {
  id: number;
  errorCode: string;
  status: string;
  resolvedBy: string | null;
  resolveNote: string | null;
  replayCount: number;
  replayable: boolean;
  rawPreview: string;
  rawSizeBytes: number;
} & Record<string, unknown>;
type Json = Record<string, unknown> & { error?: { code: string; message: string } };

async function call(who: Who, method: 'GET' | 'POST', path: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (who !== 'nobody') headers.authorization = `Bearer ${token[who]}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${http.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

/** An error code no other test uses. */
function uniqueCode(): string {
  return `ERR_TEST_${randomBytes(5).toString('hex').toUpperCase()}`;
}

/**
 * Produces the dead letters, waits until the service holds them, and returns the new rows in the order of `letters`
 * (stored in another order when their keys fall on different partitions).
 */
async function stored(...letters: DeadLetter[]): Promise<Item[]> {
  const codes = [...new Set(letters.map((l) => l.errorCode))];
  const items = async () => {
    const all: Item[] = [];
    for (const code of codes) {
      const page = await call('operator', 'GET', `/api/dead-letters?status=all&limit=500&errorCode=${code}`);
      all.push(...(page.body.items as Item[]));
    }
    return all;
  };
  const before = new Set((await items()).map((i) => i.id));
  await produceDeadLetters(bus, ...letters);
  const fresh = async () => (await items()).filter((i) => !before.has(i.id));
  await expect.poll(async () => (await fresh()).length, POLL).toBe(letters.length);
  const rows = await fresh();
  return letters.map((l) => {
    const row = rows.find((r) => r.rawPreview === Buffer.from(l.rawBase64, 'base64').toString('utf8').slice(0, 500));
    if (!row) throw new Error(`stored: no row for ${l.rawBase64}`);
    rows.splice(rows.indexOf(row), 1);
    return row;
  });
}

/** Collects `topic` for the test. */
async function watch(topic: string) {
  const collected = await collect(bus, topic);
  onTestFinished(() => collected.close());
  return collected;
}

describe('dead-letters routes', () => {
  it('lists a dead letter produced to deadletter.v1 with its preview, size and the open counts by code', async () => {
    const code = uniqueCode();
    const raw = `{"accountId":"acc-9","kind":"validation","note":"${'é'.repeat(600)}"}`;
    const [item] = await stored(deadLetterOf(raw, { errorCode: code, deviceId: 'wm-7' }));
    expect(item).toMatchObject({
      errorCode: code,
      message: 'usage event: account acc-9 (an existing account; POST /api/mobility/accounts)',
      issues: [],
      component: 'mobility',
      stage: 'processing',
      source: { type: 'bus', topic: 'mobility-usage.v1', partition: 0, offset: 3 },
      deviceId: 'wm-7',
      attempts: 1,
      firstFailedAt: '2026-03-10T07:00:00.000Z',
      status: 'open',
      replayable: true,
      receivedAt: new Date(T0).toISOString(),
      rawSizeBytes: Buffer.byteLength(raw),
    });
    expect(item?.rawPreview).toBe(Array.from(raw).slice(0, 500).join(''));
    const page = await call('operator', 'GET', `/api/dead-letters?deviceId=wm-7&errorCode=${code}`);
    expect(page.body.total).toBe(1);
    const summary = page.body.summary as { open: number; byErrorCode: Array<{ errorCode: string; count: number }> };
    expect(summary.byErrorCode).toContainEqual({ errorCode: code, count: 1 });
    expect(summary.open).toBeGreaterThanOrEqual(1);
    // Counted right after the row is committed, which the listing may see first.
    await expect
      .poll(() => metrics.value('dead_letters_stored_total', { component: 'mobility', error_code: code }), POLL)
      .toBe(1);
    await expect.poll(() => metrics.value('dead_letters_open'), POLL).toBe(summary.open);

    const detail = await call('operator', 'GET', `/api/dead-letters/${item?.id}`);
    expect(detail.status).toBe(200);
    expect(Buffer.from(detail.body.rawBase64 as string, 'base64').toString('utf8')).toBe(raw);
    expect(detail.body).toMatchObject({ replayKey: 'acc-9', record: { key: 'wm-7' }, sameBytes: [] });
  });

  it('stores a record once when a second consumer reads the same records again', async () => {
    const code = uniqueCode();
    await stored(deadLetterOf('{"n":1}', { errorCode: code }), deadLetterOf('{"n":2}', { errorCode: code }));
    // 1. Another instance on the same store, in a group of its own: every record of deadletter.v1 comes again.
    const again = new Metrics();
    const second = createDeadLetters({ store, bus, logger: silentLogger(), metrics: again, clock, groupId: 'again' });
    onTestFinished(() => second.close());
    await second.start();
    await expect.poll(() => again.value('dead_letters_duplicates_total'), POLL).toBeGreaterThanOrEqual(2);
    // 2. Still two rows of this code, and nothing counted as stored by the second one.
    const page = await call('operator', 'GET', `/api/dead-letters?status=all&errorCode=${code}`);
    expect(page.body.total).toBe(2);
    expect(await again.value('dead_letters_stored_total')).toBe(0);
  });

  it('stores a record that is not a dead letter as ERR_DEADLETTER_INVALID with its raw value, never replayable', async () => {
    const deadLetters = await watch(TOPICS.deadLetters);
    const marker = randomBytes(6).toString('hex');
    const value = `{"not":"a dead letter","marker":"${marker}"}`;
    await bus.produce(TOPICS.deadLetters, [{ key: 'stray', value }]);
    const find = async () => {
      const page = await call('operator', 'GET', '/api/dead-letters?errorCode=ERR_DEADLETTER_INVALID&limit=500');
      return (page.body.items as Item[]).find((i) => i.rawPreview === value);
    };
    await expect.poll(find, POLL).toBeDefined();
    const item = (await find()) as Item;
    expect(item).toMatchObject({ component: 'dead-letters', replayable: false, source: { topic: 'deadletter.v1' } });
    expect(item.message).toMatch(/is not a dead letter: rawBase64: /);
    const detail = await call('operator', 'GET', `/api/dead-letters/${item.id}`);
    expect(Buffer.from(detail.body.rawBase64 as string, 'base64').toString('utf8')).toBe(value);
    expect(detail.body.replayKey).toBeNull();
    const replay = await call('operator', 'POST', `/api/dead-letters/${item.id}/replay`);
    expect(replay.status).toBe(409);
    expect(replay.body.error?.code).toBe('ERR_DEADLETTER_NOT_REPLAYABLE');
    // No dead letter about it: deadletter.v1 holds the stray record only, nothing carrying its bytes.
    await expect.poll(() => deadLetters.all.some((m) => m.value === value), POLL).toBe(true);
    const carrying = deadLetters.all.filter((m) => m.value.includes(marker) || m.value.includes(b64(value)));
    expect(carrying.map((m) => m.value)).toEqual([value]);
  });

  it('replays the exact original bytes to the source topic under the original key and records who', async () => {
    const inbound = await watch(TOPICS.inboundSms);
    const before = inbound.all.length;
    const code = uniqueCode();
    const raw = '{"messageSid":"SM1","from":"+33611223344","to":"+33700000000","body":"PARK rouge — 1h 🚗","media":[]}';
    const [item] = await stored(
      deadLetterOf(raw, {
        errorCode: code,
        component: 'parking',
        source: { type: 'bus', topic: TOPICS.inboundSms, partition: 1, offset: 12 },
      }),
    );
    clock.set(T0 + 60_000);
    const replay = await call('operator', 'POST', `/api/dead-letters/${item?.id}/replay`);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({
      status: 'replayed',
      resolvedBy: 'otto',
      resolvedAt: new Date(T0 + 60_000).toISOString(),
      replayCount: 1,
    });
    await expect.poll(() => inbound.all.length, POLL).toBe(before + 1);
    const produced = inbound.all.at(-1);
    expect(Buffer.from(produced?.value ?? '', 'utf8').equals(Buffer.from(raw, 'utf8'))).toBe(true);
    expect(produced?.key).toBe('+33611223344');
    expect(await metrics.value('dead_letters_replayed_total', { component: 'parking' })).toBeGreaterThanOrEqual(1);
    // Listed under replayed, no longer under open.
    const open = await call('operator', 'GET', `/api/dead-letters?errorCode=${code}`);
    expect(open.body.total).toBe(0);
    const replayed = await call('operator', 'GET', `/api/dead-letters?status=replayed&errorCode=${code}`);
    expect((replayed.body.items as Item[]).map((i) => i.id)).toEqual([item?.id]);
  });

  it('shows a replayed record that failed again as a new open dead letter of the same bytes', async () => {
    const code = uniqueCode();
    const raw = '{"accountId":"acc-404"}';
    const [first] = await stored(deadLetterOf(raw, { errorCode: code }));
    expect((await call('operator', 'POST', `/api/dead-letters/${first?.id}/replay`)).status).toBe(200);
    // The stage refuses it again: a new dead letter of the same bytes (a later position of the source topic).
    const [again] = (await stored(
      deadLetterOf(raw, {
        errorCode: code,
        source: { type: 'bus', topic: TOPICS.mobilityUsage, partition: 0, offset: 9 },
      }),
    )) as [Item];
    expect(again.id).not.toBe(first?.id);
    expect(again.status).toBe('open');
    const detail = await call('operator', 'GET', `/api/dead-letters/${again.id}`);
    expect(detail.body.sameBytes).toEqual([expect.objectContaining({ id: first?.id, status: 'replayed' })]);
  });

  it('answers 409 ERR_DEADLETTER_NOT_REPLAYABLE saying how to resend when the source is MQTT, HTTP or a file', async () => {
    const code = uniqueCode();
    const items = await stored(
      deadLetterOf('{"v":1}', {
        errorCode: code,
        source: { type: 'mqtt', topic: 'vigie/v1/water-meter/wm-1/telemetry' },
      }),
      deadLetterOf('{"v":2}', { errorCode: code, source: { type: 'http', route: '/api/uplinks/chirpstack' } }),
      deadLetterOf('{"v":3}', { errorCode: code, source: { type: 'file', path: 'devices.csv', line: 4 } }),
    );
    const answers = [];
    for (const item of items) answers.push(await call('operator', 'POST', `/api/dead-letters/${item.id}/replay`));
    expect(answers.map((a) => [a.status, a.body.error?.code])).toEqual([
      [409, 'ERR_DEADLETTER_NOT_REPLAYABLE'],
      [409, 'ERR_DEADLETTER_NOT_REPLAYABLE'],
      [409, 'ERR_DEADLETTER_NOT_REPLAYABLE'],
    ]);
    expect(answers.map((a) => a.body.error?.message)).toEqual([
      expect.stringMatching(/source mqtt .*the device resends.*network server/),
      expect.stringMatching(/source http .*sends the request again/),
      expect.stringMatching(/source file .*line 4.*import the file again/),
    ]);
    expect(items.map((i) => i.replayable)).toEqual([false, false, false]);
    const still = await call('operator', 'GET', `/api/dead-letters?errorCode=${code}`);
    expect(still.body.total).toBe(3);
  });

  it('answers 409 ERR_DEADLETTER_RESOLVED when replaying twice, and produces it again with force=true', async () => {
    const usage = await watch(TOPICS.mobilityUsage);
    const code = uniqueCode();
    const raw = `{"accountId":"acc-${code}"}`;
    const [item] = await stored(deadLetterOf(raw, { errorCode: code }));
    const mine = () => usage.all.filter((m) => m.value === raw);
    expect((await call('operator', 'POST', `/api/dead-letters/${item?.id}/replay`)).status).toBe(200);
    await expect.poll(() => mine().length, POLL).toBe(1);

    const twice = await call('operator', 'POST', `/api/dead-letters/${item?.id}/replay`);
    expect(twice.status).toBe(409);
    expect(twice.body.error?.code).toBe('ERR_DEADLETTER_RESOLVED');
    expect(twice.body.error?.message).toMatch(/replayed by otto .*\?force=true/);

    const forced = await call('operator', 'POST', `/api/dead-letters/${item?.id}/replay?force=true`);
    expect(forced.status).toBe(200);
    expect(forced.body.replayCount).toBe(2);
    await expect.poll(() => mine().length, POLL).toBe(2);
    expect(mine().map((m) => m.key)).toEqual([`acc-${code}`, `acc-${code}`]);
  });

  it('discards an open dead letter with a note, then refuses to replay or discard it again', async () => {
    const code = uniqueCode();
    const [item] = await stored(deadLetterOf('{"bench":true}', { errorCode: code }));
    const empty = await call('operator', 'POST', `/api/dead-letters/${item?.id}/discard`, { note: '  ' });
    expect([empty.status, empty.body.error?.code]).toEqual([400, 'ERR_HTTP_VALIDATION']);
    const long = await call('operator', 'POST', `/api/dead-letters/${item?.id}/discard`, { note: 'x'.repeat(501) });
    expect(long.status).toBe(400);

    const discarded = await call('operator', 'POST', `/api/dead-letters/${item?.id}/discard`, {
      note: 'Données du banc de test, pas à rejouer',
    });
    expect(discarded.status).toBe(200);
    expect(discarded.body).toMatchObject({
      status: 'discarded',
      resolvedBy: 'otto',
      resolveNote: 'Données du banc de test, pas à rejouer',
      replayCount: 0,
    });
    const replay = await call('operator', 'POST', `/api/dead-letters/${item?.id}/replay?force=true`);
    expect([replay.status, replay.body.error?.code]).toEqual([409, 'ERR_DEADLETTER_RESOLVED']);
    const again = await call('operator', 'POST', `/api/dead-letters/${item?.id}/discard`, { note: 'encore' });
    expect([again.status, again.body.error?.code]).toEqual([409, 'ERR_DEADLETTER_RESOLVED']);
    const listed = await call('operator', 'GET', `/api/dead-letters?status=discarded&errorCode=${code}`);
    expect((listed.body.items as Item[]).map((i) => i.resolveNote)).toEqual(['Données du banc de test, pas à rejouer']);
  });

  it('replays in bulk only the open bus-source dead letters of the error code (and component), oldest first', async () => {
    const usage = await watch(TOPICS.mobilityUsage);
    const code = uniqueCode();
    const other = uniqueCode();
    const tag = randomBytes(4).toString('hex');
    const body = (n: number) => `{"accountId":"acc-${tag}-${n}"}`;
    const items = await stored(
      deadLetterOf(body(1), { errorCode: code }),
      deadLetterOf(body(2), { errorCode: code, source: { type: 'mqtt', topic: 'vigie/v1/sensor/s-1/telemetry' } }),
      deadLetterOf(body(3), { errorCode: code }),
      deadLetterOf(body(4), { errorCode: code }),
      deadLetterOf(body(5), { errorCode: code, component: 'parking' }),
      deadLetterOf(body(6), { errorCode: other }),
    );
    const [one, , three, four, five, six] = items as [Item, Item, Item, Item, Item, Item];
    await call('operator', 'POST', `/api/dead-letters/${four.id}/discard`, { note: 'doublon' });

    // 1. Limited to one: the oldest goes, the next is left for another call.
    const first = await call('operator', 'POST', '/api/dead-letters/replay', {
      errorCode: code,
      component: 'mobility',
      limit: 1,
    });
    expect(first).toEqual({ status: 200, body: { replayed: 1, notReplayable: 1, remaining: 1 } });
    // 2. The rest of mobility's: one more; the MQTT one left aside, the discarded one untouched.
    const second = await call('operator', 'POST', '/api/dead-letters/replay', {
      errorCode: code,
      component: 'mobility',
    });
    expect(second.body).toEqual({ replayed: 1, notReplayable: 1, remaining: 0 });
    const mine = () => usage.all.filter((m) => m.value.includes(tag)).map((m) => m.value);
    await expect.poll(mine, POLL).toEqual([body(1), body(3)]);

    const status = async (id: number) => (await call('operator', 'GET', `/api/dead-letters/${id}`)).body;
    expect(await status(one.id)).toMatchObject({ status: 'replayed', resolvedBy: 'otto', replayCount: 1 });
    expect(await status(three.id)).toMatchObject({ status: 'replayed', replayCount: 1 });
    expect(await status(four.id)).toMatchObject({ status: 'discarded', replayCount: 0 });
    expect(await status(five.id)).toMatchObject({ status: 'open' });
    expect(await status(six.id)).toMatchObject({ status: 'open' });
    // 3. Without the component: parking's goes too.
    const third = await call('operator', 'POST', '/api/dead-letters/replay', { errorCode: code });
    expect(third.body).toEqual({ replayed: 1, notReplayable: 1, remaining: 0 });
    await expect.poll(mine, POLL).toEqual([body(1), body(3), body(5)]);

    const tooMany = await call('operator', 'POST', '/api/dead-letters/replay', { errorCode: code, limit: 1001 });
    expect(tooMany.status).toBe(400);
  });

  it('answers 401 without a token, 403 when a viewer reads (residents’ data in the bytes) or acts, 404 for an unknown id', async () => {
    const [item] = await stored(deadLetterOf('{"x":1}', { errorCode: uniqueCode() }));
    const id = item?.id as number;
    const checks = [
      ['nobody', 'GET', '/api/dead-letters'],
      ['nobody', 'GET', `/api/dead-letters/${id}`],
      ['nobody', 'POST', `/api/dead-letters/${id}/replay`],
      ['viewer', 'GET', '/api/dead-letters'],
      ['viewer', 'GET', `/api/dead-letters/${id}`],
      ['viewer', 'POST', `/api/dead-letters/${id}/replay`],
      ['viewer', 'POST', `/api/dead-letters/${id}/discard`, { note: 'non' }],
      ['viewer', 'POST', '/api/dead-letters/replay', { errorCode: 'ERR_X' }],
      ['operator', 'GET', '/api/dead-letters/999999999'],
      ['operator', 'POST', '/api/dead-letters/999999999/replay'],
      ['operator', 'POST', '/api/dead-letters/999999999/discard', { note: 'non' }],
    ] as const;
    const answers = [];
    for (const [who, method, path, body] of checks) {
      const res = await call(who, method, path, body);
      answers.push([who, method, path, res.status, res.body.error?.code]);
    }
    expect(answers).toEqual([
      ['nobody', 'GET', '/api/dead-letters', 401, 'ERR_HTTP_UNAUTHORIZED'],
      ['nobody', 'GET', `/api/dead-letters/${id}`, 401, 'ERR_HTTP_UNAUTHORIZED'],
      ['nobody', 'POST', `/api/dead-letters/${id}/replay`, 401, 'ERR_HTTP_UNAUTHORIZED'],
      ['viewer', 'GET', '/api/dead-letters', 403, 'ERR_HTTP_FORBIDDEN'],
      ['viewer', 'GET', `/api/dead-letters/${id}`, 403, 'ERR_HTTP_FORBIDDEN'],
      ['viewer', 'POST', `/api/dead-letters/${id}/replay`, 403, 'ERR_HTTP_FORBIDDEN'],
      ['viewer', 'POST', `/api/dead-letters/${id}/discard`, 403, 'ERR_HTTP_FORBIDDEN'],
      ['viewer', 'POST', '/api/dead-letters/replay', 403, 'ERR_HTTP_FORBIDDEN'],
      ['operator', 'GET', '/api/dead-letters/999999999', 404, 'ERR_DEADLETTER_NOT_FOUND'],
      ['operator', 'POST', '/api/dead-letters/999999999/replay', 404, 'ERR_DEADLETTER_NOT_FOUND'],
      ['operator', 'POST', '/api/dead-letters/999999999/discard', 404, 'ERR_DEADLETTER_NOT_FOUND'],
    ]);
    // Nothing changed.
    expect((await call('operator', 'GET', `/api/dead-letters/${id}`)).body.status).toBe('open');
  });

  it('answers 400 ERR_DEADLETTER_CURSOR_INVALID for a cursor it did not give', async () => {
    const res = await call('operator', 'GET', '/api/dead-letters?cursor=bm9wZQ');
    expect([res.status, res.body.error?.code]).toEqual([400, 'ERR_DEADLETTER_CURSOR_INVALID']);
  });

  it('deletes resolved dead letters past the retention when the service purges, and keeps open ones', async () => {
    const code = uniqueCode();
    const [kept, gone] = await stored(
      deadLetterOf('{"k":1}', { errorCode: code }),
      deadLetterOf('{"k":2}', { errorCode: code }),
    );
    clock.set(T0 + 120_000);
    await call('operator', 'POST', `/api/dead-letters/${gone?.id}/discard`, { note: 'bruit' });
    clock.set(T0 + 120_000 + 90 * 86_400_000 + 1);
    expect(await service.purge()).toBeGreaterThanOrEqual(1);
    expect((await call('operator', 'GET', `/api/dead-letters/${gone?.id}`)).status).toBe(404);
    expect((await call('operator', 'GET', `/api/dead-letters/${kept?.id}`)).body.status).toBe('open');
    expect(await metrics.value('dead_letters_purged_total')).toBeGreaterThanOrEqual(1);
    clock.set(T0);
  });

  it('lists every dead-letter route in /docs/json with its tag and bearer security', async () => {
    const doc = (await (await fetch(`${http.url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { tags: string[]; security?: unknown }>>;
    };
    const routes = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith('/api/dead-letters'))
      .flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => [`${m.toUpperCase()} ${p}`, op] as const));
    expect(routes.map(([r]) => r).sort()).toEqual(
      [
        'GET /api/dead-letters',
        'GET /api/dead-letters/{id}',
        'POST /api/dead-letters/{id}/replay',
        'POST /api/dead-letters/{id}/discard',
        'POST /api/dead-letters/replay',
      ].sort(),
    );
    for (const [route, op] of routes) {
      expect([route, op.tags, op.security]).toEqual([route, ['dead letters'], [{ bearerAuth: [] }]]);
    }
  });
});

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
