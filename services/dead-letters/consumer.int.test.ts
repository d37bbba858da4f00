import { describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { BUS_AND_ENGINE, openTestBus } from '../../test/helpers/bus.ts';
import { openTestStore } from '../../test/helpers/postgres.ts';
import { httpConfigSchema, httpMigrations, startHttp } from '../http/index.ts';
import { createDeadLetters, deadLetterMigrations, deadLetterRoutes } from './index.ts';
import { collect, deadLetterOf, produceDeadLetters } from './test-helpers.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');
const POLL = { timeout: 30_000, interval: 50 };

describe.each(BUS_AND_ENGINE)('dead-letters service (%s bus, %s)', (busKind, engine) => {
  it('stores each dead letter once and replays its exact bytes to its source topic under its key', async () => {
    const bus = await openTestBus(busKind, 'dead-letters');
    const store = await openTestStore(engine, [httpMigrations, deadLetterMigrations]);
    const metrics = new Metrics();
    const clock = new ManualClock(T0);
    const service = createDeadLetters({ store, bus, logger: silentLogger(), metrics, clock });
    onTestFinished(() => service.close());
    const http = await startHttp({
      config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
      store,
      logger: silentLogger(),
      metrics,
      plugins: [deadLetterRoutes({ store, bus, metrics, clock })],
    });
    onTestFinished(() => http.close());
    const { token } = await http.app.operatorTokens.create('otto', 'operator');
    const api = async (method: 'GET' | 'POST', path: string) => {
      const res = await fetch(`${http.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const readings = await collect(bus, TOPICS.readings('water-meter'));
    onTestFinished(() => readings.close());

    // 1. A stage dead-letters a reading (bytes not all ASCII), and one record that is not a dead letter arrives.
    const raw =
      '{"deviceId":"wm-42","kind":"water-meter","ts":"hier","metrics":{"volumeLitres":12.5},"note":"débit ≥ 3 l"}';
    const letter = deadLetterOf(raw, {
      source: { type: 'bus', topic: TOPICS.readings('water-meter'), partition: 1, offset: 17 },
      deviceId: 'wm-42',
      errorCode: 'ERR_READING_SCHEMA',
      message: 'reading does not match the schema: ts: an ISO 8601 date-time (CONTRACTS.md §4)',
      issues: [{ path: 'ts', message: 'an ISO 8601 date-time' }],
      component: 'processors',
    });
    await produceDeadLetters(bus, letter);
    await bus.produce(TOPICS.deadLetters, [{ key: 'x', value: 'plain text' }]);
    await service.start();
    await expect.poll(() => metrics.value('dead_letters_stored_total'), POLL).toBe(2);
    expect(await metrics.value('dead_letters_stored_total', { error_code: 'ERR_DEADLETTER_INVALID' })).toBe(1);
    await expect.poll(() => metrics.value('dead_letters_open'), POLL).toBe(2);

    // 2. Restarted in another group, it reads both records again: nothing stored twice.
    const againMetrics = new Metrics();
    const again = createDeadLetters({ store, bus, logger: silentLogger(), metrics: againMetrics, groupId: 'again' });
    onTestFinished(() => again.close());
    await again.start();
    await expect.poll(() => againMetrics.value('dead_letters_duplicates_total'), POLL).toBe(2);
    expect(await againMetrics.value('dead_letters_stored_total')).toBe(0);
    const list = await api('GET', '/api/dead-letters?errorCode=ERR_READING_SCHEMA');
    expect(list.body.total).toBe(1);
    const [item] = list.body.items as Array<{ id: number; rawPreview: string; deviceId: string }>;
    expect(item).toMatchObject({ rawPreview: raw, deviceId: 'wm-42' });

    // 3. Replayed: the same bytes on the reading's topic, keyed by its device; marked replayed by otto.
    const replay = await api('POST', `/api/dead-letters/${item?.id}/replay`);
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ status: 'replayed', resolvedBy: 'otto', replayCount: 1 });
    await expect.poll(() => readings.all.length, POLL).toBe(1);
    expect(Buffer.from(readings.all[0]?.value ?? '', 'utf8').equals(Buffer.from(raw, 'utf8'))).toBe(true);
    expect(readings.all[0]?.key).toBe('wm-42');
    const all = await api('GET', '/api/dead-letters?status=all');
    expect(all.body.total).toBe(2);
    expect(await metrics.value('dead_letters_open')).toBe(1);
  });
});
