import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { type AlertTransition, DeviceEvent, Reading } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { createEngine } from './engine.ts';
import { buildDetectors, buildModels, type ProcessorsConfig, processorsConfigSchema } from './registry.ts';

/**
 * Replay (CONTRACTS.md §4): runs the processors' engine — the same detectors, thresholds and core as the live
 * runner — over recorded readings, and writes the alert transitions as NDJSON, one per line, fields in the §4 order.
 *
 * Input: NDJSON canonical readings — and device events (`{deviceId, kind, ts, type, data}`, core/contracts/event.ts:
 * a line with `type` and no `metrics`), interleaved as recorded — or CSV with a header `deviceId,kind,ts,<metric>...` (optional `seq` and `flags`
 * columns; flags separated by `|`; an empty cell means the metric is absent). The format comes from `format`, else
 * the file extension, else the first line. Streams line by line: memory holds the engine's per-device state only
 * (plus at most {@link MAX_REJECTED_KEPT} rejected lines; `rejectedTotal` counts them all). A bad line is reported
 * with its number and reason and never stops the run. At the end the engine is flushed: readings still waiting in
 * the reorder buffers are processed (the live runner keeps them until later readings or the watermark pass them).
 */

/** Rejected lines kept in the result; beyond, only counted. */
export const MAX_REJECTED_KEPT = 1_000;

/** Options of {@link replay}. */
export interface ReplayOptions {
  /** A file path, `-` for stdin, or a stream. */
  readonly input: string | Readable;
  /** A file path, `-` for stdout, or a stream (a stream passed in is not ended). */
  readonly output: string | Writable;
  /** The processors' configuration (default: every default, as live). */
  readonly config?: ProcessorsConfig;
  /** Input format; by default from the extension or the first line. */
  readonly format?: 'ndjson' | 'csv';
}

/** What a replay did. */
export interface ReplayResult {
  /** Valid readings handed to the engine (including those it then dropped on purpose). */
  readonly readings: number;
  /** Valid device events handed to the engine. */
  readonly events: number;
  /** Transitions written. */
  readonly transitions: number;
  /** Rejected lines (the first {@link MAX_REJECTED_KEPT}), 1-based line numbers. */
  readonly rejected: Array<{ line: number; reason: string }>;
  /** Rejected lines in all. */
  readonly rejectedTotal: number;
  /** Readings dropped on purpose by the engine, per reason (duplicate, late, ...). */
  readonly dropped: Record<string, number>;
}

/** Replays readings through the processors and writes the alert transitions. */
export async function replay(options: ReplayOptions): Promise<ReplayResult> {
  const config = options.config ?? processorsConfigSchema.parse({});
  const dropped: Record<string, number> = {};
  const engine = createEngine({
    config,
    models: buildModels(config),
    detectors: buildDetectors(config),
    onDrop: (reason) => {
      dropped[reason] = (dropped[reason] ?? 0) + 1;
    },
  });

  const input =
    typeof options.input !== 'string'
      ? options.input
      : options.input === '-'
        ? process.stdin
        : createReadStream(options.input, { encoding: 'utf8' });
  const ownOutput = typeof options.output === 'string' && options.output !== '-';
  const output =
    typeof options.output !== 'string'
      ? options.output
      : options.output === '-'
        ? process.stdout
        : createWriteStream(options.output, { encoding: 'utf8' });

  let format = options.format ?? formatFromName(typeof options.input === 'string' ? options.input : undefined);
  let csv: CsvHeader | undefined;
  let readings = 0;
  let events = 0;
  let transitions = 0;
  let rejectedTotal = 0;
  const rejected: Array<{ line: number; reason: string }> = [];
  const reject = (line: number, reason: string) => {
    rejectedTotal += 1;
    if (rejected.length < MAX_REJECTED_KEPT) rejected.push({ line, reason });
  };
  const write = async (batch: readonly AlertTransition[]) => {
    if (batch.length === 0) return;
    transitions += batch.length;
    if (!output.write(batch.map((t) => `${JSON.stringify(t)}\n`).join(''))) await once(output, 'drain');
  };

  try {
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    let lineNo = 0;
    for await (const raw of lines) {
      lineNo += 1;
      const line = (lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw).trim();
      if (line === '') continue;
      format ??= line.startsWith('{') ? 'ndjson' : 'csv';
      if (format === 'csv' && !csv) {
        csv = parseHeader(line, lineNo);
        continue;
      }
      const candidate = format === 'csv' ? csvRow(csv as CsvHeader, line) : jsonLine(line);
      if ('reason' in candidate) {
        reject(lineNo, candidate.reason);
        continue;
      }
      const value = candidate.value;
      const isEvent = isObject(value) && 'type' in value && !('metrics' in value);
      const parsed = isEvent ? DeviceEvent.safeParse(value) : Reading.safeParse(value);
      if (!parsed.success) {
        reject(lineNo, parsed.error.issues.map((i) => `${i.path.join('.') || '(line)'}: ${i.message}`).join('; '));
        continue;
      }
      if (isEvent) {
        events += 1;
        await write(engine.pushEvent(parsed.data as DeviceEvent));
      } else {
        readings += 1;
        await write(engine.push(parsed.data as Reading));
      }
    }
    await write(engine.flush());
  } finally {
    if (typeof options.input === 'string' && options.input !== '-') input.destroy();
    if (ownOutput) {
      output.end();
      await once(output, 'finish');
    }
  }
  return { readings, events, transitions, rejected, rejectedTotal, dropped };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function formatFromName(path: string | undefined): 'ndjson' | 'csv' | undefined {
  if (!path || path === '-') return undefined;
  if (/\.csv$/i.test(path)) return 'csv';
  if (/\.(ndjson|jsonl|json)$/i.test(path)) return 'ndjson';
  return undefined;
}

function jsonLine(line: string): { value: unknown } | { reason: string } {
  try {
    return { value: JSON.parse(line) };
  } catch (err) {
    return { reason: `not JSON: ${(err as Error).message}` };
  }
}

interface CsvHeader {
  readonly columns: readonly string[];
}

const REQUIRED_COLUMNS = ['deviceId', 'kind', 'ts'];

function parseHeader(line: string, lineNo: number): CsvHeader {
  const columns = splitCsv(line);
  if (REQUIRED_COLUMNS.some((c, i) => columns[i] !== c)) {
    throw new AppError(
      'ERR_REPLAY_INPUT',
      `CSV header on line ${lineNo}: ${line.slice(0, 80)} (deviceId,kind,ts,<metric>...)`,
    );
  }
  return { columns };
}

function splitCsv(line: string): string[] {
  return line.split(',').map((cell) => cell.trim().replace(/^"(.*)"$/, '$1'));
}

function csvRow(header: CsvHeader, line: string): { value: unknown } | { reason: string } {
  const cells = splitCsv(line);
  if (cells.length !== header.columns.length) {
    return { reason: `${cells.length} columns (the header has ${header.columns.length})` };
  }
  const [deviceId, kind, ts] = cells;
  const value: Record<string, unknown> = {
    deviceId,
    kind,
    ts: /^\d+$/.test(ts ?? '') ? Number(ts) : ts,
    metrics: {},
  };
  const metrics = value.metrics as Record<string, number>;
  for (let i = REQUIRED_COLUMNS.length; i < cells.length; i++) {
    const name = header.columns[i] as string;
    const cell = cells[i] as string;
    if (cell === '') continue;
    if (name === 'flags') {
      value.flags = cell.split('|').filter(Boolean);
      continue;
    }
    const n = Number(cell);
    if (!Number.isFinite(n)) return { reason: `${name}: ${JSON.stringify(cell.slice(0, 40))} (a number)` };
    if (name === 'seq') value.seq = n;
    else metrics[name] = n;
  }
  return { value };
}
