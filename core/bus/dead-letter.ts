import type { z } from 'zod';
import type { DeadLetter } from '../contracts/index.ts';
import { preview } from '../errors.ts';
import type { BusMessage, OutgoingMessage } from './port.ts';

/**
 * Parsing a consumed bus message (JSON, then its contract's schema) and dead-lettering it when it does not parse
 * (STYLE.md §6.2-6.3): shared by every stage that consumes a contract — the processors (readings, rollups), the
 * alerting stage (alert transitions, notifications) and the services (inbound SMS, alerts, devices).
 */

/** Why a message was refused: what its dead letter says. */
export interface Refusal {
  readonly errorCode: string;
  readonly message: string;
  readonly issues: DeadLetter['issues'];
}

/** What {@link parseBusMessage} needs to name the message and its contract. */
export interface MessageContract {
  /** What the message is, e.g. `reading`. */
  readonly what: string;
  /** What is allowed, e.g. `a canonical reading, CONTRACTS.md §4`. */
  readonly contract: string;
  /** Error code when the value is not JSON, e.g. `ERR_READING_JSON`. */
  readonly jsonCode: string;
  /** Error code when the JSON does not match the schema, e.g. `ERR_READING_SCHEMA`. */
  readonly schemaCode: string;
}

/** Parses a message's value as JSON and then through `schema`; never throws on bad data. */
export function parseBusMessage<S extends z.ZodType>(
  m: BusMessage,
  schema: S,
  spec: MessageContract,
): { readonly ok: true; readonly data: z.output<S> } | ({ readonly ok: false } & Refusal) {
  let json: unknown;
  try {
    json = JSON.parse(m.value);
  } catch (err) {
    return {
      ok: false,
      errorCode: spec.jsonCode,
      message: `${spec.what} is not JSON: ${preview(m.value)} (${(err as Error).message})`,
      issues: [],
    };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, data: result.data };
  const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  const first = issues[0];
  return {
    ok: false,
    errorCode: spec.schemaCode,
    message: `${spec.what} does not match the schema: ${first ? `${first.path || '(root)'}: ${first.message}` : preview(m.value)} (${spec.contract})`,
    issues,
  };
}

/** The dead letter of a consumed bus message (original bytes, topic, partition, offset), as a message to produce. */
export function busDeadLetter(
  m: BusMessage,
  refusal: Refusal,
  at: {
    /** Component that refused it, e.g. `processors`. */
    readonly component: string;
    /** Wall-clock time of the refusal, epoch ms. */
    readonly nowMs: number;
    /** Key of the dead letter on the bus. */
    readonly key: string;
    /** The device it came from, when known. */
    readonly deviceId?: string;
  },
): OutgoingMessage {
  const letter: DeadLetter = {
    rawBase64: Buffer.from(m.value, 'utf8').toString('base64'),
    source: { type: 'bus', topic: m.topic, partition: m.partition, offset: m.offset },
    ...(at.deviceId !== undefined ? { deviceId: at.deviceId } : {}),
    errorCode: refusal.errorCode,
    message: refusal.message,
    issues: refusal.issues,
    component: at.component,
    stage: 'processing',
    attempts: 1,
    firstFailedAt: new Date(at.nowMs).toISOString(),
  };
  return { key: at.key, value: JSON.stringify(letter) };
}
