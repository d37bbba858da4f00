import { z } from 'zod';
import { AppError } from '../core/errors.ts';

/**
 * State kept per key and snapshotted (engine.ts per device, the rollups per meter and district), and reading it back
 * from the store: JSON text or already-parsed JSON (jsonb), checked against its snapshot schema.
 */

/** State kept per key and snapshotted, as partitioned.ts saves and restores it. */
export interface KeyedSnapshots {
  /** Keys whose state changed since the last call (and forgets them). */
  takeDirty(): string[];
  /** A key's state as JSON text; undefined when it has none (its row is deleted). */
  snapshot(key: string): string | undefined;
  /** Restores a key's state from {@link snapshot}'s JSON (text or parsed); throws when unreadable. */
  restore(key: string, json: unknown): void;
  /** The partition-wide state as JSON text. */
  snapshotClock(): string;
  /** Restores {@link snapshotClock}'s JSON (text or parsed); throws when unreadable. */
  restoreClock(json: unknown): void;
}

/** The {@link KeyedSnapshots} methods of `state`, to spread into a task of partitioned.ts. */
export function snapshotsOf(state: KeyedSnapshots): KeyedSnapshots {
  return {
    takeDirty: () => state.takeDirty(),
    snapshot: (key) => state.snapshot(key),
    restore: (key, json) => state.restore(key, json),
    snapshotClock: () => state.snapshotClock(),
    restoreClock: (json) => state.restoreClock(json),
  };
}

/** The error a kind of saved state is refused with. */
export interface StateFormat {
  /** Error code, e.g. `ERR_PROCESSOR_STATE`. */
  readonly code: string;
  /** What is allowed, e.g. `a version 1 snapshot`. */
  readonly expected: string;
}

/** Parses saved state `json` (text or parsed) through `schema`; throws an AppError of `spec.code` when unreadable. */
export function parseStateJson<S extends z.ZodType>(
  json: unknown,
  schema: S,
  what: string,
  spec: StateFormat,
): z.output<S> {
  let value = json;
  try {
    if (typeof json === 'string') value = JSON.parse(json);
  } catch (err) {
    throw new AppError(spec.code, `${what}: not JSON (${spec.expected})`, { cause: err });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new AppError(spec.code, `${what}: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')} (${spec.expected})`);
  }
  return parsed.data;
}
