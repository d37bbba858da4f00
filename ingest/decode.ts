/**
 * Decoding of device messages: exact bytes + MQTT topic + authenticated device → a canonical Reading, a DeviceEvent,
 * or a DeadLetter holding the same bytes and the reason (STYLE.md §6.2). Pure: no I/O, no clock (the receipt time is
 * an input), never throws, so it is unit-testable and the bench can measure it alone.
 */
import type { z } from 'zod';
import {
  type DeadLetter,
  type DeviceEvent,
  DeviceEventPayload,
  DevicePayload,
  KINDS,
  type Kind,
  type Reading,
} from '../core/contracts/index.ts';
import { preview } from '../core/errors.ts';

/** The channels of a device topic `vigie/v1/<kind>/<deviceId>/<channel>` (CONTRACTS.md §3). */
export const CHANNELS = ['telemetry', 'event', 'status', 'senml'] as const;
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
};

/** Dead-letter codes produced by ingest, each with a row in docs/errors.md. */
export type IngestErrorCode =
  | 'ERR_PAYLOAD_TOO_LARGE'
  | 'ERR_PAYLOAD_ENCODING'
  | 'ERR_PAYLOAD_JSON'
  | 'ERR_PAYLOAD_SCHEMA'
  | 'ERR_KIND_UNKNOWN'
  | 'ERR_KIND_MISMATCH'
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

/** Decodes a telemetry or event message. Never throws: anything unusable becomes a dead letter with its bytes. */
export function decodeDeviceMessage(input: DecodeInput): Decoded {
  const fail = (errorCode: IngestErrorCode, message: string, issues: DeadLetter['issues'] = []): Decoded => ({
    deadLetter: {
      rawBase64: Buffer.from(input.payload.buffer, input.payload.byteOffset, input.payload.byteLength).toString(
        'base64',
      ),
      source: {
        type: 'mqtt',
        topic: input.topic,
        ...(input.clientId === undefined ? {} : { clientId: input.clientId }),
      },
      deviceId: input.device.deviceId,
      errorCode,
      message,
      issues,
      component: 'ingest',
      stage: 'receiving',
      attempts: 1,
      firstFailedAt: new Date(input.receivedAtMs).toISOString(),
    },
  });

  const topic = parseDeviceTopic(input.topic);
  if (!topic || topic.deviceId !== input.device.deviceId) {
    return fail(
      'ERR_TOPIC_INVALID',
      `topic not decodable: ${preview(input.topic)} (vigie/v1/<kind>/${input.device.deviceId}/telemetry|event)`,
    );
  }
  if (input.payload.byteLength > input.maxPayloadBytes) {
    return fail(
      'ERR_PAYLOAD_TOO_LARGE',
      `payload too large: ${input.payload.byteLength} bytes (at most ${input.maxPayloadBytes})`,
    );
  }
  if (!isKnownKind(topic.kind)) {
    return fail(
      'ERR_KIND_UNKNOWN',
      `unknown device kind in topic: ${preview(topic.kind)} (one of ${KINDS.join(', ')})`,
    );
  }
  if (topic.kind !== input.device.kind) {
    return fail(
      'ERR_KIND_MISMATCH',
      `device kind in topic differs from the registered one: ${preview(topic.kind)} (registered: ${input.device.kind})`,
    );
  }
  if (topic.channel === 'status') {
    // Status messages take aedes' ordinary path (retained, last will); they reach here only to be dead-lettered.
    return fail('ERR_TOPIC_INVALID', `status messages are not decoded: ${preview(input.topic)} (telemetry|event)`);
  }
  let text: string;
  try {
    text = UTF8.decode(input.payload);
  } catch {
    return fail(
      'ERR_PAYLOAD_ENCODING',
      `payload is not valid UTF-8: ${input.payload.byteLength} bytes (JSON encoded in UTF-8)`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail(
      'ERR_PAYLOAD_JSON',
      `payload is not JSON: ${preview(text)} (a JSON object; ${(err as Error).message.slice(0, 120)})`,
    );
  }
  const kind = topic.kind;
  const receivedAt = new Date(input.receivedAtMs).toISOString();

  if (topic.channel === 'event') {
    const parsed = DeviceEventPayload.safeParse(json);
    if (!parsed.success) return schemaFailure(fail, 'event', text, parsed.error.issues);
    const p = parsed.data;
    return {
      event: { deviceId: input.device.deviceId, kind, ts: p.ts, type: p.type, data: p.data ?? {}, receivedAt },
    };
  }

  const parsed = DevicePayload.safeParse(json);
  if (!parsed.success) return schemaFailure(fail, 'telemetry', text, parsed.error.issues);
  const p = parsed.data;
  const missing = (REQUIRED_METRICS[kind] ?? []).filter((name) => !(name in p.metrics));
  if (missing.length > 0) {
    const issues = missing.map((name) => ({ path: `metrics.${name}`, message: `required for ${kind}` }));
    return fail(
      'ERR_PAYLOAD_SCHEMA',
      `telemetry payload invalid: ${preview(text)} (${issues.map((i) => `${i.path}: ${i.message}`).join('; ')})`,
      issues,
    );
  }
  const reading: Reading = {
    deviceId: input.device.deviceId,
    kind,
    ts: p.ts,
    ...(p.seq === undefined ? {} : { seq: p.seq }),
    metrics: p.metrics,
    ...(p.flags === undefined ? {} : { flags: p.flags }),
    receivedAt,
  };
  return { reading };
}

function schemaFailure(
  fail: (code: IngestErrorCode, message: string, issues: DeadLetter['issues']) => Decoded,
  what: 'telemetry' | 'event',
  text: string,
  zodIssues: readonly z.core.$ZodIssue[],
): Decoded {
  const issues = zodIssues.slice(0, 20).map((i) => ({
    path: i.path.map(String).join('.'),
    message: i.message,
  }));
  const summary = issues
    .slice(0, 3)
    .map((i) => `${i.path || '(root)'}: ${i.message}`)
    .join('; ');
  return fail('ERR_PAYLOAD_SCHEMA', `${what} payload invalid: ${preview(text)} (${summary})`, issues);
}
