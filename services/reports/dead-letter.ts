import type { z } from 'zod';
import { busDeadLetter, parseBusMessage, type Refusal } from '../../core/bus/dead-letter.ts';
import type { Bus, BusMessage } from '../../core/bus/port.ts';
import { TOPICS } from '../../core/contracts/index.ts';

/** Parses a consumed record with `schema`; on failure, the refusal its dead letter carries (`codes.json|schema`). */
export function parseOrDeadLetter<S extends z.ZodType>(
  m: BusMessage,
  schema: S,
  codes: { readonly json: string; readonly schema: string },
): { ok: true; value: z.output<S> } | { ok: false; letter: Refusal } {
  const parsed = parseBusMessage(m, schema, {
    what: `${m.topic} record`,
    contract: 'core/contracts',
    jsonCode: codes.json,
    schemaCode: codes.schema,
  });
  return parsed.ok ? { ok: true, value: parsed.data } : { ok: false, letter: parsed };
}

/** Produces the dead letter of a refused record (component `reports`; key: the original key, or the topic). */
export async function deadLetter(bus: Bus, m: BusMessage, refusal: Refusal): Promise<void> {
  await bus.produce(TOPICS.deadLetters, [
    busDeadLetter(m, refusal, { component: 'reports', nowMs: Date.now(), key: m.key || m.topic }),
  ]);
}
