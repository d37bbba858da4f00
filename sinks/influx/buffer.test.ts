import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type BufferEntry, type DiskBuffer, openDiskBuffer } from './buffer.ts';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigie-sinkbuf-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const entries = (from: number, n: number): BufferEntry[] =>
  Array.from({ length: n }, (_, i) => ({
    line: `m,device_id=D-${from + i} v=${from + i} 1772331300000\n`,
    offset: from + i,
    raw: JSON.stringify({ deviceId: `D-${from + i}`, n: from + i }),
  }));

async function open(dir: string, extra: Partial<Parameters<typeof openDiskBuffer>[0]> = {}): Promise<DiskBuffer> {
  const buffer = await openDiskBuffer({ dir, maxBytes: 1 << 20, segmentBytes: 4_096, fullWaitMs: 1_000, ...extra });
  onTestFinished(() => buffer.close());
  return buffer;
}

/** Reads and commits everything, returning the lines in order. */
async function drainAll(buffer: DiskBuffer, maxLines = 7): Promise<string[]> {
  const lines: string[] = [];
  for (;;) {
    const batch = await buffer.peek(maxLines);
    if (!batch) return lines;
    for (const r of batch.records) lines.push(...r.entries().map((e) => e.line));
    await buffer.commit(batch);
  }
}

describe('disk-buffer', () => {
  it('gives back appended records in order, with their origins, when read in batches', async () => {
    const buffer = await open(tempDir());
    await buffer.append('readings.sensor.v1', 2, entries(0, 5));
    await buffer.append('alerts.v1', 0, entries(5, 5));
    const batch = await buffer.peek(100);
    expect(batch?.count).toBe(10);
    expect(batch?.records.map((r) => [r.topic, r.partition, r.count])).toEqual([
      ['readings.sensor.v1', 2, 5],
      ['alerts.v1', 0, 5],
    ]);
    expect(batch?.records[1]?.entries()[2]).toEqual(entries(7, 1)[0]);
    expect(batch?.records[0]?.lines).toBe(
      entries(0, 5)
        .map((e) => e.line)
        .join(''),
    );
  });

  it('stops a batch at maxLines on a record boundary when more is buffered', async () => {
    const buffer = await open(tempDir());
    for (let i = 0; i < 4; i++) await buffer.append('t', 0, entries(i * 3, 3));
    const batch = await buffer.peek(7);
    expect(batch?.count).toBe(6);
  });

  it('rotates segments and deletes each once its records are committed', async () => {
    const dir = tempDir();
    const buffer = await open(dir);
    for (let i = 0; i < 40; i++) await buffer.append('t', 0, entries(i * 5, 5));
    expect(buffer.stats().segments).toBeGreaterThan(3);
    expect(buffer.stats().points).toBe(200);
    // Batches of two records cross segment boundaries: the read position must survive the deletions.
    const lines = await drainAll(buffer, 12);
    expect(lines).toEqual(entries(0, 200).map((e) => e.line));
    expect(buffer.stats()).toEqual({ bytes: 0, points: 0, segments: 0 });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('keeps uncommitted records across a restart and writes new ones after them', async () => {
    const dir = tempDir();
    const first = await openDiskBuffer({ dir, maxBytes: 1 << 20, segmentBytes: 4_096, fullWaitMs: 1_000 });
    for (let i = 0; i < 10; i++) await first.append('t', 0, entries(i * 5, 5));
    const batch = await first.peek(10);
    await first.commit(batch!);
    await first.close();
    const second = await open(dir);
    expect(second.stats().points).toBeGreaterThanOrEqual(40);
    await second.append('t', 0, entries(50, 5));
    const lines = await drainAll(second);
    // The partly written first segment comes again from its start (idempotent points); nothing is lost or reordered.
    expect(lines.slice(-45)).toEqual(entries(10, 45).map((e) => e.line));
  });

  it('cuts a torn record at the end of the newest segment when it reopens after a crash', async () => {
    const dir = tempDir();
    const first = await openDiskBuffer({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 20, fullWaitMs: 1_000 });
    await first.append('t', 0, entries(0, 3));
    await first.close();
    const [segment] = readdirSync(dir);
    appendFileSync(join(dir, segment!), Buffer.from([0x31, 0x42, 0x53, 0x56, 0xff, 0xff, 0, 0, 1, 2])); // half a record
    const second = await open(dir);
    expect(second.corruptBytes).toBe(0);
    expect(await drainAll(second)).toEqual(entries(0, 3).map((e) => e.line));
  });

  it('makes an append wait while the buffer is full and go on once room is freed', async () => {
    const buffer = await open(tempDir(), { maxBytes: 2_000, segmentBytes: 1_000, fullWaitMs: 5_000 });
    while (buffer.stats().bytes < 1_500) await buffer.append('t', 0, entries(0, 3));
    let done = false;
    const waiting = buffer.append('t', 0, entries(100, 3)).then(() => {
      done = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    const batch = await buffer.peek(1_000);
    await buffer.commit(batch!);
    await waiting;
    expect(done).toBe(true);
  });

  it('never holds more than maxBytes when many appends race for the last room', async () => {
    const buffer = await open(tempDir(), { maxBytes: 3_000, segmentBytes: 1_000, fullWaitMs: 50 });
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => buffer.append('t', 0, entries(i, 3))),
    );
    expect(results.some((r) => r.status === 'rejected')).toBe(true);
    expect(buffer.stats().bytes).toBeLessThanOrEqual(3_000);
  });

  it('fails a waiting append with a retryable ERR_SINK_BUFFER_FULL when no room comes in time', async () => {
    let full = 0;
    const buffer = await open(tempDir(), {
      maxBytes: 1_500,
      segmentBytes: 1_000,
      fullWaitMs: 100,
      onFull: () => {
        full += 1;
      },
    });
    while (buffer.stats().bytes < 1_200) await buffer.append('t', 0, entries(0, 3));
    await expect(buffer.append('t', 0, entries(10, 3))).rejects.toMatchObject({
      code: 'ERR_SINK_BUFFER_FULL',
      retryable: true,
    });
    expect(full).toBe(1);
  });
});
