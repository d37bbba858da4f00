import { mkdirSync, readdirSync } from 'node:fs';
import { type FileHandle, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { AppError } from '../../core/errors.ts';

/**
 * The sink's on-disk buffer: a write-ahead log of points between the bus and the server. A bus batch is appended,
 * written and fsync'd (fdatasync) before its handler resolves, so the bus commits offsets only once the points are
 * on disk; the flusher reads records in order, writes them to the server and deletes each segment once all its
 * records are written. Bounded: appends wait while the buffer holds `maxBytes`.
 *
 * Format: segment files `<16-digit sequence>.seg` in `dir`, each a run of records:
 *   u32 LE magic 0x56534231 ("VSB1") · u32 LE payload length · u32 LE CRC-32 of the payload · payload
 * payload = one line of JSON `{"t":topic,"p":partition,"o":[offsets],"r":[raw byte lengths],"l":lines bytes}` +
 * "\n" + the line-protocol lines (each ending "\n") + the original bus message values, back to back (for dead
 * letters, which keep the original bytes). One entry per line: entry i is line i, offset o[i], raw r[i].
 *
 * Recovery: at open every segment is scanned and cut at its first incomplete or corrupt record — a torn append
 * from a crash, whose batch was never acknowledged and comes again from the bus. A cut in any but the newest
 * segment is data lost on disk: logged by the caller through `corruptBytes`. Appends always go to a new segment.
 * Known limit: the read position is kept in memory only, so after a restart a partly written segment is written
 * again from its start — the same points, idempotent in InfluxDB (same series and timestamp overwrite).
 */

const MAGIC = 0x56534231;
const HEADER_BYTES = 12;
/** Records are read from disk in chunks of this size (larger records are read whole). */
const READ_CHUNK_BYTES = 1 << 20;

/** One point to buffer: its line (ending "\n") and where it came from. */
export interface BufferEntry {
  readonly line: string;
  /** The bus message's offset (-1 for points the sink makes itself). */
  readonly offset: number;
  /** The bus message's value, kept for dead letters ('' for the sink's own points). */
  readonly raw: string;
}

/** A record as read back: the lines of one append and their origins. */
export interface BufferRecord {
  readonly topic: string;
  readonly partition: number;
  /** The lines block, ready to send. */
  readonly lines: string;
  readonly count: number;
  /** Splits the record into its entries (for dead letters and bisection; not on the normal path). */
  entries(): BufferEntry[];
}

/** Records read together, in order, with the position right after them. */
export interface BufferBatch {
  readonly records: readonly BufferRecord[];
  readonly count: number;
  /** Opaque position after the batch, for {@link DiskBuffer.commit}. */
  readonly end: { readonly segment: number; readonly offset: number };
}

/** Options of {@link openDiskBuffer}. */
export interface DiskBufferOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  /** How long an append waits for room before failing with a retryable `ERR_SINK_BUFFER_FULL`, ms. */
  readonly fullWaitMs: number;
  /** Called after every change of size (for gauges). */
  readonly onChange?: (stats: BufferStats) => void;
  /** Called when an append starts waiting for room. */
  readonly onFull?: () => void;
  readonly nowMs?: () => number;
}

/** Size of the buffer. */
export interface BufferStats {
  /** Bytes of segment files not yet deleted (what counts against maxBytes), plus appends waiting to be written. */
  readonly bytes: number;
  /** Points appended and not yet committed as written. */
  readonly points: number;
  readonly segments: number;
}

/** The buffer. */
export interface DiskBuffer {
  /** Appends one record durably (written and fdatasync'd); waits while full, up to fullWaitMs. */
  append(topic: string, partition: number, entries: readonly BufferEntry[]): Promise<void>;
  /** Reads the next records after the last committed position, at most `maxLines` lines (at least one record). */
  peek(maxLines: number): Promise<BufferBatch | undefined>;
  /** Marks a peeked batch as written: moves the read position and deletes the segments it finished. */
  commit(batch: BufferBatch): Promise<void>;
  /** Resolves at the next append (or after `timeoutMs`, or at close). */
  waitForData(timeoutMs: number): Promise<void>;
  stats(): BufferStats;
  /** Bytes cut at open from segments other than the newest (corruption, not a torn append). */
  readonly corruptBytes: number;
  close(): Promise<void>;
}

interface Segment {
  readonly id: number;
  readonly path: string;
  /** Durable bytes (what the reader may read). */
  size: number;
  /** Points in the segment's records. */
  points: number;
}

interface Pending {
  readonly bytes: Buffer;
  readonly points: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE): zlib's native one where Node has it (20.15+, 22.2+), otherwise a table in JavaScript. */
export function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  if (native) return native(data) >>> 0;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Encodes one record (header + payload). */
export function encodeRecord(topic: string, partition: number, entries: readonly BufferEntry[]): Buffer {
  let lines = '';
  for (const e of entries) lines += e.line;
  const rawBufs = entries.map((e) => Buffer.from(e.raw, 'utf8'));
  const linesBuf = Buffer.from(lines, 'utf8');
  const meta = Buffer.from(
    `${JSON.stringify({ t: topic, p: partition, o: entries.map((e) => e.offset), r: rawBufs.map((b) => b.length), l: linesBuf.length })}\n`,
    'utf8',
  );
  const payload = Buffer.concat([meta, linesBuf, ...rawBufs]);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(payload.length, 4);
  header.writeUInt32LE(crc32(payload), 8);
  return Buffer.concat([header, payload]);
}

/** Decodes a payload (already checked) into a record. */
function decodePayload(payload: Buffer): BufferRecord {
  const nl = payload.indexOf(10);
  const meta = JSON.parse(payload.subarray(0, nl).toString('utf8')) as {
    t: string;
    p: number;
    o: number[];
    r: number[];
    l: number;
  };
  const linesStart = nl + 1;
  const lines = payload.subarray(linesStart, linesStart + meta.l).toString('utf8');
  return {
    topic: meta.t,
    partition: meta.p,
    lines,
    count: meta.o.length,
    entries() {
      const out: BufferEntry[] = [];
      let at = 0;
      let rawAt = linesStart + meta.l;
      for (let i = 0; i < meta.o.length; i++) {
        const end = lines.indexOf('\n', at) + 1;
        const rawLen = meta.r[i]!;
        out.push({
          line: lines.slice(at, end),
          offset: meta.o[i]!,
          raw: payload.subarray(rawAt, rawAt + rawLen).toString('utf8'),
        });
        at = end;
        rawAt += rawLen;
      }
      return out;
    },
  };
}

/** Reads a record at `buf[at]`: its total length and payload, or undefined when incomplete or corrupt. */
function readRecord(buf: Buffer, at: number): { length: number; payload: Buffer } | 'short' | 'corrupt' {
  if (buf.length - at < HEADER_BYTES) return 'short';
  if (buf.readUInt32LE(at) !== MAGIC) return 'corrupt';
  const len = buf.readUInt32LE(at + 4);
  if (buf.length - at - HEADER_BYTES < len) return 'short';
  const payload = buf.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len);
  if (crc32(payload) !== buf.readUInt32LE(at + 8)) return 'corrupt';
  return { length: HEADER_BYTES + len, payload };
}

const SEGMENT_NAME = /^(\d{16})\.seg$/;

/** Opens (and recovers) the buffer in `dir`, creating the folder when missing. */
export async function openDiskBuffer(options: DiskBufferOptions): Promise<DiskBuffer> {
  const { dir, maxBytes, segmentBytes, fullWaitMs } = options;
  const nowMs = options.nowMs ?? Date.now;
  mkdirSync(dir, { recursive: true });
  const segments: Segment[] = [];
  let corruptBytes = 0;
  const names = readdirSync(dir)
    .filter((n) => SEGMENT_NAME.test(n))
    .sort();
  for (const [i, name] of names.entries()) {
    const path = join(dir, name);
    const id = Number(SEGMENT_NAME.exec(name)![1]);
    const { valid, points, size } = await scanSegment(path);
    if (valid < size) {
      if (i < names.length - 1) corruptBytes += size - valid;
      const fh = await open(path, 'r+');
      await fh.truncate(valid);
      await fh.datasync();
      await fh.close();
    }
    if (valid === 0) await rm(path, { force: true });
    else segments.push({ id, path, size: valid, points });
  }

  let nextId = (segments.at(-1)?.id ?? 0) + 1;
  /** The segment appends go to, with its handle; always one created by this process. */
  let active: { segment: Segment; fh: FileHandle } | undefined;
  let readPos = { segment: segments[0]?.id ?? nextId, offset: 0 };
  let bytes = segments.reduce((s, x) => s + x.size, 0);
  let reserved = 0;
  let points = segments.reduce((s, x) => s + x.points, 0);
  let closed = false;
  const queue: Pending[] = [];
  let writing: Promise<void> | undefined;
  const roomWaiters = new Set<() => void>();
  const dataWaiters = new Set<() => void>();
  /** Serialises file operations that touch the active segment (group writes, rotation, deletion). */
  let lock: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = lock.then(fn);
    lock = run.catch(() => undefined);
    return run;
  };
  let reader: { id: number; fh: FileHandle } | undefined;

  const stats = (): BufferStats => ({ bytes: bytes + reserved, points, segments: segments.length });
  const changed = () => options.onChange?.(stats());
  const wake = (set: Set<() => void>) => {
    for (const fn of [...set]) fn();
    set.clear();
  };

  async function syncDir(): Promise<void> {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }

  async function newActive(): Promise<{ segment: Segment; fh: FileHandle }> {
    const id = nextId++;
    const path = join(dir, `${String(id).padStart(16, '0')}.seg`);
    const fh = await open(path, 'wx');
    await syncDir(); // the new file's directory entry must survive a crash as well as its data
    const segment: Segment = { id, path, size: 0, points: 0 };
    segments.push(segment);
    if (segments.length === 1) readPos = { segment: id, offset: 0 };
    return { segment, fh };
  }

  /** Writes every queued append: one write and one fdatasync per segment touched (group commit). */
  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const items = queue.splice(0, queue.length);
      try {
        await exclusive(async () => {
          let i = 0;
          while (i < items.length) {
            if (!active || (active.segment.size > 0 && active.segment.size + items[i]!.bytes.length > segmentBytes)) {
              if (active) await active.fh.close();
              active = await newActive();
            }
            const group: Pending[] = [];
            let size = active.segment.size;
            while (i < items.length && (group.length === 0 || size + items[i]!.bytes.length <= segmentBytes)) {
              size += items[i]!.bytes.length;
              group.push(items[i]!);
              i++;
            }
            const data = Buffer.concat(group.map((g) => g.bytes));
            await active.fh.write(data, 0, data.length, active.segment.size);
            await active.fh.datasync();
            active.segment.size += data.length;
            for (const g of group) {
              active.segment.points += g.points;
              points += g.points;
            }
            bytes += data.length;
            reserved -= data.length;
          }
        });
        for (const it of items) it.resolve();
      } catch (err) {
        for (const it of items) {
          reserved -= it.bytes.length;
          it.reject(
            new AppError(
              'ERR_SINK_BUFFER_IO',
              `buffer write in ${dir}: ${(err as Error).message} (a writable disk with room)`,
              { cause: err, retryable: true },
            ),
          );
        }
        wake(roomWaiters);
      }
      changed();
      wake(dataWaiters);
    }
  }

  /** Waits until `need` bytes fit, then reserves them. */
  async function waitForRoom(need: number): Promise<void> {
    const deadline = nowMs() + fullWaitMs;
    let signalled = false;
    while (bytes + reserved > 0 && bytes + reserved + need > maxBytes) {
      if (closed) throw new AppError('ERR_SINK_CLOSED', 'sink buffer closed while waiting for room');
      const left = deadline - nowMs();
      if (left <= 0) {
        throw new AppError(
          'ERR_SINK_BUFFER_FULL',
          `sink buffer full: ${bytes + reserved} of ${maxBytes} bytes in ${dir} (room after the server takes the buffered points)`,
          { retryable: true },
        );
      }
      if (!signalled) {
        signalled = true;
        options.onFull?.();
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        function done() {
          clearTimeout(t);
          roomWaiters.delete(done);
          resolve();
        }
        roomWaiters.add(done);
      });
    }
    // Reserved in the same turn as the check, so two appends cannot both take the last room.
    reserved += need;
  }

  async function readChunk(seg: Segment, offset: number, length: number): Promise<Buffer> {
    if (!reader || reader.id !== seg.id) {
      await reader?.fh.close();
      reader = { id: seg.id, fh: await open(seg.path, 'r') };
    }
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await reader.fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  }

  /** Deletes the segments before the read position, and the active one when it is fully read. */
  async function collect(): Promise<void> {
    await exclusive(async () => {
      while (segments.length > 0) {
        const seg = segments[0]!;
        const isActive = active?.segment === seg;
        const done = seg.id < readPos.segment || (seg.id === readPos.segment && readPos.offset >= seg.size);
        if (!done) break;
        if (isActive) {
          if (queue.length > 0) break; // an append is about to land in it
          await active!.fh.close();
          active = undefined;
        }
        if (reader?.id === seg.id) {
          await reader.fh.close();
          reader = undefined;
        }
        await rm(seg.path, { force: true });
        segments.shift();
        bytes -= seg.size;
        if (readPos.segment === seg.id) readPos = { segment: segments[0]?.id ?? nextId, offset: 0 };
      }
    });
    changed();
    wake(roomWaiters);
  }

  return {
    get corruptBytes() {
      return corruptBytes;
    },

    async append(topic, partition, entries) {
      if (entries.length === 0) return;
      if (closed) throw new AppError('ERR_SINK_CLOSED', 'sink buffer closed: cannot append');
      const record = encodeRecord(topic, partition, entries);
      await waitForRoom(record.length);
      const done = new Promise<void>((resolve, reject) =>
        queue.push({ bytes: record, points: entries.length, resolve, reject }),
      );
      writing ??= drain().finally(() => {
        writing = undefined;
      });
      return done;
    },

    async peek(maxLines) {
      const records: BufferRecord[] = [];
      let count = 0;
      let pos = { ...readPos };
      for (const seg of segments) {
        if (seg.id < pos.segment) continue;
        if (seg.id > pos.segment) pos = { segment: seg.id, offset: 0 };
        while (pos.offset < seg.size) {
          const chunk = await readChunk(seg, pos.offset, Math.min(READ_CHUNK_BYTES, seg.size - pos.offset));
          let at = 0;
          for (;;) {
            let buf = chunk;
            let rec = readRecord(buf, at);
            if (rec === 'short' && at === 0 && chunk.length >= HEADER_BYTES) {
              // One record larger than the chunk: read it whole.
              buf = await readChunk(seg, pos.offset, chunk.readUInt32LE(4) + HEADER_BYTES);
              rec = readRecord(buf, 0);
            }
            if (rec === 'corrupt' || (rec === 'short' && at === 0)) {
              throw new AppError(
                'ERR_SINK_BUFFER_CORRUPT',
                `buffer segment ${seg.path} at byte ${pos.offset}: unreadable record (the file changed after it was checked)`,
              );
            }
            if (rec === 'short') break;
            const record = decodePayload(rec.payload);
            if (records.length > 0 && count + record.count > maxLines) {
              return { records, count, end: pos };
            }
            records.push(record);
            count += record.count;
            at += rec.length;
            pos = { segment: seg.id, offset: pos.offset + rec.length };
            if (count >= maxLines) return { records, count, end: pos };
            if (buf !== chunk || at >= chunk.length) break;
          }
        }
      }
      return records.length === 0 ? undefined : { records, count, end: pos };
    },

    async commit(batch) {
      readPos = { ...batch.end };
      points -= batch.count;
      await collect();
    },

    waitForData(timeoutMs) {
      if (closed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const t = setTimeout(done, timeoutMs);
        function done() {
          clearTimeout(t);
          dataWaiters.delete(done);
          resolve();
        }
        dataWaiters.add(done);
      });
    },

    stats,

    async close() {
      if (closed) return;
      closed = true;
      await writing;
      await exclusive(async () => {
        await active?.fh.close();
        active = undefined;
        await reader?.fh.close();
        reader = undefined;
      });
      wake(dataWaiters);
      wake(roomWaiters);
    },
  };
}

/** Scans a segment: the length of its valid prefix and the points in it. */
async function scanSegment(path: string): Promise<{ valid: number; points: number; size: number }> {
  const { size } = await stat(path);
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(size);
    await fh.read(buf, 0, size, 0);
    let at = 0;
    let points = 0;
    for (;;) {
      const rec = readRecord(buf, at);
      if (typeof rec === 'string') break;
      const nl = rec.payload.indexOf(10);
      const meta = JSON.parse(rec.payload.subarray(0, nl).toString('utf8')) as { o: number[] };
      points += meta.o.length;
      at += rec.length;
    }
    return { valid: at, points, size };
  } finally {
    await fh.close();
  }
}
