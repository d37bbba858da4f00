/**
 * What the uplink decoders share: the input, the result, the device reference handed to the caller's registry, and
 * the builder that turns every refusal into a dead letter holding the exact bytes (STYLE.md §6.2). Pure: no I/O, no
 * clock (the receipt time is an input).
 */
import type { z } from 'zod';
import { type DeadLetter, EventTime, type Kind, Reading } from '../../core/contracts/index.ts';
import { preview } from '../../core/errors.ts';
import { isKnownKind, REQUIRED_METRICS } from '../decode.ts';

/** The networks an uplink can come from. */
export type UplinkNetwork = 'chirpstack' | 'tts' | 'senml';

/** What the decoders ask the device registry: the network's own identifiers for one device. */
export interface DeviceRef {
  readonly network: UplinkNetwork;
  /** LoRaWAN DevEUI, 16 lower-case hex digits (ChirpStack, The Things Stack). */
  readonly devEui?: string;
  /** The network's device id (The Things Stack `device_id`), or a Vigie device id / alias (SenML). */
  readonly deviceId?: string;
  /** The network's application id (ChirpStack UUID, The Things Stack application id). */
  readonly applicationId?: string;
}

/** A Vigie device as the registry resolves it. */
export interface ResolvedDevice {
  readonly deviceId: string;
  readonly kind: string;
}

/** Synchronous registry lookup supplied by the caller: the Vigie device for a network reference, or null if unknown. */
export type ResolveDevice = (ref: DeviceRef) => ResolvedDevice | null;

/** What {@link decodeUplink} needs. */
export interface UplinkInput {
  /** The MQTT topic as received. */
  readonly topic: string;
  /** The exact payload bytes. */
  readonly payload: Uint8Array;
  /** Receipt time from the injected clock, epoch milliseconds; also SenML's "now" for relative times. */
  readonly receivedAtMs: number;
  /** Larger payloads are dead-lettered with ERR_PAYLOAD_TOO_LARGE. */
  readonly maxPayloadBytes: number;
  /** MQTT client id, kept in the dead letters' source. */
  readonly clientId?: string | undefined;
  /** The device registry lookup; whatever it throws propagates (a registry fault is not bad data). */
  readonly resolve: ResolveDevice;
}

/** Why a value or a message was dropped on purpose (counted, never dead-lettered). */
export type IgnoredReason =
  /** A string value (SenML `vs`, a text field of a decoded object). */
  | 'text'
  /** SenML binary data (`vd`). */
  | 'data'
  /** A JSON null in a decoded object. */
  | 'null'
  /** A number beyond ±2^53, which a metric cannot hold. */
  | 'range'
  /** A field name that cannot become a metric name. */
  | 'name'
  /** The same metric twice with the same value at the same time. */
  | 'duplicate'
  /** Beyond the 64 metrics a reading may carry. */
  | 'limit'
  /** A network-server message other than an uplink (join, ack, status, log, downlink events...). */
  | 'not-uplink';

/** Every {@link IgnoredReason}, for counters. */
export const IGNORED_REASONS: readonly IgnoredReason[] = [
  'text',
  'data',
  'null',
  'range',
  'name',
  'duplicate',
  'limit',
  'not-uplink',
];

/** The outcome of one uplink message: canonical readings, dead letters with the exact bytes, and what was dropped. */
export interface UplinkResult {
  /** The network the topic named, or null when the topic is not an uplink topic. */
  readonly network: UplinkNetwork | null;
  /** Canonical readings, each valid against core's Reading schema; several for a SenML pack with several times. */
  readonly readings: Reading[];
  /** Dead letters (component `ingest`, stage `receiving`), each holding the whole message's bytes in base64. */
  readonly deadLetters: DeadLetter[];
  /** Values (or whole non-uplink messages) dropped on purpose, by reason; reasons with no drop are absent. */
  readonly ignored: Partial<Record<IgnoredReason, number>>;
}

/** Dead-letter codes produced by the uplink decoders, each with a row in docs/errors.md. */
export type UplinkErrorCode =
  | 'ERR_PAYLOAD_TOO_LARGE'
  | 'ERR_PAYLOAD_ENCODING'
  | 'ERR_PAYLOAD_JSON'
  | 'ERR_PAYLOAD_SCHEMA'
  | 'ERR_TOPIC_INVALID'
  | 'ERR_KIND_UNKNOWN'
  | 'ERR_KIND_MISMATCH'
  | 'ERR_DEVICE_UNKNOWN'
  | 'ERR_UPLINK_UNDECODED';

/** One problem in a message, as a dead letter lists it. */
export type Issue = DeadLetter['issues'][number];

/** Collects readings, dead letters and drop counts for one message. */
export class UplinkOutcome {
  readonly readings: Reading[] = [];
  readonly deadLetters: DeadLetter[] = [];
  readonly ignored: Partial<Record<IgnoredReason, number>> = {};
  private rawBase64: string | undefined;

  constructor(
    private readonly input: UplinkInput,
    private readonly network: UplinkNetwork | null,
  ) {}

  /** Dead-letters the message (its whole bytes) with a code, a message and the issues. */
  fail(errorCode: UplinkErrorCode, message: string, issues: readonly Issue[] = [], deviceId?: string): this {
    this.rawBase64 ??= Buffer.from(
      this.input.payload.buffer,
      this.input.payload.byteOffset,
      this.input.payload.byteLength,
    ).toString('base64');
    this.deadLetters.push({
      rawBase64: this.rawBase64,
      source: {
        type: 'mqtt',
        topic: this.input.topic,
        ...(this.input.clientId === undefined ? {} : { clientId: this.input.clientId }),
      },
      ...(deviceId === undefined ? {} : { deviceId }),
      errorCode,
      message,
      issues: issues.slice(0, MAX_ISSUES).map((i) => ({ path: i.path, message: i.message })),
      component: 'ingest',
      stage: 'receiving',
      attempts: 1,
      firstFailedAt: new Date(this.input.receivedAtMs).toISOString(),
    });
    return this;
  }

  /** Counts `count` values dropped on purpose for `reason`. */
  ignore(reason: IgnoredReason, count = 1): this {
    if (count > 0) this.ignored[reason] = (this.ignored[reason] ?? 0) + count;
    return this;
  }

  /**
   * Emits a reading after checking the kind's required metrics and core's Reading schema; a failure becomes a dead
   * letter naming `what` (e.g. "ChirpStack uplink", "SenML records at 2026-03-01T02:15:00.000Z").
   */
  emit(reading: Reading, what: string): this {
    const missing = (REQUIRED_METRICS[reading.kind] ?? []).filter((name) => !(name in reading.metrics));
    if (missing.length > 0) {
      const found = Object.keys(reading.metrics);
      const issues = missing.map((name) => ({ path: `metrics.${name}`, message: `required for ${reading.kind}` }));
      return this.fail(
        'ERR_PAYLOAD_SCHEMA',
        `${what} lacks a required metric: ${missing.join(', ')} (a ${reading.kind} reading needs ${missing.join(', ')}; ` +
          `mapped: ${found.length > 0 ? found.join(', ') : 'none'})`,
        issues,
        reading.deviceId,
      );
    }
    const parsed = Reading.safeParse(reading);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
      return this.fail(
        'ERR_PAYLOAD_SCHEMA',
        `${what} is not a valid reading: ${issues
          .slice(0, 3)
          .map((i) => `${i.path || '(root)'}: ${i.message}`)
          .join('; ')} (core Reading schema)`,
        issues,
        reading.deviceId,
      );
    }
    this.readings.push(parsed.data);
    return this;
  }

  /** The result to hand back. */
  result(): UplinkResult {
    return { network: this.network, readings: this.readings, deadLetters: this.deadLetters, ignored: this.ignored };
  }
}

/** At most this many issues are kept in one dead letter. */
export const MAX_ISSUES = 20;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Size, UTF-8 and JSON checks shared by every format; undefined once the message is dead-lettered. */
export function parseJsonPayload(input: UplinkInput, outcome: UplinkOutcome, what: string): unknown {
  if (input.payload.byteLength > input.maxPayloadBytes) {
    outcome.fail(
      'ERR_PAYLOAD_TOO_LARGE',
      `${what} too large: ${input.payload.byteLength} bytes (at most ${input.maxPayloadBytes})`,
    );
    return undefined;
  }
  let text: string;
  try {
    text = UTF8.decode(input.payload);
  } catch {
    outcome.fail(
      'ERR_PAYLOAD_ENCODING',
      `${what} is not valid UTF-8: ${input.payload.byteLength} bytes (JSON encoded in UTF-8)`,
    );
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    outcome.fail('ERR_PAYLOAD_JSON', `${what} is not JSON: ${preview(text)} (${(err as Error).message.slice(0, 120)})`);
    return undefined;
  }
}

/** Resolves a device and checks its kind; null (and a dead letter) when unknown or of a kind Vigie does not know. */
export function resolveDevice(
  input: UplinkInput,
  outcome: UplinkOutcome,
  ref: DeviceRef,
  what: string,
): { deviceId: string; kind: Kind } | null {
  const device = input.resolve(ref);
  if (device === null) {
    outcome.fail(
      'ERR_DEVICE_UNKNOWN',
      `${what} from a device the registry does not know: ${describeRef(ref)} (register the device, or its alias, first)`,
    );
    return null;
  }
  if (!isKnownKind(device.kind)) {
    outcome.fail(
      'ERR_KIND_UNKNOWN',
      `the registry resolved ${describeRef(ref)} to a device of an unknown kind: ${preview(device.kind)}`,
      [],
      device.deviceId,
    );
    return null;
  }
  return { deviceId: device.deviceId, kind: device.kind };
}

/** A device reference in words, for messages. */
export function describeRef(ref: DeviceRef): string {
  const parts = [`network=${ref.network}`];
  if (ref.devEui !== undefined) parts.push(`devEui=${ref.devEui}`);
  if (ref.deviceId !== undefined) parts.push(`deviceId=${preview(ref.deviceId, 64)}`);
  if (ref.applicationId !== undefined) parts.push(`applicationId=${preview(ref.applicationId, 64)}`);
  return parts.join(' ');
}

/** Parses a network server's ISO 8601 time (nanoseconds allowed) to canonical ISO; null when invalid. */
export function parseIsoTime(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const parsed = EventTime.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** True for a plain JSON object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A DevEUI as 16 lower-case hex digits, or null. */
export function normalizeDevEui(value: unknown): string | null {
  if (typeof value !== 'string' || !/^[0-9A-Fa-f]{16}$/.test(value)) return null;
  return value.toLowerCase();
}

/** zod issues as dead-letter issues (path joined with `.`). */
export function schemaIssues(zodIssues: readonly z.core.$ZodIssue[]): Issue[] {
  return zodIssues.slice(0, MAX_ISSUES).map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

/** The first issues in one line, for a dead letter's message. */
export function summarize(issues: readonly Issue[]): string {
  return issues
    .slice(0, 3)
    .map((i) => `${i.path || '(root)'}: ${i.message}`)
    .join('; ');
}
