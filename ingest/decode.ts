/**
 * Decoding of device messages: exact bytes + MQTT topic + authenticated device → a canonical Reading, a DeviceEvent,
 * or a DeadLetter holding the same bytes and the reason (STYLE.md §6.2). Pure: no I/O, no clock (the receipt time is
 * an input), never throws, so it is unit-testable and the bench can measure it alone.
 */
import { isUtf8 } from 'node:buffer';
import type { z } from 'zod';
import {
  DEVICE_ID_RE,
  type DeadLetter,
  type DeviceEvent,
  DeviceEventPayload,
  DevicePayload,
  KINDS,
  type Kind,
  MAX_METRIC_ABS,
  MAX_METRICS,
  type Reading,
} from '../core/contracts/index.ts';
import { preview } from '../core/errors.ts';

/** The channels of a device topic `vigie/v1/<kind>/<deviceId>/<channel>` (CONTRACTS.md §3). */
export const CHANNELS = ['telemetry', 'event', 'status', 'senml', 'batch'] as const;
/** A channel of a device topic. */
export type Channel = (typeof CHANNELS)[number];

/** A device topic split into its parts; `kind` is as written in the topic, not yet checked against KINDS. */
export interface DeviceTopic {
  readonly kind: string;
  readonly deviceId: string;
  readonly channel: Channel;
}

/** Metrics a kind's readings must carry (CONTRACTS.md §3, "required"); other kinds require none. */
export const REQUIRED_METRICS: Readonly<Partial<Record<Kind, readonly string[]>>> = {
  'water-meter': ['indexL'],
  streetlight: ['powerW'],
  'bike-station': ['bikesAvailable', 'docksAvailable'],
  'car-share': ['available'],
  'car-park': ['spacesFree'],
};

/** Dead-letter codes produced by ingest, each with a row in docs/errors.md. */
export type IngestErrorCode =
  | 'ERR_PAYLOAD_TOO_LARGE'
  | 'ERR_PAYLOAD_ENCODING'
  | 'ERR_PAYLOAD_JSON'
  | 'ERR_PAYLOAD_SCHEMA'
  | 'ERR_KIND_UNKNOWN'
  | 'ERR_KIND_MISMATCH'
  | 'ERR_DEVICE_FOREIGN'
  | 'ERR_TOPIC_INVALID';

/** What {@link decodeDeviceMessage} needs. */
export interface DecodeInput {
  /** The MQTT topic as received, e.g. `vigie/v1/water-meter/WM-1/telemetry`. */
  readonly topic: string;
  /** The exact payload bytes. */
  readonly payload: Uint8Array;
  /** The authenticated device, with the kind it was provisioned with. */
  readonly device: { readonly deviceId: string; readonly kind: string };
  /** MQTT client id, kept in the dead letter's source. */
  readonly clientId?: string | undefined;
  /** Receipt time from the injected clock, epoch milliseconds. */
  readonly receivedAtMs: number;
  /** Larger payloads are dead-lettered with ERR_PAYLOAD_TOO_LARGE (default 16 KiB). */
  readonly maxPayloadBytes: number;
}

/** The outcome of decoding one message: exactly one of the three fields is set. */
export type Decoded =
  | { readonly reading: Reading; readonly event?: undefined; readonly deadLetter?: undefined }
  | { readonly event: DeviceEvent; readonly reading?: undefined; readonly deadLetter?: undefined }
  | { readonly deadLetter: DeadLetter; readonly reading?: undefined; readonly event?: undefined };

const TOPIC_RE = /^vigie\/v1\/([^/]+)\/([^/]+)\/([^/]+)$/;
const KIND_SET: ReadonlySet<string> = new Set(KINDS);
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Earliest and latest event times EventTime accepts (core/contracts/time.ts). */
const MIN_TS_MS = Date.UTC(1990, 0, 1);
const MAX_TS_MS = Date.UTC(2100, 0, 1);
/** Event times as most devices write them: UTC, seconds, optional milliseconds. */
const TS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?Z$/;
const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const FLAG = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_FLAGS = 16;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** The number written with the digits of `text` from `start` to `end` (known digits: TS_UTC matched). */
function digitsAt(text: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) n = n * 10 + (text.charCodeAt(i) - 48);
  return n;
}

/** `ts` as EventTime parses it, for the two common forms; null for anything else (the schema decides then). */
function commonEventTime(ts: unknown): string | null {
  if (typeof ts === 'number') {
    if (!Number.isInteger(ts) || !(ts >= MIN_TS_MS && ts <= MAX_TS_MS)) return null;
    return new Date(ts).toISOString();
  }
  if (typeof ts !== 'string' || !TS_UTC.test(ts)) return null;
  // YYYY-MM-DDTHH:MM:SS[.mmm]Z, every field in range (24:00 and the like go to the schema).
  const year = digitsAt(ts, 0, 4);
  const month = digitsAt(ts, 5, 7);
  const day = digitsAt(ts, 8, 10);
  if (month < 1 || month > 12 || day < 1) return null;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!)) return null;
  const hour = digitsAt(ts, 11, 13);
  const minute = digitsAt(ts, 14, 16);
  const second = digitsAt(ts, 17, 19);
  if (hour > 23 || minute > 59 || second > 59) return null;
  const millis = ts.length === 24 ? digitsAt(ts, 20, 23) : 0;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  if (!(ms >= MIN_TS_MS && ms <= MAX_TS_MS)) return null;
  // Years 1990–2100: the canonical form is the text itself, with milliseconds.
  return ts.length === 24 ? ts : `${ts.slice(0, 19)}.000Z`;
}

/**
 * DevicePayload's output for the common telemetry shape (ISO UTC or epoch-millisecond `ts`, integer `seq`, plain
 * metrics, flags), checked exactly as the schema checks it, without zod's cost; null when the payload is anything
 * else, valid or not: the schema then decides and words the error. Metrics and flags are the payload's own objects.
 */
export function commonDevicePayload(json: unknown): DevicePayload | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const o = json as Record<string, unknown>;
  const ts = commonEventTime(o.ts);
  if (ts === null) return null;
  const seq = o.seq;
  if (
    seq !== undefined &&
    !(typeof seq === 'number' && Number.isInteger(seq) && seq >= 0 && seq <= Number.MAX_SAFE_INTEGER)
  ) {
    return null;
  }
  const metrics = o.metrics;
  if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) return null;
  const names = Object.keys(metrics);
  if (names.length > MAX_METRICS) return null;
  for (const name of names) {
    const value = (metrics as Record<string, unknown>)[name];
    if (!METRIC_NAME.test(name) || typeof value !== 'number' || !(Math.abs(value) <= MAX_METRIC_ABS)) return null;
  }
  const flags = o.flags;
  if (flags !== undefined) {
    if (!Array.isArray(flags) || flags.length > MAX_FLAGS) return null;
    for (const flag of flags) if (typeof flag !== 'string' || !FLAG.test(flag)) return null;
  }
  return {
    ts,
    ...(seq === undefined ? {} : { seq: seq as number }),
    metrics: metrics as Record<string, number>,
    ...(flags === undefined ? {} : { flags: flags as string[] }),
  };
}

/** Splits `vigie/v1/<kind>/<deviceId>/<channel>`; null for any other shape or channel. */
export function parseDeviceTopic(topic: string): DeviceTopic | null {
  const m = TOPIC_RE.exec(topic);
  if (!m) return null;
  const channel = m[3] as Channel;
  if (!(CHANNELS as readonly string[]).includes(channel)) return null;
  return { kind: m[1]!, deviceId: m[2]!, channel };
}

/** True when `kind` is one Vigie knows. */
export function isKnownKind(kind: string): kind is Kind {
  return KIND_SET.has(kind);
}

/** One item of a batch message: its device and its JSON text (a dead letter keeps that text as its bytes). */
interface BatchItemRef {
  readonly deviceId: string;
  /** The item as parsed; its JSON text is made only for a dead letter. */
  readonly value: unknown;
}

/** The JSON text of a batch item (what its dead letter holds). */
function itemJson(item: BatchItemRef): string {
  return JSON.stringify(item.value) ?? 'undefined';
}

/**
 * A dead letter of `input`, or of one item of it (module level: a closure per message costs a name helper under
 * tsx).
 */
function failure(
  input: DecodeInput,
  errorCode: IngestErrorCode,
  message: string,
  issues: DeadLetter['issues'] = [],
  item?: BatchItemRef,
): Decoded {
  return {
    deadLetter: {
      rawBase64: item
        ? Buffer.from(itemJson(item)).toString('base64')
        : Buffer.from(input.payload.buffer, input.payload.byteOffset, input.payload.byteLength).toString('base64'),
      source: {
        type: 'mqtt',
        topic: input.topic,
        ...(input.clientId === undefined ? {} : { clientId: input.clientId }),
      },
      deviceId: item?.deviceId ?? input.device.deviceId,
      errorCode,
      message,
      issues,
      component: 'ingest',
      stage: 'receiving',
      attempts: 1,
      firstFailedAt: new Date(input.receivedAtMs).toISOString(),
    },
  };
}

/** Decodes a telemetry or event message. Never throws: anything unusable becomes a dead letter with its bytes. */
export function decodeDeviceMessage(input: DecodeInput): Decoded {
  const topic = parseDeviceTopic(input.topic);
  if (!topic || topic.deviceId !== input.device.deviceId) {
    return failure(
      input,
      'ERR_TOPIC_INVALID',
      `topic not decodable: ${preview(input.topic)} (vigie/v1/<kind>/${input.device.deviceId}/telemetry|event)`,
    );
  }
  if (input.payload.byteLength > input.maxPayloadBytes) {
    return failure(
      input,
      'ERR_PAYLOAD_TOO_LARGE',
      `payload too large: ${input.payload.byteLength} bytes (at most ${input.maxPayloadBytes})`,
    );
  }
  if (!isKnownKind(topic.kind)) {
    return failure(
      input,
      'ERR_KIND_UNKNOWN',
      `unknown device kind in topic: ${preview(topic.kind)} (one of ${KINDS.join(', ')})`,
    );
  }
  if (topic.kind !== input.device.kind) {
    return failure(
      input,
      'ERR_KIND_MISMATCH',
      `device kind in topic differs from the registered one: ${preview(topic.kind)} (registered: ${input.device.kind})`,
    );
  }
  if (topic.channel === 'status') {
    // Status messages take aedes' ordinary path (retained, last will); they reach here only to be dead-lettered.
    return failure(
      input,
      'ERR_TOPIC_INVALID',
      `status messages are not decoded: ${preview(input.topic)} (telemetry|event)`,
    );
  }
  const parsed = parsePayload(input, 'a JSON object');
  if ('failed' in parsed) return parsed.failed;
  const { text, json } = parsed;
  const kind = topic.kind;
  const receivedAt = isoOf(input.receivedAtMs);

  if (topic.channel === 'event') {
    const parsed = DeviceEventPayload.safeParse(json);
    if (!parsed.success) return schemaFailure(input, 'event', text, parsed.error.issues);
    const p = parsed.data;
    return {
      event: { deviceId: input.device.deviceId, kind, ts: p.ts, type: p.type, data: p.data ?? {}, receivedAt },
    };
  }

  return readingOf(input, json, input.device.deviceId, kind, receivedAt, text);
}

/**
 * The reading of one telemetry payload `json` of `deviceId` (a whole message, or an item of a batch with `item`),
 * or its dead letter; `text` is what the error message quotes.
 */
function readingOf(
  input: DecodeInput,
  json: unknown,
  deviceId: string,
  kind: Kind,
  receivedAt: string,
  text: string | undefined,
  item?: BatchItemRef,
): Decoded {
  let p = commonDevicePayload(json);
  if (p === null) {
    const parsed = DevicePayload.safeParse(json);
    if (!parsed.success) return schemaFailure(input, 'telemetry', quoted(text, item), parsed.error.issues, item);
    p = parsed.data;
  }
  const metrics = p.metrics;
  const required = REQUIRED_METRICS[kind];
  if (required !== undefined) {
    const missing = required.filter((name) => !(name in metrics));
    if (missing.length > 0) {
      const issues = missing.map((name) => ({ path: `metrics.${name}`, message: `required for ${kind}` }));
      return failure(
        input,
        'ERR_PAYLOAD_SCHEMA',
        `telemetry payload invalid: ${preview(quoted(text, item))} (${issues.map((i) => `${i.path}: ${i.message}`).join('; ')})`,
        issues,
        item,
      );
    }
  }
  const reading: Reading = {
    deviceId,
    kind,
    ts: p.ts,
    ...(p.seq === undefined ? {} : { seq: p.seq }),
    metrics: p.metrics,
    ...(p.flags === undefined ? {} : { flags: p.flags }),
    receivedAt,
  };
  return { reading };
}

/** What an error message quotes: the message's text, or a batch item's JSON. */
const quoted = (text: string | undefined, item: BatchItemRef | undefined): string =>
  text ?? (item ? itemJson(item) : '');

/** Most items in one batch message (`vigie/v1/<kind>/<gatewayId>/batch`). */
export const MAX_BATCH_ITEMS = 1_000;

/** One item of a decoded batch: the device it names (checked by the caller against the sender) and its outcome. */
export interface DecodedBatchItem {
  readonly deviceId: string;
  readonly decoded: Decoded;
  /** The item as parsed (what a refusal's dead letter holds, as JSON). */
  readonly value: unknown;
}

/**
 * A decoded batch: its items in order, or one dead letter for a message that is not a batch at all (not UTF-8, not
 * JSON, not an array, too many items); a bad item is a dead letter of its own and the others go on.
 */
export type DecodedBatch =
  | { readonly items: readonly DecodedBatchItem[]; readonly deadLetter?: undefined }
  | { readonly deadLetter: DeadLetter; readonly items?: undefined };

/**
 * Decodes a batch message from a gateway: `vigie/v1/<kind>/<gatewayId>/batch`, a JSON array of telemetry payloads
 * (CONTRACTS.md §3) each with the `deviceId` it is for, e.g. `[{"deviceId":"WM-1","ts":…,"metrics":{…}},…]`. Every
 * item is of the topic's kind. Whether the sender may speak for each device is the caller's check (registry).
 * A bad item's dead letter holds that item's JSON text, the index in its issue paths. Never throws.
 */
export function decodeBatchMessage(input: DecodeInput): DecodedBatch {
  const whole = (decoded: Decoded): DecodedBatch => ({ deadLetter: decoded.deadLetter! });
  const topic = parseDeviceTopic(input.topic);
  if (topic?.channel !== 'batch' || topic.deviceId !== input.device.deviceId) {
    return whole(
      failure(
        input,
        'ERR_TOPIC_INVALID',
        `topic not decodable: ${preview(input.topic)} (vigie/v1/<kind>/${input.device.deviceId}/batch)`,
      ),
    );
  }
  if (!isKnownKind(topic.kind)) {
    return whole(
      failure(
        input,
        'ERR_KIND_UNKNOWN',
        `unknown device kind in topic: ${preview(topic.kind)} (one of ${KINDS.join(', ')})`,
      ),
    );
  }
  const parsed = parsePayload(input, 'a JSON array');
  if ('failed' in parsed) return whole(parsed.failed);
  const { text, json } = parsed;
  if (!Array.isArray(json) || json.length === 0 || json.length > MAX_BATCH_ITEMS) {
    const what = Array.isArray(json) ? `${json.length} items` : preview(text);
    return whole(
      failure(
        input,
        'ERR_PAYLOAD_SCHEMA',
        `batch payload invalid: ${what} (a JSON array of 1 to ${MAX_BATCH_ITEMS} telemetry payloads with their deviceId)`,
        [{ path: '', message: `an array of 1 to ${MAX_BATCH_ITEMS} items` }],
      ),
    );
  }
  const kind = topic.kind;
  const receivedAt = isoOf(input.receivedAtMs);
  const items: DecodedBatchItem[] = new Array(json.length);
  for (let i = 0; i < json.length; i++) {
    const value: unknown = json[i];
    const deviceId =
      typeof value === 'object' && value !== null ? (value as { deviceId?: unknown }).deviceId : undefined;
    if (typeof deviceId !== 'string' || !DEVICE_ID_RE.test(deviceId)) {
      const item = { deviceId: input.device.deviceId, value };
      items[i] = {
        ...item,
        decoded: failure(
          input,
          'ERR_PAYLOAD_SCHEMA',
          `batch item ${i} invalid: ${preview(itemJson(item))} (an object with a deviceId)`,
          [{ path: `[${i}].deviceId`, message: 'a device id is 1–64 characters of A–Z, a–z, 0–9, ".", "_", "-"' }],
          item,
        ),
      };
      continue;
    }
    const decoded = readingOf(input, value, deviceId, kind, receivedAt, undefined, { deviceId, value });
    items[i] = { deviceId, value, decoded: decoded.deadLetter ? withIndex(decoded, i) : decoded };
  }
  return { items };
}

/**
 * The dead letter of batch item `index` refused by the caller (`ERR_DEVICE_FOREIGN`: the sender may not speak for
 * its device; `ERR_KIND_MISMATCH`: the device is registered with another kind), holding the item's JSON.
 */
export function refusedBatchItem(
  input: DecodeInput,
  item: DecodedBatchItem,
  index: number,
  errorCode: 'ERR_DEVICE_FOREIGN' | 'ERR_KIND_MISMATCH',
  message: string,
): DeadLetter {
  return failure(input, errorCode, `batch item ${index}: ${message}`, [{ path: `[${index}].deviceId`, message }], item)
    .deadLetter!;
}

/** A batch item's dead letter with its issue paths under `[index]`. */
function withIndex(decoded: Decoded, index: number): Decoded {
  const letter = decoded.deadLetter!;
  return {
    deadLetter: {
      ...letter,
      message: `batch item ${index}: ${letter.message}`,
      issues: letter.issues.map((issue) => ({
        ...issue,
        path: issue.path ? `[${index}].${issue.path}` : `[${index}]`,
      })),
    },
  };
}

/** The payload's text and JSON, or the dead letter saying why not (`expected`: what the JSON should be). */
function parsePayload(input: DecodeInput, expected: string): { text: string; json: unknown } | { failed: Decoded } {
  let text: string;
  try {
    text = utf8Text(input.payload);
  } catch {
    return {
      failed: failure(
        input,
        'ERR_PAYLOAD_ENCODING',
        `payload is not valid UTF-8: ${input.payload.byteLength} bytes (JSON encoded in UTF-8)`,
      ),
    };
  }
  try {
    return { text, json: JSON.parse(text) };
  } catch (err) {
    return {
      failed: failure(
        input,
        'ERR_PAYLOAD_JSON',
        `payload is not JSON: ${preview(text)} (${expected}; ${(err as Error).message.slice(0, 120)})`,
      ),
    };
  }
}

/**
 * The payload as text, refusing invalid UTF-8 exactly as `UTF8` (fatal) does; a byte order mark, which the
 * decoder strips, takes the decoder's path.
 */
function utf8Text(payload: Uint8Array): string {
  if (payload[0] === 0xef || !isUtf8(payload)) return UTF8.decode(payload);
  return (
    Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  ).toString('utf8');
}

let lastIsoMs = Number.NaN;
let lastIso = '';
/** `new Date(ms).toISOString()`, remembered for the last `ms` (readings of one millisecond share it). */
function isoOf(ms: number): string {
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}

function schemaFailure(
  input: DecodeInput,
  what: 'telemetry' | 'event',
  text: string,
  zodIssues: readonly z.core.$ZodIssue[],
  item?: BatchItemRef,
): Decoded {
  const issues = zodIssues.slice(0, 20).map((i) => ({
    path: i.path.map(String).join('.'),
    message: i.message,
  }));
  const summary = issues
    .slice(0, 3)
    .map((i) => `${i.path || '(root)'}: ${i.message}`)
    .join('; ');
  return failure(input, 'ERR_PAYLOAD_SCHEMA', `${what} payload invalid: ${preview(text)} (${summary})`, issues, item);
}
